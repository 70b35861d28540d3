"""The 128-row core over pair lists, and the edge-only causal mask of the 64-row core."""

import pytest
import torch

from kernels import reference
from kernels import sparse_attention as core
from kernels.index_convert import pair_lists
from kernels.sparse_attention import scheduled_sparse_attention, sparse_attention, wide_sparse_attention
from kernels.sparse_prefill import (
    a_shape_blocks,
    block_sparse_blocks,
    stack_lists,
    vertical_slash_indices,
    vertical_slash_lists,
)
from kernels.tests.helpers import DEVICE, ON_GPU, TOLERANCE, poisoned_like, relative_error

# lengths off the block size; 650 and 540 have an odd number of query blocks (the last pair is one block)
WIDE_CASES = [(4, 1, 450, 64), (4, 2, 333, 128), (4, 2, 650, 64), (4, 4, 540, 64)]  # four heads: CI's time


def budgets(heads: int, vertical: int, slash: int):
    return torch.full((heads,), vertical, device=DEVICE), torch.full((heads,), slash, device=DEVICE)


@pytest.mark.parametrize(("heads", "kv_heads", "n", "dim"), WIDE_CASES)
def test_wide_tiles_equal_the_widened_mask(rng, heads, kv_heads, n, dim):
    """Vertical-slash lists paired: the kernel equals the reference over the widened 64-row mask, which holds
    the 64-row mask (a superset: both blocks of a pair see the keys of either)."""
    q, k, v = rng(1, heads, n, dim), rng(1, kv_heads, n, dim), rng(1, kv_heads, n, dim)
    v_idx, _, s_idx, _ = vertical_slash_indices(q, k, *budgets(heads, 12, 8), sinks=4, local=8)
    lists = vertical_slash_lists(q, k, *budgets(heads, 12, 8), sinks=4, local=8)
    pairs = pair_lists(*lists)
    out = wide_sparse_attention(q, k, v, torch.arange(heads, device=DEVICE), *pairs, out=poisoned_like(q))
    narrow = reference.vertical_slash_mask(n, v_idx, s_idx)
    mask = reference.widen_mask(narrow)
    assert (narrow <= mask).all() and mask.float().mean() < 0.8 * reference.causal_mask(n, n).float().mean()
    assert torch.isfinite(out).all(), "every output element written"
    assert relative_error(out, reference.masked_attention(q, k, v, mask)) < TOLERANCE, rng.seed


def test_pair_lists_by_hand():
    """Query blocks 0..4 (n=300) with lists {0}, {1, 0}, {2}, {3, 1}, {4, 0} and one column list per block:
    pairs (0, 1), (2, 3), (4): unions ascending, and the columns of the pair's second block outside the
    union (of block 4 itself for the unpaired last one)."""
    as_lists = [[0], [1, 0], [2], [3, 1], [4, 0]]
    columns = [[], [5], [5, 70], [5, 70, 130], [5, 70, 130, 200]]
    width = 3
    blocks = torch.tensor([[row + [0] * (width - len(row)) for row in as_lists]], dtype=torch.int32)[None]
    counts = torch.tensor([[len(row) for row in as_lists]], dtype=torch.int32)[None]
    cols = torch.tensor([[row + [0] * (4 - len(row)) for row in columns]], dtype=torch.int32)[None]
    col_counts = torch.tensor([[len(row) for row in columns]], dtype=torch.int32)[None]
    pb, pc, pcol, pcc = pair_lists(*(t.to(DEVICE) for t in (blocks, counts, cols, col_counts)))
    listed = [(pb[0, 0, p, : pc[0, 0, p]].tolist(), pcol[0, 0, p, : pcc[0, 0, p]].tolist()) for p in range(3)]
    assert listed == [([0, 1], []), ([1, 2, 3], [5]), ([0, 4], [70, 130, 200])]


def test_wide_stacked_patterns_and_head_subset(rng):
    """A-shape, block-sparse and vertical-slash heads stacked and paired, on a subset of the heads: each head
    as its widened mask; heads in no list untouched."""
    heads, kv_heads, n, dim = 8, 2, 450, 64
    q, k, v = rng(1, heads, n, dim), rng(1, kv_heads, n, dim), rng(1, kv_heads, n, dim)
    group = heads // kv_heads
    plan = {"vertical_slash": [0, 3], "a_shape": [1, 5], "block_sparse": [6, 2]}
    pieces, masks = [], {}
    for pattern, members in plan.items():
        sub_q, sub_k = q[:, members], k[:, [h // group for h in members]]
        if pattern == "vertical_slash":
            vs_budgets = torch.tensor([12, 30], device=DEVICE), torch.tensor([8, 3], device=DEVICE)
            v_idx, _, s_idx, _ = vertical_slash_indices(sub_q, sub_k, *vs_budgets, sinks=4, local=8)
            lists = vertical_slash_lists(sub_q, sub_k, *vs_budgets, sinks=4, local=8)
            mask = reference.vertical_slash_mask(n, v_idx, s_idx)
        elif pattern == "a_shape":
            lists = a_shape_blocks(n, torch.tensor([1, 2], device=DEVICE), torch.tensor([2, 1], device=DEVICE), 1)
            mask = reference.block_list_mask(n, *lists)
        else:
            lists = block_sparse_blocks(sub_q, sub_k, torch.tensor([2, 3], device=DEVICE))
            mask = reference.block_list_mask(n, *lists)
        for index, head in enumerate(members):
            masks[head] = reference.widen_mask(mask[0, index])
        pieces.append(lists)
    ids = torch.tensor([h for members in plan.values() for h in members], device=DEVICE)
    out = wide_sparse_attention(q, k, v, ids, *pair_lists(*stack_lists(pieces)), out=poisoned_like(q))
    assert torch.isnan(out[:, [4, 7]]).all(), "heads in no list are not written"
    listed = sorted(ids.tolist())
    group_of = [h // group for h in listed]
    expected = reference.masked_attention(q[:, listed], k[:, group_of], v[:, group_of],
                                          torch.stack([masks[h] for h in listed])[None])  # fmt: skip
    assert relative_error(out[:, listed], expected) < TOLERANCE, rng.seed


def test_every_list_keeps_its_diagonal_block_at_an_end(rng):
    """What the edge-only mask relies on: in every builder's lists, a query block's own key block is its
    list's first or last entry (and no entry is past it)."""
    heads, kv_heads, n = 4, 2, 700
    q, k = rng(1, heads, n, 64), rng(1, kv_heads, n, 64)
    built = [
        vertical_slash_lists(q, k, *budgets(heads, 12, 20), sinks=4, local=8)[:2],
        a_shape_blocks(n, torch.tensor([1, 2, 3, 1], device=DEVICE), torch.tensor([2, 1, 3, 4], device=DEVICE), 1),
        block_sparse_blocks(q, k, torch.tensor([2, 3, 4, 11], device=DEVICE)),
    ]
    for blocks, counts in built:
        for h in range(heads):
            for qb in range(counts.shape[2]):
                row = blocks[0, h, qb, : counts[0, h, qb]].tolist()
                assert max(row) <= qb and all(entry != qb for entry in row[1:-1]), (h, qb, row)


@pytest.mark.parametrize("pattern", ["vertical_slash", "a_shape", "block_sparse"])
def test_edge_mask_equals_masking_every_tile(rng, monkeypatch, pattern):
    """The edge-only mask, also with the interior taken two blocks at a time (KEY_PAIRS; lists of even and odd
    lengths), gives what masking every tile gives."""
    heads, kv_heads, n, dim = 4, 2, 600, 64
    q, k, v = rng(1, heads, n, dim), rng(1, kv_heads, n, dim), rng(1, kv_heads, n, dim)
    if pattern == "vertical_slash":
        lists = vertical_slash_lists(q, k, *budgets(heads, 12, 8), sinks=4, local=8)
    elif pattern == "a_shape":
        lists = a_shape_blocks(
            n, torch.tensor([1, 2, 1, 2], device=DEVICE), torch.tensor([2, 1, 3, 2], device=DEVICE), 1
        )
    else:
        lists = block_sparse_blocks(q, k, torch.tensor([2, 3, 4, 5], device=DEVICE))
    ids = torch.arange(heads, device=DEVICE)
    edge = sparse_attention(q, k, v, *lists, out=poisoned_like(q))
    edge_scheduled = scheduled_sparse_attention(q, k, v, ids, *stack_lists([lists]), out=poisoned_like(q))
    monkeypatch.setattr(core, "KEY_PAIRS", True)
    pairs = sparse_attention(q, k, v, *lists, out=poisoned_like(q))
    pairs_scheduled = scheduled_sparse_attention(q, k, v, ids, *stack_lists([lists]), out=poisoned_like(q))
    monkeypatch.setattr(core, "EDGE_MASK", False)
    every = sparse_attention(q, k, v, *lists, out=poisoned_like(q))
    limit = 1e-3 if ON_GPU else 1e-6
    for variant in (edge, edge_scheduled, pairs, pairs_scheduled):
        assert relative_error(variant, every) < limit, rng.seed
