"""What every engine behind the server shares: metrics, the generation handle, stop-string cutting, the
shared-prefix measure and the decode loop. Both engines import this module; it imports neither."""

import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
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
    ended the generation (its text and what follows are never sent). Held back until the next token: a
    tail that may be the start of a stop string, and a trailing U+FFFD (an incomplete multi-byte character)."""
    cut = min((decoded.find(s) for s in stop if s and s in decoded), default=-1)
    if cut >= 0:
        return (decoded[emitted:cut] if cut > emitted else ""), max(cut, emitted), True
    if decoded.endswith("\ufffd"):
        return "", emitted, False
    end = len(decoded) - _stop_start_length(decoded, stop)
    if end > emitted:
        return decoded[emitted:end], end, False
    return "", emitted, False


def _stop_start_length(text: str, stop: list[str]) -> int:
    """Length of the longest tail of `text` that a stop string begins with."""
    longest = 0
    for s in stop:
        for length in range(min(len(s) - 1, len(text)), longest, -1):
            if text.endswith(s[:length]):
                longest = length
                break
    return longest


class SharedPrefixTokens:
    """How many leading tokens of a prompt come from `shared_text` (the system prompt and life log that
    every request of a participant repeats). The shared text's tokens are remembered, so a prompt is
    tokenized once per request, not twice."""

    def __init__(self, tokenize: Callable[[str], list[int]], capacity: int = 16):
        self.tokenize, self.capacity = tokenize, capacity
        self.known: OrderedDict[str, list[int]] = OrderedDict()

    def __call__(self, tokens: list[int], shared_text: str) -> int:
        if not shared_text:
            return 0
        shared = self.known.get(shared_text)
        if shared is None:
            shared = self.tokenize(shared_text)
            self.known[shared_text] = shared
            while len(self.known) > self.capacity:
                self.known.popitem(last=False)
        else:
            self.known.move_to_end(shared_text)
        return common_prefix_length(shared, tokens)


@dataclass
class DecodeSteps:
    """What one engine does per token; `decode` runs the loop every engine shares."""

    sample: Callable[[], int]  # the next token from the current logits
    feed: Callable[[int], bool]  # evaluate a sampled token; False when the context is full
    is_end: Callable[[int], bool]  # end-of-generation tokens (never shown)
    detokenize: Callable[[list[int]], str]  # all generated tokens so far, as text
    on_first_token: Callable[[], None] = lambda: None  # e.g. save the prompt's KV after the first token


def decode(steps: DecodeSteps, *, max_tokens: int, stop: list[str], cancelled: Callable[[], bool],
           metrics: Metrics, started: float) -> Iterator[str]:  # fmt: skip
    """Sample, cut at stop strings, yield text as soon as it is whole; time to first token and decode
    speed go to `metrics`. A cancelled request (its client left) stops at the next token."""
    generated: list[int] = []
    emitted, stopped = 0, False
    decode_started = time.perf_counter()
    for step in range(max_tokens):
        if cancelled():
            stopped = True  # nobody is listening: nothing more to send
            break
        token = steps.sample()
        if step == 0:
            metrics.ttft_s.append(time.perf_counter() - started)
            steps.on_first_token()
            decode_started = time.perf_counter()
        if steps.is_end(token):
            break
        generated.append(token)
        metrics.generated_tokens += 1
        piece, emitted, stopped = next_piece(steps.detokenize(generated), emitted, stop)
        if piece:
            yield piece
        if stopped or step == max_tokens - 1 or not steps.feed(token):
            break
    metrics.decode_s += time.perf_counter() - decode_started
    rest = steps.detokenize(generated)[emitted:] if generated and not stopped else ""
    if rest.rstrip("\ufffd"):
        yield rest.rstrip("\ufffd")  # what was held back as a possible start of a stop string
