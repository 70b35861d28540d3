"""One client for any OpenAI-compatible chat server (vLLM, SGLang, llama.cpp, ours).

Streaming with timeouts; retries with exponential backoff for failures before the first token (a stream
that already reached the trainee is never restarted behind their back); and a circuit breaker per client
(one client per process), so that while the server is down, callers fall back to templates at once
instead of each waiting out a timeout. Settings are passed in: this package knows nothing of Django.
"""

import asyncio
import json
import random
import re
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx


class LLMUnavailable(Exception):
    """The server could not be reached, answered with an error, was too slow, or the breaker is open."""


class ContextTooLong(LLMUnavailable):
    """The prompt does not fit the model's context. Not retried: the same prompt never fits."""

    def __init__(self, message: str, *, prompt_tokens: int | None = None, context_tokens: int | None = None):
        super().__init__(message)
        self.prompt_tokens, self.context_tokens = prompt_tokens, context_tokens


# vLLM's and OpenAI's wording (ours uses it too): "maximum context length is M tokens. However, you requested N"
_CONTEXT_EXCEEDED = re.compile(r"maximum context length is (\d+) tokens.*?requested (\d+) tokens", re.DOTALL)


# What our server sends after each batch of a prompt it reads (an SSE comment: other clients skip it).
_PROGRESS = re.compile(r"^: prompt (\d+)/(\d+)$")


def _context_too_long(response: httpx.Response) -> ContextTooLong | None:
    if response.status_code != 400:
        return None
    try:
        error = response.json().get("error") or {}
    except ValueError:
        return None
    message = str(error.get("message", ""))
    found = _CONTEXT_EXCEEDED.search(message)
    if not found and error.get("code") != "context_length_exceeded":
        return None
    context_tokens, requested = (int(found[1]), int(found[2])) if found else (None, None)
    return ContextTooLong(message, prompt_tokens=requested, context_tokens=context_tokens)


class CircuitBreaker:
    """Opens after `threshold` consecutive failures; after `cooldown_s` lets one trial call through."""

    def __init__(self, threshold: int = 3, cooldown_s: float = 30.0):
        self.threshold, self.cooldown_s = threshold, cooldown_s
        self.failures = 0
        self.opened_at: float | None = None
        self.trial_running = False
        self._lock = threading.Lock()

    def allow(self) -> bool:
        with self._lock:
            if self.opened_at is None:
                return True
            if time.monotonic() - self.opened_at < self.cooldown_s or self.trial_running:
                return False
            self.trial_running = True  # half-open: this caller tries
            return True

    def succeeded(self) -> None:
        with self._lock:
            self.failures, self.opened_at, self.trial_running = 0, None, False

    def abandoned(self) -> None:
        """The caller gave up waiting (not the server's fault): a trial call may be made again."""
        with self._lock:
            self.trial_running = False

    def failed(self) -> None:
        with self._lock:
            self.failures += 1
            self.trial_running = False
            if self.failures >= self.threshold:
                self.opened_at = time.monotonic()

    @property
    def is_open(self) -> bool:
        return self.opened_at is not None


@dataclass(frozen=True)
class ClientSettings:
    base_url: str = ""  # used when a call names no replica
    model: str = ""  # used when a call names no model
    api_key: str = ""  # sent as a Bearer token when set
    timeout_s: float = 20.0
    retries: int = 2  # before the first token only
    retry_base_s: float = 0.25
    breaker_failures: int = 3
    breaker_cooldown_s: float = 30.0
    models_cache_s: float = 300.0  # how long the server's context length is trusted before asking again


RETRYABLE_STATUS = {429, 500, 502, 503, 504}
UNANSWERED_CACHE_S = 10.0


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int | None  # as the server counted them (usage), when it says


class LLMClient:
    def __init__(self, settings: ClientSettings):
        self.settings = settings
        self.breaker = CircuitBreaker(threshold=settings.breaker_failures, cooldown_s=settings.breaker_cooldown_s)
        self._context_lengths: dict[str, tuple[float, int | None]] = {}  # base URL -> (when asked, tokens)
        self._context_lock = threading.Lock()

    def context_tokens(self, *, base_url: str | None = None, model: str | None = None) -> int | None:
        """The served model's context length from GET /models (`max_model_len`, as vLLM and our server say
        it), or None when the server does not say or cannot be reached. Cached per server for
        `models_cache_s`; an unanswered question for a few seconds, so a down server costs one short wait now
        and then, not one per call."""
        url = (base_url or self.settings.base_url).rstrip("/")
        now = time.monotonic()
        with self._context_lock:
            cached = self._context_lengths.get(url)
        if cached and now - cached[0] < (self.settings.models_cache_s if cached[1] else UNANSWERED_CACHE_S):
            return cached[1]
        tokens = None
        if not self.breaker.is_open:
            headers = {"Authorization": f"Bearer {self.settings.api_key}"} if self.settings.api_key else {}
            try:
                response = httpx.get(url + "/models", headers=headers, timeout=min(2.0, self.settings.timeout_s))
                if response.status_code == 200:
                    tokens = _served_context(response.json(), model or self.settings.model)
            except (httpx.HTTPError, ValueError):
                pass
        with self._context_lock:
            self._context_lengths[url] = (now, tokens)
        return tokens

    def _request_parts(self, messages: list[dict], max_tokens: int, temperature: float, base_url: str | None,
                       stream: bool, model: str | None, json_schema: dict | None = None,
                       user: str | None = None):  # fmt: skip
        config = self.settings
        url = (base_url or config.base_url).rstrip("/") + "/chat/completions"
        body = {
            "model": model or config.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": stream,
        }
        if json_schema is not None:  # structured output: vLLM, SGLang, llama.cpp's server and ours accept it
            body["response_format"] = {"type": "json_schema", "json_schema": {"name": "reply", "schema": json_schema}}
        if user:  # OpenAI's end-user id; our server files what the request caches under it, for purge()
            body["user"] = user
        headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        timeout = httpx.Timeout(config.timeout_s, connect=min(5.0, config.timeout_s))
        return url, body, headers, timeout

    def _backoff_s(self, attempt: int) -> float:
        return min(self.settings.retry_base_s * 2**attempt, 5.0) * (0.5 + random.random() / 2)

    async def stream_chat(
        self,
        messages: list[dict],
        *,
        max_tokens: int = 200,
        temperature: float = 0.3,
        base_url: str | None = None,
        model: str | None = None,
        user: str | None = None,
    ) -> AsyncIterator[str]:
        """Yield the reply's text pieces as the server streams them (Server-Sent Events)."""
        if not self.breaker.allow():
            raise LLMUnavailable("LLM server marked down; trying again after the cool-down")
        url, body, headers, timeout = self._request_parts(
            messages, max_tokens, temperature, base_url, True, model, user=user
        )
        try:
            async for piece in self._stream(url, body, headers, timeout):
                yield piece
        except (asyncio.CancelledError, GeneratorExit):
            self.breaker.abandoned()  # e.g. no first token within the caller's budget
            raise

    async def _stream(self, url: str, body: dict, headers: dict, timeout: httpx.Timeout) -> AsyncIterator[str]:
        retries = self.settings.retries
        for attempt in range(retries + 1):
            started = False
            try:
                async with (
                    httpx.AsyncClient(timeout=timeout) as client,
                    client.stream("POST", url, json=body, headers=headers) as response,
                ):
                    if response.status_code != 200:
                        raise LLMUnavailable(f"LLM server answered HTTP {response.status_code}")
                    async for line in response.aiter_lines():
                        if not line.startswith("data:"):
                            continue
                        data = line[5:].strip()
                        if data == "[DONE]":
                            break
                        event = json.loads(data)
                        if error := event.get("error"):  # the server failed mid-stream: a failure, not a success
                            message = error.get("message", "") if isinstance(error, dict) else str(error)
                            raise LLMUnavailable(f"LLM server error: {message}"[:500])
                        choices = event.get("choices") or [{}]
                        piece = (choices[0].get("delta") or {}).get("content")
                        if piece:
                            started = True
                            yield piece
                self.breaker.succeeded()
                return
            except (httpx.HTTPError, json.JSONDecodeError, LLMUnavailable) as error:
                if started or attempt == retries or not _retryable(error):
                    self.breaker.failed()
                    if isinstance(error, LLMUnavailable):
                        raise
                    raise LLMUnavailable(str(error) or type(error).__name__) from error
                await asyncio.sleep(self._backoff_s(attempt))

    def complete(
        self,
        messages: list[dict],
        *,
        max_tokens: int = 1,
        temperature: float = 0.0,
        base_url: str | None = None,
        model: str | None = None,
        json_schema: dict | None = None,
        timeout_s: float | None = None,
        user: str | None = None,
    ) -> str:
        """A blocking, non-streamed completion, for workers (prefill sends the prefix with max_tokens=1; authoring
        asks for JSON matching `json_schema`). `user` files the cached prefix under a participant, for purge()."""
        return self.completion(
            messages, max_tokens=max_tokens, temperature=temperature, base_url=base_url, model=model,
            json_schema=json_schema, timeout_s=timeout_s, user=user,
        ).text  # fmt: skip

    def completion(
        self,
        messages: list[dict],
        *,
        max_tokens: int = 1,
        temperature: float = 0.0,
        base_url: str | None = None,
        model: str | None = None,
        json_schema: dict | None = None,
        timeout_s: float | None = None,
        user: str | None = None,
    ) -> Completion:
        """`complete` with the server's count of prompt tokens. `timeout_s` overrides the read timeout: a cold
        prefix of a long life log takes minutes on a CPU, and a timeout would throw that work away."""
        url, body, headers, timeout = self._request_parts(
            messages, max_tokens, temperature, base_url, False, model, json_schema, user
        )
        if timeout_s is not None:
            timeout = httpx.Timeout(timeout_s, connect=min(5.0, timeout_s))
        retries = self.settings.retries
        last_error: Exception | None = None
        for attempt in range(retries + 1):
            try:
                response = httpx.post(url, json=body, headers=headers, timeout=timeout)
                if response.status_code == 200:
                    reply = response.json()
                    text = (reply["choices"][0].get("message") or {}).get("content") or ""
                    return Completion(text=text, prompt_tokens=(reply.get("usage") or {}).get("prompt_tokens"))
                too_long = _context_too_long(response)
                if too_long:
                    raise too_long
                last_error = LLMUnavailable(f"LLM server answered HTTP {response.status_code}")
                if response.status_code not in RETRYABLE_STATUS:
                    break
            except (httpx.HTTPError, ValueError, KeyError) as error:
                last_error = LLMUnavailable(str(error) or type(error).__name__)
            if attempt < retries:
                time.sleep(self._backoff_s(attempt))
        raise last_error or LLMUnavailable("no answer")

    def prefill(self, messages: list[dict], *, stall_s: float, base_url: str | None = None,
                model: str | None = None, user: str | None = None,
                on_progress: Callable[[int, int], None] | None = None) -> Completion:  # fmt: skip
        """Send a prefix for the server to cache (one token generated), waiting as long as the server makes
        progress: ours sends a line after each batch of the prompt it reads (`on_progress(read, total)` hears
        it), and the request fails only when nothing arrives for `stall_s` seconds, so a slow machine finishes
        instead of failing at a fixed deadline. A server that reports no progress (vLLM: a prefill takes seconds
        there) must answer within `stall_s`. A refusal before the server answers (HTTP 503, a refused connection) is
        retried as `complete` retries; nothing after. Raises ContextTooLong, or LLMUnavailable."""
        url, body, headers, _ = self._request_parts(messages, 1, 0.0, base_url, True, model, user=user)
        body["stream_options"] = {"include_usage": True}  # the last chunk says how many tokens the prefix is
        retries = self.settings.retries
        for attempt in range(retries + 1):
            # what the server said: a refusal (a retryable status, no connection) is retried; once it has begun
            # to answer, a failure is not (the task retries), nor is a prefix too long for its context
            answer: dict = {"status": None}
            try:
                return self._prefill_once(url, body, headers, stall_s, on_progress, answer)
            except ContextTooLong:
                raise
            except LLMUnavailable as error:
                refused = isinstance(error.__cause__, (httpx.ConnectError, httpx.ConnectTimeout))
                if attempt == retries or not (refused or answer["status"] in RETRYABLE_STATUS):
                    raise
            time.sleep(self._backoff_s(attempt))
        raise LLMUnavailable("no answer")  # not reached: the last attempt raises

    @staticmethod
    def _prefill_once(url: str, body: dict, headers: dict, stall_s: float,
                      on_progress: Callable[[int, int], None] | None, answer: dict) -> Completion:  # fmt: skip
        text, prompt_tokens = "", None
        try:
            with httpx.stream("POST", url, json=body, headers=headers,
                              timeout=httpx.Timeout(stall_s, connect=min(5.0, stall_s))) as response:  # fmt: skip
                answer["status"] = response.status_code
                if response.status_code != 200:
                    response.read()
                    raise _context_too_long(response) or LLMUnavailable(
                        f"LLM server answered HTTP {response.status_code}"
                    )
                for line in response.iter_lines():
                    if (read := _PROGRESS.match(line)) and on_progress:
                        on_progress(int(read[1]), int(read[2]))
                    if not line.startswith("data:") or (data := line[5:].strip()) == "[DONE]":
                        continue
                    event = json.loads(data)
                    if error := event.get("error"):
                        message = error.get("message", "") if isinstance(error, dict) else str(error)
                        raise LLMUnavailable(f"LLM server error: {message}"[:500])
                    prompt_tokens = (event.get("usage") or {}).get("prompt_tokens", prompt_tokens)
                    text += ((event.get("choices") or [{}])[0].get("delta") or {}).get("content") or ""
        except httpx.TimeoutException as error:
            raise LLMUnavailable(f"no progress from the LLM server for {stall_s:.0f} s") from error
        except (httpx.HTTPError, ValueError) as error:
            raise LLMUnavailable(str(error) or type(error).__name__) from error
        return Completion(text=text, prompt_tokens=prompt_tokens)

    def purge(self, user: str, *, base_url: str | None = None) -> int | None:
        """Ask the server to forget the prefixes cached for `user` (POST /v1/purge, ours). Returns how many
        it dropped, or None from a server without the endpoint (404). Raises LLMUnavailable otherwise."""
        config = self.settings
        url = (base_url or config.base_url).rstrip("/") + "/purge"
        headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        try:
            response = httpx.post(url, json={"user": user}, headers=headers, timeout=config.timeout_s)
        except httpx.HTTPError as error:
            raise LLMUnavailable(str(error) or type(error).__name__) from error
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise LLMUnavailable(f"LLM server answered HTTP {response.status_code} to purge")
        return int(response.json().get("purged", 0))


def _served_context(listing: dict, model: str) -> int | None:
    """`max_model_len` of the named model, else of the only (or first) model the server lists."""
    served = [item for item in listing.get("data") or [] if isinstance(item, dict)]
    chosen = next((item for item in served if item.get("id") == model), served[0] if served else {})
    value = chosen.get("max_model_len")
    return value if isinstance(value, int) and value > 0 else None


def _retryable(error: Exception) -> bool:
    if isinstance(error, LLMUnavailable):
        return any(str(code) in str(error) for code in RETRYABLE_STATUS)
    return isinstance(error, httpx.TransportError)
