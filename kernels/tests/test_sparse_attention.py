import pytest
import torch

from kernels import reference
from kernels.index_convert import convert_vertical_slash, convert_vertical_slash_ranges
from kernels.sparse_attention import scheduled_sparse_attention, sparse_attention
from kernels.sparse_prefill import (
    a_shape_blocks,
    block_ranges,
    block_sparse_blocks,
    stack_lists,
    stack_ranges,
    vertical_slash_indices,
    vertical_slash_lists,
    vertical_slash_ranges,
)
from kernels.tests.helpers import DEVICE, ON_GPU, TOLERANCE, poisoned_like, relative_error

CASES = [(4, 1, 200, 64), (8, 2, 130, 128), (8, 8, 256, 64)]  # GQA 4, 4 and 1; lengths off the block size
# long enough that a few diagonals and columns leave most 64-token blocks out
# four query heads at most: the interpreter runs each head's programs in turn (CI's time), GQA 4, 2 and 1 kept
PARTIAL_CASES = [(4, 1, 450, 64), (4, 2, 333, 128), (4, 4, 512, 64)]


def run_vertical_slash(q, k, v, vertical: int, slash: int):
    heads = q.shape[1]
    budget_v, budget_s = torch.full((heads,), vertical), torch.full((heads,), slash)
    v_idx, v_count, s_idx, s_count = vertical_slash_indices(q, k, budget_v, budget_s, sinks=4, local=8)
    lists = convert_vertical_slash(q.shape[2], v_idx, v_count, s_idx, s_count)
    out = sparse_attention(q, k, v, *lists, out=poisoned_like(q))
    return out, v_idx, s_idx, lists


@pytest.mark.parametrize(("heads", "kv_heads", "n", "dim"), CASES)
def test_full_budget_equals_dense_causal_attention(rng, heads, kv_heads, n, dim):
    q, k, v = rng(1, heads, n, dim), rng(1, kv_heads, n, dim), rng(1, kv_heads, n, dim)
    out, *_ = run_vertical_slash(q, k, v, vertical=n, slash=n)
    assert torch.isfinite(out).all(), "every output element written"
    assert relative_error(out, reference.prefix_attention(q, k, v)) < TOLERANCE, rng.seed


@pytest.mark.parametrize(("heads", "kv_heads", "n", "dim"), PARTIAL_CASES)
def test_partial_budget_equals_masked_reference(rng, heads, kv_heads, n, dim):
    q, k, v = rng(1, heads, n, dim), rng(1, kv_heads, n, dim), rng(1, kv_heads, n, dim)
    out, v_idx, s_idx, _ = run_vertical_slash(q, k, v, vertical=12, slash=8)
    mask = reference.vertical_slash_mask(n, v_idx, s_idx)
    assert mask.float().mean() < 0.8 * reference.causal_mask(n, n, DEVICE).float().mean()  # really sparse
    assert torch.isfinite(out).all()
    assert relative_error(out, reference.masked_attention(q, k, v, mask)) < TOLERANCE, rng.seed


def listed(n: int, vertical: list[int], slash: list[int]) -> list[tuple[list[int], list[int]]]:
    as_tensor = lambda values: torch.tensor([[values]], dtype=torch.int32, device=DEVICE)  # noqa: E731
    blocks, block_count, columns, column_count = convert_vertical_slash(
        n, as_tensor(vertical), as_tensor([len(vertical)]), as_tensor(slash), as_tensor([len(slash)])
    )
    return [
        (
            sorted(blocks[0, 0, qb, : block_count[0, 0, qb]].tolist()),
            columns[0, 0, qb, : column_count[0, 0, qb]].tolist(),
        )
        for qb in range(blocks.shape[2])
    ]


def test_conversion_keeps_columns_outside_slash_blocks():
    """Worked by hand for n=200 (query blocks of 64): the main diagonal covers each query block's
    own key block, so a column there is dropped; columns in earlier blocks are kept."""
    assert listed(200, [0, 5, 70, 190], [0]) == [([0], []), ([1], [0, 5]), ([2], [0, 5, 70]), ([3], [0, 5, 70, 190])]


def test_conversion_lists_each_key_once():
    """Offsets 3 and 130 also cross the previous blocks: every column is then inside a block."""
    assert listed(200, [0, 5, 70, 190], [0, 3, 130]) == [
        ([0], []), ([0, 1], []), ([0, 1, 2], []), ([0, 1, 2, 3], []),
    ]  # fmt: skip


@pytest.mark.parametrize(("heads", "kv_heads", "n", "dim"), CASES)
def test_a_shape_and_block_sparse_share_the_core(rng, heads, kv_heads, n, dim):
    q, k, v = rng(1, heads, n, dim), rng(1, kv_heads, n, dim), rng(1, kv_heads, n, dim)
    sinks = torch.tensor([1, 2] * (heads // 2), device=DEVICE)
    local = torch.tensor([1, 2] * (heads // 2), device=DEVICE)
    for blocks, counts in (a_shape_blocks(n, sinks, local, 1), block_sparse_blocks(q, k, torch.full((heads,), 2))):
        out = sparse_attention(q, k, v, blocks, counts, out=poisoned_like(q))
        mask = reference.block_list_mask(n, blocks, counts)
        assert torch.isfinite(out).all()
        assert relative_error(out, reference.masked_attention(q, k, v, mask)) < TOLERANCE, rng.seed


def test_a_shape_lists():
    blocks, counts = a_shape_blocks(64 * 6, torch.tensor([1]), torch.tensor([2]), batch=1)
    listed = [sorted(blocks[0, 0, qb, : counts[0, 0, qb]].tolist()) for qb in range(6)]
    assert listed == [[0], [0, 1], [0, 1, 2], [0, 2, 3], [0, 3, 4], [0, 4, 5]]


def test_block_sparse_always_keeps_diagonal_and_first_block(rng):
    q, k = rng(1, 2, 64 * 5, 64), rng(1, 1, 64 * 5, 64)
    blocks, counts = block_sparse_blocks(q, k, torch.tensor([2, 3]))
    for head, budget in enumerate([2, 3]):
        for qb in range(5):
            listed = blocks[0, head, qb, : counts[0, head, qb]].tolist()
            assert qb in listed and 0 in listed and len(listed) == min(budget, qb + 1)
            assert max(listed) <= qb


def test_attention_recall():
    q = torch.randn(1, 2, 96, 64)
    k = torch.randn(1, 2, 96, 64)
    causal = reference.causal_mask(96, 96)
    full = reference.attention_recall(q, k, causal[None, None])
    assert torch.allclose(full, torch.ones_like(full), atol=1e-5)
    diagonal_only = torch.eye(96, dtype=torch.bool)[None, None]
    partial = reference.attention_recall(q, k, diagonal_only)
    assert (partial > 0).all() and (partial < 0.5).all()


def test_head_chunks_give_the_same_output(rng, monkeypatch):
    """The 1M-token memory cap processes GQA groups separately; the result must not change."""
    from kernels import sparse_prefill

    q, k, v = rng(1, 8, 200, 64), rng(1, 2, 200, 64), rng(1, 2, 200, 64)
    budget_v, budget_s = torch.full((8,), 20), torch.full((8,), 12)
    whole = sparse_prefill.vertical_slash_prefill(q, k, v, budget_v, budget_s, sinks=4, local=8)
    monkeypatch.setattr(sparse_prefill, "LIST_BYTES", 1)
    assert len(list(sparse_prefill.head_chunks(q, k, 20, 12))) == 2
    chunked = sparse_prefill.vertical_slash_prefill(q, k, v, budget_v, budget_s, sinks=4, local=8)
    assert relative_error(chunked, whole) < 1e-6


def test_one_scheduled_launch_equals_one_launch_per_pattern(rng):
    """Eight heads on two K/V heads: two vertical-slash, two A-shape and two block-sparse heads, their lists
    stacked and run in one launch (heaviest query blocks first), give what each pattern's own launch gives
    over its heads; the two heads in no list are left as they were."""
    heads, kv_heads, n, dim = 8, 2, 450, 64
    q, k, v = rng(1, heads, n, dim), rng(1, kv_heads, n, dim), rng(1, kv_heads, n, dim)
    group = heads // kv_heads
    plan = {"vertical_slash": [0, 3], "a_shape": [1, 5], "block_sparse": [6, 2]}
    expected, pieces = poisoned_like(q), []
    for pattern, members in plan.items():
        sub_q, sub_k, sub_v = q[:, members], k[:, [h // group for h in members]], v[:, [h // group for h in members]]
        if pattern == "vertical_slash":
            budgets = torch.tensor([12, 30], device=DEVICE), torch.tensor([8, 3], device=DEVICE)
            lists = vertical_slash_lists(sub_q, sub_k, *budgets, sinks=4, local=8)
        elif pattern == "a_shape":
            lists = a_shape_blocks(n, torch.tensor([1, 2], device=DEVICE), torch.tensor([2, 1], device=DEVICE), 1)
        else:
            lists = block_sparse_blocks(sub_q, sub_k, torch.tensor([2, 3], device=DEVICE))
        expected[:, members] = sparse_attention(sub_q, sub_k, sub_v, *lists)
        pieces.append(lists)
    ids = torch.tensor([h for members in plan.values() for h in members], device=DEVICE)
    out = scheduled_sparse_attention(q, k, v, ids, *stack_lists(pieces), out=poisoned_like(q))
    assert torch.isnan(out[:, [4, 7]]).all(), "heads in no list are not written"
    listed = sorted(ids.tolist())
    assert relative_error(out[:, listed], expected[:, listed]) < (1e-3 if ON_GPU else 1e-6), rng.seed


def ranged(n: int, vertical: list[int], slash: list[int]) -> list[tuple[list[tuple[int, int]], list[int]]]:
    as_tensor = lambda values: torch.tensor([[values]], dtype=torch.int32, device=DEVICE)  # noqa: E731
    lo, hi, count, columns, column_count = convert_vertical_slash_ranges(
        n, as_tensor(vertical), as_tensor([len(vertical)]), as_tensor(slash), as_tensor([len(slash)])
    )
    return [
        (
            list(zip(lo[0, 0, qb, : count[0, 0, qb]].tolist(), hi[0, 0, qb, : count[0, 0, qb]].tolist(), strict=True)),
            columns[0, 0, qb, : column_count[0, 0, qb]].tolist(),
        )
        for qb in range(lo.shape[2])
    ]


def test_unaligned_ranges_by_hand():
    """n=200: offsets 0 and 3 form one band, 130 another. Query block 2 (keys up to 191) sees keys [125, 191]
    and [0, 61]; column 70 lies in neither and stays a column, 0, 5 and 190 are inside a range. The aligned
    conversion computes four whole blocks for query block 3; the ranges take two tiles and one column tile."""
    assert ranged(200, [0, 5, 70, 190], [0, 3, 130]) == [
        ([(0, 63)], []),
        ([(61, 127)], [0, 5]),
        ([(125, 191), (0, 61)], [70]),
        ([(189, 199), (62, 69)], [0, 5, 70]),
    ]


@pytest.mark.parametrize(("heads", "kv_heads", "n", "dim", "order", "range_block"),
                         [(*case, "heaviest_first", 64) for case in PARTIAL_CASES]
                         + [(*PARTIAL_CASES[0], "natural", 128), (*PARTIAL_CASES[1], "natural", 128)])  # fmt: skip
def test_unaligned_ranges_equal_their_mask_and_keep_fewer_keys(rng, heads, kv_heads, n, dim, order, range_block):
    """The same vertical/slash picks as unaligned ranges: the kernel equals the reference over the ranges' mask,
    which is inside the aligned blocks' mask and holds every picked diagonal and column."""
    q, k, v = rng(1, heads, n, dim), rng(1, kv_heads, n, dim), rng(1, kv_heads, n, dim)
    budget_v, budget_s = torch.full((heads,), 12), torch.full((heads,), 8)
    v_idx, _, s_idx, _ = vertical_slash_indices(q, k, budget_v, budget_s, sinks=4, local=8)
    lists = vertical_slash_ranges(q, k, budget_v, budget_s, sinks=4, local=8)
    ids = torch.arange(heads, device=DEVICE)
    out = scheduled_sparse_attention(q, k, v, ids, *stack_ranges([lists]), out=poisoned_like(q), order=order,
                                     range_block=range_block)  # fmt: skip
    mask = torch.stack([reference.slash_range_mask(n, v_idx[0, h], s_idx[0, h]) for h in range(heads)])[None]
    aligned = reference.vertical_slash_mask(n, v_idx, s_idx)
    assert (mask <= aligned).all() and mask.sum() < aligned.sum()
    rows = torch.arange(n, device=DEVICE)[:, None]
    for h in range(heads):  # every picked diagonal is inside
        for offset in s_idx[0, h][s_idx[0, h] >= 0].tolist():
            keys = rows - offset
            assert mask[0, h][(keys >= 0)[:, 0].nonzero()[:, 0], keys[keys >= 0]].all()
    assert torch.isfinite(out).all()
    assert relative_error(out, reference.masked_attention(q, k, v, mask)) < TOLERANCE, rng.seed


def test_block_lists_as_ranges_give_the_same_attention(rng):
    """A-shape and block-sparse lists as ranges, stacked with vertical-slash ranges in one launch, give what the
    block lists give."""
    heads, kv_heads, n, dim = 4, 2, 333, 64
    q, k, v = rng(1, heads, n, dim), rng(1, kv_heads, n, dim), rng(1, kv_heads, n, dim)
    a_shape = a_shape_blocks(n, torch.tensor([1, 2], device=DEVICE), torch.tensor([2, 1], device=DEVICE), 1)
    sub = q[:, 2:], k[:, 1:], v[:, 1:]
    block_sparse = block_sparse_blocks(sub[0], sub[1], torch.tensor([2, 3], device=DEVICE))
    expected = torch.cat([sparse_attention(q[:, :2], k[:, :1], v[:, :1], *a_shape),
                          sparse_attention(*sub, *block_sparse)], 1)  # fmt: skip
    ids = torch.arange(heads, device=DEVICE)
    pieces = [block_ranges(*a_shape), block_ranges(*block_sparse)]
    out = scheduled_sparse_attention(q, k, v, ids, *stack_ranges(pieces), out=poisoned_like(q))
    assert relative_error(out, expected) < (1e-3 if ON_GPU else 1e-6), rng.seed
