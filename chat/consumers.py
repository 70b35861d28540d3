"""The training chat over a WebSocket. Thin: services store every action once; this sends what they stored.

Client → server: {"type": "hello", "after_seq": n}, {"type": "action", "client_id", "kind", "text"}.
Server → client: "state", "message" (a stored message), "ack"/"refused"/"turn" (for one client_id), and while an
LLM reply streams: "token" (text at a character offset), then "done" with the final text.
"""

import asyncio
import hashlib
import json
import time
import uuid

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.core.cache import cache
from django.http import Http404

from . import phrasing
from .models import ChatMessage
from .replies import answer_judge, bot_message_phrase
from .selectors import session_state, training_session_get, transcript
from .services import ActionRefused, trainee_action

INVALID = "That request was not valid."
TOO_FAST = "That was a lot at once. Please wait a moment, then try again."
ASSISTANT_RESTING = "The assistant is resting, so replies are simpler for now. Your answers are all kept."
LOGGED_OUT = 4401  # close code: the page stops reconnecting and says so
LEASE_SECONDS = 60  # one consumer at a time writes a streaming reply; a dead one's lease runs out


def chat_group(session_id: int) -> str:
    return f"chat-session-{session_id}"


def auth_session_group(session_key: str) -> str:
    """The sockets opened by one login session (the key itself is a credential, so only its hash is used)."""
    return "auth-session-" + hashlib.sha256(session_key.encode()).hexdigest()[:40]


def message_event(message: ChatMessage, text: str | None = None) -> dict:
    return {
        "type": "message",
        "message": {
            "seq": message.seq,
            "role": message.role,
            "kind": message.kind,
            "text": message.text if text is None else text,
            "status": message.status,
        },
    }


class TrainingChatConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope["user"]
        self.session_id = self.scope["url_route"]["kwargs"]["session_id"]
        if not user.is_authenticated or not await self._may_chat(user):
            await self.close(code=4403)
            return
        self.group = chat_group(self.session_id)
        self.tasks: set[asyncio.Task] = set()
        self.bucket = TokenBucket(rate=settings.CHAT_FRAMES_PER_SECOND, burst=settings.CHAT_FRAMES_BURST)
        session_key = self.scope["session"].session_key if "session" in self.scope else None
        self.auth_group = auth_session_group(session_key) if session_key else None
        await self.channel_layer.group_add(self.group, self.channel_name)
        if self.auth_group:
            await self.channel_layer.group_add(self.auth_group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)
            if self.auth_group:
                await self.channel_layer.group_discard(self.auth_group, self.channel_name)
        for task in getattr(self, "tasks", ()):
            task.cancel()  # its lease runs out; the next hello regenerates the reply

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs) -> None:
        """Every frame is parsed here: a malformed one is refused and the connection stays open (a 1011 close
        made the page reconnect and resend the same frame in a loop)."""
        if getattr(self, "ended", False):
            return
        if not self.bucket.take():
            await self._refuse(_client_id_of(text_data), TOO_FAST)
            return
        try:
            content = parse_frame(text_data, bytes_data)
        except FrameRefused as refusal:
            await self._refuse(_client_id_of(text_data), str(refusal))
            return
        await self.receive_json(content)

    async def receive_json(self, content: dict, **kwargs) -> None:
        kind = content.get("type")
        if kind == "hello":
            after_seq = content.get("after_seq") or 0
            if type(after_seq) is not int or after_seq < 0:
                await self._refuse("", INVALID)
                return
            await self._hello(after_seq)
        elif kind == "action":
            await self._action(content)
        else:
            await self.send_json({"type": "error", "error": "Unknown request."})

    async def _refuse(self, client_id: str, error: str) -> None:
        await self.send_json({"type": "refused", "client_id": client_id, "error": error})

    async def _hello(self, after_seq: int) -> None:
        messages, state = await self._transcript(after_seq)
        for message in messages:
            partial = (
                await cache.aget(partial_key(message.id), "")
                if message.status == ChatMessage.Status.STREAMING
                else None
            )
            await self.send_json(message_event(message, partial))
        await self.send_json({"type": "state", **state})
        self._phrase_later([m.id for m in messages if m.status == ChatMessage.Status.STREAMING])

    async def _action(self, content: dict) -> None:
        started = time.perf_counter()
        client_id = str(content.get("client_id", ""))
        try:
            kind, text = str(content.get("kind", "text")), str(content.get("text", ""))
            verdict = await answer_judge(session_id=self.session_id, answer=text) if kind == "text" else None
            # One sync thread per process (Channels' default): parallel threads measured 2.4x worse p99 under
            # load (bench.chat_load), as they queue for the GIL after every query.
            result = await database_sync_to_async(trainee_action)(
                session_id=self.session_id, client_id=uuid.UUID(client_id), kind=kind, text=text, verdict=verdict
            )
        except ActionRefused as refusal:
            await self.send_json({"type": "refused", "client_id": client_id, "error": str(refusal)})
            return
        except ValueError:
            await self.send_json({"type": "refused", "client_id": client_id, "error": INVALID})
            return
        await self.send_json({"type": "ack", "client_id": client_id, "seq": result.trainee_message.seq,
                              "duplicate": result.duplicate})  # fmt: skip
        events = [message_event(m) for m in [result.trainee_message, *result.bot_messages]]
        events.append({"type": "state", **result.state})
        if result.duplicate:  # the first delivery may have been lost with the old connection: resend to this tab
            for event in events:
                await self.send_json(event)
        else:  # every open tab of this session gets them, in one message through the channel layer
            await self.channel_layer.group_send(self.group, {"type": "chat.events", "events": events})
        # Server-side turn time (LLM wording excluded) and the state it left: for monitoring and bench.chat_load.
        server_ms = round((time.perf_counter() - started) * 1000, 2)
        await self.send_json({"type": "turn", "client_id": client_id, "server_ms": server_ms, "state": result.state})
        self._phrase_later([m.id for m in result.bot_messages if m.status == ChatMessage.Status.STREAMING])

    async def session_ended(self, event: dict) -> None:
        """The browser session that opened this socket logged out: nothing more may be done through it."""
        self.ended = True
        await self.close(code=LOGGED_OUT)

    async def chat_event(self, event: dict) -> None:
        await self.send_json(event["event"])

    async def chat_events(self, batch: dict) -> None:
        for event in batch["events"]:
            await self.send_json(event)

    def _phrase_later(self, message_ids: list[int]) -> None:
        if message_ids:
            task = asyncio.create_task(self._phrase_in_order(message_ids))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _phrase_in_order(self, message_ids: list[int]) -> None:
        for message_id in message_ids:
            if not await cache.aadd(lease_key(message_id), self.channel_name, LEASE_SECONDS):
                continue  # another connection is writing it
            try:
                await self._phrase_one(message_id)
            finally:
                await cache.adelete_many([lease_key(message_id), partial_key(message_id)])

    async def _phrase_one(self, message_id: int) -> None:
        written = ""

        async def emit(seq: int, piece: str) -> None:
            nonlocal written
            event = {"type": "token", "seq": seq, "offset": len(written), "text": piece}
            written += piece
            await cache.aset(partial_key(message_id), written, LEASE_SECONDS)
            await cache.atouch(lease_key(message_id), LEASE_SECONDS)
            await self.channel_layer.group_send(self.group, {"type": "chat.event", "event": event})

        reply = await bot_message_phrase(message_id=message_id, emit=emit)
        if reply is None:
            return
        events = [{"type": "done", "seq": reply.seq, "text": reply.text}]
        if reply.outcome in (phrasing.LLM, phrasing.UNAVAILABLE):  # tell whether the assistant is resting or back
            events.append(
                {"type": "notice", "text": ASSISTANT_RESTING if reply.outcome == phrasing.UNAVAILABLE else ""}
            )
        for event in events:
            await self.channel_layer.group_send(self.group, {"type": "chat.event", "event": event})

    @database_sync_to_async
    def _may_chat(self, user) -> bool:
        try:
            training_session_get(user=user, session_id=self.session_id)
        except Http404:
            return False
        return True

    @database_sync_to_async
    def _transcript(self, after_seq: int):
        session = training_session_get(user=self.scope["user"], session_id=self.session_id)
        return transcript(session, after_seq), session_state(session)


def lease_key(message_id: int) -> str:
    return f"chat-reply-lease-{message_id}"


def partial_key(message_id: int) -> str:
    return f"chat-reply-partial-{message_id}"


class FrameRefused(Exception):
    pass


def parse_frame(text_data: str | None, bytes_data: bytes | None) -> dict:
    """A JSON object without NUL characters (PostgreSQL cannot store them), or FrameRefused."""
    if text_data is None:
        raise FrameRefused(INVALID)
    try:
        content = json.loads(text_data)
    except (ValueError, RecursionError):
        raise FrameRefused(INVALID) from None
    if not isinstance(content, dict):
        raise FrameRefused(INVALID)
    if _has_nul(content):  # raw or escaped as \u0000
        raise FrameRefused("Your message had a character that can't be stored. Please type it again.")
    return content


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


def _client_id_of(text_data: str | None) -> str:
    """The client_id of a refused frame, when one can be read, so the page can drop it from its outbox."""
    try:
        content = json.loads((text_data or "").replace("\x00", ""))
    except ValueError:
        return ""
    return str(content.get("client_id", ""))[:64] if isinstance(content, dict) else ""


class TokenBucket:
    """Frames per connection: `burst` at once, then `rate` a second. A flood from one tab is refused instead of
    making every other trainee on the process wait."""

    def __init__(self, *, rate: float, burst: int):
        self.rate, self.capacity = rate, float(burst)
        self.tokens, self.stamp = float(burst), time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True
