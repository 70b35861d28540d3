"""The torch engine: our model, our kernels and the tiered prefix KV store, behind the same server and
the same interface as the llama.cpp engine (`chat_prompt`, `tokenize`, `generate`, `metrics`, `lock`).

One request at a time per engine (the server queues the rest). A request reuses, in this order, what
the live KV cache already holds (the previous turn), then the longest chain of stored blocks (GPU,
host, disk); only the rest of the prompt is computed: sparse when it is a long cold prefill, densely
over the cache otherwise. The first token is sampled before the prompt's blocks are saved, so saving
(a GPU copy now, host and disk copies in the background) never delays it.
"""

import threading
import time
from collections.abc import Callable

import torch

from inference.generation import DecodeSteps, Generation, Metrics, SharedPrefixTokens, common_prefix_length, decode

from .attention import AttentionPolicy
from .kvtiers import TIERS, TieredKVStore
from .model import Transformer

TOP_K = 40


class TorchEngine:
    def __init__(self, model: Transformer, tokenizer, *, model_name: str, max_tokens: int, store: TieredKVStore,
                 policy: AttentionPolicy | None = None):  # fmt: skip
        self.model, self.tokenizer, self.model_name = model, tokenizer, model_name
        self.store, self.policy = store, policy or AttentionPolicy()
        self.device = model.output.weight.device
        model.setup_caches(max_tokens)
        self.max_tokens = max_tokens
        self.context_tokens = max_tokens  # reported in /v1/models: clients budget their prompts by it
        self.live: list[int] = []  # the tokens whose K/V the model's cache holds, from position 0
        self.live_owner = ""  # whose request left them there
        self.lock = threading.Lock()
        self.metrics = Metrics(restores=dict.fromkeys(("context", *TIERS, "none"), 0))
        self.last_prefill: dict = {}  # what the last request restored and computed (benchmarks read it)
        self.shared_prefix_length = SharedPrefixTokens(self.tokenize)

    def close(self) -> None:
        """Let pending host copies and disk writes land (the server calls this on shutdown)."""
        self.store.flush()

    def purge(self, owner: str) -> int:
        """Forget everything the owner's requests left: stored blocks in every tier, and the live cache."""
        with self.lock:
            if owner and self.live_owner == owner:
                self.live, self.live_owner = [], ""
            return self.store.purge(owner)

    # -- prompts -------------------------------------------------------------------------------------

    def chat_prompt(self, messages: list[dict]) -> tuple[str, list[str]]:
        return self.tokenizer.chat_prompt(messages)

    def tokenize(self, text: str) -> list[int]:
        return self.tokenizer.encode(text)

    # -- prefill -------------------------------------------------------------------------------------

    def _prepare(self, tokens: list[int]) -> tuple[int, str]:
        """Make the cache hold the longest reusable prefix (leaving at least one token to compute)."""
        usable = len(tokens) - 1
        live = min(common_prefix_length(self.live, tokens), usable)
        self.live = self.live[:live]
        blocks = self.store.match(tokens[:usable])
        block = self.store.block_size
        if len(blocks) * block > live:
            restored, counts = self.store.restore(blocks, self.model.kv, first=live // block)
            if restored * block > live:
                self.live = list(tokens[: restored * block])
                return restored * block, next(tier for tier in reversed(TIERS) if counts[tier])
        return live, "context" if live else "none"

    def _forward(self, new: list[int], start: int) -> torch.Tensor:
        ids = torch.tensor([new], device=self.device)
        positions = torch.arange(start, start + len(new), device=self.device)
        attend = self.policy.for_step(len(new), start)
        with torch.inference_mode():
            logits = self.model(ids, positions, attend, last_only=True)[0, -1]
        self.live.extend(new)
        return logits

    def prefill(self, tokens: list[int]) -> tuple[torch.Tensor, int, str]:
        """The last prompt token's logits, how many prompt tokens were reused and from where."""
        if not tokens:
            raise ValueError("the prompt is empty")
        cached, source = self._prepare(tokens)
        logits = self._forward(tokens[cached:], cached)
        self.last_prefill = {"cached": cached, "computed": len(tokens) - cached, "source": source}
        return logits, cached, source

    # -- generation ----------------------------------------------------------------------------------

    def generate(self, tokens: list[int], *, max_tokens: int, temperature: float, stop: list[str],
                 cancelled: Callable[[], bool], shared_prefix: int = 0, owner: str = "") -> Generation:  # fmt: skip
        """Must be called with self.lock held; iterate the pieces in the same thread. Every full block
        of the prompt is saved, so `shared_prefix` (what the next turn shares) needs no special case.
        `owner` (the request's `user`) is recorded with what is stored, for `purge`."""
        if len(tokens) + max_tokens > self.max_tokens:
            raise ValueError(f"prompt of {len(tokens)} tokens + {max_tokens} to generate exceeds the context")
        started = time.perf_counter()
        logits, cached, source = self.prefill(tokens)
        self.live_owner = owner
        self.metrics.record_prompt(len(tokens), cached, source)
        pieces = self._pieces(tokens, logits, max_tokens, temperature, stop, cancelled, started, owner)
        return Generation(pieces, len(tokens), cached)

    def _sample(self, logits: torch.Tensor, temperature: float) -> int:
        if temperature <= 0:
            return int(logits.argmax())
        top = logits.float().topk(min(TOP_K, logits.shape[-1]))
        choice = torch.multinomial(torch.softmax(top.values / temperature, dim=-1), 1)
        return int(top.indices[choice])

    def _pieces(self, prompt, logits, max_tokens, temperature, stop, cancelled, started, owner=""):
        state = {"logits": logits}

        def feed(token: int) -> bool:
            if len(self.live) + 1 >= self.max_tokens:
                return False
            state["logits"] = self._forward([token], len(self.live))
            return True

        stop_ids = self.tokenizer.stop_ids
        steps = DecodeSteps(
            sample=lambda: self._sample(state["logits"], temperature),
            feed=feed,
            is_end=stop_ids.__contains__,
            detokenize=self.tokenizer.decode,
            on_first_token=lambda: self.store.save(prompt, self.model.kv, owner=owner),
        )
        return decode(steps, max_tokens=max_tokens, stop=stop, cancelled=cancelled, metrics=self.metrics,
                      started=started)  # fmt: skip
