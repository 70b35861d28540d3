"""The research REST API: resources, filters, protocol versions, streamed export with redaction, audit,
and that nobody reads another study's data through any endpoint."""

import csv
import io
import json

import pytest
from axes.utils import reset as reset_lockouts
from django.core.cache import cache

from accounts.models import User
from chat.models import Attempt
from research.export import HEADER, AttemptExport, ExportFilters
from studies.models import AuditEvent, Participant, ProtocolVersion
from tests.chat_helpers import act
from tests.conftest import PASSWORD, api_client_for
from tests.research_helpers import FORMULA, research_world


@pytest.fixture
def rw(world):
    return research_world(world)


def researcher_urls(study_slug: str, participant_code: str) -> list[str]:
    return [
        "/api/studies/",
        f"/api/studies/{study_slug}/",
        f"/api/arms/?study={study_slug}",
        f"/api/protocol-versions/?study={study_slug}",
        f"/api/participants/?study={study_slug}",
        f"/api/sessions/?participant={participant_code}",
        f"/api/attempts/?participant={participant_code}",
        f"/api/studies/{study_slug}/attempts.csv",
        f"/api/studies/{study_slug}/attempts.json",
    ]


def body(response) -> str:
    return b"".join(response.streaming_content).decode() if response.streaming else response.content.decode()


def test_researcher_reads_their_study(rw):
    client = api_client_for(rw.researcher_a)
    code = rw.participant_a.public_code
    for url in researcher_urls("study-a", code):
        response = client.get(url)
        assert response.status_code == 200, url
        text = body(response)
        assert rw.participant_b.public_code not in text and "study-b" not in text, url
    attempts = client.get(f"/api/attempts/?participant={code}").json()
    assert attempts["count"] == len(rw.attempts_a) == 3
    first = attempts["results"][0]
    assert first["participant"] == code and first["study"] == "study-a" and first["arm"] == "main"
    assert first["puzzle_group"] == "life-recall" and first["puzzle_group_version"] == 1
    assert "Ann A" not in json.dumps(attempts)  # identifying details never leave
    participants = client.get("/api/participants/").json()["results"]
    assert [p["public_code"] for p in participants] == [code]
    assert set(participants[0]) == {"public_code", "study", "arm", "protocol_version", "status", "enrolled_at",
                                    "withdrawn_at"}  # fmt: skip


def test_researcher_of_another_study_gets_nothing(rw):
    client = api_client_for(rw.researcher_b)
    code_a = rw.participant_a.public_code
    for url in researcher_urls("study-a", code_a):
        response = client.get(url)
        assert response.status_code in (200, 404), url
        text = body(response)
        assert code_a not in text and "A's" not in text and "study-a" not in text, url
        if response.status_code == 200 and url != "/api/studies/":
            assert response.json()["count"] == 0, url
    response = client.post(
        "/api/protocol-versions/",
        {"arm_id": rw.arm_a.pk, "puzzle_groups": [{"key": "life-recall", "version": 1}]},
        format="json",
    )
    assert response.status_code == 400 and rw.arm_a.protocol_versions.count() == 1
    assert not AuditEvent.objects.filter(study=rw.study_a, actor=rw.researcher_b).exists()


@pytest.mark.parametrize("who", ["trainee_a", "anonymous"])
def test_trainees_and_strangers_reach_no_researcher_endpoint(rw, who):
    client = api_client_for(None if who == "anonymous" else getattr(rw, who))
    for url in researcher_urls("study-a", rw.participant_a.public_code):
        response = client.get(url)
        assert response.status_code in (401, 403), url
        assert rw.participant_a.public_code not in body(response)
    response = client.post("/api/protocol-versions/", {"arm_id": rw.arm_a.pk}, format="json")
    assert response.status_code in (401, 403)


def test_filters_and_pagination(rw):
    client = api_client_for(rw.researcher_a)
    code = rw.participant_a.public_code
    page = client.get("/api/attempts/?study=study-a&limit=2").json()
    assert page["count"] == 3 and len(page["results"]) == 2 and page["next"]
    assert client.get("/api/attempts/?arm=other").json()["count"] == 0
    answered = Attempt.objects.filter(pk=rw.attempts_a[1].pk).values_list("answered_at", flat=True).get()
    after = client.get("/api/attempts/", {"date_from": answered.isoformat()}).json()
    assert [a["id"] for a in after["results"]] == [a.pk for a in rw.attempts_a[1:]]
    assert client.get("/api/attempts/?date_from=not-a-date").status_code == 400
    # Offsets Python accepts but PostgreSQL refuses (found by schemathesis) are read in UTC.
    assert client.get("/api/attempts/", {"date_from": "2025-01-01T00:00:00-22:18"}).json()["count"] == 3
    assert client.get("/api/studies/study-a/attempts.csv", {"date_to": "2025-01-01T00:00:00-22:18"}).status_code == 200
    sessions = client.get(f"/api/sessions/?participant={code}&study=study-a").json()["results"]
    assert len(sessions) == 1 and sessions[0]["protocol_version"] == 1


def test_malformed_query_strings_get_400_or_a_bounded_page_never_500(rw):
    """Cases schemathesis found: a NUL in a parameter name, limits and offsets past PostgreSQL's integers."""
    client = api_client_for(rw.researcher_a)
    assert client.get("/api/attempts/?%C3%9C%00X=1").status_code == 400
    assert client.get("/api/studies/study-a/attempts.csv?participant=%00").status_code == 400
    assert client.get("/research/studies/study-a/?q=%00").status_code == 400
    huge = client.get("/api/attempts/?limit=424960501130210050048")
    assert huge.status_code == 200 and len(huge.json()["results"]) == 3
    far = client.get("/api/protocol-versions/?offset=10000000000000000000000")
    assert far.status_code == 200 and far.json()["results"] == []


def test_new_protocol_version_through_the_api(rw):
    client = api_client_for(rw.researcher_a)
    response = client.post(
        "/api/protocol-versions/",
        {"arm_id": rw.arm_a.pk, "puzzle_groups": [{"key": "language", "version": 1}], "puzzles_per_session": 7,
         "model_name": "other-model", "scoring_policy": {"accept_nicknames": False}, "notes": "switch model"},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    assert response.json()["version"] == 2 and response.json()["arm"] == "main"
    assert response.json()["scoring_policy"] == {"accept_nicknames": False}
    rw.participant_a.refresh_from_db()
    assert rw.participant_a.protocol_version.version == 1  # enrolled participants keep theirs
    bad = client.post(
        "/api/protocol-versions/",
        {"arm_id": rw.arm_a.pk, "puzzle_groups": [{"key": "nope", "version": 1}]},
        format="json",
    )
    assert bad.status_code == 400 and ProtocolVersion.objects.filter(arm=rw.arm_a).count() == 2
    typo = client.post(
        "/api/protocol-versions/",
        {"arm_id": rw.arm_a.pk, "puzzle_groups": [{"key": "language", "version": 1}],
         "scoring_policy": {"accept_nicknams": False}},
        format="json",
    )  # fmt: skip
    assert typo.status_code == 400 and "scoring_policy" in typo.json()
    assert ProtocolVersion.objects.filter(arm=rw.arm_a).count() == 2
    assert AuditEvent.objects.filter(action="change", target="protocol version", study=rw.study_a).count() == 1


def export(client, path: str) -> list[dict]:
    response = client.get(path)
    assert response.status_code == 200 and response.streaming
    text = b"".join(response.streaming_content).decode()
    if path.split("?")[0].endswith(".csv"):
        assert response["Content-Type"].startswith("text/csv")
        return list(csv.DictReader(io.StringIO(text)))
    return json.loads(text)


def test_export_has_one_row_per_attempt_in_csv_and_json(rw):
    client = api_client_for(rw.researcher_a)
    rows = export(client, "/api/studies/study-a/attempts.csv")
    assert list(rows[0]) == HEADER
    assert [int(r["attempt_id"]) for r in rows] == [a.pk for a in rw.attempts_a]
    first = rw.attempts_a[0]
    assert rows[0]["participant"] == rw.participant_a.public_code and rows[0]["study"] == "study-a"
    assert rows[0]["response_text"] == first.response_text and rows[0]["prompt_hash"] == first.prompt_hash
    assert rows[0]["correct"] == "True" and rows[0]["cue_level"] == "0"
    assert rows[2]["response_text"] == "'" + FORMULA  # spreadsheets show it as text
    objects = export(client, "/api/studies/study-a/attempts.json")
    assert [o["attempt_id"] for o in objects] == [a.pk for a in rw.attempts_a]
    assert objects[2]["response_text"] == FORMULA and objects[0]["correct"] is True
    assert objects[0]["response_time_ms"] == first.response_time_ms
    assert export(client, "/api/studies/study-a/attempts.csv?participant=nobody") == []
    assert export(client, "/api/studies/study-a/attempts.json?arm=other") == []
    # where the words came from, and a skip as a row of its own (templates only here: no model named)
    session = rw.attempts_a[0].puzzle.session
    act(session, kind="skip")
    rows = export(client, "/api/studies/study-a/attempts.csv")
    assert [r["outcome"] for r in rows] == ["answered", "answered", "answered", "skipped"]
    assert {(r["puzzle_source"], r["text_source"], r["model_name"], r["llm_prompt_hash"]) for r in rows} == {
        ("template", "template", "", "")
    }
    assert rows[3]["response_text"] == "" and rows[3]["scorer"] == "" and rows[3]["correct"] == "False"


def test_export_escapes_a_formula_in_the_model_name_cell(rw):
    Attempt.objects.filter(pk=rw.attempts_a[0].pk).update(model_name="@SUM(1+1)*cmd|' /C calc'!A0")
    rows = export(api_client_for(rw.researcher_a), "/api/studies/study-a/attempts.csv")
    assert rows[0]["model_name"] == "'@SUM(1+1)*cmd|' /C calc'!A0"


def test_plain_csv_from_copy_matches_the_python_rows_cell_for_cell(rw):
    """The plain CSV is PostgreSQL's COPY output; the redacted CSV is written by Python: same cells and escaping."""
    Attempt.objects.filter(pk=rw.attempts_a[0].pk).update(model_name="@SUM(A1)", response_text="")
    plain = AttemptExport(study=rw.study_a, filters=ExportFilters(), file_format="csv", redact=False)
    copied = b"".join(plain.chunks())
    python = AttemptExport(study=rw.study_a, filters=ExportFilters(), file_format="csv", redact=False)
    written = python._csv_chunk([HEADER], header=True) + b"".join(map(python._csv_chunk, python.row_batches()))
    assert copied == written and plain.rows == 3
    rows = list(csv.DictReader(io.StringIO(copied.decode())))
    assert rows[0]["model_name"] == "'@SUM(A1)" and rows[0]["response_text"] == "" and rows[0]["score"] != ""
    assert rows[2]["response_text"] == "'" + FORMULA


def test_export_redacts_people_and_places_with_stable_placeholders(rw):
    client = api_client_for(rw.researcher_a)
    plain = export(client, "/api/studies/study-a/attempts.json")
    assert rw.person_a in plain[1]["response_text"]
    redacted = export(client, "/api/studies/study-a/attempts.json?redact=1")
    again = export(client, "/api/studies/study-a/attempts.csv?redact=true")
    text = json.dumps(redacted)
    assert rw.person_a not in text
    placeholder = redacted[1]["response_text"].removeprefix("I was there with ")
    assert placeholder.startswith("[PERSON-") and again[1]["response_text"] == redacted[1]["response_text"]
    entry = rw.attempts_a[0].puzzle.entry
    for name in [*entry.people, entry.place_name]:
        if name:
            assert name not in redacted[0]["prompt_shown"] + redacted[1]["prompt_shown"]


def test_every_export_is_audited_with_its_row_count(rw):
    client = api_client_for(rw.researcher_a)
    export(client, "/api/studies/study-a/attempts.csv?redact=1&arm=main")
    event = AuditEvent.objects.get(action="export")
    assert (event.actor, event.study, event.target) == (rw.researcher_a, rw.study_a, "attempts")
    assert event.detail["rows"] == 3 and event.detail["complete"] is True
    assert event.detail["redact"] is True and event.detail["arm"] == "main" and event.detail["format"] == "csv"
    client.get(f"/api/attempts/?study=study-a&participant={rw.participant_a.public_code}")
    view = AuditEvent.objects.get(action="view", target="attempts")
    assert view.participant_code == rw.participant_a.public_code and view.study == rw.study_a


def test_token_endpoint_is_rate_limited(rw, settings):
    cache.clear()
    client = api_client_for(None)
    statuses = [client.post("/api/token/", {"username": "res-a", "password": "wrong"}).status_code for _ in range(10)]
    assert statuses == [400] * 10
    assert client.post("/api/token/", {"username": "res-a", "password": PASSWORD}).status_code == 429
    cache.clear()
    reset_lockouts(username="res-a")  # ten wrong passwords also locked res-a at this address (django-axes)
    token = client.post("/api/token/", {"username": "res-a", "password": PASSWORD}).json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/studies/").json()["results"][0]["slug"] == "study-a"


def test_token_throttle_ignores_forged_forwarded_for_headers(rw):
    cache.clear()
    client = api_client_for(None)
    statuses = [
        client.post("/api/token/", {"username": "res-a", "password": "wrong"}, HTTP_X_FORWARDED_FOR=f"203.0.113.{i}")
        .status_code
        for i in range(30)
    ]  # fmt: skip
    assert statuses[:10] == [400] * 10 and set(statuses[10:]) == {429}
    right = client.post("/api/token/", {"username": "res-a", "password": PASSWORD}, HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert right.status_code == 429 and "token" not in right.json()


def test_token_throttle_counts_per_username_across_addresses(rw, settings):
    cache.clear()
    client = api_client_for(None)
    statuses = [
        client.post("/api/token/", {"username": "RES-A ", "password": "wrong"}, REMOTE_ADDR=f"192.0.2.{i}").status_code
        for i in range(12)
    ]
    assert statuses == [400] * 10 + [429] * 2
    right = client.post("/api/token/", {"username": "res-a", "password": PASSWORD}, REMOTE_ADDR="192.0.2.99")
    assert right.status_code == 429
    # Another account from those addresses is not locked out by res-a's guesser.
    other = client.post("/api/token/", {"username": "res-b", "password": PASSWORD}, REMOTE_ADDR="192.0.2.50")
    assert other.status_code == 200


def test_token_throttle_uses_the_forwarded_address_only_behind_a_configured_proxy(rw, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    cache.clear()
    client = api_client_for(None)
    for i in range(12):  # each client behind the proxy has its own per-address budget
        headers = {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": f"203.0.113.{i}"}
        assert client.post("/api/token/", {"username": f"nobody-{i}", "password": "x"}, **headers).status_code == 400


def test_schema_and_docs_are_served(rw, client):
    schema = api_client_for(rw.researcher_a).get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {"/api/attempts/", "/api/studies/{slug}/attempts.csv", "/api/protocol-versions/"} <= set(paths)
    client.force_login(rw.researcher_a)
    docs = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in docs and "cdn" not in docs.lower()


def test_a_researcher_sets_up_and_enrols_through_the_api(world):
    client = api_client_for(world.researcher_a)
    assert client.post("/api/studies/", {"name": "Pilot", "slug": "pilot"}).status_code == 201
    arm = client.post("/api/arms/", {"study": "pilot", "key": "control", "name": "Control"}, format="json")
    assert arm.status_code == 201 and arm.json()["current_protocol_version"] is None
    assert client.post("/api/arms/", {"study": "pilot", "key": "control", "name": "Again"}).status_code == 400
    no_protocol = client.post("/api/participants/", {"study": "pilot", "arm": "control"}, format="json")
    assert no_protocol.status_code == 400 and "no protocol" in no_protocol.content.decode()
    protocol = {"arm_id": arm.json()["id"], "puzzle_groups": [{"key": "life-recall", "version": 1}]}
    assert client.post("/api/protocol-versions/", protocol, format="json").status_code == 201
    consent = client.post("/api/consent-versions/", {"study": "pilot", "text": "I agree.", "on_withdrawal": "retain"})
    assert consent.status_code == 201 and consent.json()["version"] == 1
    enrol = {"study": "pilot", "arm": "control", "full_name": "Eve E", "username": "eve"}
    assert "consent_given_at" in client.post("/api/participants/", enrol, format="json").json()
    response = client.post("/api/participants/", {**enrol, "consent_given_at": "2026-11-20T10:00:00+01:00"})
    assert response.status_code == 201 and response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["arm"] == "control" and body["protocol_version"] == 1 and "Eve E" not in response.content.decode()
    participant = Participant.objects.get(public_code=body["public_code"])
    assert body["login"]["username"] == "eve" and participant.user.check_password(body["login"]["password"])
    assert participant.consents.get().given_at.isoformat() == "2026-11-20T09:00:00+00:00"
    assert client.get("/api/participants/?study=pilot").json()["results"][0].get("login") is None

    reset = client.post(f"/api/participants/{body['public_code']}/password-reset/")
    assert reset.status_code == 200 and reset.json()["username"] == "eve"
    participant.user.refresh_from_db()
    assert participant.user.check_password(reset.json()["password"])
    assert not participant.user.check_password(body["login"]["password"])


def test_another_studys_researcher_cannot_set_up_enrol_or_reset(world):
    from studies.services import arm_create, protocol_version_create

    arm = arm_create(study=world.study_a, key="main", name="Main")
    protocol_version_create(arm=arm, puzzle_groups=[{"key": "life-recall", "version": 1}])
    intruder = api_client_for(world.researcher_b)
    writes = [
        ("/api/arms/", {"study": "study-a", "key": "intruder", "name": "Intruder"}),
        ("/api/consent-versions/", {"study": "study-a", "text": "x", "on_withdrawal": "retain"}),
        ("/api/participants/", {"study": "study-a", "arm": "main", "username": "intruder"}),
        ("/api/protocol-versions/", {"arm_id": arm.pk, "puzzle_groups": [{"key": "life-recall", "version": 1}]}),
    ]
    for url, data in writes:
        response = intruder.post(url, data, format="json")
        assert response.status_code == 400 and "password" not in response.content.decode(), url
    reset = intruder.post(f"/api/participants/{world.participant_a.public_code}/password-reset/")
    assert reset.status_code == 404
    assert intruder.get("/api/consent-versions/?study=study-a").json()["results"] == []
    trainee = api_client_for(world.trainee_a)
    assert trainee.post(f"/api/participants/{world.participant_a.public_code}/password-reset/").status_code == 403
    assert trainee.post("/api/studies/", {"name": "Mine", "slug": "mine"}).status_code == 403
    world.trainee_a.refresh_from_db()
    assert world.trainee_a.check_password(PASSWORD)
    assert arm.protocol_versions.count() == 1 and world.study_a.arms.count() == 1
    assert not world.study_a.consent_versions.exists() and world.study_a.participants.count() == 1
    assert not User.objects.filter(username="intruder").exists()
