"""OpenAI-compatible HTTP API over a pluggable engine: /v1/models, /v1/chat/completions, /v1/completions
(streamed as Server-Sent Events like OpenAI's), /health and /metrics; and /v1/purge, which forgets the
cached prefixes of one `user` (every tier, disk files included).

Each route is thin: the body is read in `requests`, the engine runs in `runner` (one request at a time,
first come first served), the reply is shaped in `responses`."""

import asyncio
import contextlib

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .requests import BadRequest, CompletionRequest, chat_request, json_body, owner_of, text_request
from .responses import ReplyFormat, collected, context_exceeded_response, error_response, streamed
from .runner import EngineRunner


def create_app(engine) -> Starlette:
    runner = EngineRunner(engine)

    async def models(request: Request) -> JSONResponse:
        # `max_model_len` is vLLM's name for the context length: a client reads it from either server.
        model = {"id": engine.model_name, "object": "model", "owned_by": "reme", "max_model_len": engine.context_tokens}
        return JSONResponse({"object": "list", "data": [model]})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "model": engine.model_name, "queued": runner.queued})

    async def metrics(request: Request) -> JSONResponse:
        return JSONResponse({**engine.metrics.as_dict(), "queued": runner.queued})

    async def chat_completions(request: Request):
        try:
            return await _reply(chat_request(await json_body(request), engine), request)
        except BadRequest as error:
            return error_response(400, str(error))

    async def completions(request: Request):
        try:
            return await _reply(text_request(await json_body(request)), request)
        except BadRequest as error:
            return error_response(400, str(error))

    async def purge(request: Request) -> JSONResponse:
        """Forget what the requests of one `user` (e.g. a participant who withdrew data) left in every tier."""
        try:
            owner = owner_of(await json_body(request))
        except BadRequest as error:
            return error_response(400, str(error))
        if not owner:
            return error_response(400, "name the user whose cached prefixes to purge")
        purged = await asyncio.get_running_loop().run_in_executor(None, engine.purge, owner)
        return JSONResponse({"purged": purged})

    async def _reply(completion: CompletionRequest, request: Request):
        runner.prepare(completion)
        if len(completion.tokens) + completion.max_tokens > engine.context_tokens:  # said at once, never queued
            return context_exceeded_response(len(completion.tokens), completion.max_tokens, engine.context_tokens)
        reply = ReplyFormat(completion, engine.model_name)
        if completion.stream:
            return streamed(runner.events(completion), reply, completion, engine.tokenize)
        return await collected(
            runner.events(completion), reply, completion, engine.tokenize, disconnected=request.is_disconnected
        )

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
            Route("/v1/purge", purge, methods=["POST"]),
            Route("/health", health),
            Route("/metrics", metrics),
        ],
    )
