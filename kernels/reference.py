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


def vertical_slash_mask(n: int, vertical: torch.Tensor, slash: torch.Tensor, block: int = BLOCK) -> torch.Tensor:
    """The [b, h, n, n] boolean mask the sparse kernel computes for these indices (causal included).
    vertical and slash are [b, h, count] index tensors; entries < 0 are padding."""
    b, h = vertical.shape[:2]
    device = vertical.device
    mask = torch.zeros(b, h, n, n, dtype=torch.bool, device=device)
    positions = torch.arange(n, device=device)
    query_block = positions // block
    for bi in range(b):
        for hi in range(h):
            columns = vertical[bi, hi][vertical[bi, hi] >= 0]
            mask[bi, hi][:, columns] = True
            for offset in slash[bi, hi][slash[bi, hi] >= 0].tolist():
                # key block of (query, query - offset), for each query that has such a key
                queries = positions[positions >= offset]
                blocks = torch.unique(torch.stack([query_block[queries], (queries - offset) // block]), dim=1)
                for qb, kb in blocks.t().tolist():
                    mask[bi, hi, qb * block : (qb + 1) * block, kb * block : (kb + 1) * block] = True
    return mask & causal_mask(n, n, device)


def block_list_mask(n: int, blocks: torch.Tensor, counts: torch.Tensor, block: int = BLOCK) -> torch.Tensor:
    """Mask for per-query-block key-block lists: blocks [b, h, qblocks, max], counts [b, h, qblocks]."""
    b, h, qblocks = counts.shape
    mask = torch.zeros(b, h, n, n, dtype=torch.bool, device=blocks.device)
    for bi in range(b):
        for hi in range(h):
            for qb in range(qblocks):
                for kb in blocks[bi, hi, qb, : counts[bi, hi, qb]].tolist():
                    mask[bi, hi, qb * block : (qb + 1) * block, kb * block : (kb + 1) * block] = True
    return mask & causal_mask(n, n, blocks.device)


def attention_recall(q: torch.Tensor, k: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Share of the dense causal attention mass that the mask keeps, per head [b, h] (1.0 = all)."""
    n = k.shape[2]
    kf = _expand_kv(k.float(), q.shape[1])
    scores = q.float() @ kf.transpose(-1, -2) / math.sqrt(q.shape[-1])
    probs = torch.softmax(scores.masked_fill(~causal_mask(q.shape[2], n, q.device), float("-inf")), dim=-1)
    return (probs * mask).sum(dim=(-1, -2)) / q.shape[2]
