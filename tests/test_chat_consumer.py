"""The chat consumer on the real Redis channel layer: acks, resends, other tabs, access, resume."""

import asyncio
import uuid

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from chat.models import Attempt, ChatMessage
from chat.services import training_session_start
from reme.asgi import application
from tests.chat_helpers import give_life_log, open_puzzle, right_answer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120), pytest.mark.anyio]


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def session(world):
    give_life_log(world.participant_a)
    world.session = training_session_start(participant=world.participant_a, puzzles=2)
    return world


async def connect(user, session_id: int) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(
        application, f"/ws/chat/{session_id}/", headers=[(b"origin", b"http://localhost")]
    )
    communicator.scope["user"] = user
    connected, code = await communicator.connect()
    assert connected, code
    return communicator


async def receive_until(communicator: WebsocketCommunicator, kind: str, timeout: float = 10) -> list[dict]:
    events = []
    while True:
        event = await communicator.receive_json_from(timeout=timeout)
        events.append(event)
        if event["type"] == kind:
            return events


async def receive_until_any(communicator: WebsocketCommunicator, kinds: set[str]) -> list[dict]:
    events = []
    while True:
        events.append(await communicator.receive_json_from(timeout=10))
        if events[-1]["type"] in kinds:
            return events


def action(kind="text", text="", client_id=None) -> dict:
    return {"type": "action", "client_id": str(client_id or uuid.uuid4()), "kind": kind, "text": text}


async def test_hello_sends_the_transcript_then_state(session):
    tab = await connect(session.trainee_a, session.session.pk)
    await tab.send_json_to({"type": "hello", "after_seq": 0})
    events = await receive_until(tab, "state")
    seqs = [event["message"]["seq"] for event in events if event["type"] == "message"]
    assert seqs == [1, 2] and events[1]["message"]["text"].startswith("Puzzle 1 of 2.")
    assert events[-1]["status"] == "active" and events[-1]["puzzle_index"] == 1
    await tab.disconnect()


async def test_answer_is_acked_broadcast_to_other_tabs_and_stored_once(session):
    first, second = (
        await connect(session.trainee_a, session.session.pk),
        await connect(session.trainee_a, session.session.pk),
    )
    puzzle = await database_sync_to_async(open_puzzle)(session.session)
    answer = await database_sync_to_async(right_answer)(puzzle)
    request = action(text=answer)
    await first.send_json_to(request)
    events = await receive_until(first, "state")
    assert events[0] == {"type": "ack", "client_id": request["client_id"], "seq": 3, "duplicate": False}
    other_tab = await receive_until(second, "state")
    assert [e["message"]["seq"] for e in other_tab if e["type"] == "message"] == [3, 4, 5]
    # The browser resends after a dropped connection: acknowledged again, nothing new stored.
    await first.send_json_to(request)
    again = await receive_until(first, "message")
    assert again[0]["duplicate"] is True
    count = await database_sync_to_async(Attempt.objects.filter(puzzle__session=session.session).count)()
    assert count == 1
    await first.disconnect()
    await second.disconnect()


async def test_refusals_are_sent_to_the_sender_only(session):
    tab = await connect(session.trainee_a, session.session.pk)
    request = action(text="   ")
    await tab.send_json_to(request)
    event = await tab.receive_json_from(timeout=10)
    assert (
        event["type"] == "refused" and event["client_id"] == request["client_id"] and "type an answer" in event["error"]
    )
    await tab.send_json_to({"type": "action", "client_id": "not-a-uuid", "kind": "text", "text": "x"})
    assert (await tab.receive_json_from(timeout=10))["type"] == "refused"
    await tab.send_json_to(action(kind="launch-missiles"))
    assert (await tab.receive_json_from(timeout=10))["type"] == "refused"
    stored = await database_sync_to_async(ChatMessage.objects.filter(session=session.session, role="trainee").count)()
    assert stored == 0
    await tab.disconnect()


@pytest.mark.parametrize("who", ["trainee_b", "researcher_a", "anonymous"])
async def test_only_the_sessions_trainee_may_connect(session, who):
    from django.contrib.auth.models import AnonymousUser

    user = AnonymousUser() if who == "anonymous" else getattr(session, who)
    communicator = WebsocketCommunicator(
        application, f"/ws/chat/{session.session.pk}/", headers=[(b"origin", b"http://localhost")]
    )
    communicator.scope["user"] = user
    connected, code = await communicator.connect()
    assert not connected and code == 4403


async def test_concurrent_resends_from_two_tabs_store_one_attempt(session):
    tabs = [await connect(session.trainee_a, session.session.pk) for _ in range(2)]
    request = action(text="a picnic, I think")
    await asyncio.gather(*(tab.send_json_to(request) for tab in tabs))
    acks = []
    for tab in tabs:
        events = await receive_until(tab, "ack")
        acks.append(events[-1])
    assert sorted(ack["duplicate"] for ack in acks) == [False, True]
    count = await database_sync_to_async(Attempt.objects.filter(message__client_id=request["client_id"]).count)()
    assert count == 1
    for tab in tabs:
        await tab.disconnect()


NUL_ID = "3f2b9a52-5c1e-4a55-9d6e-0f3a1e2b7c44"


@pytest.mark.parametrize(
    "frame",
    [
        {"text_data": "not json {"},
        {"bytes_data": b"\x00\x01binary"},
        {"text_data": "[1, 2, 3]"},
        {"text_data": '"a string"'},
        {"text_data": '{"type": "hello", "after_seq": "abc"}'},
        {"text_data": '{"type": "hello", "after_seq": [1]}'},
        {"text_data": '{"type": "action", "client_id": "' + NUL_ID + '", "kind": "text", "text": "hi\\u0000there"}'},
        {"text_data": '{"type": "action", "client_id": "x", "kind": "text", "text": "raw\x00nul"}'},
    ],
    ids=["not-json", "binary", "array", "string", "after-seq-text", "after-seq-list", "escaped-nul", "raw-nul"],
)
async def test_a_malformed_frame_is_refused_and_the_connection_stays_open(session, frame):
    tab = await connect(session.trainee_a, session.session.pk)
    await tab.send_to(**frame)
    refused = await tab.receive_json_from(timeout=10)
    assert refused["type"] == "refused" and refused["error"]
    if NUL_ID in frame.get("text_data", ""):  # the page can drop exactly that item from its outbox
        assert refused["client_id"] == NUL_ID
    await tab.send_json_to({"type": "hello", "after_seq": 0})  # still connected and serving
    assert (await receive_until(tab, "state"))[-1]["type"] == "state"
    stored = await database_sync_to_async(ChatMessage.objects.filter(session=session.session, role="trainee").count)()
    assert stored == 0
    await tab.disconnect()


async def test_replaying_an_early_client_id_sends_back_only_its_own_reply(session):
    tab = await connect(session.trainee_a, session.session.pk)
    first = action(text="no idea at all")
    await tab.send_json_to(first)
    await receive_until(tab, "turn")
    for index in range(6):  # a longer session: more turns after the first
        await tab.send_json_to(action(kind="hint") if index % 2 else action(text=f"not sure {index}"))
        await receive_until_any(tab, {"turn", "refused"})
    total = await database_sync_to_async(ChatMessage.objects.filter(session=session.session).count)()
    while not await tab.receive_nothing(timeout=1):  # the broadcasts of earlier turns
        await tab.receive_json_from()
    await tab.send_json_to(first)
    replay = await receive_until(tab, "turn")
    seqs = [e["message"]["seq"] for e in replay if e["type"] == "message"]
    assert replay[0]["duplicate"] is True and seqs[0] == 3
    # Its own message and the bot's answer to it, not every later message of the session.
    assert 2 <= len(seqs) <= 3 < total - 2, (seqs, total)
    await tab.disconnect()


async def test_a_flood_of_frames_is_refused_beyond_the_connection_budget(session, settings):
    tab = await connect(session.trainee_a, session.session.pk)
    for _ in range(40):
        await tab.send_json_to({"type": "hello", "after_seq": 10_000})
    events = [await tab.receive_json_from(timeout=10) for _ in range(40)]
    refused = [e for e in events if e["type"] == "refused"]
    served = [e for e in events if e["type"] == "state"]
    assert 10 <= len(served) < 20 and len(refused) == 40 - len(served)
    assert "wait a moment" in refused[0]["error"]
    await asyncio.sleep(1.1)  # the budget refills: the tab carries on
    await tab.send_json_to({"type": "hello", "after_seq": 10_000})
    assert (await tab.receive_json_from(timeout=10))["type"] == "state"
    await tab.disconnect()


async def test_logging_out_closes_the_sessions_sockets(session):
    from asgiref.sync import sync_to_async
    from django.test import Client

    browser = Client()
    await sync_to_async(browser.force_login)(session.trainee_a)
    cookie = f"sessionid={browser.cookies['sessionid'].value}".encode()
    tab = WebsocketCommunicator(
        application, f"/ws/chat/{session.session.pk}/", headers=[(b"origin", b"http://localhost"), (b"cookie", cookie)]
    )
    connected, _ = await tab.connect()
    assert connected
    await sync_to_async(browser.post)("/logout/")
    assert (await tab.receive_output(timeout=10)) == {"type": "websocket.close", "code": 4401}
    await tab.send_json_to(action(text="after logout"))  # a late frame acts on nothing
    await asyncio.sleep(0.5)
    stored = await database_sync_to_async(ChatMessage.objects.filter(session=session.session, role="trainee").count)()
    assert stored == 0
