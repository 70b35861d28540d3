"""The attention functions the engine hands the model for each step.

- dense: a cold prefill on a GPU runs SDPA with cuDNN pinned (the baseline the benchmark compares
  against); a suffix or a decode step after a cached prefix runs our prefix-attention kernel; on the
  CPU everything runs the float32 reference.
- sparse: a cold prefill of at least `threshold` tokens runs each head's pattern from a config
  (kernels.pattern_search): vertical-slash, A-shape, block-sparse or dense. With the kernels, in a layer of
  several patterns every sparse head runs in one launch, whatever its pattern and budgets (its index lists
  stacked, the heaviest query blocks first), while the dense heads run through cuDNN on a side stream
  beside it (`fused`; without it, one launch per pattern, one after the other); a layer of one pattern
  runs its one launch in grid order. `wide` runs 128-row query tiles over the union of two 64-row blocks'
  lists (a superset of each block's keys). On the CPU the same patterns run as their exact masks over the
  reference. The K/V stay complete: later turns attend to all of it (SCBench's
  point: sparse prefill, full cache). A config loaded from a file knows the lengths it was calibrated
  at: past the longest, it is carried by its scaling rule, or refused (that layer runs dense, and the
  log says why).
- drop: StreamingLLM's KV dropping (attention sinks + a recent window), emulated by a mask relative to
  each query's position: a key outside the window of one query is outside it for every later query,
  as if it had been evicted. Queries run a window at a time over the sinks and the keys of their
  window, so its cost is O(n · window). Only a comparison baseline for the evaluations.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch.nn import functional as F

from kernels import reference
from kernels.antidiagonal_select import antidiagonal_blocks
from kernels.pattern_search import Calibration, HeadChoice, load_calibration
from kernels.sparse_prefill import (
    LIST_BYTES,
    a_shape_blocks,
    a_shape_prefill,
    block_ranges,
    block_sparse_blocks,
    block_sparse_prefill,
    list_bytes,
    stack_lists,
    stack_ranges,
    vertical_slash_lists,
    vertical_slash_prefill,
    vertical_slash_ranges,
)
from kernels.vs_index import select_indices

log = logging.getLogger(__name__)

# MInference's default for heads without a searched pattern: 1,000 columns and 6,096 diagonals.
DEFAULT_PATTERN = HeadChoice(head=-1, pattern="vertical_slash", params={"vertical": 1000, "slash": 6096},
                             recall=float("nan"), density=float("nan"))  # fmt: skip


def use_kernels(q: torch.Tensor, kernels: bool | None) -> bool:
    """Our Triton kernels on a GPU, the references elsewhere, unless told (kernels=True on the CPU runs
    them through Triton's interpreter: how CI tests the engine with its kernels)."""
    return q.is_cuda if kernels is None else kernels


def dense_attend(q, k, v, layer: int = 0, kernels: bool | None = None) -> torch.Tensor:
    if not use_kernels(q, kernels):
        return reference.prefix_attention(q, k, v).to(q.dtype)
    if q.is_cuda and q.shape[2] == k.shape[2]:
        group = q.shape[1] // k.shape[1]
        k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)  # cuDNN takes no GQA
        with torch.nn.attention.sdpa_kernel(torch.nn.attention.SDPBackend.CUDNN_ATTENTION):
            return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    from kernels.prefix_attention import prefix_attention  # imported late: the CPU server needs no Triton

    return prefix_attention(q, k, v)


def load_layer_patterns(directory: Path, prefix: str) -> dict[int, Calibration]:
    """Per-layer head patterns from `<prefix>-layerNN.json` files (kernels/configs)."""
    patterns = {}
    for path in sorted(Path(directory).glob(f"{prefix}-layer*.json")):
        patterns[int(path.stem.rsplit("layer", 1)[1])] = load_calibration(path)
    if not patterns:
        raise ValueError(f"no pattern configs {prefix}-layer*.json in {directory}")
    return patterns


@dataclass
class SparsePrefill:
    """Per-head sparse prefill. A layer without its own config takes the nearest configured layer's;
    with no configs at all every head takes DEFAULT_PATTERN. A config is a Calibration (it knows its
    lengths) or a plain list of choices (the caller vouches for it at any length: tests, benchmarks)."""

    patterns: dict[int, Calibration | list[HeadChoice]] | None = None
    kernels: bool | None = None  # see use_kernels
    fused: bool = True  # kernels, layers of several patterns: one launch for all sparse heads, dense heads beside it
    slash_ranges: bool = False  # vertical-slash slashes as unaligned key ranges (fewer keys; kernels: fused only)
    schedule: str = "heaviest_first"  # the fused launch's program order, or "natural" (head by head)
    range_block: int = 64  # keys per step along a range (slash_ranges): 64 or 128
    wide: bool = False  # 128-row query tiles over the union of two query blocks' lists (a superset of keys)
    refusals: list[tuple[int, int]] = field(default_factory=list)  # (layer, tokens) run dense, for the log

    def __post_init__(self):
        if self.wide and self.slash_ranges:
            raise ValueError("wide (128-row) tiles walk key blocks: they do not take slash_ranges")

    def choices(self, layer: int, heads: int, n: int) -> list[HeadChoice] | None:
        """This layer's per-head choices for a prefill of n tokens; None: the config refuses this length."""
        if not self.patterns:
            return [DEFAULT_PATTERN] * heads
        nearest = min(self.patterns, key=lambda configured: (abs(configured - layer), configured))
        config = self.patterns[nearest]
        choices = config.choices_for(n) if isinstance(config, Calibration) else config
        if choices is None:
            if (layer, n) not in self.refusals:
                self.refusals.append((layer, n))
                log.warning("layer %d: its pattern config was calibrated at %s tokens and has no scaling rule; "
                            "refused for a %d-token prefill, which runs dense", layer, config.lengths, n)  # fmt: skip
            return None
        if len(choices) != heads:
            raise ValueError(f"pattern config has {len(choices)} heads, the model {heads}")
        return choices

    def heads_by_pattern(self, layer: int, heads: int, n: int) -> dict[str, list[HeadChoice]]:
        """Heads grouped by pattern (each keeps its own budgets); {"dense": all} when refused."""
        choices = self.choices(layer, heads, n)
        if choices is None:
            return {"dense": [replace(DEFAULT_PATTERN, head=h, pattern="dense", params={}) for h in range(heads)]}
        groups: dict[str, list[HeadChoice]] = defaultdict(list)
        for head, choice in enumerate(choices):
            groups[choice.pattern].append(replace(choice, head=head))
        return groups

    def __call__(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, layer: int) -> torch.Tensor:
        heads = q.shape[1]
        group = heads // k.shape[1]
        groups = self.heads_by_pattern(layer, heads, q.shape[2])
        kernels = use_kernels(q, self.kernels)
        # one pattern already runs in one launch, in the grid order that keeps K/V in L2 (measured faster
        # than the scheduled order on the real model: bench/results/longctx-h200.md, round 3)
        mixed = len(groups) > 1 and set(groups) != {"dense"}
        sparse = set(groups) != {"dense"}
        wide = self.wide and sparse
        if ((self.fused and mixed) or self.slash_ranges or wide) and kernels and fits_one_launch(q, groups):
            return fused_attend(groups, q, k, v, self.kernels, self.slash_ranges, self.schedule, self.range_block,
                                wide)  # fmt: skip
        if (self.slash_ranges or wide) and not kernels:
            return self.masked(groups, q, k, v)
        out = torch.empty_like(q)
        for pattern, members in groups.items():
            params = [choice.params for choice in members]
            if len(members) == heads:
                return run_pattern(pattern, params, q, k, v, self.kernels)
            indices = [choice.head for choice in members]
            kv_heads = [head // group for head in indices]  # one K/V head per query head in the subset
            subset = q[:, indices], k[:, kv_heads], v[:, kv_heads]
            out[:, indices] = run_pattern(pattern, params, *subset, self.kernels)
        return out

    def masked(self, groups: dict[str, list[HeadChoice]], q, k, v) -> torch.Tensor:
        """The CPU path of slash_ranges and wide: each head's exact mask over the reference."""
        masks = [None] * q.shape[1]
        for pattern, members in groups.items():
            if pattern == "dense":
                for choice in members:
                    masks[choice.head] = reference.causal_mask(q.shape[2], q.shape[2], q.device)
                continue
            group = q.shape[1] // k.shape[1]
            heads = [choice.head for choice in members]
            sub_q, sub_k = q[:, heads], k[:, [head // group for head in heads]]
            params = [choice.params for choice in members]
            mask = pattern_mask(pattern, params, sub_q, sub_k, slash_ranges=self.slash_ranges)
            for index, head in enumerate(heads):
                masks[head] = reference.widen_mask(mask[0, index]) if self.wide else mask[0, index]
        return reference.masked_attention(q, k, v, torch.stack(masks)[None]).to(q.dtype)


def fits_one_launch(q: torch.Tensor, groups: dict[str, list[HeadChoice]]) -> bool:
    """Whether the stacked lists of all sparse heads stay under LIST_BYTES (at 1M tokens they may not: then
    one launch per pattern, vertical-slash a few heads at a time)."""
    n = q.shape[2]
    qblocks = -(-n // reference.BLOCK)
    width = columns = 1
    for pattern, members in groups.items():
        if pattern == "vertical_slash":
            width = max(width, min(2 * max(c.params["slash"] for c in members), qblocks))
            columns = max(columns, max(c.params["vertical"] for c in members))
        elif pattern == "a_shape":
            width = max(width, max(c.params["sink_blocks"] + c.params["local_blocks"] for c in members))
        elif pattern == "block_sparse":
            width = max(width, min(max(c.params["blocks"] for c in members), qblocks))
        elif pattern == "antidiagonal":
            width = qblocks  # as many as the threshold keeps: at most every causal block
    sparse_heads = sum(len(m) for p, m in groups.items() if p != "dense")
    return list_bytes(n, q.shape[0] * sparse_heads, width, columns) <= LIST_BYTES


_side_streams: dict[torch.device, torch.cuda.Stream] = {}


def fused_attend(groups: dict[str, list[HeadChoice]], q, k, v, kernels: bool | None = None,
                 slash_ranges: bool = False, schedule: str = "heaviest_first",
                 range_block: int = 64, wide: bool = False) -> torch.Tensor:  # fmt: skip
    """Every sparse head of a layer in one launch of the scheduled core (the same lists, so the same keys, as
    one launch per pattern; with slash_ranges, vertical-slash heads walk unaligned key ranges and every list
    is a range list); the dense heads through dense_attend, on a side stream on a GPU so that the two
    overlap and each fills the other's tail. wide: the stacked lists paired (index_convert.pair_lists) and run
    by the 128-row core, in grid order."""
    from kernels.index_convert import pair_lists  # late: the CPU server needs no Triton
    from kernels.sparse_attention import scheduled_sparse_attention, wide_sparse_attention

    group = q.shape[1] // k.shape[1]
    out = torch.empty_like(q)

    def subset(members: list[HeadChoice]):
        heads = [choice.head for choice in members]
        kv_heads = [head // group for head in heads]
        return heads, q[:, heads], k[:, kv_heads], v[:, kv_heads]

    dense, side, dense_out = groups.get("dense", []), None, None
    if dense:
        if q.is_cuda:
            main = torch.cuda.current_stream(q.device)
            side = _side_streams.get(q.device) or _side_streams.setdefault(q.device, torch.cuda.Stream(q.device))
            side.wait_stream(main)
            with torch.cuda.stream(side):
                dense_heads, *tensors = subset(dense)
                dense_out = dense_attend(*tensors, kernels=kernels)
        else:
            dense_heads, *tensors = subset(dense)
            dense_out = dense_attend(*tensors, kernels=kernels)
    pieces, head_ids = [], []
    for pattern, members in groups.items():
        if pattern == "dense":
            continue
        heads, q_heads, k_heads, _ = subset(members)
        params = [choice.params for choice in members]
        if slash_ranges and pattern == "vertical_slash":
            vertical, slash = (_per_head(params, key, q.device) for key in ("vertical", "slash"))
            pieces.append(vertical_slash_ranges(q_heads, k_heads, vertical, slash))
        elif slash_ranges:
            pieces.append(block_ranges(*pattern_lists(pattern, params, q_heads, k_heads)))
        else:
            pieces.append(pattern_lists(pattern, params, q_heads, k_heads))
        head_ids += heads
    ids = torch.tensor(head_ids, dtype=torch.int32, device=q.device)
    lists = stack_ranges(pieces) if slash_ranges else stack_lists(pieces)
    if wide:
        wide_sparse_attention(q, k, v, ids, *pair_lists(*lists), out=out)
    else:
        scheduled_sparse_attention(q, k, v, ids, *lists, out=out, order=schedule, range_block=range_block)
    if dense:
        if side is not None:
            main.wait_stream(side)
            dense_out.record_stream(main)
        out[:, dense_heads] = dense_out
    return out


def pattern_lists(pattern: str, params: list[dict], q, k) -> tuple:
    """The kernel's index lists for one pattern over q's heads (vertical-slash: blocks and columns; A-shape and
    block-sparse: blocks), params[i] being head i's budgets."""
    if pattern == "vertical_slash":
        vertical, slash = (_per_head(params, key, q.device) for key in ("vertical", "slash"))
        return vertical_slash_lists(q, k, vertical, slash)
    if pattern == "a_shape":
        sinks, local = (_per_head(params, key, q.device) for key in ("sink_blocks", "local_blocks"))
        return a_shape_blocks(q.shape[2], sinks, local, q.shape[0])
    if pattern == "block_sparse":
        return block_sparse_blocks(q, k, _per_head(params, "blocks", q.device))
    if pattern == "antidiagonal":
        return antidiagonal_lists(params, q, k)
    raise ValueError(f"unknown attention pattern {pattern!r}")


def antidiagonal_lists(params: list[dict], q, k) -> tuple:
    """Antidiagonal-threshold block lists (kernels.antidiagonal_select); one stride for all of q's heads."""
    strides = {p.get("stride", 16) for p in params}
    assert len(strides) == 1, "one antidiagonal stride per launch"
    return antidiagonal_blocks(q, k, _per_head(params, "threshold", q.device), strides.pop())


def _per_head(params: list[dict], key: str, device=None) -> torch.Tensor:
    return torch.tensor([p[key] for p in params], device=device)


def run_pattern(pattern: str, params: list[dict], q, k, v, kernels: bool | None = None) -> torch.Tensor:
    """One pattern over q's heads, params[i] being head i's budgets."""
    if pattern == "dense":
        return dense_attend(q, k, v, kernels=kernels)
    if use_kernels(q, kernels):
        if pattern == "vertical_slash":
            vertical, slash = (_per_head(params, key, q.device) for key in ("vertical", "slash"))
            return vertical_slash_prefill(q, k, v, vertical, slash)
        if pattern == "a_shape":
            sinks, local = (_per_head(params, key, q.device) for key in ("sink_blocks", "local_blocks"))
            return a_shape_prefill(q, k, v, sinks, local)
        if pattern == "block_sparse":
            return block_sparse_prefill(q, k, v, _per_head(params, "blocks", q.device))
        if pattern == "antidiagonal":
            from kernels.sparse_attention import sparse_attention

            return sparse_attention(q, k, v, *antidiagonal_lists(params, q, k))
        raise ValueError(f"unknown attention pattern {pattern!r}")
    return reference.masked_attention(q, k, v, pattern_mask(pattern, params, q, k)).to(q.dtype)


def pattern_mask(pattern: str, params: list[dict], q: torch.Tensor, k: torch.Tensor,
                 slash_ranges: bool = False) -> torch.Tensor:  # fmt: skip
    """The exact [1, h, n, n] mask the sparse kernel computes for this pattern (CPU path)."""
    n = q.shape[2]
    if pattern == "vertical_slash":
        vertical, slash = reference.vertical_slash_scores(q, k)
        budgets = (_per_head(params, key) for key in ("vertical", "slash"))
        v_idx, _, s_idx, _ = select_indices(vertical, slash, *budgets)
        if slash_ranges:
            heads = range(q.shape[1])
            return torch.stack([reference.slash_range_mask(n, v_idx[0, h], s_idx[0, h]) for h in heads])[None]
        return reference.vertical_slash_mask(n, v_idx, s_idx)
    if pattern == "a_shape":
        sinks, local = (_per_head(params, key) for key in ("sink_blocks", "local_blocks"))
        return reference.block_list_mask(n, *a_shape_blocks(n, sinks, local, q.shape[0]))
    if pattern == "block_sparse":
        return reference.block_list_mask(n, *block_sparse_blocks(q, k, _per_head(params, "blocks")))
    if pattern == "antidiagonal":
        return reference.block_list_mask(n, *antidiagonal_lists(params, q, k))
    raise ValueError(f"unknown attention pattern {pattern!r}")


@dataclass
class StreamingDrop:
    sinks: int = 64
    window: int = 1024

    def kept(self, query_pos: torch.Tensor, key_pos: torch.Tensor) -> torch.Tensor:
        """[queries, keys]: what each query still sees (sinks and its window, causal)."""
        query_pos, key_pos = query_pos[:, None], key_pos[None, :]
        return (key_pos <= query_pos) & ((key_pos < self.sinks) | (key_pos > query_pos - self.window))

    def __call__(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, layer: int = 0) -> torch.Tensor:
        m, n = q.shape[2], k.shape[2]
        out = torch.empty_like(q)
        chunk = max(self.window, 64)
        for first in range(0, m, chunk):
            last = min(first + chunk, m)
            q0, q1 = n - m + first, n - m + last  # these queries' positions
            lo = max(q0 - self.window + 1, 0)  # the oldest key any of them still sees, sinks aside
            sinks = min(self.sinks, lo)
            key_pos = torch.cat([torch.arange(sinks, device=q.device), torch.arange(lo, q1, device=q.device)])
            keys = torch.cat([k[:, :, :sinks], k[:, :, lo:q1]], dim=2)
            values = torch.cat([v[:, :, :sinks], v[:, :, lo:q1]], dim=2)
            kept = self.kept(torch.arange(q0, q1, device=q.device), key_pos)
            out[:, :, first:last] = _masked(q[:, :, first:last], keys, values, kept)
        return out


def _masked(q, k, v, kept: torch.Tensor) -> torch.Tensor:
    """Attention under a boolean mask: SDPA on a GPU, the float32 reference elsewhere."""
    if not q.is_cuda:
        return reference.masked_attention(q, k, v, kept).to(q.dtype)
    group = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=kept)


@dataclass
class AttentionPolicy:
    mode: str = "dense"  # "dense" | "sparse" | "drop"
    sparse_threshold: int = 8192  # a cold prefill this long or longer runs sparse (mode "sparse")
    sparse: SparsePrefill | None = None
    drop: StreamingDrop | None = None
    kernels: bool | None = None  # see use_kernels; also sets the sparse prefill's

    def __post_init__(self):
        if self.mode not in ("dense", "sparse", "drop"):
            raise ValueError(f"attention mode must be dense, sparse or drop, not {self.mode!r}")
        self.sparse = self.sparse or SparsePrefill()
        if self.kernels is not None:
            self.sparse.kernels = self.kernels
        self.drop = self.drop or StreamingDrop()

    def dense(self, q, k, v, layer: int = 0) -> torch.Tensor:
        return dense_attend(q, k, v, layer, self.kernels)

    def for_step(self, new_tokens: int, cached_tokens: int):
        if self.mode == "drop":
            return self.drop
        if self.mode == "sparse" and cached_tokens == 0 and new_tokens >= self.sparse_threshold:
            return self.sparse
        return self.dense
