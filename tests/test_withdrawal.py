"""Withdrawal really withdraws: nothing is added to, or sent for, a withdrawn participant."""

import json
from html import escape
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from chat.models import Attempt, ChatMessage, Puzzle
from chat.prefill import llm_context_prefill
from chat.selectors import phrase_request_get
from chat.services import WITHDRAWN_ENTRY_TEXT, training_session_start
from lifelog.models import ImportJob, LifeLogEntry
from lifelog.services import entry_set_excluded, import_job_create, import_job_run
from reme.celery import app as celery_app
from research.export import WITHDRAWN_TEXT, AttemptExport, ExportFilters
from studies.models import AuditEvent, Consent, ConsentVersion, Participant
from studies.services import (
    arm_create,
    consent_version_create,
    participant_enroll,
    participant_withdraw,
    protocol_version_create,
)
from tests.chat_helpers import act, bot_texts, give_life_log, open_puzzle, right_answer
from tests.conftest import PASSWORD, api_client_for, make_user
from tests.scripted_llm import ScriptedLLM

LOG = b'{"entries": [{"when": "2025-05-03", "title": "Picnic in the park"}, {"when": "2025-06-01", "title": "Tea"}]}'


def queued(participant) -> ImportJob:
    return import_job_create(participant=participant, filename="l.json", data=LOG, created_by=None, enqueue=False)


def consented(participant, on_withdrawal: str) -> None:
    version = consent_version_create(study=participant.study, text="I agree.", on_withdrawal=on_withdrawal)
    Consent.objects.create(participant=participant, consent_version=version, given_at=timezone.now())


@pytest.fixture(params=[ConsentVersion.OnWithdrawal.RETAIN, ConsentVersion.OnWithdrawal.DELETE])
def withdrawn(request, world):
    """participant_a, withdrawn under a consent that retains or deletes the data."""
    consented(world.participant_a, request.param)
    participant_withdraw(participant=world.participant_a, by=world.researcher_a)
    world.participant_a.refresh_from_db()
    return world.participant_a


def test_api_page_and_command_refuse_imports_for_a_withdrawn_participant(world, withdrawn, client, tmp_path):
    code = withdrawn.public_code
    response = api_client_for(world.researcher_a).post(
        f"/api/participants/{code}/imports/", {"file": SimpleUploadedFile("log.json", LOG)}, format="multipart"
    )
    assert response.status_code == 409 and "withdrawn" in response.json()["detail"]

    client.login(username="res-a", password=PASSWORD)
    page = client.post(
        reverse("research:participant_detail", args=[code]), {"file": SimpleUploadedFile("log.json", LOG)}, follow=True
    )
    assert "has withdrawn from the study" in page.content.decode()

    path = tmp_path / "log.json"
    path.write_bytes(LOG)
    with pytest.raises(CommandError, match="withdrawn"):
        call_command("import_lifelog", code, str(path))
    assert not ImportJob.objects.filter(participant=withdrawn).exists()
    assert not LifeLogEntry.objects.filter(participant=withdrawn).exists()
    # the other study's participant still imports
    assert queued(world.participant_b)


def test_a_job_queued_before_withdrawal_never_runs_after_it(world):
    consented(world.participant_a, ConsentVersion.OnWithdrawal.RETAIN)
    job = queued(world.participant_a)
    participant_withdraw(participant=world.participant_a, by=world.researcher_a)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED and "withdrew" in job.errors[0]["message"]
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.QUEUED)  # as if its worker got it first
    assert import_job_run(job_id=job.pk).status == ImportJob.Status.FAILED
    assert not LifeLogEntry.objects.filter(participant=world.participant_a).exists()


def test_a_running_job_stores_nothing_when_the_withdrawal_comes_mid_import(world):
    consented(world.participant_a, ConsentVersion.OnWithdrawal.RETAIN)
    job = queued(world.participant_a)

    def withdraw_while_embedding(progress: ImportJob) -> None:
        if progress.progress_total and progress.progress_done == progress.progress_total:
            participant_withdraw(participant=world.participant_a, by=world.researcher_a)

    assert import_job_run(job_id=job.pk, on_progress=withdraw_while_embedding).status == ImportJob.Status.FAILED
    assert not LifeLogEntry.objects.filter(participant=world.participant_a).exists()


def test_no_prefill_for_a_withdrawn_participant(world, withdrawn, settings):
    settings.LLM_BASE_URL, settings.LLM_MODEL = "http://127.0.0.1:9", "any-model"  # nothing listens there
    assert llm_context_prefill(participant_id=withdrawn.pk) == "skipped"


# -- a withdrawn entry stops reaching places ------------------------------------------------------------------


@pytest.fixture
def trainee(world, settings):
    """A trainee with a life log and an open session whose prompts an LLM rewords (nothing listens there)."""
    settings.LLM_BASE_URL, settings.LLM_PREFILL_ENABLED = "http://127.0.0.1:9/v1", False
    arm = arm_create(study=world.study_a, key="cued", name="Cued recall")
    protocol_version_create(
        arm=arm, puzzle_groups=[{"key": "life-recall", "version": 1}], puzzles_per_session=3, model_name="m"
    )
    participant = participant_enroll(study=world.study_a, user=make_user("cora", "trainee"), arm=arm)
    give_life_log(participant, count=40)
    session = training_session_start(participant=participant)
    return SimpleNamespace(participant=participant, user=participant.user, session=session)


def withdraw(entry, by, capture, excluded=True):
    with capture(execute=True):
        return entry_set_excluded(entry=entry, excluded=excluded, by=by)


def test_an_entry_withdrawn_during_its_puzzle_closes_it_and_is_never_sent(trainee, django_capture_on_commit_callbacks):
    puzzle = open_puzzle(trainee.session)
    entry = LifeLogEntry.objects.get(pk=puzzle.entry_id)
    withdraw(entry, trainee.user, django_capture_on_commit_callbacks)
    puzzle.refresh_from_db()
    assert puzzle.outcome == Puzzle.Outcome.SKIPPED and not Attempt.objects.filter(puzzle=puzzle).exists()
    following = open_puzzle(trainee.session)
    assert following.index == 2 and entry.pk not in following.entry_ids
    assert WITHDRAWN_ENTRY_TEXT in bot_texts(trainee.session)
    streaming = trainee.session.messages.filter(status=ChatMessage.Status.STREAMING)
    assert streaming.exists() and not streaming.filter(puzzle=puzzle).exists()
    for message in streaming:
        sent = str(phrase_request_get(message_id=message.pk).messages)
        assert f'"id": {entry.pk},' not in sent and entry.description not in sent


def test_only_the_trainee_restores_what_they_withdrew_and_both_are_audited(
    trainee, world, django_capture_on_commit_callbacks
):
    entry = trainee.participant.entries.last()
    other_study = api_client_for(world.researcher_b).post(f"/api/entries/{entry.pk}/exclude/", {"excluded": True})
    assert other_study.status_code == 404
    researcher = world.researcher_a
    withdraw(entry, trainee.user, django_capture_on_commit_callbacks)
    refused = api_client_for(researcher).post(f"/api/entries/{entry.pk}/exclude/", {"excluded": False})
    assert refused.status_code == 403 and "only they can restore" in refused.json()["detail"]
    entry.refresh_from_db()
    assert entry.excluded and entry.excluded_by == trainee.user and entry.excluded_at is not None
    withdraw(entry, trainee.user, django_capture_on_commit_callbacks, excluded=False)
    entry.refresh_from_db()
    assert not entry.excluded and entry.excluded_by is None
    events = AuditEvent.objects.filter(target=f"life-log entry {entry.pk}").order_by("id")
    assert [(event.actor, event.detail) for event in events] == [
        (trainee.user, {"entry": "withdrawn"}), (trainee.user, {"entry": "restored"})
    ]  # fmt: skip
    # what a researcher withdrew, a researcher may restore
    withdraw(entry, researcher, django_capture_on_commit_callbacks)
    assert api_client_for(researcher).post(f"/api/entries/{entry.pk}/exclude/", {"excluded": False}).status_code == 200


def test_researchers_see_a_tombstone_and_the_raw_file_is_purged(
    trainee, world, client, django_capture_on_commit_callbacks
):
    puzzle = open_puzzle(trainee.session)
    act(trainee.session, text=right_answer(puzzle))
    entry = LifeLogEntry.objects.get(pk=puzzle.entry_id)
    raw = Path(entry.import_job.file.path)
    assert raw.exists()
    withdraw(entry, trainee.user, django_capture_on_commit_callbacks)
    assert not raw.exists()
    code = trainee.participant.public_code

    listed = api_client_for(world.researcher_a).get(f"/api/participants/{code}/entries/?page_size=500").json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    tombstone = next(row for row in rows if row["id"] == entry.pk)
    assert set(tombstone) == {"id", "participant", "excluded", "excluded_at", "excluded_by"}
    assert tombstone["excluded_by"] == "participant"
    client.force_login(world.researcher_a)
    page = client.get(reverse("research:participant_detail", args=[code])).content.decode()
    assert LifeLogEntry.objects.filter(description=entry.description).count() == 1
    assert f"Entry {entry.pk}: withdrawn" in page and escape(entry.description) not in page

    export = AttemptExport(study=world.study_a, filters=ExportFilters(), file_format="json", redact=False)
    (row,) = json.loads(b"".join(export.chunks()))
    assert row["entry_id"] == entry.pk and row["prompt_shown"] == row["response_text"] == WITHDRAWN_TEXT
    (api_row,) = api_client_for(world.researcher_a).get("/api/attempts/").json()["results"]
    assert api_row["prompt_shown"] == WITHDRAWN_TEXT


def test_a_delete_withdrawal_leaves_no_life_log_words_in_the_audit_log(world):
    consented(world.participant_a, ConsentVersion.OnWithdrawal.DELETE)
    api = api_client_for(world.researcher_a)
    code = world.participant_a.public_code
    api.get(f"/api/participants/{code}/entries/", {"person": "Harold"})
    assert "Harold" in str(AuditEvent.objects.values_list("detail", flat=True))
    participant_withdraw(participant=world.participant_a, by=world.researcher_a)
    assert "Harold" not in str(list(AuditEvent.objects.values_list("detail", flat=True)))
    assert AuditEvent.objects.filter(participant_code=code, action="view").exists()  # who read, and when, stays


def test_withdrawals_purge_the_llm_servers_cached_prefixes(
    trainee, world, settings, monkeypatch, django_capture_on_commit_callbacks
):
    llm = ScriptedLLM()
    settings.LLM_BASE_URL, settings.LLM_PREFILL_ENABLED = llm.base_url, True
    monkeypatch.setattr(celery_app.conf, "task_always_eager", True)  # the tasks run here, as a worker would
    user = f"participant-{trainee.participant.pk}"
    try:
        entry = trainee.participant.entries.first()
        withdraw(entry, trainee.user, django_capture_on_commit_callbacks)
        assert llm.requests[0] == {"user": user}  # the purge, then the new prefix's prefill under the same user
        assert llm.requests[1]["user"] == user and llm.requests[1]["max_tokens"] == 1
        sent_before = len(llm.requests)  # a ready prefix also has the fixed lines reworded (chat.fixed_lines)
        with django_capture_on_commit_callbacks(execute=True):  # no consent recorded: `delete`
            participant_withdraw(participant=trainee.participant, by=world.researcher_a)
        assert llm.requests[sent_before:] == [{"user": user}]  # the purge; no prefill or authoring for the withdrawn
        # the trainee's login is erased although the audit log names them as the entry's withdrawer
        assert not User.objects.filter(pk=trainee.user.pk).exists()
        assert AuditEvent.objects.get(target=f"life-log entry {entry.pk}").actor is None
    finally:
        llm.close()


@pytest.mark.parametrize("how", ["one", "queryset"])
def test_deleting_a_participant_purges_the_llm_servers_cached_prefixes(
    how, trainee, settings, monkeypatch, django_capture_on_commit_callbacks
):
    """Outside a withdrawal too (the admin's delete, its bulk action, a script): the server forgets them."""
    llm = ScriptedLLM()
    settings.LLM_BASE_URL, settings.LLM_PREFILL_ENABLED = llm.base_url, True
    monkeypatch.setattr(celery_app.conf, "task_always_eager", True)  # the tasks run here, as a worker would
    participant_id = trainee.participant.pk
    try:
        with django_capture_on_commit_callbacks(execute=True):
            if how == "one":
                trainee.participant.delete()
            else:
                Participant.objects.filter(pk=participant_id).delete()
        assert not Participant.objects.filter(pk=participant_id).exists()
        # the purge of every tier under the participant's user, and no prefill of what is gone
        assert llm.requests == [{"user": f"participant-{participant_id}"}]
    finally:
        llm.close()
