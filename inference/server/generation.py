"""What every engine behind the server shares: metrics, the generation handle, stop-string cutting."""

from collections.abc import Iterator
from dataclasses import dataclass, field


def common_prefix_length(a, b) -> int:
    length = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        length += 1
    return length


@dataclass
class Metrics:
    requests: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0  # prompt tokens restored instead of computed (prefix-cache hits)
    computed_tokens: int = 0  # prompt tokens evaluated (misses)
    generated_tokens: int = 0
    ttft_s: list[float] = field(default_factory=list)
    decode_s: float = 0.0
    restores: dict = field(default_factory=lambda: {"context": 0, "none": 0})  # by where the prefix came from

    def record_prompt(self, tokens: int, cached: int, source: str) -> None:
        self.requests += 1
        self.prompt_tokens += tokens
        self.cached_tokens += cached
        self.computed_tokens += tokens - cached
        self.restores[source] = self.restores.get(source, 0) + 1

    def as_dict(self) -> dict:
        recent = self.ttft_s[-100:]
        return {
            "requests": self.requests,
            "prompt_tokens": self.prompt_tokens,
            "prefix_cache_hit_tokens": self.cached_tokens,
            "prefix_cache_miss_tokens": self.computed_tokens,
            "generated_tokens": self.generated_tokens,
            "ttft_s_last": recent[-1] if recent else None,
            "ttft_s_mean_recent": sum(recent) / len(recent) if recent else None,
            "decode_tokens_per_s": self.generated_tokens / self.decode_s if self.decode_s else None,
            "restores": dict(self.restores),
        }


@dataclass
class Generation:
    text_pieces: Iterator[str]
    prompt_tokens: int
    cached_tokens: int


def next_piece(decoded: str, emitted: int, stop: list[str]) -> tuple[str, int, bool]:
    """The text after `emitted` that can be sent now, the new emitted length, and whether a stop string
    ended the generation (its text and what follows are never sent). A trailing U+FFFD is an incomplete
    multi-byte character: held back until the next token completes it."""
    cut = min((decoded.find(s) for s in stop if s and s in decoded), default=-1)
    if cut >= 0:
        return (decoded[emitted:cut] if cut > emitted else ""), max(cut, emitted), True
    if len(decoded) > emitted and not decoded.endswith("\ufffd"):
        return decoded[emitted:], len(decoded), False
    return "", emitted, False
