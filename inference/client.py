"""A streaming client for any OpenAI-compatible chat server (vLLM, SGLang, llama.cpp, ours)."""

import json
from collections.abc import AsyncIterator

import httpx
from django.conf import settings


class LLMUnavailable(Exception):
    """The server could not be reached, answered with an error, or was too slow."""


async def stream_chat(
    messages: list[dict], *, max_tokens: int = 200, temperature: float = 0.3, base_url: str | None = None
) -> AsyncIterator[str]:
    """Yield the reply's text pieces as the server streams them (Server-Sent Events)."""
    url = (base_url or settings.LLM_BASE_URL).rstrip("/") + "/chat/completions"
    body = {
        "model": settings.LLM_MODEL,
        "messages": messages,
        "max_tokens": max_tokens,
        "temperature": temperature,
        "stream": True,
    }
    headers = {"Authorization": f"Bearer {settings.LLM_API_KEY}"}
    timeout = httpx.Timeout(settings.LLM_TIMEOUT_S, connect=min(5.0, settings.LLM_TIMEOUT_S))
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
                    return
                choices = json.loads(data).get("choices") or [{}]
                piece = (choices[0].get("delta") or {}).get("content")
                if piece:
                    yield piece
    except (httpx.HTTPError, json.JSONDecodeError) as error:
        raise LLMUnavailable(str(error) or type(error).__name__) from error
