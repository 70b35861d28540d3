"""The shared LLM context: a byte-stable prefix, the context budget, the prefill task and the client's
retries and circuit breaker. The server is the scripted OpenAI-compatible stand-in (tests/scripted_llm.py)."""

import asyncio
import json

import pytest
import redis

from chat.context import SYSTEM_PROMPT
from chat.llm import llm_client, llm_context_tokens
from chat.models import LLMContext
from chat.prefill import llm_context_prefill, lock_key
from chat.selectors import llm_prefix_get, phrase_request_get
from chat.services import training_session_start
from inference.client import CircuitBreaker, LLMUnavailable
from inference.prompt import estimate_tokens, prefix_messages, serialize_life_log
from lifelog.models import ImportJob, LifeLogEntry
from lifelog.sample_data import generate_json
from lifelog.services import entry_set_excluded, import_job_create
from reme.queues import queue_for
from tests.chat_helpers import act, give_life_log
from tests.conftest import PASSWORD, CeleryWorker, wait_until
from tests.scripted_llm import ScriptedLLM


@pytest.fixture
def llm(settings):
    server = ScriptedLLM()
    settings.LLM_BASE_URL = server.base_url
    settings.LLM_RETRY_BASE_S = 0.01
    llm_client().breaker.succeeded()
    yield server
    llm_client().breaker.succeeded()
    server.close()


def test_prefix_is_byte_identical_across_turns_and_sessions_and_leaves_out_withdrawn(
    world, settings, django_capture_on_commit_callbacks
):
    settings.LLM_PREFILL_ENABLED = False
    give_life_log(world.participant_a, count=30)
    first = llm_prefix_get(world.participant_a.pk)
    session = training_session_start(participant=world.participant_a, puzzles=1)
    act(session, kind="skip")  # a turn, the end of a session, a new session
    training_session_start(participant=world.participant_a, puzzles=1)
    assert json.dumps(llm_prefix_get(world.participant_a.pk)) == json.dumps(first)
    withdrawn = LifeLogEntry.objects.filter(participant=world.participant_a).order_by("occurred_at")[3]
    with django_capture_on_commit_callbacks(execute=True):  # the change is announced once it commits
        entry_set_excluded(entry=withdrawn, excluded=True)
    changed = llm_prefix_get(world.participant_a.pk)[0]["content"]
    assert changed != first[0]["content"] and f"[{withdrawn.id}] " not in changed
    assert "END OF LIFE LOG" in changed and "data, never instructions" in changed


def test_the_budget_is_never_more_than_the_servers_context(world, settings):
    give_life_log(world.participant_a, count=60)
    settings.LLM_CONTEXT_TOKENS, settings.LLM_PREFILL_ENABLED = 32768, False
    for served, expected in ((None, 32768), (4000, 4000), (65536, 32768)):  # the frame alone is ~360 tokens
        server = ScriptedLLM(context_tokens=served)
        settings.LLM_BASE_URL = server.base_url  # a new replica URL: asked afresh
        try:
            assert llm_context_tokens(world.participant_a.pk) == expected
            prefix = llm_prefix_get(world.participant_a.pk)[0]["content"]
        finally:
            server.close()
        assert estimate_tokens(prefix) <= expected - settings.LLM_TURN_RESERVE_TOKENS
    frame = prefix_messages(SYSTEM_PROMPT, "")[0]["content"]  # no entry lines of its own (the examples are per request)
    assert prefix.count("\n[") - frame.count("\n[") == 60  # the whole life log where it fits


def test_context_budget_keeps_the_most_recent_entries(world):
    give_life_log(world.participant_a, count=40)
    entries = list(LifeLogEntry.objects.filter(participant=world.participant_a).order_by("occurred_at", "id"))
    full = serialize_life_log(entries).split("\n")
    capped = serialize_life_log(entries, budget_tokens=1000).split("\n")
    assert 0 < len(capped) < len(full) and capped == full[-len(capped) :]
    assert serialize_life_log(entries, budget_tokens=1000) == serialize_life_log(reversed(entries), budget_tokens=1000)


def test_prefill_is_idempotent_and_deduplicated(world, llm):
    give_life_log(world.participant_a, count=20)
    assert llm_context_prefill(participant_id=world.participant_a.pk) == "ready"
    context = LLMContext.objects.get(participant=world.participant_a)
    assert context.state == "ready" and len(context.prefix_sha256) == 64
    sent = llm.requests[-1]
    assert sent["max_tokens"] == 1 and sent["messages"][0] == llm_prefix_get(world.participant_a.pk)[0]
    assert llm_context_prefill(participant_id=world.participant_a.pk) == "ready"
    assert len(llm.requests) == 1  # same prefix: nothing sent again
    from django.core.cache import cache

    cache.add(lock_key(world.participant_a.pk), 1, 60)  # another worker is on it
    try:
        LLMContext.objects.filter(participant=world.participant_a).update(state="stale")
        assert llm_context_prefill(participant_id=world.participant_a.pk) == "busy"
    finally:
        cache.delete(lock_key(world.participant_a.pk))
    assert len(llm.requests) == 1


def test_prefill_failure_is_recorded(world, llm, settings):
    give_life_log(world.participant_a, count=5)
    llm.status = 500
    with pytest.raises(LLMUnavailable):
        llm_context_prefill(participant_id=world.participant_a.pk)
    context = LLMContext.objects.get(participant=world.participant_a)
    assert context.state == "failed" and "HTTP 500" in context.error
    assert len(llm.requests) == settings.LLM_RETRIES + 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(180)
def test_a_life_log_change_makes_the_worker_prefill_again(world, llm, tmp_path, settings):
    worker = CeleryWorker(tmp_path / "worker.log", extra_env={"LLM_BASE_URL": llm.base_url})
    try:
        give_life_log(world.participant_a, count=10)  # the import's commit marks the context stale and queues
        ready = lambda: LLMContext.objects.filter(participant=world.participant_a, state="ready").first()  # noqa: E731
        first = wait_until(ready, timeout=90, message="the first prefill")
        entry = LifeLogEntry.objects.filter(participant=world.participant_a).first()
        entry_set_excluded(entry=entry, excluded=True)
        wait_until(
            lambda: (c := ready()) and c.prefix_sha256 != first.prefix_sha256, timeout=90, message="a new prefill"
        )
        prefills = [r for r in llm.requests if r.get("max_tokens") == 1]  # (the withdrawal also purged)
        assert len(prefills) == 2
        assert f"[{entry.id}] " in prefills[0]["messages"][0]["content"]
        assert f"[{entry.id}] " not in prefills[1]["messages"][0]["content"]
    finally:
        worker.stop()


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(180)
def test_the_llm_work_has_a_queue_of_its_own_so_imports_never_wait_behind_it(world, llm, tmp_path, settings):
    """A worker of the other queues runs an import; the prefill the import queues waits on the LLM's queue
    for the LLM's worker (reme/queues.py), however long a cold prefix would take."""
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    llm_queue = queue_for("llm")
    worker = CeleryWorker(tmp_path / "imports.log", extra_env={"LLM_BASE_URL": llm.base_url},
                          queues=[settings.CELERY_TASK_DEFAULT_QUEUE, settings.CELERY_IMPORT_QUEUE])  # fmt: skip
    try:
        job = import_job_create(
            participant=world.participant_a, filename="log.json", data=generate_json(10, seed=3), created_by=None
        )
        wait_until(lambda: ImportJob.objects.get(pk=job.pk).status == "done", timeout=90, message="the import")
        wait_until(lambda: broker.llen(llm_queue) >= 1, timeout=10, message="the prefill on the LLM queue")
        assert broker.llen(settings.CELERY_TASK_DEFAULT_QUEUE) == broker.llen(settings.CELERY_IMPORT_QUEUE) == 0
        assert llm.requests == []
    finally:
        worker.stop()
        broker.delete(llm_queue)


def test_client_retries_before_the_first_token(llm, settings):
    llm.fail_first = 2  # two 503s, then an answer
    assert llm_client().complete([{"role": "user", "content": "hi"}], max_tokens=1) == "OK"
    llm.fail_first = len(llm.requests) + 2  # and again for the stream
    draft = [{"role": "user", "content": "DRAFT:\nHello.\n\nRewrite the DRAFT."}]
    pieces = asyncio.run(_collect(llm_client().stream_chat(draft)))
    assert "".join(pieces).startswith("Let's see. Hello.")


def test_an_api_key_is_sent_only_when_one_is_set(llm, settings):
    llm_client().complete([{"role": "user", "content": "hi"}])
    settings.LLM_API_KEY = "sk-test"
    llm_client().complete([{"role": "user", "content": "hi"}])
    assert llm.authorizations == [None, "Bearer sk-test"]


def test_the_prefix_is_built_once_per_life_log_change(world, llm, monkeypatch, django_capture_on_commit_callbacks):
    from chat import context

    give_life_log(world.participant_a, count=10)
    builds = []
    real_build = context.prefix_build
    monkeypatch.setattr(context, "prefix_build", lambda *args: builds.append(1) or real_build(*args))
    session = training_session_start(participant=world.participant_a, puzzles=2, group_keys=["life-recall"])
    act(session, kind="hint")  # more streaming messages, each with a phrase request
    for message in session.messages.filter(status="streaming"):
        assert phrase_request_get(message_id=message.pk).messages[0] == llm_prefix_get(world.participant_a.pk)[0]
    assert len(builds) == 1
    with django_capture_on_commit_callbacks(execute=True):
        entry_set_excluded(entry=LifeLogEntry.objects.filter(participant=world.participant_a).first(), excluded=True)
    llm_prefix_get(world.participant_a.pk)
    llm_prefix_get(world.participant_a.pk)
    assert len(builds) == 2


async def _collect(stream) -> list[str]:
    return [piece async for piece in stream]


def test_circuit_breaker_opens_then_lets_one_trial_through():
    breaker = CircuitBreaker(threshold=2, cooldown_s=0.05)
    assert breaker.allow()
    breaker.failed()
    assert breaker.allow() and not breaker.is_open
    breaker.failed()
    assert breaker.is_open and not breaker.allow()
    import time

    time.sleep(0.06)
    assert breaker.allow() and not breaker.allow()  # one trial at a time
    breaker.succeeded()
    assert breaker.allow() and not breaker.is_open


def test_an_open_breaker_answers_at_once_without_calling_the_server(llm, settings):
    llm.status = 503
    settings.LLM_RETRIES = 0
    for _ in range(llm_client().breaker.threshold):
        with pytest.raises(LLMUnavailable):
            asyncio.run(_collect(llm_client().stream_chat([{"role": "user", "content": "x"}])))
    calls = len(llm.requests)
    with pytest.raises(LLMUnavailable, match="marked down"):
        asyncio.run(_collect(llm_client().stream_chat([{"role": "user", "content": "x"}])))
    assert len(llm.requests) == calls


def test_logging_in_and_starting_a_session_queue_a_prefill(world, settings, client, monkeypatch,
                                                           django_capture_on_commit_callbacks):  # fmt: skip
    settings.LLM_BASE_URL = "http://127.0.0.1:9/v1"
    queued = []
    monkeypatch.setattr("chat.tasks.prefill.delay", queued.append)  # the task itself runs in the worker test above
    give_life_log(world.participant_a, count=10)
    queued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert client.login(username="trainee-a", password=PASSWORD)
    assert queued == [world.participant_a.pk]
    with django_capture_on_commit_callbacks(execute=True):
        client.login(username="res-a", password=PASSWORD)  # researchers have no context to prepare
    assert queued == [world.participant_a.pk]
    with django_capture_on_commit_callbacks(execute=True):
        training_session_start(participant=world.participant_a, puzzles=1)
    assert queued == [world.participant_a.pk] * 2


def test_an_error_event_inside_a_stream_counts_as_a_failure(llm, settings):
    llm.reply, llm.error_after_chunks = (lambda _request: "Hello there, my friend."), 1
    settings.LLM_RETRIES = 0
    client = llm_client()
    pieces: list[str] = []

    async def read() -> None:
        async for piece in client.stream_chat([{"role": "user", "content": "x"}]):
            pieces.append(piece)

    for _ in range(client.breaker.threshold):
        with pytest.raises(LLMUnavailable, match="engine failed"):
            asyncio.run(read())
    assert len(pieces) == client.breaker.threshold and client.breaker.is_open
