import json
import math

import pytest
import torch

from kernels import pattern_search

# the default grid is sized for 4K-32K calibrations; this one for the test's 1K tokens
SMALL = (
    *(pattern_search.Candidate("a_shape", {"sink_blocks": 1, "local_blocks": n}) for n in (1, 2, 4)),
    *(pattern_search.Candidate("block_sparse", {"blocks": n}) for n in (2, 4)),
    *(pattern_search.Candidate("vertical_slash", {"vertical": v, "slash": s}) for v, s in ((8, 16), (32, 64))),
)


def structured_heads(n: int = 1024, dim: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Head 0 attends locally (rotary phases), head 1 to a few vertical columns, head 2 uniformly."""
    g = torch.Generator().manual_seed(0)
    q = torch.randn(1, 3, n, dim, generator=g) * 0.1
    k = torch.randn(1, 3, n, dim, generator=g) * 0.1
    angle = torch.arange(n)[:, None] * (1.0 / (8.0 ** (torch.arange(8) / 8)))[None, :]
    rot = torch.cat([angle.cos(), angle.sin()], dim=-1) * 4.0
    q[0, 0, :, :16] += rot
    k[0, 0, :, :16] += rot
    q[0, 0, :, 16] += 3.0
    k[0, 0, :4, 16] += 6.0  # sinks
    columns = torch.tensor([7, n // 3, n // 2 + 5])
    q[0, 1, :, 20] += 4.0
    k[0, 1, columns, 20] += 16.0  # a logit bonus of 8: these columns take most of every row's mass
    k[0, 1, :4, 20] += 16.0
    return q, k


def test_each_head_gets_the_cheapest_pattern_that_reaches_the_target():
    q, k = structured_heads()
    choices = pattern_search.search(q, k, target=0.9, candidates=SMALL)
    assert [c.head for c in choices] == [0, 1, 2]
    for choice in choices:
        assert choice.recall >= 0.9
        evaluated = pattern_search.evaluate_head(q[0, choice.head], k[0, choice.head], SMALL)
        cheaper = [e for e in evaluated if e.recall >= 0.9 and e.density < choice.density - 1e-9]
        assert cheaper == [], f"head {choice.head}: {cheaper}"
    local, vertical, uniform = choices
    assert local.pattern in {"a_shape", "vertical_slash", "block_sparse"} and local.density < 0.5
    assert vertical.pattern == "vertical_slash" and vertical.density < 0.6
    assert uniform.density > local.density  # no structure: little to skip


def test_recall_and_density_are_exact_for_a_dense_equivalent_candidate():
    q, k = structured_heads(n=192)
    wide = pattern_search.Candidate("a_shape", {"sink_blocks": 1, "local_blocks": 64})
    (result,) = pattern_search.evaluate_head(q[0, 2], k[0, 2], [wide])
    assert result.recall == pytest.approx(1.0, abs=1e-5) and result.density == pytest.approx(1.0)


def test_config_round_trip_and_bad_files(tmp_path):
    q, k = structured_heads(n=256)
    choices = pattern_search.search(q, k, target=0.8, candidates=SMALL)
    path = tmp_path / "patterns.json"
    pattern_search.save_config(path, choices, target=0.8, calibration_tokens=256, source="test")
    assert pattern_search.load_config(path) == choices
    document = json.loads(path.read_text())
    document["heads"][0]["pattern"] = "mystery"
    path.write_text(json.dumps(document))
    with pytest.raises(ValueError, match="unknown patterns"):
        pattern_search.load_config(path)
    document["format"] = 99
    path.write_text(json.dumps(document))
    with pytest.raises(ValueError, match="format 99"):
        pattern_search.load_config(path)
    assert math.isfinite(choices[0].density)


@pytest.mark.parametrize(
    "path", sorted((pattern_search.Path(__file__).parent.parent / "configs").glob("*.json")), ids=lambda p: p.name
)
def test_shipped_configs_load_and_meet_their_target(path):
    """The configs searched on a real model's Q/K (kernels/configs) are valid for the engine's loader."""
    document = json.loads(path.read_text())
    choices = pattern_search.load_config(path)
    assert len(choices) == 14 and document["calibration_tokens"] >= 4096
    assert all(c.recall >= document["target_recall"] and 0 < c.density <= 1 for c in choices)
