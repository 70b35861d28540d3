"""Float32 PyTorch references for every kernel. Slow and memory-hungry on purpose: clarity first.

Sparse semantics (shared by the kernels and these references):
- a *slash* offset o covers, for the query block starting at q0, every key block whose tokens are
  hit by the diagonal key = query - o for some query in the block; covered key blocks are computed
  whole (with the causal mask), as block-sparse tiles;
- a *vertical* index is one key column, attended by every query at or after it;
- a *block list* (A-shape, block-sparse) names whole key blocks per query block.
"""

import math

import torch

BLOCK = 64  # query and key block size of the sparse kernels


def _expand_kv(kv: torch.Tensor, query_heads: int) -> torch.Tensor:
    return kv.repeat_interleave(query_heads // kv.shape[1], dim=1)


def masked_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax attention in float32 where mask [b|1, h|1, m, n] says which keys each query sees."""
    k, v = _expand_kv(k.float(), q.shape[1]), _expand_kv(v.float(), q.shape[1])
    scores = q.float() @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1).nan_to_num(0.0) @ v


def causal_mask(m: int, n: int, device=None) -> torch.Tensor:
    """Query i of m new tokens sits at position n - m + i and sees keys 0..n - m + i."""
    rows = torch.arange(m, device=device)[:, None] + (n - m)
    return rows >= torch.arange(n, device=device)[None, :]


def prefix_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """m new queries against n keys whose last m are the new tokens' own (cached prefix + causal)."""
    return masked_attention(q, k, v, causal_mask(q.shape[2], k.shape[2], q.device))


def vertical_slash_scores(q: torch.Tensor, k: torch.Tensor, last_q: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention mass of the last `last_q` queries per key column (vertical) and per diagonal
    offset (slash, offset = query position - key position), each [b, h, n], float32."""
    n = k.shape[2]
    last_q = min(last_q, n)
    q_last = q[:, :, n - last_q :].float()
    kf = _expand_kv(k.float(), q.shape[1])
    scores = q_last @ kf.transpose(-1, -2) / math.sqrt(q.shape[-1])
    scores = scores.masked_fill(~causal_mask(last_q, n, q.device), float("-inf"))
    probs = torch.softmax(scores, dim=-1)  # [b, h, last_q, n]
    vertical = probs.sum(dim=2)
    offsets = (torch.arange(last_q, device=q.device)[:, None] + n - last_q) - torch.arange(n, device=q.device)[None, :]
    slash = torch.zeros_like(vertical)
    valid = offsets >= 0
    index = offsets.clamp(min=0).expand_as(probs).reshape(*probs.shape[:2], -1)
    slash.scatter_add_(2, index, (probs * valid).reshape(*probs.shape[:2], -1))
    return vertical, slash


def slash_block_coverage(n: int, slash: torch.Tensor, block: int = BLOCK) -> torch.Tensor:
    """[qblocks, kblocks] bool: key blocks that some slash offset crosses, per query block.
    Offset o crosses key block kb for the query block [q0, q_last] iff some query q there has
    key q - o inside the block: o in [q0 - kb·B - B + 1, q_last - kb·B]."""
    offsets = torch.sort(slash[slash >= 0]).values
    blocks = torch.arange((n + block - 1) // block, device=slash.device)
    q0 = blocks[:, None] * block
    q_last = torch.clamp(q0 + block, max=n) - 1
    first = q0 - blocks[None, :] * block - block + 1
    last = q_last - blocks[None, :] * block
    present = torch.searchsorted(offsets, last, right=True) - torch.searchsorted(offsets, first)
    return (present > 0) & (blocks[None, :] <= blocks[:, None])


def vertical_slash_lists(n: int, vertical: torch.Tensor, slash: torch.Tensor, block: int = BLOCK):
    """For one head: (covered [qblocks, kblocks] bool, columns [qblocks, n] bool) as the kernel
    computes them: slash-crossed blocks whole, plus vertical columns outside those blocks."""
    covered = slash_block_coverage(n, slash, block)
    qblocks = covered.shape[0]
    q_last = torch.clamp(torch.arange(qblocks, device=vertical.device) * block + block, max=n) - 1
    column_ids = vertical[vertical >= 0].long()
    columns = torch.zeros(qblocks, n, dtype=torch.bool, device=vertical.device)
    columns[:, column_ids] = True
    columns &= torch.arange(n, device=vertical.device)[None, :] <= q_last[:, None]
    key_block = torch.arange(n, device=vertical.device) // block
    columns &= ~covered[:, key_block]
    return covered, columns


def lists_to_mask(n: int, covered: torch.Tensor, columns: torch.Tensor | None = None, block: int = BLOCK):
    """Token mask [n, n] (causal included) from block coverage and per-query-block columns."""
    mask = covered.repeat_interleave(block, 0).repeat_interleave(block, 1)[:n, :n]
    if columns is not None:
        mask |= columns.repeat_interleave(block, 0)[:n]
    return mask & causal_mask(n, n, covered.device)


def vertical_slash_mask(n: int, vertical: torch.Tensor, slash: torch.Tensor, block: int = BLOCK) -> torch.Tensor:
    """The [b, h, n, n] boolean mask the sparse kernel computes for these indices (causal included).
    vertical and slash are [b, h, count] index tensors; entries < 0 are padding."""
    b, h = vertical.shape[:2]
    per_head = [
        [lists_to_mask(n, *vertical_slash_lists(n, vertical[bi, hi], slash[bi, hi], block), block) for hi in range(h)]
        for bi in range(b)
    ]
    return torch.stack([torch.stack(heads) for heads in per_head])


def block_list_coverage(n: int, blocks: torch.Tensor, counts: torch.Tensor, block: int = BLOCK) -> torch.Tensor:
    """[..., qblocks, kblocks] bool from key-block lists [..., qblocks, max] and counts [..., qblocks] (one head,
    or any leading dims)."""
    qblocks = counts.shape[-1]
    kept = torch.arange(blocks.shape[-1], device=blocks.device) < counts[..., None]
    covered = torch.zeros(*counts.shape, qblocks + 1, dtype=torch.bool, device=blocks.device)
    covered.scatter_(-1, torch.where(kept, blocks.long(), qblocks), True)  # unlisted slots: the spare column
    return covered[..., :qblocks]


def block_list_mask(n: int, blocks: torch.Tensor, counts: torch.Tensor, block: int = BLOCK) -> torch.Tensor:
    """Mask for per-query-block key-block lists: blocks [b, h, qblocks, max], counts [b, h, qblocks]."""
    b, h = counts.shape[:2]
    per_head = [
        [
            lists_to_mask(n, block_list_coverage(n, blocks[bi, hi], counts[bi, hi], block), None, block)
            for hi in range(h)
        ]
        for bi in range(b)
    ]
    return torch.stack([torch.stack(heads) for heads in per_head])


def attention_recall(q: torch.Tensor, k: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Share of the dense causal attention mass that the mask keeps, per head [b, h] (1.0 = all)."""
    n = k.shape[2]
    kf = _expand_kv(k.float(), q.shape[1])
    scores = q.float() @ kf.transpose(-1, -2) / math.sqrt(q.shape[-1])
    probs = torch.softmax(scores.masked_fill(~causal_mask(q.shape[2], n, q.device), float("-inf")), dim=-1)
    return (probs * mask).sum(dim=(-1, -2)) / q.shape[2]


def slash_range_mask(n: int, vertical: torch.Tensor, slash: torch.Tensor, block: int = BLOCK, gap: int = BLOCK):
    """For one head, the [n, n] mask of the unaligned-range kernel (index_convert's slash bands): per query
    block [q0, q_last], offsets at most `gap` apart form bands [a, b], each covering the keys
    [max(q0 - b, 0), q_last - a]; plus the vertical columns; causal."""
    offsets = sorted(int(o) for o in slash[slash >= 0].tolist())
    bands: list[list[int]] = []
    for offset in offsets:
        if bands and offset - bands[-1][1] <= gap:
            bands[-1][1] = offset
        else:
            bands.append([offset, offset])
    keys = torch.arange(n, device=slash.device)
    mask = torch.zeros(n, n, dtype=torch.bool, device=slash.device)
    for q0 in range(0, n, block):
        q_last = min(q0 + block, n) - 1
        for a, b in bands:
            if a <= q_last:
                mask[q0 : q_last + 1] |= (keys >= max(q0 - b, 0)) & (keys <= q_last - a)
    mask[:, vertical[vertical >= 0].long()] = True
    return mask & causal_mask(n, n, slash.device)


def widen_mask(mask: torch.Tensor, block: int = BLOCK) -> torch.Tensor:
    """The mask of the 128-row core (sparse_attention.wide_sparse_attention) from a 64-row one [..., n, n]:
    both query blocks of a pair see the keys either block sees (their last rows see all of their keys), causal."""
    n = mask.shape[-1]
    rows = torch.arange(n, device=mask.device)
    pair_last = torch.clamp((rows // (2 * block)) * 2 * block + 2 * block, max=n) - 1
    first_last = torch.minimum((rows // (2 * block)) * 2 * block + block - 1, pair_last)
    wide = mask[..., pair_last, :] | mask[..., first_last, :]
    return wide & causal_mask(n, n, mask.device)
