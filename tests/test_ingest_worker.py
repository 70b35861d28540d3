"""Ingestion through a real Celery worker process on real Redis, including a worker killed mid-import."""

import signal
import time

import pytest
import redis
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.files.uploadedfile import SimpleUploadedFile

from lifelog.models import ImportJob, LifeLogEntry
from lifelog.sample_data import generate_json
from lifelog.services import import_job_create, import_job_run
from lifelog.tasks import ingest_import_job
from reme.asgi import application
from tests.conftest import api_client_for, wait_until

pytestmark = pytest.mark.slow


def job_state(job_id: int) -> ImportJob:
    return ImportJob.objects.get(pk=job_id)


def test_upload_is_ingested_by_the_worker(world, celery_worker):
    upload = SimpleUploadedFile("log.json", generate_json(40, seed=1))
    client = api_client_for(world.researcher_a)
    response = client.post(f"/api/participants/{world.participant_a.public_code}/imports/", {"file": upload})
    assert response.status_code == 202 and response.json()["status"] == "queued"
    job_id = response.json()["id"]
    wait_until(lambda: job_state(job_id).status == "done", timeout=90, message="import done")
    state = client.get(f"/api/imports/{job_id}/").json()
    assert (state["status"], state["created"], state["done"], state["total"]) == ("done", 40, 40, 40)
    assert LifeLogEntry.objects.filter(participant=world.participant_a, embedding__isnull=False).count() == 40


def test_bad_upload_fails_in_the_worker_with_reasons(world, celery_worker, settings):
    settings.LIFELOG_VALIDATE_ON_UPLOAD_BYTES = 0  # too big to check on upload: the worker finds the problem
    upload = SimpleUploadedFile("log.csv", b"date,title\n2025-05-03,ok\n2025-99-01,bad\n")
    client = api_client_for(world.researcher_a)
    job_id = client.post(f"/api/participants/{world.participant_a.public_code}/imports/", {"file": upload}).json()["id"]
    wait_until(lambda: job_state(job_id).status == "failed", timeout=90, message="import failed")
    errors = client.get(f"/api/imports/{job_id}/").json()["errors"]
    assert errors == [
        {"file": "log.csv", "line": 3, "field": "date", "message": "'2025-99-01' has month 99; months go from 01 to 12"}
    ]
    assert LifeLogEntry.objects.count() == 0


def test_a_tiny_bad_upload_is_refused_at_once_without_a_worker(world):
    """Nothing consumes the queues here: the answer cannot have come from behind queued work."""
    upload = SimpleUploadedFile("log.csv", b"date,title\n2025-05-03,ok\n2026-02-30,bad\n")
    client = api_client_for(world.researcher_a)
    started = time.monotonic()
    response = client.post(f"/api/participants/{world.participant_a.public_code}/imports/", {"file": upload})
    assert response.status_code == 400 and time.monotonic() - started < 5
    assert response.json()["errors"] == [
        {
            "file": "log.csv",
            "line": 3,
            "field": "date",
            "message": "'2026-02-30' does not exist: February 2026 has 28 days",
        }
    ]
    assert not ImportJob.objects.exists()


def test_imports_have_a_queue_of_their_own(world, django_capture_on_commit_callbacks, settings):
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete(settings.CELERY_IMPORT_QUEUE, settings.CELERY_TASK_DEFAULT_QUEUE)
    assert settings.CELERY_IMPORT_QUEUE != settings.CELERY_TASK_DEFAULT_QUEUE
    upload = SimpleUploadedFile("log.json", generate_json(3, seed=1))
    client = api_client_for(world.researcher_a)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/participants/{world.participant_a.public_code}/imports/", {"file": upload})
    assert response.status_code == 202
    assert (broker.llen(settings.CELERY_IMPORT_QUEUE), broker.llen(settings.CELERY_TASK_DEFAULT_QUEUE)) == (1, 0)
    broker.delete(settings.CELERY_IMPORT_QUEUE)


def test_a_column_mapping_reads_a_file_in_its_own_names(world):
    data = "Datum;Titel;Notiz\n2025-05-03;Picnic;In the park\n".replace(";", ",").encode()
    client = api_client_for(world.researcher_a)
    url = f"/api/participants/{world.participant_a.public_code}/imports/"
    wrong = client.post(url, {"file": SimpleUploadedFile("log.csv", data), "columns": "Datum=day"})
    assert wrong.status_code == 400 and "'day' is not one of ours" in wrong.json()["errors"][0]["message"]
    unmapped = client.post(url, {"file": SimpleUploadedFile("log.csv", data)}).json()["errors"]
    assert any("Did you mean" in error["message"] or error["field"] == "datum" for error in unmapped)
    mapping = "Datum=date, Titel=title, notiz=description"
    job_id = client.post(url, {"file": SimpleUploadedFile("log.csv", data), "columns": mapping}).json()["id"]
    assert import_job_run(job_id=job_id).status == "done"  # the stored job keeps the mapping for the worker
    entry = LifeLogEntry.objects.get(participant=world.participant_a)
    assert (entry.title, entry.description) == ("Picnic", "In the park")


@pytest.mark.timeout(600)  # a loaded 2-core machine re-embeds 1,500 entries in minutes, an idle one in seconds
def test_worker_killed_mid_import_retries_and_stores_each_entry_once(world, celery_worker):
    entries = 1500  # several seconds of embedding: time to kill the worker half-way
    job = import_job_create(
        participant=world.participant_a, filename="big.json", data=generate_json(entries, seed=7), created_by=None
    )
    wait_until(lambda: job_state(job.pk).progress_done >= 128, timeout=90, message="import under way")
    (child,) = celery_worker.pool_children()
    child.send_signal(signal.SIGKILL)
    assert LifeLogEntry.objects.count() == 0  # nothing half-imported

    done = wait_until(lambda: (j := job_state(job.pk)).status == "done" and j, timeout=480, message="retried import")
    assert done.attempts == 2
    assert done.created_count == LifeLogEntry.objects.filter(participant=world.participant_a).count()
    assert done.created_count + done.duplicate_count == entries
    assert LifeLogEntry.objects.values("content_hash").distinct().count() == done.created_count


def test_progress_is_pushed_over_the_websocket(transactional_db, world, client, settings):
    """The consumer on the real Redis channel layer, fed by the task code running in-process."""
    settings.LIFELOG_EMBED_BATCH = 50
    job = import_job_create(
        participant=world.participant_a, filename="log.json", data=generate_json(150, seed=3), created_by=None,
        enqueue=False,
    )  # fmt: skip
    client.force_login(world.researcher_a)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()

    async def scenario() -> list[dict]:
        socket = WebsocketCommunicator(
            application, f"/ws/imports/{job.pk}/", headers=[(b"cookie", cookie), (b"origin", b"http://localhost")]
        )
        connected, _ = await socket.connect()
        assert connected
        states = [await socket.receive_json_from(timeout=10)]
        await database_sync_to_async(ingest_import_job.apply)(args=[job.pk])
        while states[-1]["status"] != "done":
            states.append(await socket.receive_json_from(timeout=10))
        await socket.disconnect()
        return states

    states = async_to_sync(scenario)()
    assert states[0]["status"] == "queued"
    running = [s for s in states if s["status"] == "running"]
    assert [s["done"] for s in running] == [0, 50, 100, 150]
    assert states[-1]["label"] == "done" and states[-1]["created"] == 150


@pytest.mark.parametrize("who", ["researcher_b", "trainee_a", None])
def test_websocket_refuses_those_who_may_not_see_the_job(transactional_db, world, client, who):
    job = import_job_create(
        participant=world.participant_a, filename="x.json", data=generate_json(2, seed=1), created_by=None,
        enqueue=False,
    )  # fmt: skip
    headers = [(b"origin", b"http://localhost")]
    if who:
        client.force_login(getattr(world, who))
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))

    async def scenario():
        socket = WebsocketCommunicator(application, f"/ws/imports/{job.pk}/", headers=headers)
        connected, code = await socket.connect()
        return connected, code

    assert async_to_sync(scenario)() == (False, 4403)
