"""From vertical/slash picks to what the sparse attention kernel walks, on the GPU.

For each (batch, head, query block of BLOCK rows), it produces:
- the key blocks that some slash diagonal crosses (at most 2 per offset, deduplicated),
- the vertical columns outside those blocks (so no key is counted twice).
Memory is O(n / BLOCK · (2·slash budget + vertical budget)): nothing n×n.

Why the dedup is exact: with offsets sorted ascending, the crossed blocks of offset o_i are
hi_i = (q_last - o_i) // B and lo_i = max(q0 - o_i, 0) // B, both non-increasing in i, with
hi_i <= lo_{i-1} + 1. A candidate is new exactly when it is below every block emitted before it,
and the smallest block emitted before hi_i is lo_{i-1}; before lo_i it is min(lo_{i-1}, hi_i).
"""

import torch
import triton
import triton.language as tl

from .reference import BLOCK

CHUNK = 128


@triton.jit
def _lower_bound(sorted_ptr, count, x, STEPS: tl.constexpr):
    """Per element of x: how many of the first `count` sorted values are < x."""
    lo = tl.zeros_like(x)
    hi = tl.zeros_like(x) + count
    for _ in tl.static_range(STEPS):
        mid = (lo + hi) // 2
        value = tl.load(sorted_ptr + mid, mask=mid < hi, other=0)
        right = (mid < hi) & (value < x)
        lo = tl.where(right, mid + 1, lo)
        hi = tl.where(right, hi, mid)
    return lo


@triton.jit
def _append_kept(out_ptr, count, values, keep):
    """Store the values whose keep flag (0/1, int32) is set at out_ptr[count...], in order;
    return the new count."""
    position = count + tl.cumsum(keep, axis=0) - 1
    tl.store(out_ptr + position, values, mask=keep > 0)
    return count + tl.sum(keep, axis=0)


@triton.jit
def _convert_kernel(
    Slash, SlashCount, Vertical, VerticalCount,
    BlockIdx, BlockCount, ColumnIdx, ColumnCount,
    n_ctx, max_slash, max_vertical, max_blocks,
    B: tl.constexpr, CH: tl.constexpr, STEPS: tl.constexpr,
):  # fmt: skip
    qb = tl.program_id(0)
    bh = tl.program_id(1)
    n_qblocks = tl.num_programs(0)
    q0 = qb * B
    q_last = tl.minimum(q0 + B, n_ctx) - 1
    slash = Slash + bh * max_slash
    s_count = tl.load(SlashCount + bh)
    out_blocks = BlockIdx + (bh * n_qblocks + qb) * max_blocks
    emitted = 0
    for start in range(0, max_slash, CH):
        idx = start + tl.arange(0, CH)
        offset = tl.load(slash + idx, mask=idx < s_count, other=0)
        valid = (idx < s_count) & (offset <= q_last)
        prev = tl.load(slash + idx - 1, mask=(idx > 0) & (idx - 1 < s_count), other=0)
        hi = (q_last - offset) // B
        lo = tl.maximum(q0 - offset, 0) // B
        lo_prev = tl.where(idx > 0, tl.maximum(q0 - prev, 0) // B, n_qblocks + 1)
        keep_hi = valid & (hi < lo_prev)
        keep_lo = valid & (lo < hi) & (lo < lo_prev)
        keep = tl.interleave(keep_hi.to(tl.int32), keep_lo.to(tl.int32))
        emitted = _append_kept(out_blocks, emitted, tl.interleave(hi, lo), keep)
    tl.store(BlockCount + bh * n_qblocks + qb, emitted)

    vertical = Vertical + bh * max_vertical
    v_count = tl.load(VerticalCount + bh)
    out_columns = ColumnIdx + (bh * n_qblocks + qb) * max_vertical
    kept_columns = 0
    for start in range(0, max_vertical, CH):
        idx = start + tl.arange(0, CH)
        column = tl.load(vertical + idx, mask=idx < v_count, other=0)
        valid = (idx < v_count) & (column <= q_last)
        block_start = (column // B) * B
        # a slash offset in [first, last] crosses this column's block for this query block
        first = q0 - block_start - B + 1
        last = q_last - block_start
        covered = _lower_bound(slash, s_count, last + 1, STEPS) > _lower_bound(slash, s_count, first, STEPS)
        kept_columns = _append_kept(out_columns, kept_columns, column, (valid & ~covered).to(tl.int32))
    tl.store(ColumnCount + bh * n_qblocks + qb, kept_columns)


def convert_vertical_slash(
    n_ctx: int,
    vertical_idx: torch.Tensor,
    vertical_count: torch.Tensor,
    slash_idx: torch.Tensor,
    slash_count: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Returns (block_idx [b, h, qblocks, max_blocks], block_count [b, h, qblocks],
    column_idx [b, h, qblocks, max_v], column_count [b, h, qblocks]), int32."""
    batch, heads, max_slash = slash_idx.shape
    max_vertical = vertical_idx.shape[-1]
    qblocks = triton.cdiv(n_ctx, BLOCK)
    max_blocks = min(2 * max_slash, qblocks)
    device = slash_idx.device
    block_idx = torch.empty(batch, heads, qblocks, max_blocks, dtype=torch.int32, device=device)
    block_count = torch.empty(batch, heads, qblocks, dtype=torch.int32, device=device)
    column_idx = torch.empty(batch, heads, qblocks, max_vertical, dtype=torch.int32, device=device)
    column_count = torch.empty_like(block_count)
    steps = max(1, int(max_slash).bit_length())
    _convert_kernel[(qblocks, batch * heads)](
        slash_idx, slash_count, vertical_idx, vertical_count, block_idx, block_count, column_idx, column_count,
        n_ctx, max_slash, max_vertical, max_blocks, B=BLOCK, CH=CHUNK, STEPS=steps,
    )  # fmt: skip
    return block_idx, block_count, column_idx, column_count


# -- unaligned slash ranges -----------------------------------------------------------------------------
#
# Sorted slash offsets whose neighbours are at most BLOCK apart form a band [a, b]; for the query block
# [q0, q_last] a band covers the keys [max(q0 - b, 0), q_last - a], one contiguous range (the diagonals of
# neighbouring offsets touch or overlap), and bands never overlap each other. The kernel walks each range
# BLOCK keys at a time from its first key: an isolated diagonal costs one tile instead of the two aligned
# blocks it crosses, a band ceil(length / BLOCK) tiles. A vertical column inside a range is dropped.


def slash_bands(slash_idx: torch.Tensor, slash_count: torch.Tensor, gap: int = BLOCK):
    """Bands of sorted offsets ([b, h, max] ascending, count valid): (first [b, h, bands], last, count [b, h])."""
    width = slash_idx.shape[-1]
    slash_count = slash_count.reshape(slash_idx.shape[:-1])
    position = torch.arange(width, device=slash_idx.device)
    valid = position < slash_count[..., None]
    offsets = slash_idx.long()
    previous = torch.nn.functional.pad(offsets, (1, 0))[..., :-1]
    starts = valid & ((position == 0) | (offsets - previous > gap))
    following = torch.nn.functional.pad(starts, (0, 1), value=True)[..., 1:]
    ends = valid & (following | (position + 1 == slash_count[..., None]))
    band = torch.cumsum(starts.long(), -1) - 1
    count = starts.sum(-1).to(torch.int32)
    bands = max(int(count.max()), 1)
    first = torch.zeros(*offsets.shape[:-1], bands, dtype=torch.int32, device=slash_idx.device)
    last = torch.zeros_like(first)
    first.scatter_add_(-1, torch.where(starts, band, 0), torch.where(starts, offsets, 0).int())
    last.scatter_add_(-1, torch.where(ends, band, 0), torch.where(ends, offsets, 0).int())
    return first, last, count


@triton.jit
def _convert_ranges_kernel(
    First, Last, BandCount, Vertical, VerticalCount,
    RangeLo, RangeHi, RangeCount, ColumnIdx, ColumnCount,
    n_ctx, max_bands, max_vertical,
    B: tl.constexpr, CH: tl.constexpr, STEPS: tl.constexpr,
):  # fmt: skip
    qb = tl.program_id(0)
    bh = tl.program_id(1)
    n_qblocks = tl.num_programs(0)
    q0 = qb * B
    q_last = tl.minimum(q0 + B, n_ctx) - 1
    first_ptr = First + bh * max_bands
    last_ptr = Last + bh * max_bands
    b_count = tl.load(BandCount + bh)
    at = (bh * n_qblocks + qb) * max_bands
    emitted = 0
    for start in range(0, max_bands, CH):
        idx = start + tl.arange(0, CH)
        present = idx < b_count
        a = tl.load(first_ptr + idx, mask=present, other=0)
        b = tl.load(last_ptr + idx, mask=present, other=0)
        keep = (present & (a <= q_last)).to(tl.int32)
        _append_kept(RangeLo + at, emitted, tl.maximum(q0 - b, 0), keep)
        emitted = _append_kept(RangeHi + at, emitted, q_last - a, keep)
    tl.store(RangeCount + bh * n_qblocks + qb, emitted)

    vertical = Vertical + bh * max_vertical
    v_count = tl.load(VerticalCount + bh)
    out_columns = ColumnIdx + (bh * n_qblocks + qb) * max_vertical
    kept_columns = 0
    for start in range(0, max_vertical, CH):
        idx = start + tl.arange(0, CH)
        column = tl.load(vertical + idx, mask=idx < v_count, other=0)
        valid = (idx < v_count) & (column <= q_last)
        # the band with the largest first offset <= q_last - column is the only one that can cover it
        j = _lower_bound(first_ptr, b_count, q_last - column + 1, STEPS) - 1
        reach = tl.load(last_ptr + j, mask=j >= 0, other=-1)
        covered = (j >= 0) & (reach >= q0 - column)
        kept_columns = _append_kept(out_columns, kept_columns, column, (valid & ~covered).to(tl.int32))
    tl.store(ColumnCount + bh * n_qblocks + qb, kept_columns)


def convert_vertical_slash_ranges(
    n_ctx: int,
    vertical_idx: torch.Tensor,
    vertical_count: torch.Tensor,
    slash_idx: torch.Tensor,
    slash_count: torch.Tensor,
) -> tuple[torch.Tensor, ...]:
    """Returns (range_lo [b, h, qblocks, max_bands], range_hi, range_count [b, h, qblocks], column_idx
    [b, h, qblocks, max_v], column_count [b, h, qblocks]), int32: the key ranges of the slash bands and
    the vertical columns outside them, per query block (see the section comment)."""
    first, last, band_count = slash_bands(slash_idx, slash_count)
    batch, heads, max_bands = first.shape
    max_vertical = vertical_idx.shape[-1]
    qblocks = triton.cdiv(n_ctx, BLOCK)
    device = slash_idx.device
    range_lo = torch.empty(batch, heads, qblocks, max_bands, dtype=torch.int32, device=device)
    range_hi = torch.empty_like(range_lo)
    range_count = torch.empty(batch, heads, qblocks, dtype=torch.int32, device=device)
    column_idx = torch.empty(batch, heads, qblocks, max_vertical, dtype=torch.int32, device=device)
    column_count = torch.empty_like(range_count)
    steps = max(1, int(max_bands).bit_length())
    _convert_ranges_kernel[(qblocks, batch * heads)](
        first, last, band_count, vertical_idx, vertical_count, range_lo, range_hi, range_count,
        column_idx, column_count, n_ctx, max_bands, max_vertical, B=BLOCK, CH=CHUNK, STEPS=steps,
    )  # fmt: skip
    return range_lo, range_hi, range_count, column_idx, column_count


# -- pairs of query blocks (the 128-row core) -------------------------------------------------------------
#
# wide_sparse_attention runs the rows of query blocks 2p and 2p + 1 together. Their key blocks: the union of
# the two lists, sorted ascending (a bitmap per pair, compacted). Their columns: a vertical-slash list's
# columns of a query block are the head's vertical columns up to its last row outside its own blocks, so the
# columns of 2p outside the union are also columns of 2p + 1: the pair's columns are those of 2p + 1 outside
# the union (of 2p itself when it is the last, unpaired block). Other lists (A-shape, block-sparse) have none.

PAIR_BITMAP_ELEMENTS = 1 << 28  # bitmap entries built at once (heads are taken a few at a time past this)


def pair_lists(
    block_idx: torch.Tensor,
    block_count: torch.Tensor,
    column_idx: torch.Tensor,
    column_count: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-query-block lists [b, h, qblocks, ...] → per-pair lists [b, h, ceil(qblocks / 2), ...]: (block_idx
    ascending, block_count, column_idx, column_count), int32 (see the section comment)."""
    batch, heads, qblocks, width = block_idx.shape
    if qblocks % 2:  # the last block alone: an empty partner, and its own columns
        block_idx = torch.nn.functional.pad(block_idx, (0, 0, 0, 1))
        block_count = torch.nn.functional.pad(block_count, (0, 1))
        column_idx = torch.cat([column_idx, column_idx[:, :, -1:]], 2)
        column_count = torch.cat([column_count, column_count[:, :, -1:]], 2)
    pairs = block_idx.shape[2] // 2
    out_width = min(2 * width, qblocks)
    columns = column_idx[:, :, 1::2]
    column_total = column_count[:, :, 1::2]
    out_blocks = torch.empty(batch, heads, pairs, out_width, dtype=torch.int32, device=block_idx.device)
    out_count = torch.empty(batch, heads, pairs, dtype=torch.int32, device=block_idx.device)
    out_columns = torch.empty(batch, heads, pairs, columns.shape[-1], dtype=torch.int32, device=block_idx.device)
    out_column_count = torch.empty_like(out_count)
    step = max(1, PAIR_BITMAP_ELEMENTS // max(1, batch * pairs * qblocks))
    keys = torch.arange(qblocks, dtype=torch.int32, device=block_idx.device)
    for first in range(0, heads, step):
        hs = slice(first, min(first + step, heads))
        listed = torch.arange(width, device=block_idx.device) < block_count[:, hs, :, None]
        target = torch.where(listed, block_idx[:, hs].long(), qblocks)
        target = target.reshape(batch, target.shape[1], pairs, 2 * width)
        bitmap = torch.zeros(*target.shape[:3], qblocks + 1, dtype=torch.bool, device=block_idx.device)
        bitmap.scatter_(-1, target, True)
        bitmap = bitmap[..., :qblocks]
        out_count[:, hs] = bitmap.sum(-1, dtype=torch.int32)
        position = torch.where(bitmap, bitmap.cumsum(-1, dtype=torch.int32) - 1, out_width).long()
        compact = torch.zeros(*bitmap.shape[:3], out_width + 1, dtype=torch.int32, device=block_idx.device)
        compact.scatter_(-1, position, keys.expand_as(bitmap))
        out_blocks[:, hs] = compact[..., :out_width]
        cols = columns[:, hs]
        present = torch.arange(cols.shape[-1], device=cols.device) < column_total[:, hs, :, None]
        inside = bitmap.gather(-1, (cols.long() // BLOCK).clamp(0, qblocks - 1))
        keep = present & ~inside
        out_column_count[:, hs] = keep.sum(-1, dtype=torch.int32)
        position = torch.where(keep, keep.cumsum(-1, dtype=torch.int32) - 1, cols.shape[-1]).long()
        compact = torch.zeros(*cols.shape[:3], cols.shape[-1] + 1, dtype=torch.int32, device=cols.device)
        compact.scatter_(-1, position, cols)
        out_columns[:, hs] = compact[..., : cols.shape[-1]]
    return out_blocks, out_count, out_columns, out_column_count
