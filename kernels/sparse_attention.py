"""Sparse flash-attention forward over key-block lists plus gathered key columns.

One program per (query block, batch·head): it walks its key blocks (whole BLOCK×BLOCK tiles,
causal mask applied) and then its extra columns (gathered BLOCK at a time), with an online
softmax in float32. Vertical-slash, A-shape and block-sparse all run through this one core;
they differ only in the lists they build. GQA: query head h reads kv head h // group.
Only the diagonal block needs the causal mask (and the sequence's end, which lies in the last diagonal one):
with EDGE_MASK only a list's first and last block are masked, the rest run without the mask's compares.
wide_sparse_attention runs 2·BLOCK query rows per program over the union of two blocks' lists.
Reference: kernels.reference.masked_attention with the matching mask.
"""

import math
import os

import torch
import triton
import triton.language as tl

from .online_softmax import online_softmax_step, online_softmax_step_lazy, online_softmax_step_scaled
from .reference import BLOCK

LOG2E = 1.4426950408889634
# Mask only a list's first and last key block (the others lie strictly below the query block). Every list
# builder keeps the diagonal block at one end: vertical-slash lists descend from it, A-shape lists ascend to
# it, block-sparse lists start with it, pair lists ascend. False: every tile masked (round 3's core).
EDGE_MASK = True  # with it, the scale folds into the exponent (online_softmax_step_scaled)
# With EDGE_MASK: the unmasked interior of a list two blocks at a time, as one tile of 2·BLOCK keys (half the
# running-max rescales, a wider MMA). Off until measured faster (bench.longctx_round4 synthetic).
KEY_PAIRS = False
# With EDGE_MASK (and not KEY_PAIRS): how the unmasked interior of a list is walked (bench.longctx_round5):
# "plain" one tile after another (round 4's core); "pipelined" issues tile t+1's QK^T before tile t's softmax
# (FlashAttention-3's intra-warpgroup overlap, by hand); "lazy" rescales the running output only when some row's
# maximum rose by more than LAZY_LOG2 (FlashAttention-4's conditional rescale); "pipelined_lazy" both;
# (tl.range(warp_specialize=True) compiles for sm_90 with Triton 3.6 to the plain loop's code: kernels/NOTES.md v1.7.)
INTERIOR = "plain"
INTERIORS = ("plain", "pipelined", "lazy", "pipelined_lazy")
# Registers per thread the 64-row cores may use: None takes DEFAULT_REGISTER_CAPS by head dim, 0 none (as many as
# ptxas likes: round 4's core). At d 64 a cap of 128 fits four 4-warp programs an SM instead of three: 7% faster on
# the real model at 128K, the same outputs (kernels/NOTES.md v1.7); at d 128 it would spill 80 bytes (not measured).
# The pipelined loop holds two score tiles: 182 registers uncapped (two programs an SM), 168 without spills (three).
REGISTER_CAP: int | None = None
DEFAULT_REGISTER_CAPS = {64: 128}
LAZY_LOG2 = tl.constexpr(8.0)  # a stale maximum lets p reach 2^8: far inside bf16's range, and l_i, acc are float32


def _edge_mode() -> int:
    """The cores' EDGE constexpr: 0 every tile masked, 1 edge-only mask, 2 edge-only mask and key pairs."""
    return 0 if not EDGE_MASK else 2 if KEY_PAIRS else 1


def _register_cap(dim: int) -> int:
    """The cores' REGCAP constexpr (0: uncapped) for this head dim."""
    return DEFAULT_REGISTER_CAPS.get(dim, 0) if REGISTER_CAP is None else REGISTER_CAP


def _interior_mode() -> int:
    """The cores' LOOP constexpr: INTERIOR's index in INTERIORS."""
    return INTERIORS.index(INTERIOR)


@triton.jit
def _attend(q, k, v, visible, m_i, l_i, acc, scale_log2, FMA: tl.constexpr):
    if FMA:
        return online_softmax_step_scaled(tl.where(visible, tl.dot(q, tl.trans(k)), float("-inf")), scale_log2, v,
                                          m_i, l_i, acc)  # fmt: skip
    s = tl.where(visible, tl.dot(q, tl.trans(k)) * scale_log2, float("-inf"))
    return online_softmax_step(s, v, m_i, l_i, acc)


def _configs() -> list[triton.Config]:
    if os.environ.get("TRITON_INTERPRET") == "1":
        return [triton.Config({}, num_warps=4, num_stages=1)]
    free = [triton.Config({}, num_warps=w, num_stages=s) for w, s in [(4, 2), (4, 3), (4, 4), (8, 2), (8, 3)]]
    capped = [triton.Config({}, num_warps=4, num_stages=s, maxnreg=cap) for cap in (128, 168) for s in (2, 3)]
    return free + capped


def _by_register_cap(configs: list[triton.Config], named_args: dict, **kwargs) -> list[triton.Config]:
    """The configs of the REGCAP asked for (0: uncapped), so that each cap is tuned on its own."""
    return [c for c in configs if (c.maxnreg or 0) == kwargs["REGCAP"]] or configs


@triton.jit
def _load_rows(Q, b, h, rows, dims, stride_qb, stride_qh, stride_qn, n_ctx, B: tl.constexpr, D: tl.constexpr):
    """A program's query rows of one head, and its fresh online-softmax state (max, sum, output)."""
    q = tl.load(Q + b * stride_qb + h * stride_qh + rows[:, None] * stride_qn + dims[None, :],
                mask=(rows < n_ctx)[:, None], other=0.0)  # fmt: skip
    m_i = tl.full([B], float("-inf"), dtype=tl.float32)
    return q, m_i, tl.zeros([B], dtype=tl.float32), tl.zeros([B, D], dtype=tl.float32)


@triton.jit
def _store_rows(Out, b, h, rows, dims, stride_ob, stride_oh, stride_on, n_ctx, l_i, acc):
    """The normalised output of a program's rows (rows that saw no key: zeros)."""
    out = acc / tl.where(l_i == 0.0, 1.0, l_i)[:, None]
    tl.store(Out + b * stride_ob + h * stride_oh + rows[:, None] * stride_on + dims[None, :],
             out.to(Out.dtype.element_ty), mask=(rows < n_ctx)[:, None])  # fmt: skip


@triton.jit
def _attend_lists(
    Q, K, V, Out, BlockIdx, BlockCount, ColumnIdx, ColumnCount,
    stride_qb, stride_qh, stride_qn, stride_kb, stride_kh, stride_kn,
    stride_vb, stride_vh, stride_vn, stride_ob, stride_oh, stride_on,
    b, h, kv_h, qb, list_at, n_ctx, scale_log2, max_blocks, max_columns,
    D: tl.constexpr, B: tl.constexpr, EDGE: tl.constexpr, LOOP: tl.constexpr,
):  # fmt: skip
    """One query block of one head: its listed key blocks, then its extra columns. EDGE: only the first and
    the last listed block are masked (EDGE_MASK); LOOP: how the interior between them is walked (INTERIOR)."""
    rows = qb * B + tl.arange(0, B)
    dims = tl.arange(0, D)
    q, m_i, l_i, acc = _load_rows(Q, b, h, rows, dims, stride_qb, stride_qh, stride_qn, n_ctx, B, D)
    k_base = K + b * stride_kb + kv_h * stride_kh
    v_base = V + b * stride_vb + kv_h * stride_vh

    blocks = BlockIdx + list_at * max_blocks
    n_blocks = tl.load(BlockCount + list_at)
    if EDGE:  # only a list's first and last block can be the diagonal one (module docstring)
        if n_blocks > 0:
            m_i, l_i, acc = _block_tile(q, k_base, v_base, blocks, 0, rows, dims, stride_kn, stride_vn, n_ctx,
                                        m_i, l_i, acc, scale_log2, B, True, EDGE)  # fmt: skip
        if EDGE == 2:  # the interior two blocks at a time: one tile of 2·B keys (KEY_PAIRS)
            for t in range(0, (n_blocks - 2) // 2):
                m_i, l_i, acc = _block_pair(q, k_base, v_base, blocks, 1 + 2 * t, dims, stride_kn, stride_vn,
                                            m_i, l_i, acc, scale_log2, B)  # fmt: skip
            if n_blocks > 2 and n_blocks % 2 == 1:
                m_i, l_i, acc = _block_tile(q, k_base, v_base, blocks, n_blocks - 2, rows, dims, stride_kn,
                                            stride_vn, n_ctx, m_i, l_i, acc, scale_log2, B, False, True)  # fmt: skip
        else:
            m_i, l_i, acc = _interior(q, k_base, v_base, blocks, n_blocks - 1, dims, stride_kn, stride_vn,
                                      m_i, l_i, acc, scale_log2, B, LOOP)  # fmt: skip
        if n_blocks > 1:
            m_i, l_i, acc = _block_tile(q, k_base, v_base, blocks, n_blocks - 1, rows, dims, stride_kn, stride_vn,
                                        n_ctx, m_i, l_i, acc, scale_log2, B, True, EDGE)  # fmt: skip
    else:
        for t in range(0, n_blocks):
            m_i, l_i, acc = _block_tile(q, k_base, v_base, blocks, t, rows, dims, stride_kn, stride_vn, n_ctx,
                                        m_i, l_i, acc, scale_log2, B, True, EDGE)  # fmt: skip

    m_i, l_i, acc = _column_tiles(q, k_base, v_base, ColumnIdx + list_at * max_columns, tl.load(ColumnCount + list_at),
                                  rows, dims, stride_kn, stride_vn, m_i, l_i, acc, scale_log2, B, EDGE)  # fmt: skip
    _store_rows(Out, b, h, rows, dims, stride_ob, stride_oh, stride_on, n_ctx, l_i, acc)


@triton.jit
def _interior(q, k_base, v_base, blocks, end, dims, stride_kn, stride_vn, m_i, l_i, acc, scale_log2,
              B: tl.constexpr, LOOP: tl.constexpr):  # fmt: skip
    """Listed blocks 1 .. end-1, all strictly below the rows (no mask), walked as INTERIORS[LOOP] says."""
    if LOOP == 1 or LOOP == 3:  # pipelined: S = QK^T of the next tile is issued before this tile's softmax
        if end > 1:
            cols = tl.load(blocks + 1) * B + tl.arange(0, B)
            qk = tl.dot(q, tl.trans(tl.load(k_base + cols[:, None] * stride_kn + dims[None, :])))
            for t in range(2, end):
                next_cols = tl.load(blocks + t) * B + tl.arange(0, B)
                next_qk = tl.dot(q, tl.trans(tl.load(k_base + next_cols[:, None] * stride_kn + dims[None, :])))
                v = tl.load(v_base + cols[:, None] * stride_vn + dims[None, :])
                m_i, l_i, acc = _interior_step(qk, scale_log2, v, m_i, l_i, acc, LOOP == 3)
                qk, cols = next_qk, next_cols
            v = tl.load(v_base + cols[:, None] * stride_vn + dims[None, :])
            m_i, l_i, acc = _interior_step(qk, scale_log2, v, m_i, l_i, acc, LOOP == 3)
    else:
        for t in range(1, end):
            m_i, l_i, acc = _unmasked_tile(q, k_base, v_base, blocks, t, dims, stride_kn, stride_vn, m_i, l_i, acc,
                                           scale_log2, B, LOOP == 2)  # fmt: skip
    return m_i, l_i, acc


@triton.jit
def _unmasked_tile(q, k_base, v_base, blocks, t, dims, stride_kn, stride_vn, m_i, l_i, acc, scale_log2,
                   B: tl.constexpr, LAZY: tl.constexpr):  # fmt: skip
    """Key block blocks[t], strictly below the rows: no mask; the scale folded into the exponent."""
    cols = tl.load(blocks + t) * B + tl.arange(0, B)
    k = tl.load(k_base + cols[:, None] * stride_kn + dims[None, :])
    v = tl.load(v_base + cols[:, None] * stride_vn + dims[None, :])
    return _interior_step(tl.dot(q, tl.trans(k)), scale_log2, v, m_i, l_i, acc, LAZY)


@triton.jit
def _interior_step(qk, scale_log2, v, m_i, l_i, acc, LAZY: tl.constexpr):
    if LAZY:
        return online_softmax_step_lazy(qk, scale_log2, v, m_i, l_i, acc, LAZY_LOG2)
    return online_softmax_step_scaled(qk, scale_log2, v, m_i, l_i, acc)


@triton.jit
def _block_tile(q, k_base, v_base, blocks, t, rows, dims, stride_kn, stride_vn, n_ctx, m_i, l_i, acc, scale_log2,
                B: tl.constexpr, MASKED: tl.constexpr, FMA: tl.constexpr):  # fmt: skip
    """Key block blocks[t] (B keys) for the rows: MASKED applies the causal mask and the end of the sequence;
    without it every key of the block is before every row (a block strictly below the diagonal)."""
    kb = tl.load(blocks + t)
    cols = kb * B + tl.arange(0, B)
    if MASKED:
        in_range = cols < n_ctx
        k = tl.load(k_base + cols[:, None] * stride_kn + dims[None, :], mask=in_range[:, None], other=0.0)
        v = tl.load(v_base + cols[:, None] * stride_vn + dims[None, :], mask=in_range[:, None], other=0.0)
        visible = (cols[None, :] <= rows[:, None]) & in_range[None, :]
        return _attend(q, k, v, visible, m_i, l_i, acc, scale_log2, FMA)
    k = tl.load(k_base + cols[:, None] * stride_kn + dims[None, :])
    v = tl.load(v_base + cols[:, None] * stride_vn + dims[None, :])
    if FMA:
        return online_softmax_step_scaled(tl.dot(q, tl.trans(k)), scale_log2, v, m_i, l_i, acc)
    return online_softmax_step(tl.dot(q, tl.trans(k)) * scale_log2, v, m_i, l_i, acc)


@triton.jit
def _block_pair(q, k_base, v_base, blocks, t, dims, stride_kn, stride_vn, m_i, l_i, acc, scale_log2, B: tl.constexpr):
    """Key blocks blocks[t] and blocks[t + 1], both strictly below the rows, as one unmasked tile of 2·B keys."""
    first = tl.load(blocks + t)
    second = tl.load(blocks + t + 1)
    r = tl.arange(0, 2 * B)
    cols = tl.where(r < B, first * B + r, second * B + r - B)
    k = tl.load(k_base + cols[:, None] * stride_kn + dims[None, :])
    v = tl.load(v_base + cols[:, None] * stride_vn + dims[None, :])
    return online_softmax_step_scaled(tl.dot(q, tl.trans(k)), scale_log2, v, m_i, l_i, acc)


@triton.jit
def _column_tiles(q, k_base, v_base, columns, n_columns, rows, dims, stride_kn, stride_vn, m_i, l_i, acc,
                  scale_log2, B: tl.constexpr, FMA: tl.constexpr):  # fmt: skip
    """The gathered extra columns, B at a time (always masked: a column may lie inside the rows' own block)."""
    for start in range(0, n_columns, B):
        idx = start + tl.arange(0, B)
        present = idx < n_columns
        cols = tl.load(columns + idx, mask=present, other=0)
        k = tl.load(k_base + cols[:, None] * stride_kn + dims[None, :], mask=present[:, None], other=0.0)
        v = tl.load(v_base + cols[:, None] * stride_vn + dims[None, :], mask=present[:, None], other=0.0)
        visible = (cols[None, :] <= rows[:, None]) & present[None, :]
        m_i, l_i, acc = _attend(q, k, v, visible, m_i, l_i, acc, scale_log2, FMA)
    return m_i, l_i, acc


@triton.jit
def _attend_ranges(
    Q, K, V, Out, RangeLo, RangeHi, RangeCount, ColumnIdx, ColumnCount,
    stride_qb, stride_qh, stride_qn, stride_kb, stride_kh, stride_kn,
    stride_vb, stride_vh, stride_vn, stride_ob, stride_oh, stride_on,
    b, h, kv_h, qb, list_at, n_ctx, scale_log2, max_ranges, max_columns,
    D: tl.constexpr, B: tl.constexpr, RB: tl.constexpr,
):  # fmt: skip
    """As _attend_lists, over key ranges [lo, hi] (any start, not aligned to B) walked RB keys at a time."""
    rows = qb * B + tl.arange(0, B)
    dims = tl.arange(0, D)
    q, m_i, l_i, acc = _load_rows(Q, b, h, rows, dims, stride_qb, stride_qh, stride_qn, n_ctx, B, D)
    k_base = K + b * stride_kb + kv_h * stride_kh
    v_base = V + b * stride_vb + kv_h * stride_vh

    n_ranges = tl.load(RangeCount + list_at)
    for r in range(0, n_ranges):
        lo = tl.load(RangeLo + list_at * max_ranges + r)
        hi = tl.load(RangeHi + list_at * max_ranges + r)
        for start in range(lo, hi + 1, RB):
            cols = start + tl.arange(0, RB)
            in_range = (cols <= hi) & (cols < n_ctx)
            k = tl.load(k_base + cols[:, None] * stride_kn + dims[None, :], mask=in_range[:, None], other=0.0)
            v = tl.load(v_base + cols[:, None] * stride_vn + dims[None, :], mask=in_range[:, None], other=0.0)
            visible = (cols[None, :] <= rows[:, None]) & in_range[None, :]
            m_i, l_i, acc = _attend(q, k, v, visible, m_i, l_i, acc, scale_log2, False)

    n_columns = tl.load(ColumnCount + list_at)
    for start in range(0, n_columns, B):
        idx = start + tl.arange(0, B)
        present = idx < n_columns
        cols = tl.load(ColumnIdx + list_at * max_columns + idx, mask=present, other=0)
        k = tl.load(k_base + cols[:, None] * stride_kn + dims[None, :], mask=present[:, None], other=0.0)
        v = tl.load(v_base + cols[:, None] * stride_vn + dims[None, :], mask=present[:, None], other=0.0)
        visible = (cols[None, :] <= rows[:, None]) & present[None, :]
        m_i, l_i, acc = _attend(q, k, v, visible, m_i, l_i, acc, scale_log2, False)

    _store_rows(Out, b, h, rows, dims, stride_ob, stride_oh, stride_on, n_ctx, l_i, acc)


@triton.autotune(
    configs=_configs(),
    key=["D", "heads", "group", "EDGE", "LOOP", "REGCAP"],
    prune_configs_by={"early_config_prune": _by_register_cap},
)
@triton.jit
def _sparse_attention_kernel(
    Q, K, V, Out,
    BlockIdx, BlockCount, ColumnIdx, ColumnCount,
    stride_qb, stride_qh, stride_qn,
    stride_kb, stride_kh, stride_kn,
    stride_vb, stride_vh, stride_vn,
    stride_ob, stride_oh, stride_on,
    n_ctx, heads, group, scale_log2, max_blocks, max_columns,
    D: tl.constexpr, B: tl.constexpr, EDGE: tl.constexpr, LOOP: tl.constexpr, REGCAP: tl.constexpr,
):  # fmt: skip
    qb = tl.program_id(0)
    bh = tl.program_id(1)
    b, h = bh // heads, bh % heads
    _attend_lists(
        Q, K, V, Out, BlockIdx, BlockCount, ColumnIdx, ColumnCount,
        stride_qb, stride_qh, stride_qn, stride_kb, stride_kh, stride_kn,
        stride_vb, stride_vh, stride_vn, stride_ob, stride_oh, stride_on,
        b, h, h // group, qb, bh * tl.num_programs(0) + qb, n_ctx, scale_log2, max_blocks, max_columns, D, B,
        EDGE, LOOP,
    )  # fmt: skip


@triton.autotune(
    configs=_configs(),
    key=["D", "heads", "group", "RANGES", "RB", "EDGE", "LOOP", "REGCAP"],
    prune_configs_by={"early_config_prune": _by_register_cap},
)
@triton.jit
def _scheduled_kernel(
    Q, K, V, Out,
    BlockIdx, RangeHi, BlockCount, ColumnIdx, ColumnCount, HeadIds, Order,
    stride_qb, stride_qh, stride_qn,
    stride_kb, stride_kh, stride_kn,
    stride_vb, stride_vh, stride_vn,
    stride_ob, stride_oh, stride_on,
    n_ctx, n_qblocks, heads, group, scale_log2, max_blocks, max_columns,
    D: tl.constexpr, B: tl.constexpr, RANGES: tl.constexpr, RB: tl.constexpr, EDGE: tl.constexpr,
    LOOP: tl.constexpr, REGCAP: tl.constexpr,
):  # fmt: skip
    """One program per listed (batch, slot, query block), in the order given (the heaviest first): slot s of
    the lists belongs to query head HeadIds[s] of q and out, whose KV head is HeadIds[s] // group. RANGES:
    BlockIdx and RangeHi hold key ranges [lo, hi] instead of key blocks."""
    item = tl.load(Order + tl.program_id(0))  # (b · heads + slot) · n_qblocks + qb, as the lists are laid out
    qb = item % n_qblocks
    bs = item // n_qblocks
    b, slot = bs // heads, bs % heads
    h = tl.load(HeadIds + slot)
    if RANGES:
        _attend_ranges(
            Q, K, V, Out, BlockIdx, RangeHi, BlockCount, ColumnIdx, ColumnCount,
            stride_qb, stride_qh, stride_qn, stride_kb, stride_kh, stride_kn,
            stride_vb, stride_vh, stride_vn, stride_ob, stride_oh, stride_on,
            b, h, h // group, qb, item, n_ctx, scale_log2, max_blocks, max_columns, D, B, RB,
        )  # fmt: skip
    else:
        _attend_lists(
            Q, K, V, Out, BlockIdx, BlockCount, ColumnIdx, ColumnCount,
            stride_qb, stride_qh, stride_qn, stride_kb, stride_kh, stride_kn,
            stride_vb, stride_vh, stride_vn, stride_ob, stride_oh, stride_on,
            b, h, h // group, qb, item, n_ctx, scale_log2, max_blocks, max_columns, D, B, EDGE, LOOP,
        )  # fmt: skip


def _wide_configs() -> list[triton.Config]:
    if os.environ.get("TRITON_INTERPRET") == "1":
        return [triton.Config({}, num_warps=4, num_stages=1)]
    return [triton.Config({}, num_warps=w, num_stages=s) for w, s in [(4, 2), (4, 3), (8, 2), (8, 3), (8, 4)]]


@triton.autotune(configs=_wide_configs(), key=["D", "heads", "group"])
@triton.jit
def _wide_kernel(
    Q, K, V, Out,
    BlockIdx, BlockCount, ColumnIdx, ColumnCount, HeadIds,
    stride_qb, stride_qh, stride_qn,
    stride_kb, stride_kh, stride_kn,
    stride_vb, stride_vh, stride_vn,
    stride_ob, stride_oh, stride_on,
    n_ctx, heads, group, scale_log2, max_blocks, max_columns,
    D: tl.constexpr, B: tl.constexpr,
):  # fmt: skip
    """One program per (pair of query blocks, batch · slot): 2·B query rows over the pair's key blocks (sorted
    ascending: all but the last two lie strictly below the pair's rows and run unmasked) and its columns."""
    pair = tl.program_id(0)
    bs = tl.program_id(1)
    b, slot = bs // heads, bs % heads
    h = tl.load(HeadIds + slot)
    kv_h = h // group
    list_at = bs * tl.num_programs(0) + pair
    rows = pair * 2 * B + tl.arange(0, 2 * B)
    dims = tl.arange(0, D)
    q, m_i, l_i, acc = _load_rows(Q, b, h, rows, dims, stride_qb, stride_qh, stride_qn, n_ctx, 2 * B, D)
    k_base = K + b * stride_kb + kv_h * stride_kh
    v_base = V + b * stride_vb + kv_h * stride_vh
    blocks = BlockIdx + list_at * max_blocks
    n_blocks = tl.load(BlockCount + list_at)
    below = tl.maximum(n_blocks - 2, 0)
    for t in range(0, below):
        m_i, l_i, acc = _block_tile(q, k_base, v_base, blocks, t, rows, dims, stride_kn, stride_vn, n_ctx,
                                    m_i, l_i, acc, scale_log2, B, False, True)  # fmt: skip
    for t in range(below, n_blocks):
        m_i, l_i, acc = _block_tile(q, k_base, v_base, blocks, t, rows, dims, stride_kn, stride_vn, n_ctx,
                                    m_i, l_i, acc, scale_log2, B, True, True)  # fmt: skip
    m_i, l_i, acc = _column_tiles(q, k_base, v_base, ColumnIdx + list_at * max_columns, tl.load(ColumnCount + list_at),
                                  rows, dims, stride_kn, stride_vn, m_i, l_i, acc, scale_log2, B, True)  # fmt: skip
    _store_rows(Out, b, h, rows, dims, stride_ob, stride_oh, stride_on, n_ctx, l_i, acc)


def _strides(*tensors: torch.Tensor) -> list[int]:
    """Batch, head and row strides of each [batch, heads, rows, d] tensor, in the kernels' argument order."""
    return [stride for t in tensors for stride in t.stride()[:3]]


def sparse_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    block_idx: torch.Tensor,
    block_count: torch.Tensor,
    column_idx: torch.Tensor | None = None,
    column_count: torch.Tensor | None = None,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Attention of q over the listed key blocks and columns (see module docstring)."""
    batch, heads, n_ctx, dim = q.shape
    assert dim in (64, 128) and q.stride(-1) == k.stride(-1) == v.stride(-1) == 1
    qblocks = triton.cdiv(n_ctx, BLOCK)
    if column_idx is None:
        column_idx = torch.zeros(batch, heads, qblocks, 1, dtype=torch.int32, device=q.device)
        column_count = torch.zeros(batch, heads, qblocks, dtype=torch.int32, device=q.device)
    out = torch.empty_like(q) if out is None else out
    _sparse_attention_kernel[(qblocks, batch * heads)](
        q, k, v, out, block_idx, block_count, column_idx, column_count,
        *_strides(q, k, v, out),
        n_ctx, heads, heads // k.shape[1], LOG2E / math.sqrt(dim), block_idx.shape[-1], column_idx.shape[-1],
        D=dim, B=BLOCK, EDGE=_edge_mode(), LOOP=_interior_mode(), REGCAP=_register_cap(dim),
    )  # fmt: skip
    return out


def scheduled_sparse_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    head_ids: torch.Tensor,
    block_idx: torch.Tensor,
    block_count: torch.Tensor,
    column_idx: torch.Tensor,
    column_count: torch.Tensor,
    range_hi: torch.Tensor | None = None,
    *,
    out: torch.Tensor,
    order: str = "heaviest_first",
    range_block: int = BLOCK,
) -> torch.Tensor:
    """The same attention as sparse_attention, for a subset of q's heads in one launch: list slot s (dim 1 of
    the lists) is query head head_ids[s] of q and out (K/V: its GQA head). Programs run heaviest first
    (listed blocks plus column tiles, longest-processing-time order), so the few long query blocks of one
    pattern start early instead of trailing behind the short ones. Writes only those heads of out.
    With range_hi, block_idx holds the first key of each listed key range and range_hi its last (inclusive):
    ranges of any start and length, walked range_block keys at a time (sparse_prefill.vertical_slash_ranges).
    order "natural" runs the programs in list order (head by head, query blocks in turn: neighbouring programs
    share K/V in L2) instead of heaviest first."""
    _, heads, n_ctx, dim = q.shape
    assert dim in (64, 128) and q.stride(-1) == k.stride(-1) == v.stride(-1) == out.stride(-1) == 1
    slots, qblocks = block_count.shape[1], block_count.shape[2]
    assert qblocks == triton.cdiv(n_ctx, BLOCK) and column_count.shape == block_count.shape
    if range_hi is None:
        tiles = block_count
    else:
        listed = torch.arange(block_idx.shape[-1], device=q.device) < block_count[..., None]
        tiles = (((range_hi - block_idx + BLOCK) // BLOCK) * listed).sum(-1)
    assert order in ("heaviest_first", "natural") and range_block in (BLOCK, 2 * BLOCK)
    if order == "natural":
        order = torch.arange(block_count.numel(), dtype=torch.int32, device=q.device)
    else:
        work = tiles + (column_count + BLOCK - 1) // BLOCK
        order = torch.argsort(work.flatten(), descending=True, stable=True).to(torch.int32)
    _scheduled_kernel[(order.numel(),)](
        q, k, v, out, block_idx, block_idx if range_hi is None else range_hi, block_count, column_idx, column_count,
        head_ids.to(torch.int32), order,
        *_strides(q, k, v, out),
        n_ctx, qblocks, slots, heads // k.shape[1], LOG2E / math.sqrt(dim), block_idx.shape[-1],
        column_idx.shape[-1], D=dim, B=BLOCK, RANGES=range_hi is not None, RB=range_block, EDGE=_edge_mode(),
        LOOP=_interior_mode(), REGCAP=_register_cap(dim),
    )  # fmt: skip
    return out


def wide_sparse_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    head_ids: torch.Tensor,
    block_idx: torch.Tensor,
    block_count: torch.Tensor,
    column_idx: torch.Tensor,
    column_count: torch.Tensor,
    *,
    out: torch.Tensor,
) -> torch.Tensor:
    """Attention over pair lists (index_convert.pair_lists: per pair of query blocks, the union of the two
    blocks' key blocks sorted ascending, and the columns outside them): query tiles of 2·BLOCK rows, so each
    K/V tile loaded feeds twice the rows and the MMA is twice as tall. Both blocks of a pair see the union
    (a superset of each block's own keys). List slot s is query head head_ids[s] of q and out, in grid order;
    only those heads of out are written."""
    _, heads, n_ctx, dim = q.shape
    assert dim in (64, 128) and q.stride(-1) == k.stride(-1) == v.stride(-1) == out.stride(-1) == 1
    slots, pairs = block_count.shape[1], block_count.shape[2]
    assert pairs == triton.cdiv(n_ctx, 2 * BLOCK) and column_count.shape == block_count.shape
    assert block_idx.is_contiguous() and column_idx.is_contiguous()
    _wide_kernel[(pairs, block_count.shape[0] * slots)](
        q, k, v, out, block_idx, block_count, column_idx, column_count, head_ids.to(torch.int32),
        *_strides(q, k, v, out),
        n_ctx, slots, heads // k.shape[1], LOG2E / math.sqrt(dim), block_idx.shape[-1], column_idx.shape[-1],
        D=dim, B=BLOCK,
    )  # fmt: skip
    return out
