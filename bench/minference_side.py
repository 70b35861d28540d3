"""MInference's own vertical-slash kernel, side by side with ours, for bench.kernels.

MInference is not a dependency and none of its code is in this repository: the benchmark takes the
path of its PyPI sdist (`minference-0.1.6.0.tar.gz`), extracts it, compiles its CUDA index op
(`csrc/vertical_slash_index.cu`) with nvcc through torch's extension loader, and imports its Triton
kernel module (`minference/ops/pit_sparse_flash_attention_v2.py`) without the package's __init__
(which would pull in its model-patching stack).

Both sides get the same vertical/slash indices (ours, from our estimation), so the comparison is of
index conversion and sparse attention alone. MInference's kernel takes one K/V head per query head:
K/V are expanded to the query heads for it (we read the GQA heads in place), and it runs a GQA group
of heads at a time so its per-block index lists (O(n/64 · slash budget) per head) fit in memory.
"""

import importlib.util
import sys
import tarfile
import tempfile
import types
from pathlib import Path

import torch

VERSION = "0.1.6.0"


def load(sdist: Path):
    """(kernel module, compiled index op) from the sdist."""
    root = Path(tempfile.mkdtemp(prefix="minference-")) / f"minference-{VERSION}"
    with tarfile.open(sdist) as archive:
        archive.extractall(root.parent, filter="data")
    from torch.utils.cpp_extension import load as load_extension

    major, minor = torch.cuda.get_device_capability()
    index_op = load_extension(
        name="minference_vertical_slash_index",
        sources=[str(root / "csrc" / "kernels.cpp"), str(root / "csrc" / "vertical_slash_index.cu")],
        extra_cuda_cflags=["-O3", f"-gencode=arch=compute_{major}{minor},code=sm_{major}{minor}"],
        build_directory=str(root.parent),
    )
    package = types.ModuleType("minference")
    package.__path__ = [str(root / "minference")]
    cuda = types.ModuleType("minference.cuda")
    cuda.convert_vertical_slash_indexes = index_op.convert_vertical_slash_indexes
    ops = types.ModuleType("minference.ops")
    ops.__path__ = [str(root / "minference" / "ops")]
    sys.modules.update({"minference": package, "minference.cuda": cuda, "minference.ops": ops})
    name = "minference.ops.pit_sparse_flash_attention_v2"
    spec = importlib.util.spec_from_file_location(name, root / "minference" / "ops" / f"{name.rsplit('.', 1)[1]}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, index_op


class MInferenceRun:
    """MInference's convert + attention for one GQA group of heads, on our indices."""

    def __init__(self, module, index_op, q, k, v, vertical_idx, slash_idx):
        self.module, self.index_op = module, index_op
        group = q.shape[1] // k.shape[1]
        self.q = q.contiguous()
        self.k = k.repeat_interleave(group, dim=1).contiguous()
        self.v = v.repeat_interleave(group, dim=1).contiguous()
        self.n = q.shape[2]
        self.vertical = vertical_idx.to(torch.int32).sort(dim=-1).values.contiguous()
        self.slash = slash_idx.to(torch.int32).sort(dim=-1, descending=True).values.contiguous()
        self.seqlens = torch.tensor([self.n], dtype=torch.int32, device=q.device)
        self.lists = None

    def convert(self):
        self.lists = self.index_op.convert_vertical_slash_indexes(
            self.seqlens, self.vertical, self.slash, self.n, 64, 64
        )
        return self.lists

    def attend(self):
        return self.module._triton_mixed_sparse_attention(
            self.q, self.k, self.v, self.seqlens, *self.lists, self.q.shape[-1] ** -0.5, 64, 64
        )
