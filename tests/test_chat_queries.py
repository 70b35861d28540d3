"""The SQL a chat turn costs, pinned per action kind: a change that adds a query to the hot path fails here
(bench.chat_turn measures the CPU; README, "Performance")."""

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat.models import Attempt, ChatMessage, Puzzle, TrainingSession
from chat.services import trainee_action, training_session_start
from studies.services import arm_create, protocol_version_create
from tests.chat_helpers import give_life_log, open_puzzle, right_answer
from tests.research_helpers import put_on_arm

pytestmark = pytest.mark.django_db

WRONG = "I really have no idea, something with a zebra"
# Per action, inside trainee_action, with the transaction's SAVEPOINT and RELEASE (BEGIN and COMMIT outside a
# test); the consumer adds none (the judge is off). Before issue 18's cuts (b61ff34), in this order:
# 11, 15, 27, 27, 22, 11, 11, 8; after its first pass (9134b2c): 7, 10, 20, 20, 15, 7, 7, 8 (the trial row's
# prompt and attempt number now come in one query, chat/rows.py).
EXPECTED = {
    "hint": 7,
    "wrong answer": 9,
    "right answer, next puzzle": 19,
    "skip, next puzzle": 19,
    "last skip, session ends": 14,
    "pause": 7,
    "resume": 7,
    "resend of a stored action": 8,
}


def counted(session, kind: str, text: str = "", client_id: uuid.UUID | None = None):
    with CaptureQueriesContext(connection) as captured:
        result = trainee_action(session_id=session.pk, client_id=client_id or uuid.uuid4(), kind=kind, text=text)
    return result, [query["sql"] for query in captured.captured_queries]


SEEN: dict[str, list[str]] = {}


def check(label: str, queries: list[str]) -> None:
    SEEN[label] = queries


@pytest.fixture(params=["no protocol", "protocol"])
def session(request, world):
    """A session of the default rotation (no protocol), or of a protocol pinning two groups."""
    give_life_log(world.participant_a)
    if request.param == "protocol":
        arm = arm_create(study=world.study_a, key="arm", name="Arm")
        pins = [{"key": "life-recall", "version": 1}, {"key": "numbers", "version": 1}]
        protocol = protocol_version_create(arm=arm, puzzle_groups=pins, puzzles_per_session=3)
        put_on_arm(world.participant_a, arm, protocol)
        return training_session_start(participant=world.participant_a)
    return training_session_start(participant=world.participant_a, puzzles=3, group_keys=["life-recall", "numbers"])


def test_each_action_kind_costs_a_pinned_number_of_queries(session):
    first = open_puzzle(session)
    _, queries = counted(session, "hint")
    check("hint", queries)
    _, queries = counted(session, "text", WRONG)
    check("wrong answer", queries)
    first.refresh_from_db()
    resent_id = uuid.uuid4()
    answered, queries = counted(session, "text", right_answer(first), client_id=resent_id)
    result = answered
    check("right answer, next puzzle", queries)
    assert [m.seq for m in result.bot_messages] == [result.trainee_message.seq + 1, result.trainee_message.seq + 2], (
        [m.text for m in result.bot_messages],
        first.group.kind,
        first.payload,
        right_answer(first),
    )
    assert result.state["puzzle_index"] == 2
    _, queries = counted(session, "pause")
    check("pause", queries)
    result, queries = counted(session, "resume")
    check("resume", queries)
    assert result.state == {**result.state, "status": "active", "puzzle_index": 2}
    result, queries = counted(session, "skip")
    check("skip, next puzzle", queries)
    assert result.state["puzzle_index"] == 3
    result, queries = counted(session, "skip")
    check("last skip, session ends", queries)
    assert result.state["status"] == "ended" and result.bot_messages[-1].text.startswith("That's the end")
    again, queries = counted(session, "text", right_answer(first), client_id=resent_id)
    check("resend of a stored action", queries)
    assert again.duplicate and again.trainee_message == answered.trainee_message
    assert again.bot_messages == answered.bot_messages
    # what the fewer queries must still have written: one trial row per answer and skip, in order
    assert list(Attempt.objects.filter(puzzle__session=session).values_list("attempt_number", "outcome")) == [
        (1, "answered"), (2, "answered"), (1, "skipped"), (1, "skipped")
    ]  # fmt: skip
    assert list(session.messages.values_list("seq", flat=True)) == list(range(1, session.messages.count() + 1))
    assert not Puzzle.objects.filter(session=session, outcome="open").exists()
    assert ChatMessage.objects.filter(session=session, role="trainee").count() == 7
    counts = {label: len(queries) for label, queries in SEEN.items()}
    assert counts == EXPECTED, f"{counts}\n\n" + "\n\n".join(
        f"{label}:\n" + "\n".join(queries) for label, queries in SEEN.items()
    )


def test_the_fixed_sql_reads_give_what_the_orm_gives(session):
    """chat/rows.py reads the turn's rows without the ORM's compiler: the same rows, fields and related rows."""
    from django.db import transaction

    from chat import rows

    counted(session, "hint")
    puzzle = Puzzle.objects.select_related("group", "session").get(session=session, outcome="open")
    fields = [field.attname for field in Puzzle._meta.concrete_fields]
    fast = rows.open_puzzle(session)
    assert [getattr(fast, name) for name in fields] == [getattr(puzzle, name) for name in fields]
    assert (fast.group.key, fast.group.templates, fast.session) == (puzzle.group.key, puzzle.group.templates, session)
    assert getattr(fast, "authored", None) is None
    prompt, attempts = rows.last_prompt_and_attempts(session, fast)
    assert prompt == session.messages.filter(role="bot", puzzle=puzzle).order_by("-seq").first()
    assert prompt.text == session.messages.get(pk=prompt.pk).text and attempts == puzzle.attempts.count() == 0
    stored = session.messages.get(role="trainee")
    with transaction.atomic():
        locked = rows.training_session_locked(session.pk, stored.client_id)
    assert (locked.resent_id, locked.last_seq) == (stored.pk, session.messages.order_by("-seq").first().seq)
    assert locked.participant == session.participant and locked.protocol_version == session.protocol_version
    assert locked.group_keys == TrainingSession.objects.get(pk=session.pk).group_keys
