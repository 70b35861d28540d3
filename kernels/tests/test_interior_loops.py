"""The ways the 64-row cores walk a list's unmasked interior (sparse_attention.INTERIOR): each equals the exact
mask and the plain loop, on lists long enough to pipeline and with planted large keys, so that the lazy rescale
takes both its branches (the running max rising by more than LAZY_LOG2 at a planted key, not elsewhere)."""

import pytest
import torch

from kernels import reference
from kernels import sparse_attention as core
from kernels.sparse_attention import scheduled_sparse_attention, sparse_attention
from kernels.sparse_prefill import (
    a_shape_blocks,
    block_sparse_blocks,
    stack_lists,
    vertical_slash_indices,
    vertical_slash_lists,
)
from kernels.tests.helpers import DEVICE, ON_GPU, TOLERANCE, poisoned_like, relative_error

NEW_LOOPS = [loop for loop in core.INTERIORS if loop != "plain"]


def planted_keys(rng, kv_heads: int, n: int, dim: int) -> torch.Tensor:
    """Keys with one in 40 scaled ×8: where a walk reaches one, a row's max rises by far more than 2^8."""
    k = rng(1, kv_heads, n, dim)
    k[:, :, 7::40] *= 8
    return k


def lists_and_mask(pattern: str, q, k, heads: int, n: int):
    """The pattern's lists and the exact mask they stand for."""
    if pattern == "vertical_slash":
        budgets = torch.full((heads,), 12, device=DEVICE), torch.full((heads,), 48, device=DEVICE)
        vertical, _, slash, _ = vertical_slash_indices(q, k, *budgets, sinks=4, local=8)
        return vertical_slash_lists(q, k, *budgets, sinks=4, local=8), reference.vertical_slash_mask(n, vertical, slash)
    if pattern == "a_shape":
        sinks, local = torch.tensor([1, 2, 1, 2], device=DEVICE), torch.tensor([3, 4, 6, 5], device=DEVICE)
        lists = a_shape_blocks(n, sinks, local, 1)
    else:
        lists = block_sparse_blocks(q, k, torch.tensor([3, 4, 6, 9], device=DEVICE))
    return lists, reference.block_list_mask(n, *lists)


@pytest.mark.parametrize("loop", NEW_LOOPS)
@pytest.mark.parametrize("pattern", ["vertical_slash", "a_shape", "block_sparse"])
def test_interior_loops_equal_the_mask_and_the_plain_loop(rng, monkeypatch, loop, pattern):
    heads, kv_heads, n, dim = 4, 2, 700, 64
    q, v = rng(1, heads, n, dim), rng(1, kv_heads, n, dim)
    k = planted_keys(rng, kv_heads, n, dim)
    lists, mask = lists_and_mask(pattern, q, k, heads, n)
    assert int(lists[1].max()) >= 5, "some lists have an interior of three blocks or more"
    ids = torch.arange(heads, device=DEVICE)
    plain = sparse_attention(q, k, v, *lists, out=poisoned_like(q))
    monkeypatch.setattr(core, "INTERIOR", loop)
    one = sparse_attention(q, k, v, *lists, out=poisoned_like(q))
    scheduled = scheduled_sparse_attention(q, k, v, ids, *stack_lists([lists]), out=poisoned_like(q))
    assert relative_error(one, reference.masked_attention(q, k, v, mask)) < TOLERANCE, rng.seed
    limit = 1e-3 if ON_GPU else 1e-5
    for out in (one, scheduled):
        assert torch.isfinite(out).all(), "every output element written"
        assert relative_error(out, plain) < limit, rng.seed


def test_lazy_rescale_keeps_a_stale_max_within_range(rng, monkeypatch):
    """Scores that rise by just under the threshold at every block (the stale max lags by up to LAZY_LOG2 per
    step without a rescale) still give the exact attention: p stays ≤ 2^LAZY_LOG2."""
    heads, kv_heads, n, dim = 1, 1, 640, 64
    q = torch.ones(1, heads, n, dim, device=DEVICE)
    k = rng(1, kv_heads, n, dim) * 0.1
    step = 7.5 / (dim * core.LOG2E / dim**0.5)  # per key block, the scores rise by 7.5 in log2 units
    k += (torch.arange(n, device=DEVICE) // reference.BLOCK).float()[None, None, :, None] * step
    v = rng(1, kv_heads, n, dim)
    q, k, v = (t.to(v.dtype) for t in (q, k, v))
    lists = a_shape_blocks(n, torch.tensor([1], device=DEVICE), torch.tensor([10], device=DEVICE), 1)
    monkeypatch.setattr(core, "INTERIOR", "lazy")
    out = sparse_attention(q, k, v, *lists, out=poisoned_like(q))
    exact = reference.masked_attention(q, k, v, reference.causal_mask(n, n, DEVICE)[None, None])
    assert relative_error(out, exact) < TOLERANCE, rng.seed


def test_register_cap_by_head_dim(monkeypatch):
    """The engine's default caps d 64 (measured faster, same outputs) and leaves d 128 alone (it would spill); an
    explicit setting wins, 0 meaning uncapped."""
    assert core._register_cap(64) == 128 and core._register_cap(128) == 0
    monkeypatch.setattr(core, "REGISTER_CAP", 0)
    assert core._register_cap(64) == 0
    monkeypatch.setattr(core, "REGISTER_CAP", 168)
    assert core._register_cap(128) == 168
