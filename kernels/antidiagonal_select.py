"""Query-aware block selection by antidiagonal scoring with a cumulative threshold (XAttention's idea).

Each query block estimates its attention mass over the key blocks from strided antidiagonals: rows
i·S + (S-1-t) of Q against rows j·S + t of K, t = 0..S-1, summed, are one dot product of reshaped Q and K
(S·d wide), so the estimate costs 1/S of QK^T. A softmax over each strided row and a sum over the block
gives every (query block, key block) its share of the row's mass; a query block keeps its key blocks in
falling share until the kept shares reach the threshold. The budget so follows each head and each query
block: a head whose mass is concentrated keeps few blocks, a diffuse one many.

Lists are the core's block lists: the diagonal block first, block 0 second (both always kept), the others
in falling share; no columns.
"""

import math

import torch

from .reference import BLOCK

ROWS_PER_CHUNK = 4096  # strided query rows scored at once: bounds the [rows × keys] scores at 1M tokens


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
            scores = (q_s[:, h, first:last] @ keys[:, :seen].transpose(-1, -2)).float() * scale
            visible = (key_rows[None, :seen] <= key_rows[first:last, None]) & valid_key[None, :seen]
            probs = torch.softmax(scores.masked_fill(~visible, float("-inf")), dim=-1)
            pooled = probs.view(batch, (last - first) // per_block, per_block, seen // per_block, per_block)
            block = pooled.sum((2, 4)) / per_block
            mass[:, h, first // per_block : last // per_block, : seen // per_block] = block
            mass[:, h, first // per_block : last // per_block, seen // per_block :] = 0.0
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


def antidiagonal_blocks(q: torch.Tensor, k: torch.Tensor, threshold: torch.Tensor, stride: int = 16):
    """The block lists of every head of q (threshold per head): antidiagonal_block_mass, then threshold_lists."""
    return threshold_lists(antidiagonal_block_mass(q, k, stride), threshold)
