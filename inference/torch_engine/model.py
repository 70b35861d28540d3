"""A compact Llama / Qwen2 decoder for the torch engine (gpt-fast's shape: one file, plain PyTorch).

The model owns no attention kernel: each layer calls `attend(q, k, v, layer)` with the new tokens'
queries and the layer's whole cached K/V so far (causal for the new tokens, every cached token visible),
so the engine chooses the kernel: the float32 reference on the CPU, our Triton kernels on a GPU. The KV
cache is one preallocated tensor [layers, 2, 1, kv heads, tokens, d] (each layer writes its views with
index_copy_), so the K/V of a token range across all layers is one strided view: what the prefix store
copies in and out as a block.

`ModelArgs.from_hf_config` reads a Hugging Face config.json; `Transformer.load_hf_state_dict` takes its
weights. A config alone builds a randomly initialized model (for benchmarks on machines without weights).

RoPE may be scaled with YaRN (`rope_scaling: {"type": "yarn", "factor": 4.0,
"original_max_position_embeddings": 32768}`, as Qwen2.5 documents for contexts past 32K): low
frequencies are interpolated by the factor, high ones kept, a linear ramp between, and cos/sin are
multiplied by 0.1·ln(factor) + 1. The same formulas as transformers' `_compute_yarn_parameters`.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch import nn
from torch.nn import functional as F

from kernels.reference import prefix_attention

Attend = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, int], torch.Tensor]
MLP_CHUNK = 16_384  # tokens per feed-forward pass: a 128K prompt would otherwise hold ~11 GB of activations


@dataclass(frozen=True)
class ModelArgs:
    vocab_size: int
    dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    intermediate_size: int
    head_dim: int = 0  # 0: dim // n_heads
    rope_theta: float = 10_000.0
    norm_eps: float = 1e-6
    qkv_bias: bool = False  # Qwen2 has biases on q, k and v
    tie_embeddings: bool = False
    yarn_factor: float = 0.0  # 0: plain RoPE; else YaRN scaling by this factor
    original_max_tokens: int = 0  # YaRN's original_max_position_embeddings
    # YaRN's ramp bounds in rotations (its paper's and transformers' defaults)
    yarn_beta_fast: float = 32.0
    yarn_beta_slow: float = 1.0

    def __post_init__(self):
        if not self.head_dim:
            object.__setattr__(self, "head_dim", self.dim // self.n_heads)
        if self.n_heads % self.n_kv_heads:
            raise ValueError("n_heads must be a multiple of n_kv_heads")

    def with_yarn(self, factor: float, original_max_tokens: int) -> "ModelArgs":
        """These args with YaRN rope scaling (factor 0 or 1: plain RoPE)."""
        return replace(self, yarn_factor=factor if factor > 1 else 0.0, original_max_tokens=original_max_tokens)

    @classmethod
    def from_hf_config(cls, config: dict) -> "ModelArgs":
        scaling = config.get("rope_scaling") or {}
        yarn = scaling.get("rope_type", scaling.get("type")) == "yarn"
        if scaling and not yarn and scaling.get("rope_type", scaling.get("type")) != "default":
            raise ValueError(f"unsupported rope scaling {scaling!r} (only yarn)")
        return cls(
            vocab_size=config["vocab_size"],
            dim=config["hidden_size"],
            n_layers=config["num_hidden_layers"],
            n_heads=config["num_attention_heads"],
            n_kv_heads=config.get("num_key_value_heads", config["num_attention_heads"]),
            intermediate_size=config["intermediate_size"],
            head_dim=config.get("head_dim") or 0,
            rope_theta=config.get("rope_theta", 10_000.0),
            norm_eps=config.get("rms_norm_eps", 1e-6),
            qkv_bias=config.get("model_type") == "qwen2" or config.get("attention_bias", False),
            tie_embeddings=config.get("tie_word_embeddings", False),
            yarn_factor=float(scaling["factor"]) if yarn else 0.0,
            original_max_tokens=int(scaling.get("original_max_position_embeddings") or
                                    config.get("max_position_embeddings", 0)) if yarn else 0,
            yarn_beta_fast=float(scaling.get("beta_fast") or 32.0),
            yarn_beta_slow=float(scaling.get("beta_slow") or 1.0),
        )  # fmt: skip


# The 8B-class shape (Llama-3-8B): 32 layers, 32 heads, 8 KV heads, d = 128.
NAMED = {
    "llama-3-8b": ModelArgs(
        vocab_size=128_256, dim=4096, n_layers=32, n_heads=32, n_kv_heads=8, intermediate_size=14_336,
        rope_theta=500_000.0, norm_eps=1e-5,
    ),
    # for tests and CPU smoke runs with the byte tokenizer
    "tiny": ModelArgs(vocab_size=257, dim=64, n_layers=2, n_heads=4, n_kv_heads=2, intermediate_size=128),
}  # fmt: skip


class KVCache:
    """One layer's views [1, kv heads, tokens, d] into the model's KV tensor."""

    def __init__(self, k: torch.Tensor, v: torch.Tensor):
        self.k, self.v = k, v

    def update(self, positions: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Write the new tokens' K/V at their positions; return the cache up to the last of them."""
        self.k.index_copy_(2, positions, k)
        self.v.index_copy_(2, positions, v)
        end = int(positions[-1]) + 1
        return self.k[:, :, :end], self.v[:, :, :end]


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        normed = x.float() * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + self.eps)
        return normed.type_as(x) * self.weight


def rope_frequencies(args: ModelArgs, device=None) -> tuple[torch.Tensor, float]:
    """Inverse frequencies [head_dim / 2] and the factor cos/sin are scaled by (1.0 without YaRN)."""
    dim = args.head_dim
    powers = args.rope_theta ** (torch.arange(0, dim, 2, device=device).float() / dim)
    if not args.yarn_factor:
        return 1.0 / powers, 1.0
    factor, original = args.yarn_factor, args.original_max_tokens

    def correction_dim(rotations: float) -> float:  # the dimension that turns `rotations` times over `original`
        return dim * math.log(original / (rotations * 2 * math.pi)) / (2 * math.log(args.rope_theta))

    low = max(math.floor(correction_dim(args.yarn_beta_fast)), 0)
    high = min(math.ceil(correction_dim(args.yarn_beta_slow)), dim - 1)
    high = high + 0.001 if high == low else high
    ramp = ((torch.arange(dim // 2, device=device).float() - low) / (high - low)).clamp(0, 1)
    keep = 1 - ramp  # 1: high frequencies kept (extrapolated), 0: low ones interpolated by the factor
    inv_freq = (1.0 / (factor * powers)) * (1 - keep) + (1.0 / powers) * keep
    return inv_freq, 0.1 * math.log(factor) + 1.0


def rope_tables(args: ModelArgs, max_tokens: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin [max_tokens, head_dim] in the half-split layout Llama and Qwen2 checkpoints use."""
    inv_freq, scale = rope_frequencies(args, device)
    angles = torch.outer(torch.arange(max_tokens, device=device).float(), inv_freq)
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos() * scale, angles.sin() * scale


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return (x.float() * cos + rotated.float() * sin).type_as(x)


class Attention(nn.Module):
    def __init__(self, args: ModelArgs, layer: int):
        super().__init__()
        self.args, self.layer = args, layer
        hd = args.head_dim
        self.wq = nn.Linear(args.dim, args.n_heads * hd, bias=args.qkv_bias)
        self.wk = nn.Linear(args.dim, args.n_kv_heads * hd, bias=args.qkv_bias)
        self.wv = nn.Linear(args.dim, args.n_kv_heads * hd, bias=args.qkv_bias)
        self.wo = nn.Linear(args.n_heads * hd, args.dim, bias=False)
        self.cache: KVCache | None = None

    def forward(self, x, positions, cos, sin, attend: Attend) -> torch.Tensor:
        batch, m, _ = x.shape
        hd = self.args.head_dim
        q = self.wq(x).view(batch, m, self.args.n_heads, hd).transpose(1, 2)
        k = self.wk(x).view(batch, m, self.args.n_kv_heads, hd).transpose(1, 2)
        v = self.wv(x).view(batch, m, self.args.n_kv_heads, hd).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        k_all, v_all = self.cache.update(positions, k, v)
        out = attend(q, k_all, v_all, self.layer)
        return self.wo(out.transpose(1, 2).reshape(batch, m, -1))


class FeedForward(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.w_gate = nn.Linear(args.dim, args.intermediate_size, bias=False)
        self.w_up = nn.Linear(args.dim, args.intermediate_size, bias=False)
        self.w_down = nn.Linear(args.intermediate_size, args.dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] <= MLP_CHUNK:
            return self.w_down(F.silu(self.w_gate(x)) * self.w_up(x))
        return torch.cat([self(part) for part in x.split(MLP_CHUNK, dim=1)], dim=1)


class Block(nn.Module):
    def __init__(self, args: ModelArgs, layer: int):
        super().__init__()
        self.attention_norm = RMSNorm(args.dim, args.norm_eps)
        self.attention = Attention(args, layer)
        self.ffn_norm = RMSNorm(args.dim, args.norm_eps)
        self.feed_forward = FeedForward(args)

    def forward(self, x, positions, cos, sin, attend: Attend) -> torch.Tensor:
        x = x + self.attention(self.attention_norm(x), positions, cos, sin, attend)
        return x + self.feed_forward(self.ffn_norm(x))


def reference_attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, layer: int = 0) -> torch.Tensor:
    """New queries over the cache (float32 reference; GQA heads read in place)."""
    return prefix_attention(q, k, v).to(q.dtype)


class Transformer(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.args = args
        self.tok_embeddings = nn.Embedding(args.vocab_size, args.dim)
        self.layers = nn.ModuleList(Block(args, index) for index in range(args.n_layers))
        self.norm = RMSNorm(args.dim, args.norm_eps)
        self.output = nn.Linear(args.dim, args.vocab_size, bias=False)
        if args.tie_embeddings:
            self.output.weight = self.tok_embeddings.weight
        self.max_tokens = 0
        self.kv: torch.Tensor | None = None

    def setup_caches(self, max_tokens: int) -> None:
        param = self.output.weight
        shape = (self.args.n_layers, 2, 1, self.args.n_kv_heads, max_tokens, self.args.head_dim)
        self.kv = None  # free the old cache before allocating the new one
        self.kv = torch.zeros(shape, dtype=param.dtype, device=param.device)
        for index, layer in enumerate(self.layers):
            layer.attention.cache = KVCache(self.kv[index, 0], self.kv[index, 1])
        self.cos, self.sin = rope_tables(self.args, max_tokens, param.device)
        self.max_tokens = max_tokens

    def set_yarn(self, factor: float, original_max_tokens: int) -> None:
        """Switch RoPE to YaRN scaling (factor 0 or 1: back to plain RoPE); the cache must be empty
        (its K were rotated with the old tables)."""
        self.args = self.args.with_yarn(factor, original_max_tokens)
        for layer in self.layers:
            layer.attention.args = self.args
        if self.max_tokens:
            self.cos, self.sin = rope_tables(self.args, self.max_tokens, self.output.weight.device)

    def kv_bytes_per_token(self) -> int:
        return 2 * self.args.n_layers * self.args.n_kv_heads * self.args.head_dim * self.output.weight.element_size()

    def forward(self, tokens: torch.Tensor, positions: torch.Tensor, attend: Attend = reference_attend,
                last_only: bool = False) -> torch.Tensor:  # fmt: skip
        """Logits [batch, m, vocab] for m new tokens at `positions` (consecutive, after what is cached);
        `last_only`: for the last token only (a long prefill never needs the others')."""
        if int(positions[-1]) >= self.max_tokens:
            raise ValueError(f"position {int(positions[-1])} is past the cache ({self.max_tokens} tokens)")
        x = self.tok_embeddings(tokens)
        cos, sin = self.cos[positions], self.sin[positions]
        for layer in self.layers:
            x = layer(x, positions, cos, sin, attend)
        if last_only:
            x = x[:, -1:]
        return self.output(self.norm(x))

    def load_hf_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Weights named as in Hugging Face Llama/Qwen2 checkpoints."""
        renames = {"model.embed_tokens.weight": "tok_embeddings.weight", "model.norm.weight": "norm.weight",
                   "lm_head.weight": "output.weight"}  # fmt: skip
        parts = {"self_attn.q_proj": "attention.wq", "self_attn.k_proj": "attention.wk",
                 "self_attn.v_proj": "attention.wv", "self_attn.o_proj": "attention.wo",
                 "mlp.gate_proj": "feed_forward.w_gate", "mlp.up_proj": "feed_forward.w_up",
                 "mlp.down_proj": "feed_forward.w_down", "input_layernorm": "attention_norm",
                 "post_attention_layernorm": "ffn_norm"}  # fmt: skip
        ours = {}
        for name, tensor in state.items():
            if name in renames:
                ours[renames[name]] = tensor
                continue
            _, _, index, *rest = name.split(".")  # model.layers.<i>.<part>.<weight|bias>
            part, kind = ".".join(rest[:-1]), rest[-1]
            ours[f"layers.{index}.{parts[part]}.{kind}"] = tensor
        if self.args.tie_embeddings:
            ours.setdefault("output.weight", ours["tok_embeddings.weight"])
        missing, unexpected = self.load_state_dict(ours, strict=False)
        if missing or unexpected:
            raise ValueError(f"weights do not match the config: missing {missing}, unexpected {unexpected}")
