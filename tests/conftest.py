import io
import os
import socket
import subprocess
import sys
import time
import typing
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote

import psutil
import pytest
import redis
from django.conf import settings
from django.db import connection
from PIL import Image
from PIL.TiffImagePlugin import IFDRational
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import user_create
from chat.services import puzzle_groups_install_defaults
from reme.queues import worker_queues
from reme.serve import free_port, stop_processes
from studies.services import participant_enroll, study_create

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct-horse-battery"


@pytest.fixture(scope="session", autouse=True)
def _clean_test_broker():
    """The tests own their Redis database: stale messages from an earlier run must not leak in."""
    redis.Redis.from_url(settings.REDIS_URL).flushdb()


@pytest.fixture(autouse=True)
def _media_root(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"


def make_user(username: str, role: str) -> User:
    return user_create(username=username, password=PASSWORD, role=role)


@pytest.fixture
def world(db):
    """Two studies, each with its own researcher and trainee-participant."""
    puzzle_groups_install_defaults()  # a transactional test before this one flushed the migration's rows
    researcher_a = make_user("res-a", User.Role.RESEARCHER)
    researcher_b = make_user("res-b", User.Role.RESEARCHER)
    trainee_a = make_user("trainee-a", User.Role.TRAINEE)
    trainee_b = make_user("trainee-b", User.Role.TRAINEE)
    study_a = study_create(name="Study A", slug="study-a", researchers=[researcher_a])
    study_b = study_create(name="Study B", slug="study-b", researchers=[researcher_b])
    participant_a = participant_enroll(study=study_a, user=trainee_a, timezone="Europe/London", full_name="Ann A")
    participant_b = participant_enroll(study=study_b, user=trainee_b, timezone="Europe/London", full_name="Bob B")
    return SimpleNamespace(
        researcher_a=researcher_a,
        researcher_b=researcher_b,
        trainee_a=trainee_a,
        trainee_b=trainee_b,
        study_a=study_a,
        study_b=study_b,
        participant_a=participant_a,
        participant_b=participant_b,
    )


def api_client_for(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def jpeg_with_exif(when: str | None = "2025:05:03 14:30:00", gps: bool = True) -> bytes:
    image = Image.new("RGB", (32, 24), (200, 100, 50))
    exif = Image.Exif()
    if when:
        exif.get_ifd(0x8769)[36867] = when
    if gps:
        ifd = exif.get_ifd(0x8825)
        ifd[1], ifd[3] = "N", "W"
        ifd[2] = (IFDRational(51), IFDRational(45), IFDRational(7.2))
        ifd[4] = (IFDRational(1), IFDRational(15), IFDRational(27.72))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


def database_url_for_this_test_db() -> str:
    """The URL of the test database pytest-django created, for processes started by a test."""
    params = connection.settings_dict
    host = params["OPTIONS"].get("host") or params["HOST"] or "127.0.0.1"
    port = f":{params['PORT']}" if params["PORT"] else ""
    if host.startswith("/"):
        return f"postgres://{params['USER']}@/{params['NAME']}?host={quote(host, safe='')}"
    return f"postgres://{params['USER']}:{params['PASSWORD']}@{host}{port}/{params['NAME']}"


class ChildProcess:
    """A service a test started; `stop` is a clean shutdown, `crash` a SIGKILL (as when a machine dies)."""

    process: subprocess.Popen
    log: typing.IO

    def crash(self) -> None:
        self.process.kill()
        self.process.wait(timeout=20)
        self.log.close()

    def stop(self) -> None:
        stop_processes([self.process])
        self.log.close()


class CeleryWorker(ChildProcess):
    """A real `celery worker` process on the test database and test broker; by default it consumes every
    queue (reme/queues.py), `queues` names some."""

    def __init__(
        self, log_path: Path, extra_env: dict | None = None, queues: list[str] | None = None, beat: bool = False
    ):
        env = dict(os.environ, DATABASE_URL=database_url_for_this_test_db(), PYTHONUNBUFFERED="1", **(extra_env or {}))
        env["MEDIA_ROOT"] = str(settings.MEDIA_ROOT)
        self.log_path = log_path
        self.log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        # With `beat`, the worker also runs Celery beat (the periodic import sweeper), as `make run` does.
        scheduler = ["-B", "-s", str(log_path.parent / "celerybeat-schedule")] if beat else []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "reme", "worker", "--pool", "prefork", "--concurrency", "1",
             "-Q", ",".join(queues or worker_queues()), "-n", f"{log_path.stem}@%h", "-l", "info",
             "--without-mingle", "--without-gossip", *scheduler],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self._wait_for("ready.", timeout=60)

    def _wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log_path.read_text():
                return
            if self.process.poll() is not None:
                raise RuntimeError("celery worker exited:\n" + self.log_path.read_text())
            time.sleep(0.2)
        raise TimeoutError(f"celery worker not {text!r} in {timeout}s:\n" + self.log_path.read_text())

    def pool_children(self) -> list[psutil.Process]:
        return psutil.Process(self.process.pid).children()


@pytest.fixture
def celery_worker(transactional_db, tmp_path):
    worker = CeleryWorker(tmp_path / "worker.log")
    yield worker
    worker.stop()


class DaphneServer(ChildProcess):
    """The real ASGI server (HTTP + WebSocket) on the test database, in its own process."""

    def __init__(self, log_path: Path, extra_env: dict | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = dict(os.environ, DATABASE_URL=database_url_for_this_test_db(), PYTHONUNBUFFERED="1")
        self.env.update(MEDIA_ROOT=str(settings.MEDIA_ROOT), DB_CONN_MAX_AGE="0", **(extra_env or {}))
        self.log_path = log_path
        self.start()

    def start(self) -> None:
        """(Re)start on the same port, as a crashed server coming back would."""
        self.log = open(self.log_path, "a")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "reme.asgi:application"],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait_until(self._answers, timeout=60, message="daphne to answer")

    def _answers(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError("daphne exited:\n" + self.log_path.read_text())
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False


def wait_until(predicate, timeout: float = 60, interval: float = 0.2, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {message}")
