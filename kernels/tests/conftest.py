"""Kernel tests run on the CPU through Triton's interpreter (TRITON_INTERPRET=1, set by `make test`)
at small sizes, or on a GPU at the same sizes (the device machine, which has no Django)."""

import os
import random
from pathlib import Path

import pytest
import torch

from kernels.tests.helpers import DEVICE, DTYPE, ON_GPU

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items):
    """Skip only the kernel tests: pytest hands this hook every collected item of the run."""
    if ON_GPU or os.environ.get("TRITON_INTERPRET") == "1":
        return
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.skip(reason="needs a GPU or TRITON_INTERPRET=1"))


@pytest.fixture
def rng():
    """Fresh inputs every run; the seed is in the failure message."""
    seed = random.randrange(2**31)
    generator = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=generator).to(DEVICE, DTYPE)

    randn.seed = seed
    return randn
