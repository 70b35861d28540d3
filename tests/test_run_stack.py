"""`make run`'s launcher brings up the whole platform as real processes and Ctrl-C stops it."""

import os
import re
import signal
import subprocess
import sys
import time

import psutil
import psycopg
import pytest
import requests
from django.db import connection

from reme import devservices
from research.demo import DEMO_LOGINS, DEMO_PASSWORD
from tests.conftest import ROOT, database_url_for_this_test_db, free_port, wait_until

pytestmark = pytest.mark.slow
PORT = 8765


@pytest.fixture
def fresh_database(db):
    """An empty database on the same server, as a first `make run` would find."""
    test_db = connection.settings_dict["NAME"]
    url = database_url_for_this_test_db().replace(f"/{test_db}", "/postgres")
    name = "reme_runstack_test"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield url.replace("/postgres?", f"/{name}?")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.timeout(600)  # the LLM server starts twice (killed once)
def test_run_stack_serves_the_demo_restarts_a_dead_child_and_stops_cleanly(fresh_database, tmp_path):
    llm_port = free_port()
    env = dict(
        os.environ,
        DATABASE_URL=fresh_database,
        REME_PORT=str(PORT),
        PYTHONUNBUFFERED="1",
        MEDIA_ROOT=str(tmp_path / "media"),
        CELERY_QUEUE="reme-runstack-test",
        REME_LLM_PORT=str(llm_port),
        LLM_KV_DIR=str(tmp_path / "kv"),
        LLM_PREFILL_ENABLED="0",  # the demo's 20K-token context is not this test's subject
    )
    log = tmp_path / "stack.log"
    with open(log, "w") as out:
        stack = subprocess.Popen([sys.executable, "-m", "reme.runstack"], cwd=ROOT, env=env, stdout=out, stderr=out)
        try:
            wait_until(lambda: "Press Ctrl-C" in log.read_text(), timeout=240, message="stack up")
            banner = log.read_text()
            assert f"http://127.0.0.1:{PORT}/" in banner and DEMO_LOGINS["researcher"] in banner
            wait_until(lambda: _answers(f"http://127.0.0.1:{PORT}/login/"), timeout=180, message="daphne")

            session = requests.Session()
            login_page = session.get(f"http://127.0.0.1:{PORT}/login/")
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page.text)[1]
            page = session.post(
                f"http://127.0.0.1:{PORT}/login/",
                data={"username": DEMO_LOGINS["researcher"], "password": DEMO_PASSWORD,
                      "csrfmiddlewaretoken": token},
            )  # fmt: skip
            assert page.status_code == 200 and "Demo: everyday memory training" in page.text
            assert session.get(f"http://127.0.0.1:{PORT}/static/reme.css").status_code == 200
            assert f"LLM server:       http://127.0.0.1:{llm_port}/v1" in banner
            wait_until(lambda: _answers(f"http://127.0.0.1:{llm_port}/health"), timeout=240, message="LLM server")
            # a worker per queue: the LLM's work (prefill, authoring) never holds up an import
            wait_until(lambda: "reme-runstack-test-llm@" in log.read_text(), timeout=60, message="the LLM's worker")
            assert "reme-runstack-test@" in log.read_text()

            # A dead child is restarted and logged; the rest keep serving meanwhile.
            _child(stack, "inference.server").kill()
            wait_until(lambda: "LLM server exited with -9; restarting" in log.read_text(), timeout=10, message="log")
            assert _answers(f"http://127.0.0.1:{PORT}/login/")
            wait_until(lambda: _answers(f"http://127.0.0.1:{llm_port}/health"), timeout=240, message="LLM back")
            _child(stack, "daphne").kill()
            wait_until(lambda: _answers(f"http://127.0.0.1:{PORT}/login/"), timeout=180, message="daphne back")
            assert "daphne exited with -9; restarting in 1 s" in log.read_text()
            assert stack.poll() is None
        finally:
            stack.send_signal(signal.SIGINT)
            code = stack.wait(timeout=60)
    assert code == 0, log.read_text()
    assert "ReMe stopped." in log.read_text()
    time.sleep(0.5)
    assert not _answers(f"http://127.0.0.1:{PORT}/login/")
    assert not _answers(f"http://127.0.0.1:{llm_port}/health")


def _child(stack: subprocess.Popen, module: str) -> psutil.Process:
    (child,) = [child for child in psutil.Process(stack.pid).children() if module in child.cmdline()]
    return child


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_ctrl_c_stops_the_bundled_postgresql(tmp_path):
    """Without DATABASE_URL the launcher starts its own PostgreSQL; Ctrl-C (here while it migrates) stops it."""
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(REME_DATA_DIR=str(data_dir), REME_LLM="off", PYTHONUNBUFFERED="1", REME_PORT=str(free_port()))
    pid_file = devservices._short_dir(data_dir / "pg") / "postmaster.pid"
    log = tmp_path / "stack.log"
    with open(log, "w") as out:
        stack = subprocess.Popen([sys.executable, "-m", "reme.runstack"], cwd=ROOT, env=env, stdout=out, stderr=out)
        try:
            wait_until(lambda: "Operations to perform" in log.read_text(), timeout=120, message="migrate to start")
            postmaster = int(pid_file.read_text().split()[0])
            assert psutil.pid_exists(postmaster)
        finally:
            stack.send_signal(signal.SIGINT)
            stack.wait(timeout=60)
    assert "ReMe stopped." in log.read_text()
    assert not psutil.pid_exists(postmaster) or psutil.Process(postmaster).status() == psutil.STATUS_ZOMBIE


def test_devservices_up_creates_a_missing_database_on_a_running_server(db):
    test_db = connection.settings_dict["NAME"]
    maintenance = database_url_for_this_test_db().replace(f"/{test_db}", "/postgres")
    name = "reme_devservices_missing"
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    url = database_url_for_this_test_db().replace(f"/{test_db}", f"/{name}")
    env = dict(os.environ, DATABASE_URL=url, REDIS_URL="redis://127.0.0.1:1/0")
    try:
        printed = subprocess.run(
            [sys.executable, "-m", "reme.devservices", "up", "--database", name],
            cwd=ROOT, env=env, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        assert f"export DATABASE_URL='{url}'" in printed
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == (name,)
    finally:
        with psycopg.connect(maintenance, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
