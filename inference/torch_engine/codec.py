"""KV block compression for the host and disk tiers.

A block is [layers, 2, kv heads, tokens, d] in the model's dtype. Codecs:
- "none": the bytes as they are (restores are exact);
- "fp8": float8 e4m3 with one float32 scale per (layer, K/V, head): half the bytes of bf16; values keep
  3 mantissa bits, so each element is within 2^-4 of its magnitude (relative);
- "int8": int8 with one float32 scale per (layer, K/V, head, token): half the bytes, error at most half
  a step of the token's absmax / 127.
Encoding and decoding run on the device that holds the block (the GPU), so only the smaller bytes
cross PCIe.
"""

from dataclasses import dataclass

import torch

FP8_MAX = 448.0  # largest finite float8_e4m3fn
CODECS = ("none", "fp8", "int8")


@dataclass
class Encoded:
    data: torch.Tensor  # the block's values in the codec's dtype
    scale: torch.Tensor | None  # float32, broadcastable to data; None for "none"

    @property
    def nbytes(self) -> int:
        return self.data.nbytes + (self.scale.nbytes if self.scale is not None else 0)

    def to(self, device, non_blocking: bool = False, pin: bool = False) -> "Encoded":
        def move(t: torch.Tensor | None) -> torch.Tensor | None:
            if t is None:
                return None
            if pin:
                out = torch.empty(t.shape, dtype=t.dtype, pin_memory=True)
                return out.copy_(t, non_blocking=non_blocking)
            return t.to(device, non_blocking=non_blocking)

        return Encoded(move(self.data), move(self.scale))


def encode(block: torch.Tensor, codec: str) -> Encoded:
    if codec == "none":
        return Encoded(block, None)
    values = block.float()
    if codec == "fp8":
        scale = values.abs().amax(dim=(-2, -1), keepdim=True).clamp(min=1e-12) / FP8_MAX
        return Encoded((values / scale).to(torch.float8_e4m3fn), scale)
    if codec == "int8":
        scale = values.abs().amax(dim=-1, keepdim=True).clamp(min=1e-12) / 127.0
        return Encoded((values / scale).round().clamp(-127, 127).to(torch.int8), scale)
    raise ValueError(f"unknown KV codec {codec!r}; expected one of {CODECS}")


def decode(encoded: Encoded, dtype: torch.dtype) -> torch.Tensor:
    if encoded.scale is None:
        return encoded.data
    return (encoded.data.float() * encoded.scale).to(dtype)


def scale_shape(block_shape: tuple[int, ...], codec: str) -> tuple[int, ...] | None:
    if codec == "none":
        return None
    layers, two, heads, tokens, _ = block_shape
    return (layers, two, heads, 1, 1) if codec == "fp8" else (layers, two, heads, tokens, 1)


def storage_dtype(model_dtype: torch.dtype, codec: str) -> torch.dtype:
    return {"none": model_dtype, "fp8": torch.float8_e4m3fn, "int8": torch.int8}[codec]
