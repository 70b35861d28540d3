import pytest
import torch

from kernels import reference
from kernels.tests.helpers import DEVICE
from kernels.vs_index import select_indices, vertical_slash_scores


@pytest.mark.parametrize(("heads", "kv_heads", "n", "dim"), [(4, 1, 200, 64), (8, 2, 130, 128), (8, 8, 64, 64)])
def test_scores_match_reference(rng, heads, kv_heads, n, dim):
    q, k = rng(1, heads, n, dim), rng(1, kv_heads, n, dim)
    vertical, slash = vertical_slash_scores(q, k)
    ref_vertical, ref_slash = reference.vertical_slash_scores(q, k)
    assert torch.allclose(vertical, ref_vertical, atol=2e-3), rng.seed
    assert torch.allclose(slash, ref_slash, atol=2e-3), rng.seed
    # each of the last 64 queries spreads mass 1 over its keys: 64 per head in each view
    assert torch.allclose(vertical.sum(-1), torch.full_like(vertical.sum(-1), 64.0), rtol=1e-3)
    assert torch.allclose(slash.sum(-1), torch.full_like(slash.sum(-1), 64.0), rtol=1e-3)


def test_select_keeps_budgets_sinks_and_local_per_head():
    scores = torch.rand(2, 3, 500, device=DEVICE)
    scores[:, :, 250] = 10.0  # a strong column every head must pick
    v_budget = torch.tensor([40, 10, 64])
    s_budget = torch.tensor([120, 5, 30])
    v_idx, v_count, s_idx, s_count = select_indices(scores, scores, v_budget, s_budget, sinks=30, local=100)
    assert v_count.tolist() == [[40, 10, 64]] * 2 and s_count.tolist() == [[120, 5, 30]] * 2
    for head, budget in enumerate(v_budget.tolist()):
        picked = v_idx[0, head, :budget]
        assert picked.tolist() == sorted(picked.tolist()) and (v_idx[0, head, budget:] == -1).all()
        assert set(range(min(30, budget))) <= set(picked.tolist())
        if budget > 30:
            assert 250 in picked.tolist()
    assert set(range(100)) <= set(s_idx[0, 0, :120].tolist())  # local diagonals always kept
    assert s_idx[0, 1, :5].tolist() == [0, 1, 2, 3, 4]  # budget below `local`: the nearest ones
