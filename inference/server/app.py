"""OpenAI-compatible HTTP API over a pluggable engine: /v1/models, /v1/chat/completions, /v1/completions
(streamed as Server-Sent Events like OpenAI's), /health and /metrics.

Requests are served one at a time per engine, first come first served (an asyncio lock is FIFO); a client
that disconnects stops its generation at the next token and frees the engine.
"""

import asyncio
import contextlib
import json
import threading
import time
import uuid

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

DONE = object()


def create_app(engine) -> Starlette:
    slot = asyncio.Lock()
    waiting = {"count": 0}

    async def models(request: Request) -> JSONResponse:
        return JSONResponse(
            {"object": "list", "data": [{"id": engine.model_name, "object": "model", "owned_by": "reme"}]}
        )

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "model": engine.model_name, "queued": waiting["count"]})

    async def metrics(request: Request) -> JSONResponse:
        return JSONResponse({**engine.metrics.as_dict(), "queued": waiting["count"]})

    async def chat_completions(request: Request):
        body = await _json(request)
        if isinstance(body, JSONResponse):
            return body
        messages = body.get("messages")
        if not isinstance(messages, list) or not all(isinstance(m, dict) and "content" in m for m in messages):
            return _error(400, "messages must be a list of {role, content}")
        prompt, stop = engine.chat_prompt(messages)
        shared_text = engine.chat_prompt(messages[:-1])[0] if len(messages) > 1 else ""
        return await _complete(request, body, prompt, stop + _stops(body), chat=True, shared_text=shared_text)

    async def completions(request: Request):
        body = await _json(request)
        if isinstance(body, JSONResponse):
            return body
        if not isinstance(body.get("prompt"), str):
            return _error(400, "prompt must be a string")
        return await _complete(request, body, body["prompt"], _stops(body), chat=False)

    async def _complete(request: Request, body: dict, prompt: str, stop: list[str], *, chat: bool, shared_text=""):
        try:
            max_tokens = int(body.get("max_tokens") or 256)
            temperature = float(body.get("temperature", 0.7))
        except (TypeError, ValueError):
            return _error(400, "max_tokens must be an integer and temperature a number")
        if max_tokens < 1 or not 0 <= temperature <= 2:
            return _error(400, "max_tokens must be at least 1 and temperature between 0 and 2")
        tokens = engine.tokenize(prompt)
        shared_prefix = engine.shared_prefix_length(tokens, shared_text) if shared_text else 0
        request_id = f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex[:24]}"
        cancel = threading.Event()
        queue: asyncio.Queue = asyncio.Queue()
        loop = asyncio.get_running_loop()

        def run() -> None:  # in a worker thread, holding the engine
            try:
                with engine.lock:
                    generation = engine.generate(tokens, max_tokens=max_tokens, temperature=temperature, stop=stop,
                                                 cancelled=cancel.is_set, shared_prefix=shared_prefix)  # fmt: skip
                    loop.call_soon_threadsafe(queue.put_nowait, ("usage", generation))
                    for piece in generation.text_pieces:
                        loop.call_soon_threadsafe(queue.put_nowait, ("text", piece))
            except Exception as error:  # e.g. a prompt longer than the context: the client is told, the server stays up
                loop.call_soon_threadsafe(queue.put_nowait, ("error", str(error)))
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, ("end", DONE))

        async def events():
            waiting["count"] += 1
            admitted = False
            try:
                async with slot:
                    waiting["count"] -= 1
                    admitted = True
                    worker = loop.run_in_executor(None, run)
                    try:
                        while True:
                            kind, value = await queue.get()
                            if kind == "end":
                                break
                            yield kind, value
                    finally:
                        cancel.set()  # a disconnect lands here: stop at the next token
                        await asyncio.shield(worker)
            finally:
                if not admitted:  # gave up while queued
                    waiting["count"] -= 1

        created = int(time.time())

        def chunk(text: str | None, finish: str | None) -> dict:
            if chat:
                delta = {"content": text} if text is not None else {}
                choice = {"index": 0, "delta": delta, "finish_reason": finish}
                return {"id": request_id, "object": "chat.completion.chunk", "created": created,
                        "model": engine.model_name, "choices": [choice]}  # fmt: skip
            return {"id": request_id, "object": "text_completion", "created": created, "model": engine.model_name,
                    "choices": [{"index": 0, "text": text or "", "finish_reason": finish}]}  # fmt: skip

        if body.get("stream"):

            async def sse():
                async for kind, value in events():
                    if kind == "text":
                        yield f"data: {json.dumps(chunk(value, None))}\n\n"
                    elif kind == "error":
                        yield f"data: {json.dumps({'error': {'message': value}})}\n\n"
                        return
                yield f"data: {json.dumps(chunk(None, 'stop'))}\n\n"
                yield "data: [DONE]\n\n"

            return StreamingResponse(sse(), media_type="text/event-stream")

        text, usage = "", None
        async for kind, value in events():
            if kind == "text":
                text += value
            elif kind == "usage":
                usage = value
            elif kind == "error":
                return _error(400, value)
        completion_tokens = len(engine.tokenize(text)) if text else 0
        usage_body = {
            "prompt_tokens": usage.prompt_tokens if usage else len(tokens),
            "completion_tokens": completion_tokens,
            "total_tokens": (usage.prompt_tokens if usage else len(tokens)) + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": usage.cached_tokens if usage else 0},
        }
        head = {"id": request_id, "created": created, "model": engine.model_name, "usage": usage_body}
        if chat:
            choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            return JSONResponse({**head, "object": "chat.completion", "choices": [choice]})
        choice = {"index": 0, "text": text, "finish_reason": "stop"}
        return JSONResponse({**head, "object": "text_completion", "choices": [choice]})

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        if hasattr(engine, "close"):  # e.g. finish the prefix store's pending disk writes
            await asyncio.get_running_loop().run_in_executor(None, engine.close)

    return Starlette(
        lifespan=lifespan,
        routes=[
            Route("/v1/models", models),
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/v1/completions", completions, methods=["POST"]),
            Route("/health", health),
            Route("/metrics", metrics),
        ],
    )


async def _json(request: Request):
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _error(400, "the body is not JSON")
    return body if isinstance(body, dict) else _error(400, "the body must be a JSON object")


def _stops(body: dict) -> list[str]:
    stop = body.get("stop") or []
    return [stop] if isinstance(stop, str) else [s for s in stop if isinstance(s, str)]


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": "invalid_request_error"}}, status_code=status)
