"""A scripted OpenAI-compatible chat server for tests: a stand-in for a real model.

Real models cannot be made to hallucinate a given name or obey a given injection on demand, and the grounding
and injection tests need exactly that. The wire format (SSE chunks, [DONE]) is the OpenAI API's, so the
client under test is the production one.
"""

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

INJECTION_MARKER = "IGNORE YOUR INSTRUCTIONS"


def draft_of(request: dict) -> str:
    """The DRAFT the phrasing prompt asks the model to rewrite."""
    suffix = request["messages"][-1]["content"]
    return suffix.split("DRAFT:\n", 1)[1].split("\n\nRewrite the DRAFT.", 1)[0]


def faithful(request: dict) -> str:
    return "Let's see. " + draft_of(request)


def obeys_injection(request: dict) -> str:
    """A gullible model: whatever an entry of the life log tells it to say, it says."""
    prompt = request["messages"][0]["content"]
    if INJECTION_MARKER in prompt:
        injected = prompt.split(INJECTION_MARKER, 1)[1].split('"', 1)[0]
        return injected.strip(" .:,") + "."
    return faithful(request)


class ScriptedLLM:
    def __init__(
        self,
        reply: Callable[[dict], str] = faithful,
        chunk_delay_s: float = 0.0,
        status: int = 200,
        fail_first: int = 0,
        first_chunk_delay_s: float = 0.0,
        context_tokens: int | None = None,
        error_after_chunks: int | None = None,
        complete: Callable[[dict], str] | None = None,
        progress_every_s: float | None = None,
    ):
        self.reply, self.chunk_delay_s, self.status, self.fail_first = reply, chunk_delay_s, status, fail_first
        self.first_chunk_delay_s = first_chunk_delay_s  # a busy server: the reply starts late
        self.context_tokens = context_tokens  # said in GET /models as vLLM says it (max_model_len); None: not said
        self.error_after_chunks = error_after_chunks  # then an error event inside the stream, as our server sends
        self.complete = complete  # the non-streamed reply (authoring's JSON); None: "OK", as a prefill needs
        self.progress_every_s = progress_every_s  # while the reply is late, our server's `: prompt n/N` lines
        self.requests: list[dict] = []
        self.authorizations: list[str | None] = []  # the Authorization header of each request
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                model = {"id": "scripted", "object": "model"}
                if scripted.context_tokens:
                    model["max_model_len"] = scripted.context_tokens
                payload = json.dumps({"object": "list", "data": [model]}).encode()
                self.send_response(200 if self.path.endswith("/models") else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                scripted.requests.append(body)
                scripted.authorizations.append(self.headers.get("Authorization"))
                if scripted.status != 200 or len(scripted.requests) <= scripted.fail_first:
                    self.send_response(503 if scripted.status == 200 else scripted.status)
                    self.end_headers()
                    return
                if not body.get("stream"):
                    content = scripted.complete(body) if scripted.complete else "OK"
                    reply = {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}
                    payload = json.dumps(reply).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                text = scripted.reply(body)
                try:
                    scripted._read_prompt(self.wfile)
                    for index in range(0, len(text), 8):
                        if scripted.error_after_chunks is not None and index // 8 == scripted.error_after_chunks:
                            self.wfile.write(b'data: {"error": {"message": "engine failed"}}\n\n')
                            return
                        chunk = {"choices": [{"index": 0, "delta": {"content": text[index : index + 8]}}]}
                        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                        self.wfile.flush()
                        time.sleep(scripted.chunk_delay_s)
                    self.wfile.write(b"data: [DONE]\n\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _read_prompt(self, wfile) -> None:
        """The late start of a reply (first_chunk_delay_s): silent, or with progress lines as our server sends."""
        if not self.progress_every_s:
            time.sleep(self.first_chunk_delay_s)
            return
        reports = max(1, round(self.first_chunk_delay_s / self.progress_every_s))
        for report in range(1, reports + 1):
            time.sleep(self.progress_every_s)
            wfile.write(f": prompt {report * 256}/{reports * 256}\n\n".encode())
            wfile.flush()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
