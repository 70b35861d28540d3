import pytest
import torch

from kernels import reference
from kernels.prefix_attention import prefix_attention
from kernels.tests.helpers import TOLERANCE, relative_error


@pytest.mark.parametrize(
    ("heads", "kv_heads", "m", "n", "dim"),
    [
        (4, 1, 100, 230, 64),  # chunked prefill over a cached prefix, GQA 4
        (8, 2, 130, 130, 128),  # full prefill
        (8, 1, 1, 300, 64),  # decode, GQA 8
        (4, 4, 5, 200, 128),  # a few new tokens, no GQA
        (8, 8, 64, 150, 64),  # the largest decode-path m
        (32, 4, 3, 257, 128),  # GQA 8 with 3 new tokens
        (8, 1, 64, 150, 64),  # 512 decode rows: split into row chunks
    ],
)
def test_matches_reference(rng, heads, kv_heads, m, n, dim):
    q, k, v = rng(2, heads, m, dim), rng(2, kv_heads, n, dim), rng(2, kv_heads, n, dim)
    out = prefix_attention(q, k, v)
    assert out.shape == q.shape and torch.isfinite(out).all()
    assert relative_error(out, reference.prefix_attention(q, k, v)) < TOLERANCE, rng.seed


def test_decode_splits_do_not_change_the_result(rng):
    q, k, v = rng(1, 4, 1, 64), rng(1, 1, 333, 64), rng(1, 1, 333, 64)
    results = [prefix_attention(q, k, v, splits=s) for s in (1, 2, 5)]
    for other in results[1:]:
        assert relative_error(other, results[0]) < TOLERANCE
