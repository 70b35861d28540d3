"""One client for any OpenAI-compatible chat server (vLLM, SGLang, llama.cpp, ours).

Streaming with timeouts; retries with exponential backoff for failures before the first token (a stream
that already reached the trainee is never restarted behind their back); and a circuit breaker per client
(one client per process), so that while the server is down, callers fall back to templates at once
instead of each waiting out a timeout. Settings are passed in: this package knows nothing of Django.
"""

import asyncio
import json
import random
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx


class LLMUnavailable(Exception):
    """The server could not be reached, answered with an error, was too slow, or the breaker is open."""


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


RETRYABLE_STATUS = {429, 500, 502, 503, 504}


class LLMClient:
    def __init__(self, settings: ClientSettings):
        self.settings = settings
        self.breaker = CircuitBreaker(threshold=settings.breaker_failures, cooldown_s=settings.breaker_cooldown_s)

    def _request_parts(self, messages: list[dict], max_tokens: int, temperature: float, base_url: str | None,
                       stream: bool, model: str | None, user: str | None = None):  # fmt: skip
        config = self.settings
        url = (base_url or config.base_url).rstrip("/") + "/chat/completions"
        body = {
            "model": model or config.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": stream,
        }
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
            messages, max_tokens, temperature, base_url, True, model, user
        )
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
        user: str | None = None,
    ) -> str:
        """A blocking, non-streamed completion, for workers (prefill sends the prefix with max_tokens=1)."""
        url, body, headers, timeout = self._request_parts(
            messages, max_tokens, temperature, base_url, False, model, user
        )
        retries = self.settings.retries
        last_error: Exception | None = None
        for attempt in range(retries + 1):
            try:
                response = httpx.post(url, json=body, headers=headers, timeout=timeout)
                if response.status_code == 200:
                    return (response.json()["choices"][0].get("message") or {}).get("content") or ""
                last_error = LLMUnavailable(f"LLM server answered HTTP {response.status_code}")
                if response.status_code not in RETRYABLE_STATUS:
                    break
            except (httpx.HTTPError, ValueError, KeyError) as error:
                last_error = LLMUnavailable(str(error) or type(error).__name__)
            if attempt < retries:
                time.sleep(self._backoff_s(attempt))
        raise last_error or LLMUnavailable("no answer")

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


def _retryable(error: Exception) -> bool:
    if isinstance(error, LLMUnavailable):
        return any(str(code) in str(error) for code in RETRYABLE_STATUS)
    return isinstance(error, httpx.TransportError)
