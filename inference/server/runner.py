"""Runs one request at a time on the engine, first come first served, in a worker thread, and hands its
events back to the event loop: ("progress", (prompt tokens read, prompt tokens)) while a long prompt is read,
("usage", Generation), ("text", piece), ("error", message).

A client that goes away (a closed stream) stops the generation at its next token and frees the engine."""

import asyncio
import threading
from collections.abc import AsyncIterator

from .requests import BadRequest, CompletionRequest

END = ("end", None)


class EngineRunner:
    def __init__(self, engine):
        self.engine = engine
        self.slot = asyncio.Lock()  # FIFO: waiters are admitted in arrival order
        self.queued = 0

    def prepare(self, request: CompletionRequest) -> CompletionRequest:
        if request.json_schema is not None:
            if not getattr(self.engine, "supports_json_schema", False):
                raise BadRequest("this engine does not support response_format")
            try:
                self.engine.grammar_for(request.json_schema)  # a schema it cannot compile is the client's mistake
            except Exception as error:
                raise BadRequest(f"response_format schema not supported: {error}") from None
        request.tokens = self.engine.tokenize(request.prompt)
        request.shared_prefix = self.engine.shared_prefix_length(request.tokens, request.shared_text)
        return request

    async def events(self, request: CompletionRequest) -> AsyncIterator[tuple[str, object]]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        cancel = threading.Event()
        self.queued += 1
        admitted = False
        try:
            async with self.slot:
                self.queued -= 1
                admitted = True
                worker = loop.run_in_executor(None, self._generate, request, cancel, loop, queue)
                try:
                    while (event := await queue.get()) != END:
                        yield event
                finally:
                    cancel.set()  # a disconnect lands here: stop at the next token
                    await asyncio.shield(worker)
        finally:
            if not admitted:  # gave up while queued
                self.queued -= 1

    def _generate(self, request: CompletionRequest, cancel: threading.Event, loop, queue: asyncio.Queue) -> None:
        def send(event: tuple[str, object]) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, event)

        def progress(done: int, total: int) -> None:
            send(("progress", (done, total)))

        try:
            with self.engine.lock:
                generation = self.engine.generate(
                    request.tokens, max_tokens=request.max_tokens, temperature=request.temperature,
                    stop=request.stop, cancelled=cancel.is_set, shared_prefix=request.shared_prefix,
                    **({"json_schema": request.json_schema} if request.json_schema is not None else {}),
                    **({"progress": progress} if getattr(self.engine, "reports_progress", False) else {}),
                    owner=request.owner,
                )  # fmt: skip
                send(("usage", generation))
                for piece in generation.text_pieces:
                    send(("text", piece))
        except Exception as error:  # e.g. a prompt longer than the context: the client is told, the server stays up
            send(("error", str(error)))
        finally:
            send(END)
