"""Query-aware block selection by antidiagonal scoring with a cumulative threshold (XAttention's idea).

Each query block estimates its attention mass over the key blocks from strided antidiagonals: rows
i·S + (S-1-t) of Q against rows j·S + t of K, t = 0..S-1, summed, are one dot product of reshaped Q and K
(S·d wide), so the estimate costs 1/S of QK^T. A softmax over each strided row and a sum over the block
gives every (query block, key block) its share of the row's mass; a query block keeps its key blocks in
falling share until the kept shares reach the threshold. The budget so follows each head and each query
block: a head whose mass is concentrated keeps few blocks, a diffuse one many.

Lists are the core's block lists: the diagonal block first, block 0 second (both always kept), the others
in falling share (threshold_lists) or ascending (threshold_cut); no columns.

On a GPU the mass comes from one Triton pass (_pooled_chunks): per strided query row, the scores against key tile 0
and the row's own tile give a reference maximum, then one walk over the causal key tiles sums exp(score − reference)
per key block and per row. The reference maximum is not the running one: an exponent above EXPONENT_CAP (log2) is
capped, which only a score far above both the sinks' and the local ones would reach. A second Triton pass
(threshold_cut) divides each block's rows by their sums, adds them and cuts the row by bisection, with no sort.
antidiagonal_block_mass (torch) with threshold_lists is the reference; antidiagonal_block_mass_fused gives the
mass of the first pass (rows added in torch).
"""

import math
import os

import torch
import triton
import triton.language as tl

from .reference import BLOCK

ROWS_PER_CHUNK = 4096  # strided query rows scored at once: bounds the [rows × keys] scores at 1M tokens
# On a GPU, how antidiagonal_blocks cuts: "cut" (threshold_cut: a bisection per row in Triton) or "sort" (round
# 5's threshold_lists over the fused mass, kept so that bench.longctx_round6 can time both on the same Q/K).
SELECT = "cut"
# Strided query rows (and keys) a program of the fused pass walks at once: 128 is 1.4× faster than 64 at 128K on an
# H200 with the same lists (bench.longctx_round6).
MASS_TILE = 128
# The cut's pass leaves pooled rows and row sums unset where no program writes (future blocks, which the cut masks):
# a 0.9 GB memset a layer at 128K (14 heads) saved. The mass (antidiagonal_block_mass_fused) still zeroes them.
POOLED_EMPTY = True
# Each program's own key tile scored once (for the reference maximum and then kept for the walk's last step) instead
# of twice.
MASS_PEEL = True
# Q and K in float8 (e4m3, one scale per head) for the pass's products: half the bytes a key tile and Hopper's fp8
# rate; the scores differ by the rounding (bench.longctx_round7 measures the lists and the accuracy). GPU only.
MASS_FP8 = False
FP8_MAX = 400.0  # below e4m3's largest finite value (448): headroom for the scale's rounding to Q's dtype


def antidiagonal_block_mass(q: torch.Tensor, k: torch.Tensor, stride: int) -> torch.Tensor:
    """[batch, heads, qblocks, kblocks] float32: each query block's estimated share of its attention mass per
    key block (rows sum to 1; future blocks 0)."""
    batch, heads, n_ctx, dim = q.shape
    assert BLOCK % stride == 0
    group = heads // k.shape[1]
    qblocks = -(-n_ctx // BLOCK)
    pad = qblocks * BLOCK - n_ctx
    rows = qblocks * BLOCK // stride
    per_block = BLOCK // stride
    # padded keys must not take mass: their strided rows lie only in the last block, where a real key also lies
    q_s = torch.nn.functional.pad(q, (0, 0, 0, pad)).view(batch, heads, rows, stride, dim).flip(3)
    k_s = torch.nn.functional.pad(k, (0, 0, 0, pad)).view(batch, k.shape[1], rows, stride, dim)
    q_s, k_s = q_s.reshape(batch, heads, rows, stride * dim), k_s.reshape(batch, k.shape[1], rows, stride * dim)
    scale = 1.0 / (math.sqrt(dim) * stride)
    mass = torch.empty(batch, heads, qblocks, qblocks, dtype=torch.float32, device=q.device)
    key_rows = torch.arange(rows, device=q.device)
    valid_key = key_rows * stride < n_ctx  # a strided key row that holds at least one real key
    for h in range(heads):
        keys = k_s[:, h // group]
        for first in range(0, rows, ROWS_PER_CHUNK):
            last = min(first + ROWS_PER_CHUNK, rows)
            seen = last  # keys past the chunk's last row are in the future of all its rows
            scores = (q_s[:, h, first:last].float() @ keys[:, :seen].float().transpose(-1, -2)) * scale
            visible = (key_rows[None, :seen] <= key_rows[first:last, None]) & valid_key[None, :seen]
            probs = torch.softmax(scores.masked_fill(~visible, float("-inf")), dim=-1)
            pooled = probs.view(batch, (last - first) // per_block, per_block, seen // per_block, per_block)
            block = pooled.sum((2, 4)) / per_block
            mass[:, h, first // per_block : last // per_block, : seen // per_block] = block
            mass[:, h, first // per_block : last // per_block, seen // per_block :] = 0.0
    return mass


EXPONENT_CAP = 100.0  # 2^100 per score leaves float32 room for sums over a million keys


@triton.jit
def _strided_scores(q_base, k_base, rows, keys, dims, stride_qn, stride_kn, n_ctx, scale_log2,
                    S: tl.constexpr, BM: tl.constexpr, BN: tl.constexpr):  # fmt: skip
    """[BM, BN] log2-scaled antidiagonal scores of strided rows against strided keys (-inf: future or padding)."""
    acc = tl.zeros([BM, BN], dtype=tl.float32)
    for t in range(S):
        q_rows = rows * S + (S - 1 - t)
        k_rows = keys * S + t
        q = tl.load(q_base + q_rows[:, None] * stride_qn + dims[None, :], mask=(q_rows < n_ctx)[:, None], other=0.0)
        k = tl.load(k_base + k_rows[:, None] * stride_kn + dims[None, :], mask=(k_rows < n_ctx)[:, None], other=0.0)
        acc = tl.dot(q, tl.trans(k), acc)
    visible = (keys[None, :] <= rows[:, None]) & (keys * S < n_ctx)[None, :]
    return tl.where(visible, acc * scale_log2, float("-inf"))


def _configs() -> list[triton.Config]:
    if os.environ.get("TRITON_INTERPRET") == "1":
        return [triton.Config({}, num_warps=4, num_stages=1)]
    return [triton.Config({}, num_warps=w, num_stages=s) for w, s in [(4, 2), (4, 3), (8, 3)]]


@triton.autotune(configs=_configs(), key=["S", "D", "BM", "group", "PEEL"])
@triton.jit
def _antidiagonal_rows_kernel(
    Q, K, Pooled, RowSum, HeadScale,
    stride_qb, stride_qh, stride_qn, stride_kb, stride_kh, stride_kn, stride_pb, stride_ph, stride_pr,
    n_ctx, heads, group, scale_log2,
    S: tl.constexpr, D: tl.constexpr, BM: tl.constexpr, P: tl.constexpr, CAP: tl.constexpr, PEEL: tl.constexpr,
):  # fmt: skip
    """One tile of BM strided query rows of one head: Pooled[row, key block] = Σ exp2(score − reference) over
    the block's P strided keys, RowSum[row] = Σ over all keys. Key tiles are BM wide (the diagonal one is the
    row tile's own)."""
    tile = tl.program_id(0)
    bh = tl.program_id(1)
    b, h = bh // heads, bh % heads
    q_base = Q + b * stride_qb + h * stride_qh
    k_base = K + b * stride_kb + (h // group) * stride_kh
    scale_log2 = scale_log2 * tl.load(HeadScale + h)  # float8: the product of the head's Q and K scales, else 1
    rows = tile * BM + tl.arange(0, BM)
    dims = tl.arange(0, D)
    offsets = tl.arange(0, BM)
    row_sum = tl.zeros([BM], dtype=tl.float32)
    blocks = tl.arange(0, BM // P)
    out = Pooled + b * stride_pb + h * stride_ph + rows[:, None] * stride_pr
    sinks = tl.max(_strided_scores(q_base, k_base, rows, offsets, dims, stride_qn, stride_kn, n_ctx, scale_log2,
                                   S, BM, BM), axis=1)  # fmt: skip
    own = _strided_scores(q_base, k_base, rows, tile * BM + offsets, dims, stride_qn, stride_kn, n_ctx, scale_log2,
                          S, BM, BM)  # fmt: skip
    # key tile 0 (the sinks) and the row tile's own (the local scores) give the reference
    reference = tl.maximum(sinks, tl.max(own, axis=1))
    if PEEL:  # the own tile's scores are at hand: its shares now, the walk stops before it
        p = tl.exp2(tl.minimum(own - reference[:, None], CAP))
        row_sum += tl.sum(p, axis=1)
        tl.store(out + (tile * BM // P + blocks)[None, :], tl.sum(tl.reshape(p, (BM, BM // P, P)), axis=2))
        last = tile * BM
    else:
        last = (tile + 1) * BM
    for start in range(0, last, BM):
        s = _strided_scores(q_base, k_base, rows, start + offsets, dims, stride_qn, stride_kn, n_ctx, scale_log2,
                            S, BM, BM)  # fmt: skip
        p = tl.exp2(tl.minimum(s - reference[:, None], CAP))
        row_sum += tl.sum(p, axis=1)
        pooled = tl.sum(tl.reshape(p, (BM, BM // P, P)), axis=2)
        tl.store(out + (start // P + blocks)[None, :], pooled)
    tl.store(RowSum + bh * tl.num_programs(0) * BM + rows, row_sum)


def _float8(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x in e4m3 scaled per head so that its largest magnitude is FP8_MAX, and the scales [heads]."""
    scale = (x.abs().amax(dim=(0, 2, 3)).float().clamp_min(1e-12) / FP8_MAX).to(x.dtype)
    return (x / scale[None, :, None, None]).to(torch.float8_e4m3fn), scale.float()


def _pooled_chunks(q: torch.Tensor, k: torch.Tensor, stride: int, tile: int, zeroed: bool = True):
    """The fused pass a few heads at a time (≤ 1 GiB of pooled rows): yields (heads slice, pooled [batch, heads,
    rows, key blocks], row sums [batch, heads, rows]) over the tiles' padded rows. zeroed False: entries no program
    writes (the future key blocks) are left unset."""
    batch, heads, n_ctx, dim = q.shape
    assert BLOCK % stride == 0 and tile % (BLOCK // stride) == 0 and q.stride(-1) == k.stride(-1) == 1
    per_block = BLOCK // stride
    qblocks = -(-n_ctx // BLOCK)
    tiles = triton.cdiv(qblocks * per_block, tile)
    group = heads // k.shape[1]
    step = max(group, (1 << 30) // (tiles * tile * qblocks * 4 * batch) // group * group)
    head_scale = torch.ones(heads, dtype=torch.float32, device=q.device)
    if MASS_FP8 and q.is_cuda:
        (q, q_scale), (k, k_scale) = _float8(q), _float8(k)
        head_scale = q_scale * k_scale.repeat_interleave(group)
    allocate = torch.zeros if zeroed else torch.empty
    for first in range(0, heads, step):
        hs = slice(first, min(first + step, heads))
        sub_q, sub_k = q[:, hs], k[:, first // group : -(-hs.stop // group)]
        count = sub_q.shape[1]
        padded = tiles * tile  # strided rows and keys the tiles cover
        pooled = allocate(batch, count, padded, padded // per_block, dtype=torch.float32, device=q.device)
        row_sum = torch.ones(batch, count, padded, dtype=torch.float32, device=q.device) if zeroed else (
            torch.empty(batch, count, padded, dtype=torch.float32, device=q.device))  # fmt: skip
        _antidiagonal_rows_kernel[(tiles, batch * count)](
            sub_q, sub_k, pooled, row_sum, head_scale[hs],
            sub_q.stride(0), sub_q.stride(1), sub_q.stride(2), sub_k.stride(0), sub_k.stride(1), sub_k.stride(2),
            pooled.stride(0), pooled.stride(1), pooled.stride(2),
            n_ctx, count, group, 1.4426950408889634 / (math.sqrt(dim) * stride),
            S=stride, D=dim, BM=tile, P=per_block, CAP=EXPONENT_CAP, PEEL=MASS_PEEL,
        )  # fmt: skip
        yield hs, pooled, row_sum


def antidiagonal_block_mass_fused(q: torch.Tensor, k: torch.Tensor, stride: int, tile: int = 64) -> torch.Tensor:
    """antidiagonal_block_mass by one Triton pass (module docstring), a few heads at a time."""
    batch, heads, n_ctx, _ = q.shape
    per_block = BLOCK // stride
    qblocks = -(-n_ctx // BLOCK)
    rows = qblocks * per_block
    mass = torch.empty(batch, heads, qblocks, qblocks, dtype=torch.float32, device=q.device)
    for hs, pooled, row_sum in _pooled_chunks(q, k, stride, tile):
        shares = (pooled / row_sum[..., None])[:, :, :rows, :qblocks]
        mass[:, hs] = shares.view(batch, hs.stop - hs.start, qblocks, per_block, qblocks).sum(3) / per_block
    return mass


def threshold_lists(mass: torch.Tensor, threshold: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Block lists (blocks [batch, heads, qblocks, width], counts) keeping, per query block, the diagonal
    block, block 0 and then the key blocks of highest share until the kept shares reach threshold[head]."""
    qblocks = mass.shape[2]
    device = mass.device
    order_key = mass.clone()
    diagonal = torch.arange(qblocks, device=device)
    order_key[..., diagonal, diagonal] = 3.0  # first
    order_key[..., 0] = torch.maximum(order_key[..., 0], torch.tensor(2.0, device=device))  # second
    causal = torch.ones(qblocks, qblocks, dtype=torch.bool, device=device).tril()
    order_key = order_key.masked_fill(~causal, -1.0)
    ranked = order_key.sort(dim=-1, descending=True)
    shares = mass.gather(-1, ranked.indices)
    before = shares.cumsum(-1) - shares  # mass kept before this entry
    position = torch.arange(qblocks, device=device)
    forced = position < torch.where(diagonal == 0, 1, 2)[:, None]  # the diagonal and block 0
    keep = (forced | (before < threshold.to(device)[None, :, None, None])) & (ranked.values >= 0)
    counts = keep.sum(-1)
    width = int(counts.max())
    blocks = torch.where(keep[..., :width], ranked.indices[..., :width], 0).to(torch.int32)
    return blocks.contiguous(), counts.to(torch.int32)


# A share is a float32 ≥ 0, whose bits as an int32 order as the values do: a bisection over the bits finds the
# exact cut in 31 steps (below the bits of +inf). At 128K on an H200 a torch sort of every row (threshold_lists)
# took 3.9 ms a layer, the cut 0.9 (bench.longctx_round6).
CUT_STEPS = 31
INF_BITS = 0x7F800000


@triton.jit
def _threshold_select_kernel(
    Pooled, RowSum, Threshold, Blocks, Counts,
    stride_pb, stride_ph, stride_pr, stride_sh, stride_bb, stride_bh, stride_bq,
    qblocks, heads,
    P: tl.constexpr, KB: tl.constexpr, STEPS: tl.constexpr, TOP: tl.constexpr,
):  # fmt: skip
    """One query block of one head: its shares from its P strided rows (pooled / row sum, added, / P), then the
    list threshold_lists would give, up to ties: the diagonal, block 0, and every other causal block whose share
    is at least the cut, the largest share t for which the forced blocks and the shares ≥ t reach the threshold.
    The others follow in ascending order (the core masks only a list's first and last block: the diagonal is
    first)."""
    qb = tl.program_id(0)
    bh = tl.program_id(1)
    b, h = bh // heads, bh % heads
    kb = tl.arange(0, KB)
    causal = kb <= qb
    rows = Pooled + b * stride_pb + h * stride_ph + qb * P * stride_pr
    sums = RowSum + (b * heads + h) * stride_sh
    mass = tl.zeros([KB], dtype=tl.float32)
    for i in tl.static_range(P):
        pooled = tl.load(rows + i * stride_pr + kb, mask=causal, other=0.0)
        mass += pooled / tl.load(sums + qb * P + i)
    mass = mass / P
    forced = (kb == qb) | (kb == 0)
    forced_mass = tl.sum(tl.where(forced, mass, 0.0), axis=0)
    candidate = causal & ~forced
    bits = mass.to(tl.int32, bitcast=True)
    threshold = tl.load(Threshold + h)
    lo = qb * 0  # forced + Σ(share ≥ lo) reaches the threshold (or lo is 0: every block kept)
    hi = lo + TOP  # forced + Σ(share ≥ hi) does not (or the forced blocks alone reach it)
    for _ in range(STEPS):
        mid = lo + (hi - lo) // 2
        kept = tl.sum(tl.where(candidate & (bits >= mid), mass, 0.0), axis=0)
        reached = forced_mass + kept >= threshold
        lo = tl.where(reached, mid, lo)
        hi = tl.where(reached, hi, mid)
    keep = (candidate & (bits >= lo)).to(tl.int32)
    first = tl.where(qb > 0, 2, 1)
    out = Blocks + b * stride_bb + h * stride_bh + qb * stride_bq
    tl.store(out + first + tl.cumsum(keep, axis=0) - 1, kb, mask=keep > 0)
    tl.store(out, qb)
    tl.store(out + 1, qb * 0, mask=qb > 0)
    tl.store(Counts + bh * qblocks + qb, first + tl.sum(keep, axis=0))


def threshold_cut(pooled: torch.Tensor, row_sum: torch.Tensor, threshold: torch.Tensor, qblocks: int,
                  per_block: int) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Block lists (blocks [batch, heads, qblocks, width], counts) from the fused pass's pooled rows [batch, heads,
    ≥ qblocks·per_block, ≥ qblocks] and row sums [batch, heads, rows] (contiguous), one program per query block
    and head (_threshold_select_kernel): threshold_lists' blocks up to ties (a tie at the cut keeps every tied
    block), the diagonal first, block 0 second, the others ascending."""
    batch, heads = pooled.shape[:2]
    assert row_sum.is_contiguous() and pooled.stride(-1) == 1
    # full width: the widest list is known only after the cut (a quarter of pooled's bytes), narrowed below
    blocks = torch.zeros(batch, heads, qblocks, qblocks, dtype=torch.int32, device=pooled.device)
    counts = torch.empty(batch, heads, qblocks, dtype=torch.int32, device=pooled.device)
    _threshold_select_kernel[(qblocks, batch * heads)](
        pooled, row_sum, threshold.to(device=pooled.device, dtype=torch.float32).contiguous(), blocks, counts,
        pooled.stride(0), pooled.stride(1), pooled.stride(2), row_sum.stride(1),
        blocks.stride(0), blocks.stride(1), blocks.stride(2),
        qblocks, heads, P=per_block, KB=triton.next_power_of_2(qblocks), STEPS=CUT_STEPS, TOP=INF_BITS,
        num_warps=4 if qblocks <= 2048 else 8,
    )  # fmt: skip
    return blocks[..., : int(counts.max())].contiguous(), counts


def antidiagonal_blocks_fused(q: torch.Tensor, k: torch.Tensor, threshold: torch.Tensor, stride: int = 16,
                              tile: int = 64) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """threshold_lists(antidiagonal_block_mass_fused(...)) with neither the mass nor a sort: per chunk of heads
    the fused pass, then threshold_cut on its pooled rows."""
    qblocks = -(-q.shape[2] // BLOCK)
    pieces = [threshold_cut(pooled, row_sum, threshold[hs], qblocks, BLOCK // stride)
              for hs, pooled, row_sum in _pooled_chunks(q, k, stride, tile, not POOLED_EMPTY)]  # fmt: skip
    if len(pieces) == 1:
        return pieces[0]
    width = max(blocks.shape[-1] for blocks, _ in pieces)
    blocks = [torch.nn.functional.pad(blocks, (0, width - blocks.shape[-1])) for blocks, _ in pieces]
    return torch.cat(blocks, 1), torch.cat([counts for _, counts in pieces], 1)


def antidiagonal_blocks(q: torch.Tensor, k: torch.Tensor, threshold: torch.Tensor, stride: int = 16):
    """The block lists of every head of q (threshold per head): on a GPU the fused pass and the cut in Triton
    (antidiagonal_blocks_fused; SELECT "sort": the fused mass and threshold_lists), elsewhere the torch mass and
    threshold_lists."""
    if not q.is_cuda:
        return threshold_lists(antidiagonal_block_mass(q, k, stride), threshold)
    if SELECT == "sort":
        return threshold_lists(antidiagonal_block_mass_fused(q, k, stride, MASS_TILE), threshold)
    return antidiagonal_blocks_fused(q, k, threshold, stride, MASS_TILE)
