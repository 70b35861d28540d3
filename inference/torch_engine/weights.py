"""Building the torch engine's model: from Hugging Face safetensors, from a GGUF file, or from a config
alone (random weights, for benchmarks on machines that have no weights).

GGUF files are read through transformers (which dequantizes them and undoes llama.cpp's Q/K
permutation); this needs the `gguf` package.
"""

import hashlib
import json
from pathlib import Path

import torch

from .model import NAMED, ModelArgs, Transformer


def from_hf(path: Path, *, dtype: torch.dtype, device: str) -> Transformer:
    """A GGUF file, or a directory with config.json and *.safetensors."""
    path = Path(path)
    if path.suffix == ".gguf":
        from transformers import AutoModelForCausalLM

        hf = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=dtype)
        config, state = hf.config.to_dict(), hf.state_dict()
    else:
        from safetensors.torch import load_file

        config = json.loads((path / "config.json").read_text())
        state = {}
        for shard in sorted(path.glob("*.safetensors")):
            state.update(load_file(shard))
    with torch.device("meta"):
        model = Transformer(ModelArgs.from_hf_config(config)).to(dtype)
    model = model.to_empty(device=device)
    model.load_hf_state_dict({name: tensor.to(dtype) for name, tensor in state.items()})
    return model.eval()


def random_model(args: ModelArgs | str, *, dtype: torch.dtype, device: str, seed: int = 0) -> Transformer:
    """Random weights, scaled so activations stay in range through many layers."""
    args = NAMED[args] if isinstance(args, str) else args
    with torch.device("meta"):
        model = Transformer(args).to(dtype)  # allocate in the final dtype: 8B fp32 weights would take 32 GB
    model = model.to_empty(device=device)
    generator = torch.Generator(device=device).manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("norm.weight"):
                param.fill_(1.0)
            elif name.endswith(".bias"):
                param.zero_()
            else:
                param.normal_(0.0, param.shape[-1] ** -0.5, generator=generator)
    return model.eval()


def fingerprint(model: Transformer, source: str) -> str:
    """What keys the prefix store: the weights' source and shape, the dtype and a sample of the weights
    (another model's, or the same shape with other weights, never matches)."""
    sample = model.tok_embeddings.weight[:8, :64].detach().float().cpu().numpy().tobytes()
    args = json.dumps(model.args.__dict__, sort_keys=True)
    digest = hashlib.sha256(f"{source}\0{args}\0{model.output.weight.dtype}".encode() + sample).hexdigest()
    return digest[:32]
