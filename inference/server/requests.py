"""Reading an OpenAI-style request body into what the engine needs; a bad body is a 400, never a 500."""

import json
from dataclasses import dataclass, field

from starlette.requests import Request


class BadRequest(Exception):
    """The client's mistake: answered with 400 and this message."""


@dataclass
class CompletionRequest:
    prompt: str
    stop: list[str]
    max_tokens: int
    temperature: float
    stream: bool
    chat: bool  # /v1/chat/completions (else /v1/completions): decides the reply's shape
    shared_text: str = ""  # the formatted prompt of every message but the last: what the next turn shares
    tokens: list[int] = field(default_factory=list)
    shared_prefix: int = 0  # leading tokens that come from shared_text
    json_schema: dict | None = None  # response_format: the reply must be JSON matching this schema
    owner: str = ""  # OpenAI's `user`: what the request stores is purged by it (POST /v1/purge)
    include_usage: bool = False  # stream_options.include_usage: a streamed reply ends with a usage chunk


async def json_body(request: Request) -> dict:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadRequest("the body is not JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


def _sampling(body: dict) -> tuple[int, float]:
    try:
        max_tokens = int(body.get("max_tokens") or 256)
        temperature = float(body.get("temperature", 0.7))
    except (TypeError, ValueError):
        raise BadRequest("max_tokens must be an integer and temperature a number") from None
    if max_tokens < 1 or not 0 <= temperature <= 2:
        raise BadRequest("max_tokens must be at least 1 and temperature between 0 and 2")
    return max_tokens, temperature


def owner_of(body: dict) -> str:
    owner = body.get("user") or ""
    if not isinstance(owner, str) or len(owner) > 256:
        raise BadRequest("user must be a string of at most 256 characters")
    return owner


def _stops(body: dict) -> list[str]:
    stop = body.get("stop") or []
    return [stop] if isinstance(stop, str) else [s for s in stop if isinstance(s, str)]


def _json_schema(body: dict) -> dict | None:
    """OpenAI's `response_format`: {"type": "json_schema", "json_schema": {"schema": {...}}} or
    {"type": "json_object"} (any object); "text" or none: free text."""
    fmt = body.get("response_format")
    if fmt is None:
        return None
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "object"}
    schema = (fmt.get("json_schema") or {}).get("schema") if kind == "json_schema" else None
    if not isinstance(schema, dict):
        raise BadRequest('response_format must be {"type": "json_schema", "json_schema": {"schema": {...}}}')
    return schema


def _include_usage(body: dict) -> bool:
    options = body.get("stream_options")
    return bool(body.get("stream")) and isinstance(options, dict) and bool(options.get("include_usage"))


def chat_request(body: dict, engine) -> CompletionRequest:
    messages = body.get("messages")
    if not isinstance(messages, list) or not all(isinstance(m, dict) and "content" in m for m in messages):
        raise BadRequest("messages must be a list of {role, content}")
    max_tokens, temperature = _sampling(body)
    prompt, template_stop = engine.chat_prompt(messages)
    shared_text = engine.chat_prompt(messages[:-1])[0] if len(messages) > 1 else ""
    return CompletionRequest(prompt=prompt, stop=template_stop + _stops(body), max_tokens=max_tokens,
                             temperature=temperature, stream=bool(body.get("stream")), chat=True,
                             shared_text=shared_text, json_schema=_json_schema(body),
                             owner=owner_of(body), include_usage=_include_usage(body))  # fmt: skip


def text_request(body: dict) -> CompletionRequest:
    if not isinstance(body.get("prompt"), str):
        raise BadRequest("prompt must be a string")
    max_tokens, temperature = _sampling(body)
    return CompletionRequest(prompt=body["prompt"], stop=_stops(body), max_tokens=max_tokens,
                             temperature=temperature, stream=bool(body.get("stream")), chat=False,
                             json_schema=_json_schema(body), owner=owner_of(body),
                             include_usage=_include_usage(body))  # fmt: skip
