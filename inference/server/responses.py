"""The OpenAI wire format of a reply: streamed Server-Sent Event chunks, or one JSON body with usage."""

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.responses import JSONResponse, StreamingResponse

from .requests import CompletionRequest

DISCONNECT_POLL_S = 0.25


def error_response(status: int, message: str, code: str | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "type": "invalid_request_error", "code": code}}, status_code=status
    )


def context_exceeded_response(prompt_tokens: int, max_tokens: int, context_tokens: int) -> JSONResponse:
    """vLLM's and OpenAI's wording and code, so one client recognises the state from any of the servers."""
    message = (
        f"This model's maximum context length is {context_tokens} tokens. However, you requested "
        f"{prompt_tokens + max_tokens} tokens ({prompt_tokens} in the messages, {max_tokens} in the completion). "
        "Please reduce the length of the messages or completion."
    )
    return error_response(400, message, code="context_length_exceeded")


class ReplyFormat:
    def __init__(self, request: CompletionRequest, model_name: str):
        self.chat, self.model = request.chat, model_name
        self.id = f"{'chatcmpl' if request.chat else 'cmpl'}-{uuid.uuid4().hex[:24]}"
        self.created = int(time.time())

    def chunk(self, text: str | None, finish: str | None) -> dict:
        head = {"id": self.id, "created": self.created, "model": self.model}
        if self.chat:
            delta = {"content": text} if text is not None else {}
            return {**head, "object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}  # fmt: skip
        choice = {"index": 0, "text": text or "", "finish_reason": finish}
        return {**head, "object": "text_completion", "choices": [choice]}

    def whole(self, text: str, usage: dict) -> dict:
        head = {"id": self.id, "created": self.created, "model": self.model, "usage": usage}
        if self.chat:
            choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            return {**head, "object": "chat.completion", "choices": [choice]}
        return {**head, "object": "text_completion", "choices": [{"index": 0, "text": text, "finish_reason": "stop"}]}


def streamed(events: AsyncIterator[tuple[str, object]], reply: ReplyFormat, request: CompletionRequest,
             count_tokens) -> StreamingResponse:  # fmt: skip
    """SSE chunks as OpenAI sends them; while a long prompt is read, a comment line per batch
    (`: prompt <read>/<total>`, which OpenAI-style clients skip) so a waiting client sees progress, not silence;
    with `stream_options.include_usage`, a last chunk with the usage, as OpenAI and vLLM send it."""

    async def sse():
        text, generation = "", None
        async for kind, value in events:
            if kind == "text":
                text += value
                yield f"data: {json.dumps(reply.chunk(value, None))}\n\n"
            elif kind == "progress":
                yield f": prompt {value[0]}/{value[1]}\n\n"
            elif kind == "usage":
                generation = value
            elif kind == "error":
                yield f"data: {json.dumps({'error': {'message': value}})}\n\n"
                return
        yield f"data: {json.dumps(reply.chunk(None, 'stop'))}\n\n"
        if request.include_usage:
            usage = _usage(request, generation, text, count_tokens)
            yield f"data: {json.dumps({**reply.chunk(None, None), 'choices': [], 'usage': usage})}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(sse(), media_type="text/event-stream")


def _usage(request: CompletionRequest, generation, text: str, count_tokens) -> dict:
    prompt_tokens = generation.prompt_tokens if generation else len(request.tokens)
    completion_tokens = len(count_tokens(text)) if text else 0
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": generation.cached_tokens if generation else 0},
    }


async def collected(events: AsyncIterator[tuple[str, object]], reply: ReplyFormat, request: CompletionRequest,
                    count_tokens, disconnected: Callable[[], Awaitable[bool]]) -> JSONResponse:  # fmt: skip
    """The whole reply as one body. A caller that hangs up (a timeout on its side) cancels the request,
    queued or generating: nobody would read the answer, and the queue behind it would only grow."""
    gather = asyncio.ensure_future(_gather(events))
    try:
        while not gather.done():
            await asyncio.wait({gather}, timeout=DISCONNECT_POLL_S)
            if not gather.done() and await disconnected():
                gather.cancel()  # closes the runner's generator: leaves its queue or stops at the next token
                with contextlib.suppress(asyncio.CancelledError):
                    await gather
                return error_response(499, "the client closed the request")
    finally:
        if not gather.done():
            gather.cancel()
    text, generation, error = gather.result()
    if error is not None:
        return error_response(400, error)
    return JSONResponse(reply.whole(text, _usage(request, generation, text, count_tokens)))


async def _gather(events: AsyncIterator[tuple[str, object]]) -> tuple[str, object, str | None]:
    text, generation = "", None
    try:
        async for kind, value in events:
            if kind == "text":
                text += value
            elif kind == "usage":
                generation = value
            elif kind == "error":
                return text, generation, value
    finally:
        await events.aclose()  # on cancel too: the runner frees its slot and tells the engine to stop
    return text, generation, None
