"""Antidiagonal block scoring with a cumulative threshold (kernels.antidiagonal_select)."""

import math

import pytest
import torch

from kernels import antidiagonal_select as select
from kernels import reference
from kernels.sparse_attention import sparse_attention
from kernels.tests.helpers import DEVICE, ON_GPU, TOLERANCE, poisoned_like, relative_error


def brute_force_mass(q: torch.Tensor, k: torch.Tensor, stride: int) -> torch.Tensor:
    """The block mass by explicit loops over strided rows and antidiagonals (float64)."""
    _, heads, n, dim = q.shape
    group = heads // k.shape[1]
    qblocks = -(-n // reference.BLOCK)
    rows = qblocks * reference.BLOCK // stride
    per_block = reference.BLOCK // stride
    q64 = torch.nn.functional.pad(q.double(), (0, 0, 0, qblocks * reference.BLOCK - n))
    k64 = torch.nn.functional.pad(k.double(), (0, 0, 0, qblocks * reference.BLOCK - n))
    mass = torch.zeros(heads, qblocks, qblocks, dtype=torch.float64)
    for h in range(heads):
        for i in range(rows):
            scores = torch.full((rows,), float("-inf"), dtype=torch.float64)
            for j in range(i + 1):
                if j * stride >= n:
                    continue
                total = sum(q64[0, h, i * stride + stride - 1 - t] @ k64[0, h // group, j * stride + t]
                            for t in range(stride))  # fmt: skip
                scores[j] = total / (math.sqrt(dim) * stride)
            probs = torch.softmax(scores, 0)
            for j in range(rows):
                mass[h, i // per_block, j // per_block] += probs[j] / per_block
    return mass[None]


@pytest.mark.parametrize(("n", "stride"), [(300, 16), (256, 8)])
def test_block_mass_equals_explicit_antidiagonals(rng, n, stride):
    q, k = rng(1, 4, n, 32), rng(1, 2, n, 32)
    mass = select.antidiagonal_block_mass(q, k, stride)
    expected = brute_force_mass(q.cpu(), k.cpu(), stride)
    assert torch.allclose(mass.cpu().double(), expected, atol=2e-2 if DEVICE == "cuda" else 1e-5), rng.seed
    assert torch.allclose(mass.sum(-1), torch.ones_like(mass.sum(-1)), atol=1e-4)


@pytest.mark.parametrize(
    ("heads", "kv_heads", "n", "stride", "tile"),
    [(4, 2, 700, 16, 64), (2, 2, 300, 8, 64), (3, 1, 64, 16, 64), (4, 2, 1100, 16, 128)],
)
def test_one_triton_pass_equals_the_torch_mass(rng, heads, kv_heads, n, stride, tile):
    """The fused pass (reference maximum from the sinks' and the local tile, one walk, rows added in torch)
    equals the torch softmax, with strided rows past one tile and lengths off the block size."""
    q, k = rng(1, heads, n, 64), rng(1, kv_heads, n, 64)
    fused = select.antidiagonal_block_mass_fused(q, k, stride, tile)
    assert torch.isfinite(fused).all()
    expected = select.antidiagonal_block_mass(q, k, stride)
    assert (fused - expected).abs().max() < (2e-3 if DEVICE == "cuda" else 1e-5), rng.seed


def test_pass_without_the_peel_gives_the_same_mass(rng, monkeypatch):
    """The own key tile scored once (MASS_PEEL) or twice (round 6's walk): the same shares up to float order."""
    q, k = rng(1, 2, 700, 64), rng(1, 1, 700, 64)
    peeled = select.antidiagonal_block_mass_fused(q, k, 16, 64)
    monkeypatch.setattr(select, "MASS_PEEL", False)
    assert (select.antidiagonal_block_mass_fused(q, k, 16, 64) - peeled).abs().max() < 1e-5, rng.seed


@pytest.mark.gpu
@pytest.mark.skipif(not ON_GPU, reason="float8 products: Hopper's")
def test_float8_pass_keeps_each_row_distribution(rng, monkeypatch):
    """Q and K in e4m3 with a scale per head: each query block's shares move by a small total variation."""
    q, k = rng(1, 14, 16384, 64), rng(1, 2, 16384, 64)
    q[..., :16] *= 4.0
    exact = select.antidiagonal_block_mass_fused(q, k, 16, 128)
    monkeypatch.setattr(select, "MASS_FP8", True)
    rounded = select.antidiagonal_block_mass_fused(q, k, 16, 128)
    assert (rounded - exact).abs().sum(-1).max() < 0.1, rng.seed


def test_chunks_give_the_same_mass(rng, monkeypatch):
    q, k = rng(1, 2, 700, 32), rng(1, 1, 700, 32)
    whole = select.antidiagonal_block_mass(q, k, 16)
    monkeypatch.setattr(select, "ROWS_PER_CHUNK", 8)  # two query blocks' strided rows at a time
    assert torch.allclose(select.antidiagonal_block_mass(q, k, 16), whole, atol=1e-6)


def hand_mass() -> torch.Tensor:
    """Query block 3 with shares [0.1, 0.5, 0.15, 0.25]: the diagonal (0.25) and block 0 (0.1) first, then
    block 1 (0.5) brings 0.85; threshold 0.8 stops there, 0.9 adds block 2. Block 0 keeps only itself."""
    mass = torch.zeros(1, 2, 4, 4)
    mass[0, :, 0, 0] = 1.0
    mass[0, :, 1, :2] = torch.tensor([0.6, 0.4])
    mass[0, :, 2, :3] = torch.tensor([0.2, 0.7, 0.1])
    mass[0, :, 3] = torch.tensor([0.1, 0.5, 0.15, 0.25])
    return mass


def listed(blocks: torch.Tensor, counts: torch.Tensor) -> list[list[list[int]]]:
    return [[blocks[0, h, qb, : counts[0, h, qb]].tolist() for qb in range(blocks.shape[2])]
            for h in range(blocks.shape[1])]  # fmt: skip


def cut_of_mass(mass: torch.Tensor, threshold: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """threshold_cut over a given mass: one strided row a block, every row sum 1."""
    return select.threshold_cut(mass.to(DEVICE), torch.ones(mass.shape[:3], device=DEVICE), threshold, mass.shape[2], 1)


def test_threshold_lists_by_hand():
    assert listed(*select.threshold_lists(hand_mass(), torch.tensor([0.8, 0.9]))) == [
        [[0], [1, 0], [2, 0, 1], [3, 0, 1]],
        [[0], [1, 0], [2, 0, 1], [3, 0, 1, 2]],
    ]


def test_threshold_cut_by_hand():
    """The bisection's cut gives the sort's lists on hand_mass, the blocks after the forced two ascending."""
    assert listed(*cut_of_mass(hand_mass(), torch.tensor([0.8, 0.9]))) == [
        [[0], [1, 0], [2, 0, 1], [3, 0, 1]],
        [[0], [1, 0], [2, 0, 1], [3, 0, 1, 2]],
    ]


def test_threshold_cut_keeps_every_tie_and_the_edges():
    """Query block 4 with shares [0.1, 0.2, 0.2, 0.2, 0.3]: 0.3 + 0.1 forced, 0.5 needs one more 0.2; the
    cut is 0.2, so all three tied blocks stay (the sort keeps one). Threshold 0.3: the forced two alone; 1.5
    (never reached): every causal block."""
    mass = torch.zeros(1, 3, 5, 5)
    mass[0, :, 4] = torch.tensor([0.1, 0.2, 0.2, 0.2, 0.3])
    mass[0, :, :4] = torch.eye(5)[:4]  # earlier blocks: all their mass on the diagonal
    blocks, counts = cut_of_mass(mass, torch.tensor([0.5, 0.3, 1.5]))
    rows = listed(blocks.cpu(), counts.cpu())
    assert [head[4] for head in rows] == [[4, 0, 1, 2, 3], [4, 0], [4, 0, 1, 2, 3]]
    assert rows[2][:4] == [[0], [1, 0], [2, 0, 1], [3, 0, 1, 2]]
    assert rows[1][:4] == [[0], [1, 0], [2, 0], [3, 0]]


def check_cut(q: torch.Tensor, k: torch.Tensor, threshold: torch.Tensor, stride: int) -> float:
    """The fused cut against threshold_lists over the same fused mass: every row a threshold cut of it (the
    forced blocks, kept shares ≥ every dropped one, reaching the threshold but not without the smallest kept
    share), laid out as the core reads it; returns the share of rows whose sets equal the sort's."""
    qblocks = -(-q.shape[2] // reference.BLOCK)
    blocks, counts = select.antidiagonal_blocks_fused(q, k, threshold, stride)
    mass = select.antidiagonal_block_mass_fused(q, k, stride).double()
    kept = reference.block_list_coverage(q.shape[2], blocks, counts)
    diagonal = torch.arange(qblocks, device=q.device)
    assert (blocks[..., 0] == diagonal).all() and (blocks[..., 1:2][..., diagonal > 0, :] == 0).all()
    second_of_pair = torch.arange(3, blocks.shape[-1], device=q.device)  # list positions 3.. against the one before
    ordered = (blocks[..., 3:] > blocks[..., 2:-1]) | (second_of_pair >= counts[..., None])
    assert ordered.all(), "after the diagonal and block 0, ascending"
    causal = torch.ones(qblocks, qblocks, dtype=torch.bool, device=q.device).tril()
    assert not (kept & ~causal).any() and kept[..., diagonal, diagonal].all() and kept[..., 0].all()
    forced = torch.zeros_like(causal)
    forced[diagonal, diagonal] = True
    forced[:, 0] = True
    free = kept & ~forced
    dropped = causal & ~kept
    smallest_kept = torch.where(free, mass, float("inf")).amin(-1)
    largest_dropped = torch.where(dropped, mass, -1.0).amax(-1)
    # the kernel adds a block's rows itself: its shares may differ from torch's in the last bit
    assert (largest_dropped <= smallest_kept * (1 + 1e-6)).all(), "kept shares are at least every dropped one"
    total = torch.where(kept, mass, 0.0).sum(-1)
    limit = threshold.to(q.device).double()[None, :, None]
    slack = 1e-5  # float32 sums of a row's shares, in another order than the kernel's
    assert ((total >= limit - slack) | ~dropped.any(-1)).all(), "the kept mass reaches the threshold"
    without = total - torch.where(free.any(-1), smallest_kept, 0.0)
    assert ((without < limit + slack) | ~free.any(-1)).all(), "not without the smallest kept share"
    sort_blocks, sort_counts = select.threshold_lists(mass.float(), threshold)
    same = (reference.block_list_coverage(q.shape[2], sort_blocks, sort_counts) == kept).all(-1)
    return same.float().mean().item()


@pytest.mark.parametrize(("heads", "kv_heads", "n", "stride"), [(4, 2, 1000, 16), (3, 1, 300, 8)])
def test_threshold_cut_equals_the_sort(rng, heads, kv_heads, n, stride):
    """On random Q/K (lengths off the block size, strided rows past one tile), per-head thresholds."""
    q, k = rng(1, heads, n, 64), rng(1, kv_heads, n, 64)
    threshold = torch.tensor([0.5, 0.8, 0.9, 0.95][:heads])
    assert check_cut(q, k, threshold, stride) >= 0.99, rng.seed


@pytest.mark.gpu
@pytest.mark.skipif(not ON_GPU, reason="a long context: the interpreter would take minutes")
def test_threshold_cut_equals_the_sort_at_length(rng):
    """At 32K (512 query blocks a head), 14 query heads over 2 K/V heads as the real model's."""
    q, k = rng(1, 14, 32768, 64), rng(1, 2, 32768, 64)
    q[..., :16] *= 4.0  # a few dominant dims: peaked rows beside random ones, so the cut varies
    assert check_cut(q, k, torch.linspace(0.8, 0.97, 14), 16) >= 0.999, rng.seed


def test_core_over_antidiagonal_lists_equals_their_mask(rng):
    """Lists with the diagonal first run through the core as block lists: equal to their exact mask, and a
    lower threshold keeps fewer blocks."""
    heads, kv_heads, n, dim = 4, 2, 900, 64
    q, k, v = rng(1, heads, n, dim), rng(1, kv_heads, n, dim), rng(1, kv_heads, n, dim)
    loose = select.antidiagonal_blocks(q, k, torch.full((heads,), 0.5), stride=16)
    tight = select.antidiagonal_blocks(q, k, torch.full((heads,), 0.95), stride=16)
    assert loose[1].sum() < tight[1].sum()
    out = sparse_attention(q, k, v, *loose, out=poisoned_like(q))
    mask = reference.block_list_mask(n, *loose)
    assert torch.isfinite(out).all(), "every output element written"
    assert relative_error(out, reference.masked_attention(q, k, v, mask)) < TOLERANCE, rng.seed


def test_core_over_cut_lists_equals_their_mask(rng):
    """The cut's lists (the diagonal first, the others ascending: the last listed block is unmasked-safe)
    through the core equal attention over their exact mask."""
    heads, kv_heads, n, dim = 4, 2, 700, 64
    q, k, v = rng(1, heads, n, dim), rng(1, kv_heads, n, dim), rng(1, kv_heads, n, dim)
    lists = select.antidiagonal_blocks_fused(q, k, torch.tensor([0.3, 0.6, 0.9, 0.99]), stride=16)
    out = sparse_attention(q, k, v, *lists, out=poisoned_like(q))
    assert torch.isfinite(out).all(), "every output element written"
    mask = reference.block_list_mask(n, *lists)
    assert relative_error(out, reference.masked_attention(q, k, v, mask)) < TOLERANCE, rng.seed
