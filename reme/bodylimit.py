"""Request bodies capped before anyone reads them.

Django's ASGI handler spools the whole body to disk before any view or middleware runs, so a 200 MB post to
/login/ used to be read in full before its 400. A request without a session cookie or an Authorization header
can only ever post small forms (login, token), so it gets a much smaller cap than a signed-in upload.

Two places enforce the same caps:
- `RequestBodyLimit`, the ASGI wrapper: the declared length, then the bytes streamed so far (any ASGI server).
- `install_daphne_guard`: Daphne (through Twisted) buffers a whole body before it calls the ASGI app at all,
  so under Daphne the cap is also checked as the headers and each chunk arrive; past it the client gets 413
  and the connection is closed without reading the rest.
"""

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyTooLarge(Exception):
    pass


class RequestBodyLimit:
    def __init__(self, app: ASGIApp, *, limit: int, anonymous_limit: int, session_cookie: str = "sessionid"):
        self.app = app
        self.limit = limit
        self.anonymous_limit = anonymous_limit
        self.session_cookie = session_cookie.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        limit = self.limit_for(headers)
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_large = int(declared) > limit
            except ValueError:
                await _answer(send, 400, b"Invalid Content-Length.")
                return
            if too_large:
                await _answer(send, 413, b"Request body too large.")
                return

        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:  # a chunked body, or one longer than it declared
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _answer(send, 413, b"Request body too large.")

    def limit_for(self, headers: dict[bytes, bytes]) -> int:
        """Headers with lower-case names."""
        signed_in = b"authorization" in headers or self.session_cookie + b"=" in headers.get(b"cookie", b"")
        return self.limit if signed_in else self.anonymous_limit


async def _answer(send: Send, status: int, body: bytes) -> None:
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close")],
    })  # fmt: skip
    await send({"type": "http.response.body", "body": body})


TOO_LARGE_RESPONSE = (
    b"HTTP/1.1 413 Payload Too Large\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 24\r\n"
    b"Connection: close\r\n\r\nRequest body too large.\n"
)


def install_daphne_guard(limits: RequestBodyLimit) -> None:
    """Checks each Daphne request's body against `limits` while Twisted receives it (see the module's doc)."""
    from daphne.http_protocol import WebRequest

    if getattr(WebRequest, "_reme_guarded", False):
        return
    got_length, content_chunk = WebRequest.gotLength, WebRequest.handleContentChunk
    received = WebRequest.requestReceived

    def refuse(request) -> None:
        request._reme_refused = True
        request.channel.transport.write(TOO_LARGE_RESPONSE)
        request.channel.loseConnection()

    def guarded_got_length(self, length: int | None) -> None:
        headers = {name.lower(): b",".join(values) for name, values in self.requestHeaders.getAllRawHeaders()}
        self._reme_limit, self._reme_seen, self._reme_refused = limits.limit_for(headers), 0, False
        if length is not None and length > self._reme_limit:
            got_length(self, 0)  # a small buffer for whatever arrives before the connection closes
            refuse(self)
            return
        got_length(self, length)

    def guarded_content_chunk(self, data: bytes) -> None:
        if self._reme_refused:
            return
        self._reme_seen += len(data)
        if self._reme_seen > self._reme_limit:  # a chunked body, or more than it declared
            refuse(self)
            return
        content_chunk(self, data)

    def guarded_request_received(self, command: bytes, path: bytes, version: bytes) -> None:
        if not getattr(self, "_reme_refused", False):  # a refused body never reaches the application
            received(self, command, path, version)

    WebRequest.gotLength = guarded_got_length
    WebRequest.requestReceived = guarded_request_received
    WebRequest.handleContentChunk = guarded_content_chunk
    WebRequest._reme_guarded = True
