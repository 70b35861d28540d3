"""One place that turns settings into a TorchEngine (the server and the benchmarks use it)."""

from dataclasses import dataclass
from pathlib import Path

import torch

from .attention import AttentionPolicy, SparsePrefill, load_layer_patterns
from .engine import TorchEngine
from .kvtiers import TieredKVStore
from .tokenizers import ByteTokenizer, HFTokenizer
from .weights import fingerprint, from_hf, random_model

DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


@dataclass
class EngineSettings:
    model: str = ""  # a GGUF file or a Hugging Face directory; empty: `random_config`
    random_config: str = ""  # a NAMED config with random weights and the byte tokenizer
    device: str = ""  # empty: cuda when there is one
    dtype: str = ""  # empty: bfloat16 on a GPU, float32 on the CPU
    max_tokens: int = 8192
    block_size: int = 256
    gpu_bytes: int = 8 << 30
    host_bytes: int = 16 << 30
    disk_dir: str = ""
    disk_bytes: int = 64 << 30
    codec: str = "none"
    attention: str = "sparse"
    sparse_threshold: int = 8192
    patterns: str = ""  # a path prefix: <dir>/<name> for <dir>/<name>-layerNN.json
    yarn_factor: float = 0.0  # > 1: YaRN rope scaling by this factor (Qwen2.5 documents 4 past 32K)
    yarn_original: int = 32768  # the model's native window, YaRN's original_max_position_embeddings


def build_engine(settings: EngineSettings) -> TorchEngine:
    device = settings.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = DTYPES[settings.dtype or ("bfloat16" if device.startswith("cuda") else "float32")]
    if settings.model:
        model = from_hf(Path(settings.model), dtype=dtype, device=device)
        tokenizer = HFTokenizer.from_path(settings.model)
        name, source = Path(settings.model).stem, settings.model
    elif settings.random_config:
        model, tokenizer = random_model(settings.random_config, dtype=dtype, device=device), ByteTokenizer()
        name, source = f"{settings.random_config}-random", f"random:{settings.random_config}"
    else:
        raise ValueError("the torch engine needs a model path or a random config")
    if settings.yarn_factor > 1:
        model.set_yarn(settings.yarn_factor, settings.yarn_original)  # before the fingerprint: other K/V
    args = model.args
    store = TieredKVStore(
        model_id=f"{fingerprint(model, source)}:block={settings.block_size}",
        block_size=settings.block_size,
        block_shape=(args.n_layers, args.n_kv_heads, settings.block_size, args.head_dim),
        dtype=dtype, device=device, gpu_bytes=settings.gpu_bytes, host_bytes=settings.host_bytes,
        disk_dir=Path(settings.disk_dir) if settings.disk_dir else None, disk_bytes=settings.disk_bytes,
        codec=settings.codec,
    )  # fmt: skip
    patterns = None
    if settings.patterns:
        prefix = Path(settings.patterns)
        patterns = load_layer_patterns(prefix.parent, prefix.name)
    policy = AttentionPolicy(mode=settings.attention, sparse_threshold=settings.sparse_threshold,
                             sparse=SparsePrefill(patterns))  # fmt: skip
    return TorchEngine(model, tokenizer, model_name=name, max_tokens=settings.max_tokens, store=store, policy=policy)
