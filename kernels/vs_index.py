"""Vertical-slash index estimation: which key columns and which diagonals matter, per head.

From the last LAST_Q queries of each head: softmax attention over all keys (causal), then the
attention mass per key column (vertical) and per diagonal offset (slash). Each head keeps its
top budget, always keeping the first `sinks` columns and the `local` nearest diagonals.
All heads and key blocks run in one launch per pass; no Python loop over heads.
Reference: kernels.reference.vertical_slash_scores.
"""

import math

import torch
import triton
import triton.language as tl

LAST_Q = 64
BLOCK_N = 64
LOG2E = 1.4426950408889634
FORCED_SCORE = 1e6


@triton.jit
def _last_query_scores(
    Q, K, stride_qb, stride_qh, stride_qn, stride_kb, stride_kh, stride_kn,
    n_ctx, heads, group, scale_log2, LAST: tl.constexpr, D: tl.constexpr, BN: tl.constexpr,
):  # fmt: skip
    """log2-scaled scores of the last LAST queries of this program's head against its key block."""
    bh = tl.program_id(0)
    b, h = bh // heads, bh % heads
    rows = tl.arange(0, LAST)
    q_pos = n_ctx - LAST + rows
    dims = tl.arange(0, D)
    cols = tl.program_id(1) * BN + tl.arange(0, BN)
    q = tl.load(Q + b * stride_qb + h * stride_qh + q_pos[:, None] * stride_qn + dims[None, :],
                mask=(q_pos >= 0)[:, None], other=0.0)  # fmt: skip
    k = tl.load(K + b * stride_kb + (h // group) * stride_kh + cols[:, None] * stride_kn + dims[None, :],
                mask=(cols < n_ctx)[:, None], other=0.0)  # fmt: skip
    s = tl.dot(q, tl.trans(k)) * scale_log2
    visible = (cols[None, :] <= q_pos[:, None]) & (cols[None, :] < n_ctx) & (q_pos[:, None] >= 0)
    return s, visible, rows, q_pos, cols


@triton.jit
def _row_stats_kernel(
    Q, K, M_out, L_out,
    stride_qb, stride_qh, stride_qn,
    stride_kb, stride_kh, stride_kn,
    n_ctx, heads, group, scale_log2,
    LAST: tl.constexpr, D: tl.constexpr, BN: tl.constexpr,
):  # fmt: skip
    """Per key block: max and sum of exp2 of the last queries' scores (split over blocks)."""
    bh = tl.program_id(0)
    kb = tl.program_id(1)
    s, visible, rows, _q_pos, _cols = _last_query_scores(
        Q, K, stride_qb, stride_qh, stride_qn, stride_kb, stride_kh, stride_kn,
        n_ctx, heads, group, scale_log2, LAST, D, BN,
    )  # fmt: skip
    s = tl.where(visible, s, float("-inf"))
    m = tl.max(s, axis=1)
    m_safe = tl.where(m == float("-inf"), 0.0, m)
    row_sum = tl.sum(tl.exp2(s - m_safe[:, None]), axis=1)
    out = (bh * tl.num_programs(1) + kb) * LAST + rows
    tl.store(M_out + out, m)
    tl.store(L_out + out, row_sum)


@triton.jit
def _mass_kernel(
    Q, K, M_row, L_row, Vertical, Slash,
    stride_qb, stride_qh, stride_qn,
    stride_kb, stride_kh, stride_kn,
    n_ctx, heads, group, scale_log2,
    LAST: tl.constexpr, D: tl.constexpr, BN: tl.constexpr,
):  # fmt: skip
    """Normalized probabilities of one key block: column sums (exclusive, stored) and
    diagonal sums (shared with neighbouring blocks, atomically added)."""
    bh = tl.program_id(0)
    s, visible, rows, q_pos, cols = _last_query_scores(
        Q, K, stride_qb, stride_qh, stride_qn, stride_kb, stride_kh, stride_kn,
        n_ctx, heads, group, scale_log2, LAST, D, BN,
    )  # fmt: skip
    m = tl.load(M_row + bh * LAST + rows)
    row_sum = tl.load(L_row + bh * LAST + rows)
    p = tl.exp2(s - m[:, None]) / row_sum[:, None]
    p = tl.where(visible, p, 0.0)
    tl.store(Vertical + bh * n_ctx + cols, tl.sum(p, axis=0), mask=cols < n_ctx)
    offsets = q_pos[:, None] - cols[None, :]
    tl.atomic_add(Slash + bh * n_ctx + offsets, p, mask=visible, sem="relaxed")


def vertical_slash_scores(q: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Triton version of reference.vertical_slash_scores: ([b, h, n], [b, h, n]) float32."""
    batch, heads, n_ctx, dim = q.shape
    group = heads // k.shape[1]
    assert q.stride(-1) == 1 and k.stride(-1) == 1 and n_ctx >= LAST_Q
    blocks = triton.cdiv(n_ctx, BLOCK_N)
    scale_log2 = LOG2E / math.sqrt(dim)
    grid = (batch * heads, blocks)
    m_part = torch.empty(batch * heads, blocks, LAST_Q, device=q.device, dtype=torch.float32)
    l_part = torch.empty_like(m_part)
    common = (q.stride(0), q.stride(1), q.stride(2), k.stride(0), k.stride(1), k.stride(2), n_ctx, heads, group,
              scale_log2)  # fmt: skip
    _row_stats_kernel[grid](q, k, m_part, l_part, *common, LAST=LAST_Q, D=dim, BN=BLOCK_N)
    m_row = m_part.max(dim=1).values
    l_row = (l_part * torch.exp2(m_part - m_row[:, None, :]).nan_to_num(0.0)).sum(dim=1)
    vertical = torch.empty(batch, heads, n_ctx, device=q.device, dtype=torch.float32)
    slash = torch.zeros(batch, heads, n_ctx, device=q.device, dtype=torch.float32)
    _mass_kernel[grid](q, k, m_row.contiguous(), l_row.contiguous(), vertical, slash, *common,
                       LAST=LAST_Q, D=dim, BN=BLOCK_N)  # fmt: skip
    return vertical, slash


def select_indices(
    vertical_scores: torch.Tensor,
    slash_scores: torch.Tensor,
    vertical_budget: torch.Tensor,
    slash_budget: torch.Tensor,
    sinks: int = 30,
    local: int = 100,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Top columns and diagonals per head, sorted ascending, padded with -1.

    Budgets are int tensors [heads] (one per head, from a pattern config). Returns
    (vertical_idx [b, h, max_v], vertical_count [b, h], slash_idx [b, h, max_s], slash_count [b, h]).
    """
    return (*_top(vertical_scores, vertical_budget, sinks), *_top(slash_scores, slash_budget, local))


def _top(scores: torch.Tensor, budget: torch.Tensor, always: int) -> tuple[torch.Tensor, torch.Tensor]:
    n = scores.shape[-1]
    budget = budget.to(scores.device).clamp(max=n)
    width = int(budget.max())
    forced = scores.clone()
    # forced entries outrank everything, the first ones most: a budget smaller than `always`
    # keeps the first sinks / nearest diagonals (scores are attention mass, at most LAST_Q)
    always = min(always, n)
    forced[..., :always] = FORCED_SCORE + torch.arange(always, 0, -1, device=scores.device, dtype=scores.dtype)
    picked = forced.topk(width, dim=-1, sorted=True).indices  # best first
    keep = torch.arange(width, device=scores.device) < budget[:, None]  # [h, width]
    picked = torch.where(keep, picked, torch.full_like(picked, n))  # padding sorts last
    picked = picked.sort(dim=-1).values
    count = keep.sum(-1).to(torch.int32).expand(scores.shape[0], -1).contiguous()
    return torch.where(picked == n, -1, picked).to(torch.int32).contiguous(), count
