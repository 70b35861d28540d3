"""The researcher dashboard: study overview, participant plots and their numbers, protocol editing,
enrolment with consent, withdrawal, audit log; access rules and CSRF on every form."""

import csv
import io
import json
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from chat.models import LLMContext
from studies.models import AuditEvent, ConsentVersion, Participant
from studies.scoring_policy import STRICT
from studies.services import consent_version_create, participant_enroll
from tests.conftest import PASSWORD
from tests.research_helpers import research_world


@pytest.fixture
def rw(world):
    return research_world(world)


def csv_rows(response) -> list[dict]:
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def embedded(page: str, element_id: str):
    start = page.index(f'id="{element_id}"')
    return json.loads(page[page.index(">", start) + 1 : page.index("</script>", start)])


def test_study_overview_shows_adherence_and_context(rw, client):
    Participant.objects.filter(pk=rw.participant_a.pk).update(created_at=timezone.now() - timedelta(days=10))
    LLMContext.objects.create(participant=rw.participant_a, state=LLMContext.State.READY)
    client.force_login(rw.researcher_a)
    page = client.get(reverse("research:study_detail", args=["study-a"])).content.decode()
    assert embedded(page, "data-enrolment") == [{"arm": "main", "active": 1, "withdrawn": 0}]
    rows = csv_rows(client.get(reverse("research:study_overview_csv", args=["study-a"])))
    assert len(rows) == 1
    row = rows[0]
    # Enrolled 10 days ago on 3 sessions a week: two weeks begun, 6 sessions expected, 1 done.
    assert (row["participant"], row["arm"], row["protocol_version"]) == (rw.participant_a.public_code, "main", "1")
    assert (row["sessions"], row["expected_sessions"], row["adherence"], row["sessions_this_week"]) == (
        "1",
        "6",
        "0.167",
        "1",
    )
    assert row["context"] == "ready" and "17%" in page
    assert rw.participant_b.public_code not in page


def test_participant_page_embeds_the_plot_numbers_and_offers_them_as_csv(rw, client):
    client.force_login(rw.researcher_a)
    code = rw.participant_a.public_code
    page = client.get(reverse("research:participant_detail", args=[code])).content.decode()
    accuracy = embedded(page, "data-accuracy")
    assert [(r["session"], r["puzzle_group"]) for r in accuracy] == [(1, "life-recall")]
    assert 0 < accuracy[0]["accuracy"] <= 1 and accuracy[0]["puzzles"] >= 1
    times = embedded(page, "data-response-times")
    assert times[0]["attempts"] == 3 and times[0]["median_response_ms"] >= 0
    retention = embedded(page, "data-retention")
    assert retention and all(0 <= r["retrievability"] <= 1 for r in retention)
    coverage = embedded(page, "data-coverage")
    assert sum(r["entries"] for r in coverage) == 80 and sum(r["trained"] for r in coverage) >= 1
    for name in ("accuracy", "response-times", "retention", "coverage"):
        rows = csv_rows(client.get(reverse("research:participant_stats_csv", args=[code, name])))
        assert len(rows) >= 1, name
    assert client.get(reverse("research:participant_stats_csv", args=[code, "nope"])).status_code == 404
    assert 'src="/static/vendor/chartjs/chart.umd.min.js"' in page
    assert client.get("/static/vendor/chartjs/chart.umd.min.js").status_code == 200


def test_participant_page_counts_the_llm_authored_puzzles_and_the_reasons_for_rejections(rw, client):
    from chat import models

    if not hasattr(models, "AuthoredPuzzle"):  # issue 14's other half: the store of LLM-authored puzzles
        pytest.skip("no AuthoredPuzzle model on this branch")
    group = models.PuzzleGroup.objects.first()
    for n, (participant, status, reasons) in enumerate([
        (rw.participant_a, "ready", []), (rw.participant_a, "ready", []), (rw.participant_a, "used", []),
        (rw.participant_a, "rejected", ["name 'gerald' not in the evidence"]),
        (rw.participant_a, "rejected", ["name 'gerald' not in the evidence", "the question gives the answer"]),
        (rw.participant_b, "rejected", ["study B's reason"]),
    ]):  # fmt: skip
        models.AuthoredPuzzle.objects.create(
            participant=participant, group=group, kind="which_first", plan_key=f"plan-{n}", status=status,
            reasons=reasons, evidence_ids=[], model_name="m", prompt_sha256="a" * 64, prefix_sha256="b" * 64,
            verifier_version="v",
        )  # fmt: skip
    client.force_login(rw.researcher_a)
    page = client.get(reverse("research:participant_detail", args=[rw.participant_a.public_code])).content.decode()
    assert (
        "LLM-authored puzzles: 2 ready, 3 accepted, 2 rejected (reasons: "
        "name &#x27;gerald&#x27; not in the evidence ×2; the question gives the answer ×1)"
    ) in page
    assert "study B" not in page
    other = client.get(reverse("research:participant_detail", args=[rw.participant_b.public_code]))
    assert other.status_code == 404  # another study's participant: no counts, no reasons


def test_protocol_form_creates_a_new_version(rw, client):
    client.force_login(rw.researcher_a)
    url = reverse("research:protocol_version_new", args=[rw.arm_a.pk])
    form = client.get(url).content.decode()
    # The form starts from the current version: its groups ticked, the others not.
    assert re.search(r'value="life-recall:1"[^>]*checked', form) and not re.search(
        r'value="language:1"[^>]*checked', form
    )
    response = client.post(url, {
        "puzzle_groups": ["life-recall:1", "language:1"], "puzzles_per_session": 6, "sessions_per_week": 2,
        "cue_policy": "free_recall_first", "model_name": "m2", "scoring": "strict", "notes": "add language",
    })  # fmt: skip
    assert response.status_code == 302
    current = rw.arm_a.current_protocol
    assert (current.version, current.puzzles_per_session, current.model_name) == (2, 6, "m2")
    assert current.scoring_policy == STRICT.as_dict()
    assert re.search(r'value="strict"[^>]*checked|value="strict" selected', client.get(url).content.decode())
    assert current.puzzle_groups == [{"key": "life-recall", "version": 1}, {"key": "language", "version": 1}]
    rw.participant_a.refresh_from_db()
    assert rw.participant_a.protocol_version.version == 1


def test_enrol_form_records_consent_and_creates_the_login(rw, client):
    consent_version_create(study=rw.study_a, text="I agree.", on_withdrawal=ConsentVersion.OnWithdrawal.DELETE)
    client.force_login(rw.researcher_a)
    url = reverse("research:study_detail", args=["study-a"])
    data = {"arm": rw.arm_a.pk, "timezone": "UTC", "full_name": "Dora D", "username": "dora"}
    refused = client.post(url, data).content.decode()
    assert "Record when the participant gave consent." in refused
    assert not User.objects.filter(username="dora").exists()
    response = client.post(url, {**data, "consent_given_at": "2026-11-20T10:00"})
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    participant = Participant.objects.get(user__username="dora")
    password = re.search(r'id="login-password">([^<]+)<', response.content.decode())[1]
    # Shown once, stored only as Django's hash.
    assert participant.user.check_password(password) and password not in participant.user.password
    assert len(password) == 14 and participant.user.is_trainee
    assert participant.arm == rw.arm_a and participant.protocol_version.version == 1
    assert participant.consents.get().recorded_by == rw.researcher_a
    assert participant.identity.full_name == "Dora D"
    assert AuditEvent.objects.filter(target="enrolment", participant_code=participant.public_code).exists()
    assert (
        password
        not in client.get(reverse("research:participant_detail", args=[participant.public_code])).content.decode()
    )
    trainee = Client()
    assert trainee.login(username="dora", password=password)


def test_a_researcher_sets_up_a_study_without_the_admin(world, client):
    client.force_login(world.researcher_a)
    response = client.post(reverse("research:study_list"), {"name": "Pilot", "slug": "pilot"})
    assert response.status_code == 302
    study = world.researcher_a.studies.get(slug="pilot")
    page = client.get(reverse("research:study_detail", args=["pilot"])).content.decode()
    assert "admin" not in page and "Add an arm first" not in page
    response = client.post(reverse("research:arm_create", args=["pilot"]), {"key": "control", "name": "Control"})
    arm = study.arms.get(key="control")
    assert response.status_code == 302 and response.url == reverse("research:protocol_version_new", args=[arm.pk])
    duplicate = client.post(reverse("research:arm_create", args=["pilot"]), {"key": "control", "name": "Again"})
    assert duplicate.status_code == 400 and study.arms.count() == 1
    client.post(reverse("research:protocol_version_new", args=[arm.pk]),
                {"puzzle_groups": ["life-recall:1"], "puzzles_per_session": 2, "sessions_per_week": 3,
                 "cue_policy": "adaptive", "scoring": "standard"})  # fmt: skip
    assert arm.current_protocol.version == 1
    client.post(reverse("research:consent_version_create", args=["pilot"]),
                {"text": "I agree to take part.", "on_withdrawal": "retain"})  # fmt: skip
    assert study.consent_versions.get().on_withdrawal == "retain"
    assert set(AuditEvent.objects.filter(study=study, action="change").values_list("target", flat=True)) == {
        "study", "arm", "protocol version", "consent version"
    }  # fmt: skip


def test_a_password_reset_shows_a_new_password_once(rw, client):
    client.force_login(rw.researcher_a)
    code = rw.participant_a.public_code
    response = client.post(reverse("research:participant_password_reset", args=[code]))
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    password = re.search(r'id="login-password">([^<]+)<', response.content.decode())[1]
    rw.trainee_a.refresh_from_db()
    assert rw.trainee_a.check_password(password) and not rw.trainee_a.check_password(PASSWORD)
    assert AuditEvent.objects.filter(target="trainee password", participant_code=code).exists()
    # A participant enrolled without a login gets one.
    newcomer = participant_enroll(study=rw.study_a, arm=rw.arm_a)
    response = client.post(reverse("research:participant_password_reset", args=[newcomer.public_code]))
    newcomer.refresh_from_db()
    assert newcomer.user.username in response.content.decode() and newcomer.user.is_trainee


def test_withdraw_form_needs_the_code_typed(rw, client):
    client.force_login(rw.researcher_a)
    code = rw.participant_a.public_code
    url = reverse("research:participant_withdraw", args=[code])
    client.post(url, {"confirm": "wrong"})
    assert Participant.objects.get(public_code=code).status == "active"
    client.post(url, {"confirm": code})
    assert Participant.objects.get(public_code=code).status == "withdrawn"


def test_views_and_downloads_are_in_the_audit_log(rw, client):
    client.force_login(rw.researcher_a)
    code = rw.participant_a.public_code
    client.get(reverse("research:participant_detail", args=[code]))
    client.get(reverse("research:participant_stats_csv", args=[code, "accuracy"]))
    client.get(f"/api/participants/{code}/entries/")
    page = client.get(reverse("research:study_audit", args=["study-a"])).content.decode()
    events = list(AuditEvent.objects.filter(study=rw.study_a).values_list("action", "target", "participant_code"))
    assert ("view", "participant dashboard", code) in events
    assert ("export", "participant accuracy", code) in events
    assert ("view", "life-log entries", code) in events
    assert "participant dashboard" in page and "res-a" in page
    client.force_login(rw.researcher_b)
    other = client.get(reverse("research:study_audit", args=["study-b"])).content.decode()
    assert "participant dashboard" not in other


def test_another_studys_researcher_and_trainees_get_no_page(rw, client):
    code = rw.participant_a.public_code
    pages = [
        reverse("research:study_detail", args=["study-a"]),
        reverse("research:study_overview_csv", args=["study-a"]),
        reverse("research:study_audit", args=["study-a"]),
        reverse("research:protocol_version_new", args=[rw.arm_a.pk]),
        reverse("research:participant_detail", args=[code]),
        reverse("research:participant_stats_csv", args=[code, "accuracy"]),
    ]
    for user, expected in ((rw.researcher_b, 404), (rw.trainee_a, 403)):
        client.force_login(user)
        for url in pages:
            response = client.get(url)
            assert response.status_code == expected, (user, url)
            assert code not in response.content.decode()
        assert (
            client.post(reverse("research:participant_withdraw", args=[code]), {"confirm": code}).status_code
            == expected
        )
        assert client.post(pages[3], {"puzzle_groups": ["life-recall:1"]}).status_code == expected
        writes = [
            (reverse("research:arm_create", args=["study-a"]), {"key": "intruder", "name": "Intruder"}),
            (reverse("research:consent_version_create", args=["study-a"]), {"text": "x", "on_withdrawal": "retain"}),
            (reverse("research:participant_password_reset", args=[code]), {}),
            (reverse("research:study_detail", args=["study-a"]), {"arm": rw.arm_a.pk, "timezone": "UTC",
                                                                  "username": "intruder"}),
        ]  # fmt: skip
        for url, data in writes:
            response = client.post(url, data)
            assert response.status_code == expected and "login-password" not in response.content.decode(), url
    assert Participant.objects.get(public_code=code).status == "active"
    assert rw.arm_a.protocol_versions.count() == 1
    assert not rw.study_a.arms.filter(key="intruder").exists() and not rw.study_a.consent_versions.exists()
    assert not User.objects.filter(username="intruder").exists()
    rw.trainee_a.refresh_from_db()
    assert rw.trainee_a.check_password(PASSWORD)


def test_forms_refuse_posts_without_the_csrf_token(rw):
    client = Client(enforce_csrf_checks=True)
    client.force_login(rw.researcher_a)
    code = rw.participant_a.public_code
    posts = [
        (reverse("research:participant_withdraw", args=[code]), {"confirm": code}),
        (reverse("research:protocol_version_new", args=[rw.arm_a.pk]), {"puzzle_groups": ["life-recall:1"]}),
        (reverse("research:study_detail", args=["study-a"]), {"arm": rw.arm_a.pk, "timezone": "UTC"}),
        (reverse("research:study_list"), {"name": "Forged", "slug": "forged"}),
        (reverse("research:arm_create", args=["study-a"]), {"key": "forged", "name": "Forged"}),
        (reverse("research:consent_version_create", args=["study-a"]), {"text": "x", "on_withdrawal": "retain"}),
        (reverse("research:participant_password_reset", args=[code]), {}),
    ]
    for url, data in posts:
        assert client.post(url, data).status_code == 403, url
    assert Participant.objects.get(public_code=code).status == "active"
    assert Participant.objects.filter(study=rw.study_a).count() == 1
    assert not rw.study_a.arms.filter(key="forged").exists() and not rw.study_a.consent_versions.exists()
    rw.trainee_a.refresh_from_db()
    assert rw.trainee_a.check_password(PASSWORD)


def test_admin_lists_every_model(rw, client):
    admin = User.objects.create_superuser("boss", password="a-long-password-1")
    client.force_login(admin)
    for model in ("study", "arm", "protocolversion", "consentversion", "participant", "consent", "auditevent",
                  "trainingsession", "puzzle", "attempt", "chatmessage", "itemmemory", "llmcontext", "puzzlegroup",
                  "lifelogentry", "importjob"):  # fmt: skip
        app = {"trainingsession": "chat", "puzzle": "chat", "attempt": "chat", "chatmessage": "chat",
               "itemmemory": "chat", "llmcontext": "chat", "puzzlegroup": "chat", "lifelogentry": "lifelog",
               "importjob": "lifelog"}.get(model, "studies")  # fmt: skip
        assert client.get(f"/admin/{app}/{model}/").status_code == 200, model
    protocol = rw.arm_a.current_protocol
    assert client.get(f"/admin/studies/protocolversion/{protocol.pk}/change/").status_code == 200
    assert client.get("/admin/studies/auditevent/add/").status_code == 403
