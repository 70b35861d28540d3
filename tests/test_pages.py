"""Server-rendered pages: upload form, import errors, escaping of life-log text."""

import json

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from lifelog.models import ImportJob
from tests.test_import_service import run_import

SCRIPT = "<script>alert('pwned')</script>"


def test_life_log_text_is_rendered_escaped(world, client):
    entry = {
        "when": "2025-05-03",
        "title": SCRIPT,
        "description": "<img src=x onerror=alert(1)>",
        "people": ["<b>Eve</b>"],
    }
    run_import(world.participant_a, json.dumps([entry]).encode())
    for user, url in (
        (world.researcher_a, reverse("research:participant_detail", args=[world.participant_a.public_code])),
        (world.trainee_a, reverse("lifelog:my_entries")),
    ):
        client.force_login(user)
        page = client.get(url).content.decode()
        assert SCRIPT not in page and "<img src=x" not in page and "<b>Eve</b>" not in page
        assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in page
        assert "&lt;b&gt;Eve&lt;/b&gt;" in page


def test_upload_form_queues_an_import(world, client, django_capture_on_commit_callbacks, monkeypatch):
    queued = []
    monkeypatch.setattr("lifelog.services._enqueue", queued.append)  # the worker itself is tested elsewhere
    client.force_login(world.researcher_a)
    url = reverse("research:participant_detail", args=[world.participant_a.public_code])
    upload = SimpleUploadedFile("diary.txt", b"2025-05-03 Walked to the market.\n")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"file": upload}, follow=True)
    job = ImportJob.objects.get()
    assert queued == [job.pk] and job.status == "queued" and job.format == "diary"
    assert "diary.txt is queued for import." in response.content.decode()


def test_upload_form_shows_located_errors(world, client):
    client.force_login(world.researcher_a)
    url = reverse("research:participant_detail", args=[world.participant_a.public_code])
    response = client.post(url, {"file": SimpleUploadedFile("notes.xlsx", b"PK\x03\x04")}, follow=True)
    assert "notes.xlsx: unsupported file type &#x27;.xlsx&#x27;" in response.content.decode()
    assert ImportJob.objects.count() == 0


def test_failed_import_lists_its_errors_on_the_page(world, client):
    run_import(world.participant_a, b"date,title\nyesterday,Walk\n", "walks.csv")
    client.force_login(world.researcher_a)
    page = client.get(reverse("research:participant_detail", args=[world.participant_a.public_code])).content.decode()
    assert "walks.csv, line 2, field &#x27;date&#x27;: &#x27;yesterday&#x27; is not a date" in page


def test_search_form(world, client):
    run_import(world.participant_a, json.dumps([{"when": "2025-05-03", "title": "Swimming in the sea"}]).encode())
    client.force_login(world.researcher_a)
    url = reverse("research:participant_detail", args=[world.participant_a.public_code])
    page = client.get(url, {"q": "beach holiday", "date_from": "2025-05-01"}).content.decode()
    assert "Swimming in the sea" in page and "distance" in page
    empty = client.get(url, {"q": "beach", "date_to": "2025-01-01"}).content.decode()
    assert "Nothing found." in empty
