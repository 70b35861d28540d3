"""Antidiagonal block scoring with a cumulative threshold (kernels.antidiagonal_select)."""

import math

import pytest
import torch

from kernels import antidiagonal_select as select
from kernels import reference
from kernels.sparse_attention import sparse_attention
from kernels.tests.helpers import DEVICE, TOLERANCE, poisoned_like, relative_error


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


@pytest.mark.parametrize(("heads", "kv_heads", "n", "stride"), [(4, 2, 700, 16), (2, 2, 300, 8), (3, 1, 64, 16)])
def test_one_triton_pass_equals_the_torch_mass(rng, heads, kv_heads, n, stride):
    """The fused pass (reference maximum from the sinks' and the local tile, one walk, rows added in torch)
    equals the torch softmax, with strided rows past one tile (64) and lengths off the block size."""
    q, k = rng(1, heads, n, 64), rng(1, kv_heads, n, 64)
    fused = select.antidiagonal_block_mass_fused(q, k, stride)
    assert torch.isfinite(fused).all()
    expected = select.antidiagonal_block_mass(q, k, stride)
    assert (fused - expected).abs().max() < (2e-3 if DEVICE == "cuda" else 1e-5), rng.seed


def test_chunks_give_the_same_mass(rng, monkeypatch):
    q, k = rng(1, 2, 700, 32), rng(1, 1, 700, 32)
    whole = select.antidiagonal_block_mass(q, k, 16)
    monkeypatch.setattr(select, "ROWS_PER_CHUNK", 8)  # two query blocks' strided rows at a time
    assert torch.allclose(select.antidiagonal_block_mass(q, k, 16), whole, atol=1e-6)


def test_threshold_lists_by_hand():
    """Query block 3 with shares [0.1, 0.5, 0.15, 0.25]: the diagonal (0.25) and block 0 (0.1) first, then
    block 1 (0.5) brings 0.85; threshold 0.8 stops there, 0.9 adds block 2. Block 0 keeps only itself."""
    mass = torch.zeros(1, 2, 4, 4)
    mass[0, :, 0, 0] = 1.0
    mass[0, :, 1, :2] = torch.tensor([0.6, 0.4])
    mass[0, :, 2, :3] = torch.tensor([0.2, 0.7, 0.1])
    mass[0, :, 3] = torch.tensor([0.1, 0.5, 0.15, 0.25])
    blocks, counts = select.threshold_lists(mass, torch.tensor([0.8, 0.9]))
    listed = [[blocks[0, h, qb, : counts[0, h, qb]].tolist() for qb in range(4)] for h in range(2)]
    assert listed[0] == [[0], [1, 0], [2, 0, 1], [3, 0, 1]]
    assert listed[1] == [[0], [1, 0], [2, 0, 1], [3, 0, 1, 2]]


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
