"""The LLM's work comes in the order a first session needs it, and a session shows it as soon as it exists: the
prefill reads a short context of recent entries first and the first work is written over it before the whole life
log is read; the authoring task asks for the greeting's rewording first, then puzzles until one is accepted, then
the other fixed lines, then the rest; a session whose llm-authored turn came before any puzzle was ready makes it
up at the next puzzle once one is. A preparation waits as long as the server reports progress. The researcher's
page says where that work stands."""

import json
import random
import time

import pytest

from chat import authoring, fixed_lines, tasks, verifier
from chat.authored_store import authored_puzzles_write
from chat.context import prefix_forget
from chat.llm import authoring_lock_key
from chat.models import Attempt, AuthoredPuzzle, LLMContext, PuzzleGroup, RewordedLine
from chat.prefill import llm_context_mark_stale, llm_context_prefill
from chat.selectors import entry_facts_list, llm_prefix_active, llm_prefix_get, llm_prefix_recent
from chat.services import training_session_start
from chat.tasks import FIRST_CANDIDATES, author_puzzles
from inference.client import LLMUnavailable
from inference.prompt import prefix_entry_ids, prefix_sha256
from studies.services import arm_create, protocol_version_create
from tests.chat_helpers import act, give_life_log, open_puzzle
from tests.research_helpers import put_on_arm
from tests.scripted_llm import ScriptedLLM

pytestmark = pytest.mark.django_db


def _pinned(world, puzzles: int = 3, model: str = "test-model") -> None:
    arm = arm_create(study=world.study_a, key="llm", name="LLM arm")
    pins = [{"key": "llm-authored", "version": 1}, {"key": "life-recall", "version": 1},
            {"key": "language", "version": 1}]  # fmt: skip
    put_on_arm(world.participant_a, arm, protocol_version_create(arm=arm, puzzle_groups=pins, model_name=model,
                                                                 puzzles_per_session=puzzles))  # fmt: skip


def _ready_avoiding(participant, avoid: set[int]) -> AuthoredPuzzle:
    """A verified puzzle, written by hand as authoring stores one, over entries the session has not asked about."""
    pool = entry_facts_list(participant=participant)
    plans = [p for p in authoring.plans_for(pool, rng=random.Random(1), limit=40) if p.kind == "which_first"]
    plan = next(p for p in plans if not set(p.evidence_ids) & avoid)
    first, second = plan.options
    written = {"question": f"Which came first: {first} or {second}?", "cue1": f"{plan.cue_facts[0]}.",
               "cue2": f"{plan.cue_facts[1]}."}  # fmt: skip
    candidate = authoring.candidate(plan, json.dumps(written))
    assert verifier.check_authored(candidate, entries=authoring.sources(pool),
                                   distractor_pool=authoring.distractor_pool(plan, pool)) == []  # fmt: skip
    return AuthoredPuzzle.objects.create(
        participant=participant, group=PuzzleGroup.objects.get(key="llm-authored", version=1), kind=plan.kind,
        plan_key=plan.key(), status=AuthoredPuzzle.Status.READY, evidence_ids=plan.evidence_ids,
        payload=authoring.payload(plan, candidate, {facts.id: facts for facts in pool}), model_name="test-model",
        prompt_sha256="p" * 64, prefix_sha256="x" * 64, verifier_version=verifier.VERSION,
    )  # fmt: skip


def _what_was_asked(request: dict) -> str:
    content = request["messages"][-1]["content"]
    if authoring.REQUEST_MARK in content:
        return "puzzle"
    return next(key for key, line in fixed_lines.LINES.items() if line.meaning in content)


def _reply(request: dict) -> str:
    """Each fixed line as it is written (the verifier accepts it), and a puzzle reply that is not the JSON asked for
    (rejected): so no puzzle is ever accepted and the task tries its most before the other lines."""
    kind = _what_was_asked(request)
    return "{}" if kind == "puzzle" else json.dumps({"text": fixed_lines.LINES[kind].text})


def test_the_authoring_task_asks_for_the_greeting_then_puzzles_then_the_other_lines_then_the_rest_once(world, settings):
    give_life_log(world.participant_a, count=40)
    _pinned(world)
    prefix_forget(world.participant_a.pk)
    server = ScriptedLLM(complete=_reply)
    settings.LLM_BASE_URL, settings.LLM_MODEL, settings.LLM_AUTHORING_CANDIDATES = server.base_url, "test-model", 5
    try:
        done = author_puzzles(world.participant_a.pk)
        again = author_puzzles(world.participant_a.pk)  # queued again at a login: this prefix has had its share
    finally:
        server.close()
    assert (again["candidates"], again["lines_accepted"] + again["lines_rejected"]) == (0, 0)
    asked = [_what_was_asked(request) for request in server.requests]
    others = [key for key in fixed_lines.LINES if key != "greeting"]
    assert asked == ["greeting", *["puzzle"] * FIRST_CANDIDATES, *others, *["puzzle"] * (5 - FIRST_CANDIDATES)]
    assert (done["candidates"], done["rejected"]) == (5, 5)
    assert done["lines_accepted"] + done["lines_rejected"] == len(fixed_lines.LINES)
    assert RewordedLine.objects.filter(participant=world.participant_a).count() == len(fixed_lines.LINES)


def test_a_session_makes_up_its_missed_llm_authored_turn_once_a_verified_puzzle_is_ready(world, settings):
    give_life_log(world.participant_a, count=40)
    _pinned(world)
    session = training_session_start(participant=world.participant_a)
    first = open_puzzle(session)
    assert first.group.key == "life-recall"  # none ready yet: the template group fills in, the trainee never waits
    authored = _ready_avoiding(world.participant_a, set(first.entry_ids))  # written while the trainee plays
    act(session, kind="skip")
    second = open_puzzle(session)
    assert second.group.key == "llm-authored" and second.entry_ids == authored.evidence_ids  # made up at once
    assert Attempt.objects.get(puzzle=first).outcome == Attempt.Outcome.SKIPPED  # the skipped puzzle's trial row
    _ready_avoiding(world.participant_a, set(first.entry_ids) | set(second.entry_ids))
    act(session, kind="skip")
    assert open_puzzle(session).group.key == "language"  # made up once: the rotation goes on as pinned


def _researcher_page(world, client, settings):
    """The participant's page as their researcher reads it (whitespace folded), with an LLM configured."""
    settings.LLM_BASE_URL = "http://127.0.0.1:9/v1"  # configured; never asked by the page
    give_life_log(world.participant_a, count=40)
    _pinned(world)
    client.force_login(world.researcher_a)
    url = f"/research/participants/{world.participant_a.public_code}/"
    return lambda: " ".join(client.get(url).content.decode().split())


def test_the_researcher_s_page_says_what_the_assistant_is_doing_and_what_the_trainee_gets_meanwhile(
    world, client, settings
):
    from django.core.cache import cache

    page = _researcher_page(world, client, settings)
    assert "not prepared yet: queued" in page() and "Written once the context is ready." in page()
    LLMContext.objects.update_or_create(participant=world.participant_a, defaults={
        "state": "preparing", "prefix_tokens": 20552, "context_tokens": 32768})  # fmt: skip
    text = page()
    assert "Being prepared, for 0" in text and "about 20,552 tokens" in text and "of the model's 32,768" in text
    assert "nobody waits" in text
    cache.set(authoring_lock_key(world.participant_a.pk), 1, 60)
    LLMContext.objects.filter(participant=world.participant_a).update(state="ready")
    _ready_avoiding(world.participant_a, set())
    text = page()
    cache.delete(authoring_lock_key(world.participant_a.pk))
    assert (
        "Ready (20,552 tokens" in text
        and "LLM-authored puzzles: 1 ready, 1 accepted, 0 rejected. Being written now." in text
    )
    AuthoredPuzzle.objects.update(status="rejected", reasons=["cue 1 adds nothing"])
    assert "0 ready, 0 accepted, 1 rejected (reasons: cue 1 adds nothing ×1)." in page()


def _asked_or_read(request: dict) -> str:
    """A prefill (streamed, one token: the prefix and a ping) by how many entries it holds, else what was asked."""
    if request.get("stream"):
        return f"read {len(prefix_entry_ids(request['messages'][:1]))} entries"
    return _what_was_asked(request)


def test_the_prefill_task_reads_recent_entries_first_and_writes_the_first_work_over_them_before_the_whole_log(
    world, settings, monkeypatch
):
    give_life_log(world.participant_a, count=40)
    _pinned(world)
    participant_id = world.participant_a.pk
    prefix_forget(participant_id)
    server = ScriptedLLM(reply=lambda request: "O", complete=_reply)
    settings.LLM_BASE_URL, settings.LLM_MODEL, settings.LLM_AUTHORING_CANDIDATES = server.base_url, "test-model", 5
    settings.LLM_WARM_CONTEXT_TOKENS, settings.LLM_WARM_CANDIDATES = 900, 3
    queued: list[int] = []
    monkeypatch.setattr(tasks.author_puzzles, "delay", queued.append)  # the rest of the work: the LLM worker's next
    try:
        assert tasks.prefill(participant_id) == "ready"
        assert tasks.prefill(participant_id) == "ready"  # queued again at a login: nothing is read or asked twice
    finally:
        server.close()
    recent, whole = llm_prefix_recent(participant_id), llm_prefix_get(participant_id)
    recent_ids = set(prefix_entry_ids(recent))
    assert 5 < len(recent_ids) < len(prefix_entry_ids(whole)) == 40
    asked = [_asked_or_read(request) for request in server.requests]
    others = [key for key in fixed_lines.LINES if key != "greeting"]
    assert asked == [f"read {len(recent_ids)} entries", "greeting", *["puzzle"] * FIRST_CANDIDATES, *others,
                     "read 40 entries"]  # fmt: skip
    assert queued == [participant_id, participant_id]
    # The first work was asked over the short context, and cites only entries it holds.
    assert all(request["messages"][0] == recent[0] for request in server.requests[1:-1])
    authored = AuthoredPuzzle.objects.filter(participant=world.participant_a)
    assert authored.count() == FIRST_CANDIDATES and {row.prefix_sha256 for row in authored} == {prefix_sha256(recent)}
    assert all(set(row.evidence_ids) <= recent_ids for row in authored)
    context = LLMContext.objects.get(participant=world.participant_a)
    assert (context.state, context.recent_entries) == ("ready", len(recent_ids))
    assert context.recent_sha256 == prefix_sha256(recent)
    assert llm_prefix_active(participant_id) == whole  # the whole life log is held: the rest of the work uses it


def test_a_preparation_waits_while_the_server_reads_and_gives_up_only_when_it_falls_silent(world, settings):
    give_life_log(world.participant_a, count=10)
    _pinned(world)
    settings.LLM_MODEL, settings.LLM_WARM_CONTEXT_TOKENS, settings.LLM_PREFILL_STALL_S = "test-model", 0, 1.0
    reading = ScriptedLLM(reply=lambda request: "O", first_chunk_delay_s=3, progress_every_s=0.3)
    silent = ScriptedLLM(reply=lambda request: "O", first_chunk_delay_s=3)
    try:
        settings.LLM_BASE_URL = reading.base_url
        started = time.monotonic()
        assert llm_context_prefill(participant_id=world.participant_a.pk) == "ready"  # 3 s: thrice the stall limit
        assert time.monotonic() - started >= 3
        context = LLMContext.objects.get(participant=world.participant_a)
        assert (context.state, context.read_tokens, context.prefix_tokens) == ("ready", 2560, 2560)  # its count
        settings.LLM_BASE_URL = silent.base_url
        llm_context_mark_stale(participant_id=world.participant_a.pk)
        with pytest.raises(LLMUnavailable, match="no progress from the LLM server for 1 s"):
            llm_context_prefill(participant_id=world.participant_a.pk)  # the task retries it later
    finally:
        reading.close()
        silent.close()
    context.refresh_from_db()
    assert context.state == "failed" and "no progress" in context.error


def test_the_researcher_s_page_says_how_far_the_whole_log_is_read_and_that_recent_entries_serve_meanwhile(
    world, client, settings
):
    from datetime import timedelta

    from django.utils import timezone

    page = _researcher_page(world, client, settings)
    LLMContext.objects.create(participant=world.participant_a, state="preparing", prefix_tokens=20480,
                              context_tokens=32768, read_tokens=5120, recent_sha256="r" * 64, recent_entries=31,
                              recent_tokens=2950)  # fmt: skip
    LLMContext.objects.update(updated_at=timezone.now() - timedelta(minutes=10))  # a quarter read in 10 minutes
    text = page()
    assert "Being prepared, for 10 minutes so far (about 20,480 tokens" in text
    assert ": 5,120 read (25%), about 30 min left at the pace so far." in text
    assert "Meanwhile the 31 most recent entries (2,950 tokens) are ready: sessions use the LLM's work" in text
    assert "LLM-authored puzzles: 0 ready, 0 accepted, 0 rejected. Written over the most recent entries first" in text


def test_puzzles_are_planned_over_entries_the_sessions_have_not_asked_about_lately(world, settings):
    give_life_log(world.participant_a, count=40)  # enough fresh entries that some plan exists whatever was asked
    _pinned(world, puzzles=5)
    session = training_session_start(participant=world.participant_a)  # played while nothing was written yet
    for _ in range(5):
        act(session, kind="skip")
    asked = {entry for puzzle in session.puzzles.all() for entry in puzzle.entry_ids}
    server = ScriptedLLM(complete=lambda request: "{}")
    settings.LLM_BASE_URL, settings.LLM_MODEL = server.base_url, "test-model"
    try:
        authored_puzzles_write(participant_id=world.participant_a.pk, limit=8)
    finally:
        server.close()
    written = AuthoredPuzzle.objects.filter(participant=world.participant_a)
    assert len(asked) >= 5 and written.exists()  # a session could not take one citing those for 14 days
    assert not [row.evidence_ids for row in written if set(row.evidence_ids) & asked]
