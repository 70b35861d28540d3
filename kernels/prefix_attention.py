"""Prefix attention: m new queries against n cached keys, the last m of which are their own.

Query i sits at position n - m + i and sees keys 0..n - m + i. This one contract covers full
prefill (m = n), chunked prefill over a cached prefix, and decode (m = 1..64).
- m > DECODE_MAX_M: tiled flash attention; key blocks below the tile's first position need no
  mask, only the diagonal band is masked.
- m <= DECODE_MAX_M: split-K ("flash decoding"): each program reads one slice of one KV head's
  cache once for all query heads of its group and all m tokens, then a second pass merges the
  slices by their log-sum-exp. Decode is bandwidth-bound, so K/V are read exactly once.
Reference: kernels.reference.prefix_attention.
"""

import math
import os

import torch
import triton
import triton.language as tl

from .online_softmax import online_softmax_step

LOG2E = 1.4426950408889634
DECODE_MAX_M = 64
MAX_DECODE_ROWS = 128
INTERPRETING = os.environ.get("TRITON_INTERPRET") == "1"


def _prefill_configs() -> list[triton.Config]:
    if INTERPRETING:
        return [triton.Config({"BM": 64, "BN": 64}, num_warps=4, num_stages=1)]
    return [
        triton.Config({"BM": bm, "BN": bn}, num_warps=w, num_stages=s)
        for bm, bn, w, s in [(128, 64, 8, 3), (128, 128, 8, 3), (128, 64, 4, 3), (64, 64, 4, 3), (128, 32, 4, 4)]
    ]


@triton.jit
def _attend_block(q, k_base, v_base, start, rows_pos, m_i, l_i, acc, n_keys, stride_kn, stride_vn, scale_log2,
                  D: tl.constexpr, BN: tl.constexpr, MASKED: tl.constexpr):  # fmt: skip
    cols = start + tl.arange(0, BN)
    dims = tl.arange(0, D)
    if MASKED:
        k = tl.load(k_base + cols[:, None] * stride_kn + dims[None, :], mask=(cols < n_keys)[:, None], other=0.0)
        v = tl.load(v_base + cols[:, None] * stride_vn + dims[None, :], mask=(cols < n_keys)[:, None], other=0.0)
    else:
        k = tl.load(k_base + cols[:, None] * stride_kn + dims[None, :])
        v = tl.load(v_base + cols[:, None] * stride_vn + dims[None, :])
    s = tl.dot(q, tl.trans(k)) * scale_log2
    if MASKED:
        s = tl.where((cols[None, :] <= rows_pos[:, None]) & (cols[None, :] < n_keys), s, float("-inf"))
    return online_softmax_step(s, v, m_i, l_i, acc)


@triton.autotune(configs=_prefill_configs(), key=["m_new", "D", "group"])
@triton.jit
def _prefill_kernel(
    Q, K, V, Out,
    stride_qb, stride_qh, stride_qn, stride_kb, stride_kh, stride_kn,
    stride_vb, stride_vh, stride_vn, stride_ob, stride_oh, stride_on,
    m_new, n_keys, heads, group, scale_log2,
    D: tl.constexpr, BM: tl.constexpr, BN: tl.constexpr,
):  # fmt: skip
    mb = tl.program_id(0)
    bh = tl.program_id(1)
    b, h = bh // heads, bh % heads
    past = n_keys - m_new
    rows = mb * BM + tl.arange(0, BM)
    rows_pos = past + rows
    dims = tl.arange(0, D)
    q = tl.load(Q + b * stride_qb + h * stride_qh + rows[:, None] * stride_qn + dims[None, :],
                mask=(rows < m_new)[:, None], other=0.0)  # fmt: skip
    k_base = K + b * stride_kb + (h // group) * stride_kh
    v_base = V + b * stride_vb + (h // group) * stride_vh
    m_i = tl.full([BM], float("-inf"), dtype=tl.float32)
    l_i = tl.zeros([BM], dtype=tl.float32)
    acc = tl.zeros([BM, D], dtype=tl.float32)
    # keys every row of the tile sees: no mask, no bounds checks
    unmasked_end = ((past + mb * BM) // BN) * BN
    for start in range(0, unmasked_end, BN):
        m_i, l_i, acc = _attend_block(q, k_base, v_base, start, rows_pos, m_i, l_i, acc, n_keys, stride_kn,
                                      stride_vn, scale_log2, D, BN, False)  # fmt: skip
    tile_end = tl.minimum(past + (mb + 1) * BM, n_keys)
    for start in range(unmasked_end, tile_end, BN):
        m_i, l_i, acc = _attend_block(q, k_base, v_base, start, rows_pos, m_i, l_i, acc, n_keys, stride_kn,
                                      stride_vn, scale_log2, D, BN, True)  # fmt: skip
    out = acc / tl.where(l_i == 0.0, 1.0, l_i)[:, None]
    tl.store(Out + b * stride_ob + h * stride_oh + rows[:, None] * stride_on + dims[None, :],
             out.to(Out.dtype.element_ty), mask=(rows < m_new)[:, None])  # fmt: skip


@triton.jit
def _decode_partial_kernel(
    Q, K, V, PartialOut, PartialLse,
    stride_qb, stride_qh, stride_qn, stride_kb, stride_kh, stride_kn,
    stride_vb, stride_vh, stride_vn,
    m_new, n_keys, kv_heads, group, scale_log2, keys_per_split, row_chunks,
    D: tl.constexpr, ROWS: tl.constexpr, BN: tl.constexpr,
):  # fmt: skip
    bkv = tl.program_id(0) // row_chunks
    chunk = tl.program_id(0) % row_chunks
    split = tl.program_id(1)
    b, kv_h = bkv // kv_heads, bkv % kv_heads
    r = chunk * ROWS + tl.arange(0, ROWS)  # row r: query head kv_h * group + r // m_new, token r % m_new
    head = kv_h * group + r // m_new
    token = r % m_new
    row_valid = r < group * m_new
    rows_pos = n_keys - m_new + token
    dims = tl.arange(0, D)
    q = tl.load(Q + b * stride_qb + head[:, None] * stride_qh + token[:, None] * stride_qn + dims[None, :],
                mask=row_valid[:, None], other=0.0)  # fmt: skip
    k_base = K + b * stride_kb + kv_h * stride_kh
    v_base = V + b * stride_vb + kv_h * stride_vh
    m_i = tl.full([ROWS], float("-inf"), dtype=tl.float32)
    l_i = tl.zeros([ROWS], dtype=tl.float32)
    acc = tl.zeros([ROWS, D], dtype=tl.float32)
    first = split * keys_per_split
    last = tl.minimum(first + keys_per_split, n_keys)
    for start in range(first, last, BN):
        cols = start + tl.arange(0, BN)
        in_range = cols < last
        k = tl.load(k_base + cols[:, None] * stride_kn + dims[None, :], mask=in_range[:, None], other=0.0)
        v = tl.load(v_base + cols[:, None] * stride_vn + dims[None, :], mask=in_range[:, None], other=0.0)
        s = tl.dot(q, tl.trans(k)) * scale_log2
        s = tl.where((cols[None, :] <= rows_pos[:, None]) & in_range[None, :], s, float("-inf"))
        m_i, l_i, acc = online_softmax_step(s, v, m_i, l_i, acc)
    out_row = (bkv * tl.num_programs(1) + split) * ROWS * row_chunks + r
    tl.store(PartialOut + out_row[:, None] * D + dims[None, :], acc / tl.where(l_i == 0.0, 1.0, l_i)[:, None])
    lse = tl.where(l_i == 0.0, float("-inf"), m_i + tl.log2(tl.where(l_i == 0.0, 1.0, l_i)))
    tl.store(PartialLse + out_row, lse)


@triton.jit
def _decode_merge_kernel(
    PartialOut, PartialLse, Out, stride_ob, stride_oh, stride_on,
    splits, rows_total, m_new, kv_heads, group,
    D: tl.constexpr, SPLITS: tl.constexpr,
):  # fmt: skip
    """One query row: combine the splits' partial outputs, weighted by their log-sum-exp."""
    bkv = tl.program_id(0)
    r = tl.program_id(1)
    b, kv_h = bkv // kv_heads, bkv % kv_heads
    split = tl.arange(0, SPLITS)
    present = split < splits
    at = (bkv * splits + split) * rows_total + r
    lse = tl.load(PartialLse + at, mask=present, other=float("-inf"))
    top = tl.max(lse, axis=0)
    top = tl.where(top == float("-inf"), 0.0, top)
    weight = tl.exp2(lse - top)
    dims = tl.arange(0, D)
    partial = tl.load(PartialOut + at[:, None] * D + dims[None, :], mask=present[:, None], other=0.0)
    merged = tl.sum(partial * weight[:, None], axis=0) / tl.maximum(tl.sum(weight, axis=0), 1e-30)
    head = kv_h * group + r // m_new
    token = r % m_new
    tl.store(Out + b * stride_ob + head * stride_oh + token * stride_on + dims, merged.to(Out.dtype.element_ty))


def prefix_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, splits: int | None = None) -> torch.Tensor:
    """q [b, h, m, d] against k, v [b, h_kv, n, d] (n >= m): see the module docstring."""
    batch, heads, m_new, dim = q.shape
    n_keys = k.shape[2]
    assert n_keys >= m_new and dim in (64, 128) and q.stride(-1) == k.stride(-1) == v.stride(-1) == 1
    group = heads // k.shape[1]
    scale_log2 = LOG2E / math.sqrt(dim)
    if m_new <= DECODE_MAX_M:
        return _decode(q, k, v, group, scale_log2, splits)
    out = torch.empty_like(q)
    grid = lambda meta: (triton.cdiv(m_new, meta["BM"]), batch * heads)  # noqa: E731
    _prefill_kernel[grid](
        q, k, v, out, q.stride(0), q.stride(1), q.stride(2), k.stride(0), k.stride(1), k.stride(2),
        v.stride(0), v.stride(1), v.stride(2), out.stride(0), out.stride(1), out.stride(2),
        m_new, n_keys, heads, group, scale_log2, D=dim,
    )  # fmt: skip
    return out


def _decode(q, k, v, group: int, scale_log2: float, splits: int | None) -> torch.Tensor:
    batch, _, m_new, dim = q.shape
    kv_heads, n_keys = k.shape[1], k.shape[2]
    # all query rows of a KV group in one tile when they fit (K/V read once), else chunks of 128
    rows = min(MAX_DECODE_ROWS, max(16, triton.next_power_of_2(group * m_new)))
    row_chunks = triton.cdiv(group * m_new, rows)
    block_n = 64 if rows <= 64 else 32
    if splits is None:  # enough programs to fill the GPU, each reading at least a few blocks
        sms = torch.cuda.get_device_properties(q.device).multi_processor_count if q.is_cuda else 4
        splits = max(1, min(triton.cdiv(n_keys, 4 * block_n), triton.cdiv(2 * sms, batch * kv_heads * row_chunks)))
    keys_per_split = triton.cdiv(triton.cdiv(n_keys, splits), block_n) * block_n
    splits = triton.cdiv(n_keys, keys_per_split)
    partial_out = torch.empty(batch * kv_heads, splits, rows * row_chunks, dim, device=q.device, dtype=torch.float32)
    partial_lse = torch.empty(batch * kv_heads, splits, rows * row_chunks, device=q.device, dtype=torch.float32)
    _decode_partial_kernel[(batch * kv_heads * row_chunks, splits)](
        q, k, v, partial_out, partial_lse, q.stride(0), q.stride(1), q.stride(2),
        k.stride(0), k.stride(1), k.stride(2), v.stride(0), v.stride(1), v.stride(2),
        m_new, n_keys, kv_heads, group, scale_log2, keys_per_split, row_chunks,
        D=dim, ROWS=rows, BN=block_n, num_warps=4, num_stages=3,
    )  # fmt: skip
    out = torch.empty_like(q)
    _decode_merge_kernel[(batch * kv_heads, group * m_new)](
        partial_out, partial_lse, out, out.stride(0), out.stride(1), out.stride(2),
        splits, rows * row_chunks, m_new, kv_heads, group, D=dim, SPLITS=triton.next_power_of_2(splits),
    )  # fmt: skip
    return out
