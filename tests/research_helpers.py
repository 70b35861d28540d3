"""Shared by the research tests: each study of `world` gets an arm with a protocol and played sessions."""

from chat.models import Attempt
from chat.services import training_session_start
from lifelog.models import LifeLogEntry
from studies.models import Participant
from studies.services import arm_create, protocol_version_create
from tests.chat_helpers import act, give_life_log, open_puzzle, right_answer

FORMULA = '=HYPERLINK("http://evil.example","click")'


def arm_with_protocol(study, key: str = "main"):
    arm = arm_create(study=study, key=key, name=f"{key} arm")
    protocol = protocol_version_create(
        arm=arm, puzzle_groups=[{"key": "life-recall", "version": 1}], puzzles_per_session=3
    )
    return arm, protocol


def put_on_arm(participant: Participant, arm, protocol) -> None:
    Participant.objects.filter(pk=participant.pk).update(arm=arm, protocol_version=protocol)
    participant.refresh_from_db()


def play_session(participant: Participant, mention: str = "") -> list[Attempt]:
    """Three answers: a right one, one naming `mention`, then a formula-like one (the session has 3 puzzles,
    so it is still open for the last whatever the second scores)."""
    session = training_session_start(participant=participant)
    act(session, text=right_answer(open_puzzle(session)))
    act(session, text=f"I was there with {mention}" if mention else "no idea at all")
    act(session, text=FORMULA)
    return list(Attempt.objects.filter(puzzle__session=session).order_by("id"))


def research_world(world):
    """Both studies on an arm, with a life log and one played session each."""
    for name, study in (("a", world.study_a), ("b", world.study_b)):
        participant = getattr(world, f"participant_{name}")
        arm, protocol = arm_with_protocol(study)
        put_on_arm(participant, arm, protocol)
        give_life_log(participant)
        person = LifeLogEntry.objects.filter(participant=participant).exclude(people=[]).first().people[0]
        setattr(world, f"arm_{name}", arm)
        setattr(world, f"person_{name}", person)
        setattr(world, f"attempts_{name}", play_session(participant, mention=person))
    return world
