"""The CPU engine: llama.cpp (llama-cpp-python) with prefix KV reuse through inference.kvstore.

One llama.cpp context serves one request at a time (the server queues the rest). Before a prompt is
evaluated, the longest stored prefix is restored, either the one still in the live context (a follow-up turn)
or one from the store (RAM, then disk); only the rest is computed. The state at the prompt's last full block
boundary is saved, so the next request sharing that prefix (the next turn, or a session a week later
after a restart) starts warm.
"""

import ctypes
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import llama_cpp
from llama_cpp.llama_chat_format import Jinja2ChatFormatter
from llama_cpp.llama_grammar import LlamaGrammar

from inference.generation import DecodeSteps, Generation, Metrics, SharedPrefixTokens, common_prefix_length, decode
from inference.kvstore import PrefixKVStore

from .model_files import sha256_of


class Cancelled(Exception):
    """The request's client went away: its prompt is not read to the end."""


class LlamaCppEngine:
    supports_json_schema = True  # response_format json_schema: grammar-constrained sampling
    reports_progress = True  # generate(progress=...) hears how far a long prompt has been read

    def __init__(self, model_path: Path, *, n_ctx: int, threads: int, store_dir: Path | None, ram_bytes: int,
                 disk_bytes: int, block_size: int = 32):  # fmt: skip
        self.llm = llama_cpp.Llama(
            model_path=str(model_path), n_ctx=n_ctx, n_threads=threads, n_batch=256, verbose=False
        )
        self.model_name = model_path.stem
        self.context_tokens = n_ctx  # reported in /v1/models: clients budget their prompts by it
        # The store key includes the model file's digest and our format: another model's states never match.
        model_id = f"{model_path.name}:{sha256_of(model_path)}:n_ctx={n_ctx}"
        self.store = PrefixKVStore(
            model_id=model_id, block_size=block_size, ram_bytes=ram_bytes, disk_dir=store_dir, disk_bytes=disk_bytes
        )
        template = self.llm.metadata.get("tokenizer.chat_template")
        eos = self.llm.detokenize([self.llm.token_eos()], special=True).decode(errors="ignore")
        self.formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token="") if template else None
        self.lock = threading.Lock()  # one request at a time in this context
        self.live_owner = ""  # whose request the live context holds
        self.metrics = Metrics(restores={"context": 0, "ram": 0, "disk": 0, "none": 0})
        self.shared_prefix_length = SharedPrefixTokens(self.tokenize)
        self._grammars: dict[str, LlamaGrammar] = {}

    def grammar_for(self, schema: dict) -> LlamaGrammar:
        """The GBNF grammar of a JSON schema, compiled once per schema (authoring repeats a few schemas).

        The schema goes to the converter in its own property order: the grammar makes the model write the
        fields in that order, so sorting them (answer before question, cues before the question) would make it
        write a puzzle backwards. Only the cache key is sorted."""
        key = json.dumps(schema, sort_keys=True)
        if key not in self._grammars:
            if len(self._grammars) > 64:
                self._grammars.clear()
            grammar = LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
            self._check_parses(grammar)
            self._grammars[key] = grammar
        return self._grammars[key]

    def _check_parses(self, grammar: LlamaGrammar) -> None:
        """llama.cpp parses a grammar only when a sampler is made from it, and a sampler made from one it
        refuses is NULL, which crashes the process at the first token: parse it here, once, so a schema whose
        grammar does not parse is the client's 400, not a dead server."""
        sampler = llama_cpp.llama_sampler_init_grammar(
            self.llm._model.vocab, grammar._grammar.encode(), grammar._root.encode()
        )
        if not sampler:
            raise ValueError("its grammar does not parse (llama.cpp refused it)")
        llama_cpp.llama_sampler_free(sampler)

    # -- prompts -------------------------------------------------------------------------------------

    def chat_prompt(self, messages: list[dict]) -> tuple[str, list[str]]:
        if self.formatter is None:
            text = "\n".join(f"{m['role']}: {m['content']}" for m in messages) + "\nassistant:"
            return text, []
        formatted = self.formatter(messages=messages)
        stop = formatted.stop if isinstance(formatted.stop, list) else [formatted.stop] if formatted.stop else []
        return formatted.prompt, stop

    def tokenize(self, text: str) -> list[int]:
        return self.llm.tokenize(text.encode(), add_bos=False, special=True)

    # -- KV state ------------------------------------------------------------------------------------

    def _live_prefix(self, tokens: list[int]) -> int:
        """How many leading prompt tokens the live context already holds."""
        return common_prefix_length(self.llm.input_ids[: self.llm.n_tokens], tokens)

    def _truncate(self, n_tokens: int) -> None:
        memory = llama_cpp.llama_get_memory(self.llm.ctx)
        llama_cpp.llama_memory_seq_rm(memory, 0, n_tokens, -1)
        self.llm.n_tokens = n_tokens

    def _save_state(self, tokens: list[int], owner: str = "") -> None:
        size = llama_cpp.llama_state_seq_get_size(self.llm.ctx, 0)
        buffer = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(self.llm.ctx, buffer, size, 0)
        self.store.put(tokens, bytes(buffer[:written]), owner=owner)

    def purge(self, owner: str) -> int:
        """Forget everything the owner's requests left: stored states (RAM and disk) and the live context."""
        with self.lock:
            if owner and self.live_owner == owner:
                self._truncate(0)
                self.live_owner = ""
            return self.store.purge(owner)

    def _restore_state(self, tokens: list[int], state: bytes) -> bool:
        self._truncate(0)
        buffer = (ctypes.c_uint8 * len(state)).from_buffer_copy(state)
        if llama_cpp.llama_state_seq_set_data(self.llm.ctx, buffer, len(state), 0) == 0:
            return False
        self.llm.input_ids[: len(tokens)] = tokens
        self.llm.n_tokens = len(tokens)
        return True

    def _prepare(self, tokens: list[int]) -> tuple[int, str]:
        """Make the context hold the longest reusable prefix of `tokens` (leaving at least one to evaluate)."""
        usable = len(tokens) - 1
        live = min(self._live_prefix(tokens), usable)
        hit = self.store.longest_prefix(tokens[:usable])
        if hit and hit.tokens > live and self._restore_state(tokens[: hit.tokens], hit.state):
            return hit.tokens, hit.tier
        self._truncate(live)
        return live, "context" if live else "none"

    # -- generation ----------------------------------------------------------------------------------

    def _eval_prompt(self, tokens: list[int], start: int, end: int, cancelled: Callable[[], bool],
                     progress: Callable[[int, int], None] | None) -> None:  # fmt: skip
        """Evaluate tokens[start:end] one batch at a time (as llama.cpp would), so a client that went away stops
        a cold prefix within a batch rather than after minutes, and `progress` hears after each batch."""
        step = self.llm.n_batch
        for position in range(start, end, step):
            if cancelled():
                raise Cancelled("the client went away while its prompt was read")
            self.llm.eval(tokens[position : min(position + step, end)])
            if progress is not None:
                progress(min(position + step, end), len(tokens))

    def generate(self, tokens: list[int], *, max_tokens: int, temperature: float, stop: list[str],
                 cancelled: Callable[[], bool], shared_prefix: int = 0,
                 json_schema: dict | None = None, owner: str = "",
                 progress: Callable[[int, int], None] | None = None) -> Generation:  # fmt: skip
        """Must be called with self.lock held; iterate the pieces in the same thread. `owner` (the request's
        `user`) is recorded with the states saved, for `purge`. `progress(done, total)` hears how many prompt
        tokens are in the context after each batch: a heartbeat for a client waiting minutes on a cold prefix.

        States are saved at the last block boundary inside `shared_prefix` (what the next turn or session
        will share: the system prompt and life log) and at the prompt's last full block (a repeat or a
        follow-up of this very prompt).
        """
        if len(tokens) + max_tokens > self.llm.n_ctx():
            raise ValueError(f"prompt of {len(tokens)} tokens + {max_tokens} to generate exceeds the context")
        started = time.perf_counter()
        cached, source = self._prepare(tokens)
        self.live_owner = owner
        block = self.store.block_size
        boundaries = sorted({shared_prefix // block * block, (len(tokens) - 1) // block * block})
        position = cached
        for boundary in boundaries:
            if boundary > position:
                self._eval_prompt(tokens, position, boundary, cancelled, progress)
                self._save_state(tokens[:boundary], owner)
                position = boundary
        self._eval_prompt(tokens, position, len(tokens), cancelled, progress)
        self.metrics.record_prompt(len(tokens), cached, source)
        grammar = self.grammar_for(json_schema) if json_schema is not None else None
        pieces = self._pieces(max_tokens, temperature, stop, cancelled, started, grammar)
        return Generation(pieces, len(tokens), cached)

    def _pieces(self, max_tokens, temperature, stop, cancelled, started, grammar: LlamaGrammar | None = None):
        vocab = self.llm._model.vocab

        def sample() -> int:
            return self.llm.sample(temp=temperature, top_k=40, top_p=0.95, min_p=0.05, repeat_penalty=1.0)

        if grammar is not None:
            # One sampler for the whole reply: llama.cpp advances the grammar's state as each token is accepted
            # (Llama.sample builds a fresh sampler per token, which would restart the grammar every time).
            # Measured on 2 cores: the grammar costs ~50 ms a token, the model's own step far more.
            sampler = self.llm._init_sampler(temp=temperature, top_k=40, top_p=0.95, min_p=0.05, grammar=grammar)

            def sample() -> int:
                return sampler.sample(self.llm._ctx, -1)

        def feed(token: int) -> bool:
            self.llm.eval([token])
            return True

        steps = DecodeSteps(
            sample=sample,
            feed=feed,
            is_end=lambda token: token == self.llm.token_eos() or llama_cpp.llama_vocab_is_eog(vocab, token),
            detokenize=lambda tokens: self.llm.detokenize(tokens, special=False).decode(errors="ignore"),
        )
        return decode(steps, max_tokens=max_tokens, stop=stop, cancelled=cancelled, metrics=self.metrics,
                      started=started)  # fmt: skip
