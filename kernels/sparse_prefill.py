"""Sparse prefill front-ends: each builds its index lists on the GPU and runs the one sparse core.

- vertical_slash_prefill: estimate (vs_index) → select top-k per head → convert → attend.
- a_shape_prefill: sink blocks + a local window of blocks (StreamingLLM's shape, for prefill).
- block_sparse_prefill: per query block, the top key blocks by pooled-Q·pooled-K score.
Budgets are per head (tensors of length heads), as a pattern config gives them.
"""

import math
from dataclasses import dataclass

import torch
import triton

from .index_convert import convert_vertical_slash, convert_vertical_slash_ranges
from .reference import BLOCK
from .sparse_attention import sparse_attention
from .vs_index import select_indices, vertical_slash_scores

# Block scores for block-sparse are [query blocks × key blocks] per head: built a few heads at a time.
BLOCK_SCORE_HEADS = 4
LIST_BYTES = 4 << 30  # cap on the vertical-slash index lists held at once


@dataclass
class SparseTimings:
    """Seconds spent in each stage (filled only when the caller asks to time)."""

    estimate: float = 0.0
    convert: float = 0.0
    attention: float = 0.0


def vertical_slash_indices(q, k, vertical_budget: torch.Tensor, slash_budget: torch.Tensor, sinks=30, local=100):
    vertical, slash = vertical_slash_scores(q, k)
    return select_indices(vertical, slash, vertical_budget, slash_budget, sinks=sinks, local=local)


def vertical_slash_prefill(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    vertical_budget: torch.Tensor,
    slash_budget: torch.Tensor,
    sinks: int = 30,
    local: int = 100,
) -> torch.Tensor:
    indices = vertical_slash_indices(q, k, vertical_budget, slash_budget, sinks, local)
    out = torch.empty_like(q)
    for heads, kv_heads in head_chunks(q, k, indices[0].shape[-1], indices[2].shape[-1]):
        vertical_idx, vertical_count, slash_idx, slash_count = (t[:, heads].contiguous() for t in indices)
        lists = convert_vertical_slash(q.shape[2], vertical_idx, vertical_count, slash_idx, slash_count)
        sparse_attention(q[:, heads], k[:, kv_heads], v[:, kv_heads], *lists, out=out[:, heads])
    return out


def head_chunks(q: torch.Tensor, k: torch.Tensor, max_vertical: int, max_slash: int):
    """Whole GQA groups of heads whose index lists fit LIST_BYTES: at 1M tokens the lists of all
    32 heads would take ~28 GB, a few heads at a time far less."""
    batch, heads, n_ctx, _ = q.shape
    group = heads // k.shape[1]
    qblocks = triton.cdiv(n_ctx, BLOCK)
    per_head = batch * qblocks * (min(2 * max_slash, qblocks) + max_vertical) * 4
    groups_per_chunk = max(1, LIST_BYTES // (per_head * group))
    step = groups_per_chunk * group
    for first in range(0, heads, step):
        last = min(first + step, heads)
        yield slice(first, last), slice(first // group, last // group)


def a_shape_blocks(n_ctx: int, sink_blocks: torch.Tensor, local_blocks: torch.Tensor, batch: int):
    """Per head: blocks [0, sink) and (qb - local, qb] of each query block, without repeats."""
    device = sink_blocks.device
    qblocks = triton.cdiv(n_ctx, BLOCK)
    heads = sink_blocks.shape[0]
    width = int(sink_blocks.max()) + int(local_blocks.max())
    qb = torch.arange(qblocks, device=device)[None, :, None]
    slot = torch.arange(width, device=device)[None, None, :]
    sinks, locals_ = sink_blocks[:, None, None], local_blocks[:, None, None]
    local_first = (qb - locals_ + 1).clamp(min=0)
    local_start = torch.maximum(local_first, sinks.expand_as(local_first)).clamp(max=qb.expand_as(local_first) + 1)
    is_sink = slot < torch.minimum(sinks, qb + 1)
    block = torch.where(is_sink, slot, local_start + slot - torch.minimum(sinks, qb + 1))
    valid = is_sink | (block <= qb)
    count = valid.sum(-1).to(torch.int32)
    block = torch.where(valid, block, 0).to(torch.int32)
    return (
        block.expand(batch, heads, qblocks, width).contiguous(),
        count.expand(batch, heads, qblocks).contiguous(),
    )


def a_shape_prefill(q, k, v, sink_blocks: torch.Tensor, local_blocks: torch.Tensor) -> torch.Tensor:
    blocks, counts = a_shape_blocks(q.shape[2], sink_blocks.to(q.device), local_blocks.to(q.device), q.shape[0])
    return sparse_attention(q, k, v, blocks, counts)


def block_sparse_blocks(q: torch.Tensor, k: torch.Tensor, top_blocks: torch.Tensor):
    """Per query block, its diagonal block, block 0 and the best-scoring earlier key blocks."""
    batch, heads, n_ctx, dim = q.shape
    group = heads // k.shape[1]
    qblocks = triton.cdiv(n_ctx, BLOCK)
    pad = qblocks * BLOCK - n_ctx
    pooled_q = torch.nn.functional.pad(q, (0, 0, 0, pad)).view(batch, heads, qblocks, BLOCK, dim).float().mean(3)
    pooled_k = torch.nn.functional.pad(k, (0, 0, 0, pad)).view(batch, -1, qblocks, BLOCK, dim).float().mean(3)
    width = int(top_blocks.max().clamp(max=qblocks))
    blocks = torch.empty(batch, heads, qblocks, width, dtype=torch.int32, device=q.device)
    counts = torch.empty(batch, heads, qblocks, dtype=torch.int32, device=q.device)
    causal = torch.ones(qblocks, qblocks, dtype=torch.bool, device=q.device).tril()
    diagonal = torch.eye(qblocks, dtype=torch.bool, device=q.device)
    for first in range(0, heads, BLOCK_SCORE_HEADS):  # bounds memory at 1M tokens, not a per-head loop
        hs = slice(first, min(first + BLOCK_SCORE_HEADS, heads))
        kv = pooled_k[:, [h // group for h in range(hs.start, hs.stop)]]
        scores = pooled_q[:, hs] @ kv.transpose(-1, -2) / math.sqrt(dim)
        # the diagonal first, block 0 second: the core masks only a list's first and last block
        scores[..., 0] = torch.finfo(scores.dtype).max
        scores = scores.masked_fill(diagonal, float("inf"))
        scores = scores.masked_fill(~causal, float("-inf"))
        top = scores.topk(width, dim=-1)
        # top-k is sorted best first and future blocks score -inf: kept entries form a prefix
        keep = (top.values > float("-inf")) & (
            torch.arange(width, device=q.device) < top_blocks[hs].to(q.device)[:, None, None]
        )
        blocks[:, hs] = torch.where(keep, top.indices, 0).to(torch.int32)
        counts[:, hs] = keep.sum(-1).to(torch.int32)
    return blocks, counts


def block_sparse_prefill(q, k, v, top_blocks: torch.Tensor) -> torch.Tensor:
    blocks, counts = block_sparse_blocks(q, k, top_blocks)
    return sparse_attention(q, k, v, blocks, counts)


def vertical_slash_lists(q, k, vertical_budget: torch.Tensor, slash_budget: torch.Tensor, sinks=30, local=100):
    """The converted lists (block_idx, block_count, column_idx, column_count) of every head of q."""
    indices = vertical_slash_indices(q, k, vertical_budget, slash_budget, sinks, local)
    return convert_vertical_slash(q.shape[2], *indices)


def list_bytes(n_ctx: int, heads: int, max_blocks: int, max_columns: int) -> int:
    """Bytes of one set of index lists for `heads` heads."""
    return heads * triton.cdiv(n_ctx, BLOCK) * (max_blocks + max_columns + 2) * 4


def stack_lists(pieces: list[tuple]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Concatenate per-pattern lists along the head dimension, padding the list widths to the widest; a piece
    without columns (A-shape, block-sparse: (blocks, counts)) gets none."""
    width = max(piece[0].shape[-1] for piece in pieces)
    column_width = max([piece[2].shape[-1] for piece in pieces if len(piece) == 4] + [1])
    blocks, counts, columns, column_counts = [], [], [], []
    for piece in pieces:
        block_idx, block_count = piece[0], piece[1]
        blocks.append(torch.nn.functional.pad(block_idx, (0, width - block_idx.shape[-1])))
        counts.append(block_count)
        if len(piece) == 4:
            columns.append(torch.nn.functional.pad(piece[2], (0, column_width - piece[2].shape[-1])))
            column_counts.append(piece[3])
        else:
            columns.append(block_idx.new_zeros(*block_idx.shape[:-1], column_width))
            column_counts.append(torch.zeros_like(block_count))
    return torch.cat(blocks, 1), torch.cat(counts, 1), torch.cat(columns, 1), torch.cat(column_counts, 1)


def vertical_slash_ranges(q, k, vertical_budget: torch.Tensor, slash_budget: torch.Tensor, sinks=30, local=100):
    """The same picks as vertical_slash_lists, as unaligned key ranges (index_convert's slash bands):
    (range_lo, range_hi, range_count, column_idx, column_count)."""
    indices = vertical_slash_indices(q, k, vertical_budget, slash_budget, sinks, local)
    return convert_vertical_slash_ranges(q.shape[2], *indices)


def block_ranges(blocks: torch.Tensor, counts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Key-block lists as key ranges (each block its BLOCK keys)."""
    return blocks * BLOCK, blocks * BLOCK + BLOCK - 1, counts


def stack_ranges(pieces: list[tuple]) -> tuple[torch.Tensor, ...]:
    """As stack_lists for range lists: (lo, hi, count[, columns, column_count]) pieces → (lo, count, columns,
    column_count, hi), in scheduled_sparse_attention's argument order (hi last, as range_hi)."""
    lists = stack_lists([(lo, count, *rest) for lo, _, count, *rest in pieces])
    width = lists[0].shape[-1]
    his = [torch.nn.functional.pad(hi, (0, width - hi.shape[-1])) for _, hi, *_ in pieces]
    return (*lists, torch.cat(his, 1))
