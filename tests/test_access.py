"""Who may see what, on every endpoint: researchers only their studies, trainees only themselves."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from lifelog.models import ImportJob
from tests.conftest import PASSWORD, api_client_for
from tests.test_import_service import run_import


@pytest.fixture
def data(world):
    run_import(world.participant_a, json.dumps([{"when": "2025-05-03", "title": "A's secret picnic"}]).encode())
    run_import(world.participant_b, json.dumps([{"when": "2025-05-03", "title": "B's secret picnic"}]).encode())
    world.entry_a = world.participant_a.entries.get()
    world.entry_b = world.participant_b.entries.get()
    world.job_a = ImportJob.objects.get(participant=world.participant_a)
    world.job_b = ImportJob.objects.get(participant=world.participant_b)
    return world


def api_reads(participant, job):
    code = participant.public_code
    return [
        f"/api/participants/{code}/entries/",
        f"/api/participants/{code}/search/?q=picnic",
        f"/api/participants/{code}/imports/",
        f"/api/imports/{job.pk}/",
    ]


def test_researcher_reads_own_study(data):
    client = api_client_for(data.researcher_a)
    for url in api_reads(data.participant_a, data.job_a):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "B's secret" not in response.content.decode()
    entries = client.get(f"/api/participants/{data.participant_a.public_code}/entries/").json()["results"]
    assert [e["title"] for e in entries] == ["A's secret picnic"]
    assert "full_name" not in json.dumps(entries) and "Ann A" not in json.dumps(entries)


def test_researcher_cannot_reach_another_study(data):
    client = api_client_for(data.researcher_b)
    for url in api_reads(data.participant_a, data.job_a):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "A's secret" not in response.content.decode()
    assert client.post(f"/api/entries/{data.entry_a.pk}/exclude/", {"excluded": True}).status_code == 404
    upload = SimpleUploadedFile("x.json", b'[{"when": "2025-01-01", "title": "planted"}]')
    response = client.post(f"/api/participants/{data.participant_a.public_code}/imports/", {"file": upload})
    assert response.status_code == 404
    assert not data.participant_a.entries.filter(title="planted").exists()
    data.entry_a.refresh_from_db()
    assert data.entry_a.excluded is False


def test_trainee_sees_only_themself_and_no_researcher_endpoints(data):
    client = api_client_for(data.trainee_a)
    own = data.participant_a.public_code
    assert client.get(f"/api/participants/{own}/entries/").status_code == 200
    assert client.get(f"/api/participants/{own}/search/?q=picnic").status_code == 200
    assert client.get(f"/api/participants/{own}/imports/").status_code == 403
    assert client.get(f"/api/imports/{data.job_a.pk}/").status_code == 403
    upload = SimpleUploadedFile("x.json", b'[{"when": "2025-01-01", "title": "x"}]')
    assert client.post(f"/api/participants/{own}/imports/", {"file": upload}).status_code == 403
    for url in api_reads(data.participant_b, data.job_b):
        assert client.get(url).status_code in (403, 404), url
    assert client.post(f"/api/entries/{data.entry_b.pk}/exclude/", {"excluded": True}).status_code == 404


def test_trainee_can_withdraw_own_entry(data):
    response = api_client_for(data.trainee_a).post(
        f"/api/entries/{data.entry_a.pk}/exclude/", {"excluded": True}, format="json"
    )
    assert response.status_code == 200 and response.json()["excluded"] is True
    data.entry_a.refresh_from_db()
    assert data.entry_a.excluded is True


def test_anonymous_gets_nothing(data):
    client = api_client_for(None)
    for url in api_reads(data.participant_a, data.job_a):
        assert client.get(url).status_code in (401, 403), url
    for name in ("research:study_list", "lifelog:my_entries"):
        response = client.get(reverse(name))
        assert response.status_code == 302 and "/login/" in response["Location"]


def test_token_authentication(data):
    client = api_client_for(None)
    token = client.post("/api/token/", {"username": "res-a", "password": PASSWORD}).json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get(f"/api/participants/{data.participant_a.public_code}/entries/").status_code == 200
    assert client.get(f"/api/participants/{data.participant_b.public_code}/entries/").status_code == 404


def test_html_pages_follow_the_same_rules(data, client):
    client.force_login(data.researcher_b)
    assert client.get(reverse("research:study_detail", args=["study-a"])).status_code == 404
    assert client.get(reverse("research:participant_detail", args=[data.participant_a.public_code])).status_code == 404
    assert client.post(reverse("lifelog:entry_exclude", args=[data.entry_a.pk]), {"excluded": "1"}).status_code == 404
    listing = client.get(reverse("research:study_list")).content.decode()
    assert "Study B" in listing and "Study A" not in listing

    client.force_login(data.trainee_a)
    assert client.get(reverse("research:study_list")).status_code == 403
    assert client.get(reverse("research:participant_detail", args=[data.participant_a.public_code])).status_code == 403
    page = client.get(reverse("lifelog:my_entries")).content.decode()
    assert "A&#x27;s secret picnic" in page and "B&#x27;s secret" not in page


def test_home_sends_each_role_to_its_side(data, client):
    client.force_login(data.researcher_a)
    assert client.get("/")["Location"] == reverse("research:study_list")
    client.force_login(data.trainee_a)
    assert client.get("/")["Location"] == reverse("chat:home")


def test_upload_over_the_limit_is_refused_with_its_size(world, settings):
    settings.LIFELOG_MAX_UPLOAD_BYTES = 2 * 2**20
    upload = SimpleUploadedFile("huge.csv", b"date,title\n" + b"2025-01-01,x\n" * 400_000)
    response = api_client_for(world.researcher_a).post(
        f"/api/participants/{world.participant_a.public_code}/imports/", {"file": upload}
    )
    assert response.status_code == 413
    assert response.json()["errors"][0]["message"] == "the file is 5.0 MB; the limit is 2 MB"
    assert ImportJob.objects.count() == 0
