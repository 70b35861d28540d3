"""Studies, arms and frozen protocol versions; consent, enrolment and withdrawal; the audit trail."""

import os
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import User
from chat.models import Attempt, LLMContext, Puzzle, PuzzleGroup, TrainingSession
from chat.prefill import llm_context_prefill
from chat.selectors import phrase_request_get
from chat.services import ActionRefused, scoring_policy, training_session_start
from lifelog.models import ImportJob, LifeLogEntry
from studies.models import AuditEvent, ConsentVersion, CuePolicy, Participant, ParticipantIdentity, ProtocolVersion
from studies.scoring_policy import STANDARD, STRICT
from studies.services import (
    arm_create,
    consent_version_create,
    participant_enroll,
    participant_withdraw,
    protocol_version_create,
)
from tests.chat_helpers import act, give_life_log, right_answer
from tests.conftest import make_user
from tests.scripted_llm import ScriptedLLM

LIFE_RECALL_V1 = [{"key": "life-recall", "version": 1}]


@pytest.fixture
def arm(world):
    arm = arm_create(study=world.study_a, key="cued", name="Cued recall")
    protocol_version_create(arm=arm, puzzle_groups=LIFE_RECALL_V1, puzzles_per_session=2, created_by=world.researcher_a)
    return arm


def enrol_trainee(world, arm, username="trainee-arm", **kwargs) -> Participant:
    user = make_user(username, User.Role.TRAINEE)
    participant = participant_enroll(study=world.study_a, user=user, arm=arm, full_name="Cora C", **kwargs)
    give_life_log(participant)
    return participant


def test_protocol_versions_number_up_and_are_frozen(world, arm):
    second = protocol_version_create(arm=arm, puzzle_groups=LIFE_RECALL_V1, puzzles_per_session=4, notes="longer")
    assert [v.version for v in arm.protocol_versions.all()] == [2, 1]
    assert arm.current_protocol == second
    second.puzzles_per_session = 9
    with pytest.raises(ValidationError, match="frozen"):
        second.save()
    assert ProtocolVersion.objects.get(pk=second.pk).puzzles_per_session == 4


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"puzzle_groups": [{"key": "life-recall", "version": 99}]}, "puzzle_groups"),
        ({"puzzle_groups": []}, "puzzle_groups"),
        ({"puzzles_per_session": 0}, "puzzles_per_session"),
        ({"sessions_per_week": 30}, "sessions_per_week"),
        ({"cue_policy": "sometimes"}, "cue_policy"),
        ({"scoring_policy": {"accept_nicknames": False, "spelling": 90}}, "scoring_policy"),
        ({"scoring_policy": {"hedge_tolerance": 3}}, "scoring_policy"),
        ({"scoring_policy": ["strict"]}, "scoring_policy"),
    ],
)
def test_invalid_protocols_are_refused(arm, changes, field):
    kwargs = {"arm": arm, "puzzle_groups": LIFE_RECALL_V1, **changes}
    with pytest.raises(ValidationError) as error:
        protocol_version_create(**kwargs)
    assert field in error.value.message_dict
    assert arm.protocol_versions.count() == 1


def test_a_protocols_scoring_policy_decides_how_its_sessions_are_marked(world, arm):
    strict = protocol_version_create(arm=arm, puzzle_groups=LIFE_RECALL_V1, scoring_policy=STRICT.as_dict())
    session = training_session_start(participant=enrol_trainee(world, arm, "strict"))
    assert session.protocol_version == strict and scoring_policy(session) == STRICT
    protocol_version_create(arm=arm, puzzle_groups=LIFE_RECALL_V1)
    standard = training_session_start(participant=enrol_trainee(world, arm, "standard"))
    assert scoring_policy(standard) == STANDARD
    assert scoring_policy(training_session_start(participant=world.participant_a)) == STANDARD  # outside an arm


def test_enrolled_participants_keep_their_protocol_version(world, arm):
    early = enrol_trainee(world, arm, "early")
    protocol_version_create(arm=arm, puzzle_groups=LIFE_RECALL_V1, puzzles_per_session=3)
    late = enrol_trainee(world, arm, "late")
    assert (early.protocol_version.version, late.protocol_version.version) == (1, 2)
    assert training_session_start(participant=early).puzzles_planned == 2
    session = training_session_start(participant=late)
    assert session.puzzles_planned == 3 and session.protocol_version.version == 2


def test_sessions_use_the_pinned_group_version_not_the_newest(world, arm):
    v1 = PuzzleGroup.objects.get(key="life-recall", version=1)
    PuzzleGroup.objects.create(
        key="life-recall", version=2, kind=v1.kind, title="Life recall v2", templates=v1.templates, rules=v1.rules
    )
    participant = enrol_trainee(world, arm)
    session = training_session_start(participant=participant)
    assert session.puzzles.get().group.version == 1
    # Outside a study arm the newest version is used.
    give_life_log(world.participant_a)
    assert (
        training_session_start(participant=world.participant_a, group_keys=["life-recall"]).puzzles.get().group.version
        == 2
    )


def test_model_name_is_the_protocols(world, arm, settings):
    settings.LLM_BASE_URL = "http://127.0.0.1:9/v1"  # nothing listens: only the recorded name matters here
    settings.LLM_PREFILL_ENABLED = False
    pinned = protocol_version_create(arm=arm, puzzle_groups=LIFE_RECALL_V1, model_name="qwen2.5-0.5b-instruct")
    participant = enrol_trainee(world, arm)
    assert participant.protocol_version == pinned
    session = training_session_start(participant=participant)
    assert session.model_name == "qwen2.5-0.5b-instruct"
    act(session, text=right_answer(session.puzzles.get()))
    # the trial names a model only when its text was shown: here the server never answered, the template was
    assert Attempt.objects.get(puzzle__session=session).model_name == ""


def test_the_pinned_model_is_the_one_asked_and_a_templates_only_protocol_asks_none(world, arm, settings):
    llm = ScriptedLLM()
    settings.LLM_BASE_URL, settings.LLM_PREFILL_ENABLED = llm.base_url, False
    try:
        protocol_version_create(arm=arm, puzzle_groups=LIFE_RECALL_V1, model_name="pinned-model")
        pinned = enrol_trainee(world, arm, "pinned")
        assert llm_context_prefill(participant_id=pinned.pk) == "ready"
        assert llm.requests[-1]["model"] == "pinned-model"
        session = training_session_start(participant=pinned)
        phrased = session.messages.filter(puzzle__isnull=False).first()
        assert phrase_request_get(message_id=phrased.pk).model == "pinned-model"

        protocol_version_create(arm=arm, puzzle_groups=LIFE_RECALL_V1, model_name="")
        plain = enrol_trainee(world, arm, "plain")
        assert llm_context_prefill(participant_id=plain.pk) == "skipped"
        assert training_session_start(participant=plain).model_name == ""
        assert len(llm.requests) == 1
    finally:
        llm.close()


def test_free_recall_first_policy_never_starts_with_a_cue(world, arm):
    protocol_version_create(
        arm=arm, puzzle_groups=LIFE_RECALL_V1, puzzles_per_session=1, cue_policy=CuePolicy.FREE_RECALL_FIRST
    )
    participant = enrol_trainee(world, arm)
    for _ in range(5):  # a struggling trainee: the adaptive policy would start the next puzzle with a cue
        session = training_session_start(participant=participant)
        act(session, kind="skip")
    session = training_session_start(participant=participant)
    assert Puzzle.objects.get(session=session).start_cue_level == 0


def test_enrolment_needs_consent_when_the_study_has_a_text(world, arm):
    consent_version_create(study=world.study_a, text="I agree.", on_withdrawal=ConsentVersion.OnWithdrawal.RETAIN)
    with pytest.raises(ValidationError, match="consent"):
        participant_enroll(study=world.study_a, arm=arm)
    given = timezone.now() - timedelta(days=1)
    participant = participant_enroll(
        study=world.study_a, arm=arm, consent_given_at=given, recorded_by=world.researcher_a
    )
    consent = participant.consents.get()
    assert (consent.consent_version.version, consent.given_at, consent.recorded_by) == (1, given, world.researcher_a)


def test_arm_of_another_study_is_refused(world, arm):
    with pytest.raises(ValidationError, match="another study"):
        participant_enroll(study=world.study_b, arm=arm)


def played(world, arm, on_withdrawal):
    consent_version_create(study=world.study_a, text="I agree.", on_withdrawal=on_withdrawal)
    participant = enrol_trainee(world, arm, consent_given_at=timezone.now())
    session = training_session_start(participant=participant)
    act(session, text=right_answer(session.puzzles.get(index=1)))
    LLMContext.objects.create(participant=participant, state=LLMContext.State.READY)
    return participant


def test_withdrawal_with_retain_keeps_the_data_and_locks_the_login(world, arm):
    participant = played(world, arm, ConsentVersion.OnWithdrawal.RETAIN)
    user = participant.user
    participant_withdraw(participant=participant, by=world.researcher_a)
    participant.refresh_from_db()
    user.refresh_from_db()
    assert participant.status == "withdrawn" and participant.withdrawn_at is not None
    assert participant.consents.get().withdrawn_at is not None
    # the answered puzzle, and the one left open: a trial row with the outcome "ended"
    outcomes = Attempt.objects.filter(puzzle__session__participant=participant).order_by("puzzle__index")
    assert [(a.puzzle.index, a.outcome, a.scorer) for a in outcomes] == [(1, "answered", "rule"), (2, "ended", "")]
    assert outcomes[1].message is None and outcomes[1].prompt_shown.startswith("Puzzle 2 of")
    assert participant.entries.count() == 80 and ParticipantIdentity.objects.filter(participant=participant).exists()
    assert not user.is_active
    assert participant.training_sessions.get().status == TrainingSession.Status.ENDED
    with pytest.raises(ActionRefused):
        training_session_start(participant=participant)
    event = AuditEvent.objects.get(action="withdraw")
    assert (event.actor, event.participant_code, event.detail) == (
        world.researcher_a, participant.public_code, {"data": "retained"},
    )  # fmt: skip


def test_withdrawal_with_delete_erases_personal_data_but_keeps_the_code(world, arm, django_capture_on_commit_callbacks):
    participant = played(world, arm, ConsentVersion.OnWithdrawal.DELETE)
    user_id, code = participant.user_id, participant.public_code
    upload = ImportJob.objects.get(participant=participant).file
    stored_path = upload.path
    with django_capture_on_commit_callbacks(execute=True):
        participant_withdraw(participant=participant, by=world.researcher_a)
    participant = Participant.objects.get(public_code=code)
    assert participant.status == "withdrawn" and participant.user is None
    assert not LifeLogEntry.objects.filter(participant=participant).exists()
    assert not Attempt.objects.filter(puzzle__session__participant=participant).exists()
    assert not TrainingSession.objects.filter(participant=participant).exists()
    assert not ImportJob.objects.filter(participant=participant).exists()
    assert not LLMContext.objects.filter(participant=participant).exists()
    assert not ParticipantIdentity.objects.filter(participant=participant).exists()
    assert not User.objects.filter(pk=user_id).exists()
    assert not os.path.exists(stored_path)
    assert AuditEvent.objects.get(action="withdraw").detail == {"data": "deleted"}
    # The other study's participant is untouched.
    assert (
        world.participant_b.user is not None
        and ParticipantIdentity.objects.filter(participant=world.participant_b).exists()
    )


def test_withdrawal_is_idempotent(world, arm):
    participant = played(world, arm, ConsentVersion.OnWithdrawal.RETAIN)
    participant_withdraw(participant=participant, by=world.researcher_a)
    participant_withdraw(participant=participant, by=world.researcher_a)
    assert AuditEvent.objects.filter(action="withdraw").count() == 1
