"""Building the torch engine's model: from Hugging Face safetensors, from a GGUF file, or from a config
alone (random weights, for benchmarks on machines that have no weights).

GGUF files are read with the `gguf` package alone (its reader and dequantizer; no transformers, whose
GGUF support changes between versions): Qwen2 tensors need no un-permuting (llama.cpp permutes Q/K
only for the llama architecture, which this reader refuses). A test checks it against transformers.
"""

import hashlib
import json
from pathlib import Path

import numpy as np
import torch

from .model import NAMED, ModelArgs, Transformer


def from_hf(path: Path, *, dtype: torch.dtype, device: str) -> Transformer:
    """A GGUF file, or a directory with config.json and *.safetensors."""
    path = Path(path)
    if path.suffix == ".gguf":
        config, state = read_gguf(path)
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


GGUF_LAYER_PARTS = {
    "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm", "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj",
    "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
}  # fmt: skip
GGUF_NAMES = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
              "output.weight": "lm_head.weight"}  # fmt: skip


def read_gguf(path: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """(a Hugging Face style config, float32 weights under Hugging Face names) from a Qwen2 GGUF file."""
    from gguf import GGUFReader
    from gguf.quants import dequantize

    reader = GGUFReader(str(path))

    def field(name: str, default=None):
        if name not in reader.fields:
            return default
        value = reader.fields[name]
        part = value.parts[value.data[0]]
        return bytes(part).decode() if value.types and value.types[0].name == "STRING" else part.tolist()[0]

    arch = field("general.architecture")
    if arch != "qwen2":
        raise ValueError(f"{path}: GGUF architecture {arch!r}; this reader knows qwen2")
    state = {}
    for tensor in reader.tensors:
        values = torch.from_numpy(np.array(dequantize(tensor.data, tensor.tensor_type), dtype=np.float32))
        if tensor.name in GGUF_NAMES:
            state[GGUF_NAMES[tensor.name]] = values
            continue
        _, layer, part, kind = tensor.name.split(".")  # blk.<i>.<part>.<weight|bias>
        state[f"model.layers.{layer}.{GGUF_LAYER_PARTS[part]}.{kind}"] = values
    heads = field(f"{arch}.attention.head_count")
    config = {
        "model_type": arch,
        "vocab_size": state["model.embed_tokens.weight"].shape[0],
        "hidden_size": field(f"{arch}.embedding_length"),
        "num_hidden_layers": field(f"{arch}.block_count"),
        "num_attention_heads": heads,
        "num_key_value_heads": field(f"{arch}.attention.head_count_kv", heads),
        "intermediate_size": field(f"{arch}.feed_forward_length"),
        "max_position_embeddings": field(f"{arch}.context_length"),
        "rope_theta": float(field(f"{arch}.rope.freq_base", 10_000.0)),
        "rms_norm_eps": float(field(f"{arch}.attention.layer_norm_rms_epsilon", 1e-6)),
        "tie_word_embeddings": "lm_head.weight" not in state,
    }
    return config, state


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
