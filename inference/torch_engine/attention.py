"""The attention functions the engine hands the model for each step.

- dense: a cold prefill on a GPU runs SDPA with cuDNN pinned (the baseline the benchmark compares
  against); a suffix or a decode step after a cached prefix runs our prefix-attention kernel; on the
  CPU everything runs the float32 reference.
- sparse: a cold prefill of at least `threshold` tokens runs each head's pattern from a config
  (kernels.pattern_search): vertical-slash, A-shape, block-sparse or dense. Heads sharing a pattern
  run together; on the CPU the same patterns run as their exact masks over the reference. The K/V
  stay complete: later turns attend to all of it (SCBench's point: sparse prefill, full cache).
- drop: StreamingLLM's KV dropping (attention sinks + a recent window), emulated by a mask relative to
  each query's position: a key outside the window of one query is outside it for every later query,
  as if it had been evicted. Only a comparison baseline for the SCBench evaluation.
"""

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.nn import functional as F

from kernels import reference
from kernels.pattern_search import HeadChoice, load_config
from kernels.sparse_prefill import (
    a_shape_blocks,
    a_shape_prefill,
    block_sparse_blocks,
    block_sparse_prefill,
    vertical_slash_prefill,
)
from kernels.vs_index import select_indices

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


def load_layer_patterns(directory: Path, prefix: str) -> dict[int, list[HeadChoice]]:
    """Per-layer head patterns from `<prefix>-layerNN.json` files (kernels/configs)."""
    patterns = {}
    for path in sorted(Path(directory).glob(f"{prefix}-layer*.json")):
        patterns[int(path.stem.rsplit("layer", 1)[1])] = load_config(path)
    if not patterns:
        raise ValueError(f"no pattern configs {prefix}-layer*.json in {directory}")
    return patterns


@dataclass
class SparsePrefill:
    """Per-head sparse prefill. A layer without its own config takes the nearest configured layer's;
    with no configs at all every head takes DEFAULT_PATTERN."""

    patterns: dict[int, list[HeadChoice]] | None = None
    kernels: bool | None = None  # see use_kernels

    def heads_by_pattern(self, layer: int, heads: int) -> dict[tuple[str, str], list[int]]:
        if self.patterns:
            nearest = min(self.patterns, key=lambda configured: (abs(configured - layer), configured))
            choices = self.patterns[nearest]
            if len(choices) != heads:
                raise ValueError(f"pattern config has {len(choices)} heads, the model {heads}")
        else:
            choices = [DEFAULT_PATTERN] * heads
        groups: dict[tuple[str, str], list[int]] = defaultdict(list)
        for head, choice in enumerate(choices):
            groups[(choice.pattern, json.dumps(choice.params, sort_keys=True))].append(head)
        return groups

    def __call__(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, layer: int) -> torch.Tensor:
        heads = q.shape[1]
        group = heads // k.shape[1]
        out = torch.empty_like(q)
        for (pattern, params), members in self.heads_by_pattern(layer, heads).items():
            if len(members) == heads:
                out = run_pattern(pattern, json.loads(params), q, k, v, self.kernels)
                continue
            kv_heads = [head // group for head in members]  # one K/V head per query head in the subset
            subset = q[:, members], k[:, kv_heads], v[:, kv_heads]
            out[:, members] = run_pattern(pattern, json.loads(params), *subset, self.kernels)
        return out


def run_pattern(pattern: str, params: dict, q, k, v, kernels: bool | None = None) -> torch.Tensor:
    heads = q.shape[1]
    if pattern == "dense":
        return dense_attend(q, k, v, kernels=kernels)
    if use_kernels(q, kernels):
        if pattern == "vertical_slash":
            budget = lambda value: torch.full((heads,), value, device=q.device)  # noqa: E731
            return vertical_slash_prefill(q, k, v, budget(params["vertical"]), budget(params["slash"]))
        if pattern == "a_shape":
            sinks, local = (torch.full((heads,), params[key]) for key in ("sink_blocks", "local_blocks"))
            return a_shape_prefill(q, k, v, sinks, local)
        if pattern == "block_sparse":
            return block_sparse_prefill(q, k, v, torch.full((heads,), params["blocks"], device=q.device))
        raise ValueError(f"unknown attention pattern {pattern!r}")
    return reference.masked_attention(q, k, v, pattern_mask(pattern, params, q, k)).to(q.dtype)


def pattern_mask(pattern: str, params: dict, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """The exact [1, h, n, n] mask the sparse kernel computes for this pattern (CPU path)."""
    heads, n = q.shape[1], q.shape[2]
    if pattern == "vertical_slash":
        vertical, slash = reference.vertical_slash_scores(q, k)
        v_idx, _, s_idx, _ = select_indices(
            vertical, slash, torch.full((heads,), params["vertical"]), torch.full((heads,), params["slash"])
        )
        return reference.vertical_slash_mask(n, v_idx, s_idx)
    if pattern == "a_shape":
        sinks, local = (torch.full((heads,), params[key]) for key in ("sink_blocks", "local_blocks"))
        return reference.block_list_mask(n, *a_shape_blocks(n, sinks, local, q.shape[0]))
    if pattern == "block_sparse":
        return reference.block_list_mask(n, *block_sparse_blocks(q, k, torch.full((heads,), params["blocks"])))
    raise ValueError(f"unknown attention pattern {pattern!r}")


@dataclass
class StreamingDrop:
    sinks: int = 64
    window: int = 1024

    def __call__(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, layer: int = 0) -> torch.Tensor:
        m, n = q.shape[2], k.shape[2]
        query_pos = torch.arange(n - m, n, device=q.device)[:, None]
        key_pos = torch.arange(n, device=q.device)[None, :]
        kept = (key_pos <= query_pos) & ((key_pos < self.sinks) | (key_pos > query_pos - self.window))
        return reference.masked_attention(q, k, v, kept).to(q.dtype)


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
