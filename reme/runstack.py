"""`make run`: the whole platform on one machine, as real processes, stopped cleanly by Ctrl-C.

Starts PostgreSQL+pgvector and Redis (see devservices), migrates, loads the demo study, then a
Celery worker per queue and beat, Daphne (HTTP + WebSocket) and our LLM server (inference.server, llama.cpp
on the CPU). Each child is supervised: one that dies is restarted with backoff while the others keep serving.
Set DATABASE_URL / REDIS_URL / LLM_BASE_URL to use your own; REME_LLM=off runs without an LLM;
REME_DATA_DIR moves the bundled services' data (default .data/).
"""

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from reme import devservices, queues
from reme.serve import stop_processes
from research.demo import DEMO_LOGINS, DEMO_PASSWORD

BASE_DIR = Path(__file__).resolve().parent.parent
HOST = os.environ.get("REME_HOST", "127.0.0.1")
PORT = int(os.environ.get("REME_PORT", "8000"))
LLM_PORT = int(os.environ.get("REME_LLM_PORT", "8080"))


RESTART_BASE_S = float(os.environ.get("REME_RESTART_BASE_S", "1"))
RESTART_MAX_S = float(os.environ.get("REME_RESTART_MAX_S", "30"))
STABLE_S = 60.0  # a child that ran this long starts its backoff afresh when it next dies


@dataclass
class Child:
    """One supervised process: restarted when it dies, after a backoff that doubles while it keeps dying
    (1 s, 2 s, 4 s … up to RESTART_MAX_S), so a broken child cannot spin and the others keep serving."""

    name: str
    args: list[str]
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    failures: int = 0
    restart_at: float | None = None

    def start(self, env: dict) -> None:
        self.process = subprocess.Popen(self.args, env=env, cwd=BASE_DIR)
        self.started_at, self.restart_at = time.monotonic(), None

    def supervise(self, env: dict) -> None:
        now = time.monotonic()
        if self.restart_at is not None:
            if now >= self.restart_at:
                print(f"runstack: restarting {self.name}", file=sys.stderr, flush=True)
                self.start(env)
            return
        if self.process is None or self.process.poll() is None:
            return
        self.failures = 1 if now - self.started_at >= STABLE_S else self.failures + 1
        delay = min(RESTART_BASE_S * 2 ** (self.failures - 1), RESTART_MAX_S)
        print(
            f"runstack: {self.name} exited with {self.process.returncode}; restarting in {delay:.0f} s "
            f"(failure {self.failures}); the rest keep serving",
            file=sys.stderr,
            flush=True,
        )
        self.restart_at = now + delay


def main() -> int:
    data_dir = Path(os.environ.get("REME_DATA_DIR", BASE_DIR / ".data"))
    started_postgres = "DATABASE_URL" not in os.environ
    children: list[Child] = []
    stopping = False

    def stop(*_args) -> None:
        nonlocal stopping
        stopping = True

    def interrupt(*_args) -> None:
        raise KeyboardInterrupt

    # Until the children run, a Ctrl-C or SIGTERM interrupts the preparation, even from a shell that started us
    # with SIGINT ignored (a background job); the finally clause still stops what was started.
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    try:
        env = _prepare(data_dir)
        children.extend(_start(env, data_dir))
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        exit_code = 0
        while not stopping:
            for child in children:
                child.supervise(env)
            time.sleep(0.5)
    except KeyboardInterrupt:  # Ctrl-C while migrating or loading the demo
        exit_code = 130
    finally:
        # Whatever happened, stop what we started, the bundled PostgreSQL included; a second Ctrl-C
        # must not cut this short.
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        stop_processes([child.process for child in children if child.process], timeout=20)
        if started_postgres:
            devservices.stop_postgres(data_dir / "pg")
        print("ReMe stopped.", flush=True)
    return exit_code


def _prepare(data_dir: Path) -> dict:
    env = dict(os.environ, DJANGO_SETTINGS_MODULE=os.environ.get("DJANGO_SETTINGS_MODULE", "reme.settings.local"))
    # Only when not given: setdefault would start the bundled ones anyway (its argument is evaluated first),
    # and a PostgreSQL we did not mean to start is never stopped.
    if not env.get("DATABASE_URL"):
        env["DATABASE_URL"] = devservices.ensure_postgres(data_dir / "pg", "reme")
    if not env.get("REDIS_URL"):
        env["REDIS_URL"] = devservices.ensure_redis(data_dir / "redis", 0)
    if _own_llm(env):  # set before the demo loads, so loading it queues the demo trainee's prefill
        env["LLM_BASE_URL"] = f"http://{HOST}:{LLM_PORT}/v1"
        env["REME_OWN_LLM"] = "1"
        env.setdefault("LLM_MODEL", _own_model_name(env))  # the demo protocol and every trial row name it
    manage = [sys.executable, str(BASE_DIR / "manage.py")]
    subprocess.run([*manage, "migrate", "--no-input"], env=env, check=True)
    subprocess.run([*manage, "load_demo"], env=env, check=True)
    return env


def _own_llm(env: dict) -> bool:
    """Our LLM server, unless another is configured or REME_LLM=off."""
    return not env.get("LLM_BASE_URL") and env.get("REME_LLM", "on") != "off"


def _own_model_name(env: dict) -> str:
    """The name our LLM server gives its model (the file's stem), so what the LLM wrote is recorded with the model
    that wrote it rather than a placeholder."""
    if env.get("LLM_MODEL_PATH"):
        return Path(env["LLM_MODEL_PATH"]).stem
    from inference.server.model_files import DEFAULT_MODEL

    return env.get("LLM_PACKAGED_MODEL") or DEFAULT_MODEL


def _start(env: dict, data_dir: Path) -> list[Child]:
    python = sys.executable
    # Our LLM server (set up by _prepare), unless another is configured; the chat uses templates until it answers.
    own_llm = env.get("REME_OWN_LLM") == "1"
    celery = [python, "-m", "celery", "-A", "reme"]
    # One worker per queue (reme/queues.py): a minutes-long LLM prefill never holds up an import.
    children = [
        Child(f"celery worker {queue}", [*celery, "worker", "-l", "info", "--concurrency", "1", "-Q", queue,
                                         "-n", f"{queue}@%h"])
        for queue in queues.worker_queues()
    ]  # fmt: skip
    children += [
        # Beat runs the periodic sweeper that re-queues imports whose worker or message was lost.
        Child("celery beat", [*celery, "beat", "-l", "info", "-s", str(data_dir / "celerybeat-schedule")]),
        Child("daphne", [python, "-m", "daphne", "-b", HOST, "-p", str(PORT), "reme.asgi:application"]),
    ]
    if own_llm:
        children.append(
            Child("LLM server", [python, "-m", "inference.server", "--host", HOST, "--port", str(LLM_PORT)])
        )
    for child in children:
        child.start(env)
    print(
        f"\nReMe is running at http://{HOST}:{PORT}/\n"
        f"  researcher login: {DEMO_LOGINS['researcher']} / {DEMO_PASSWORD}\n"
        f"  trainee login:    {DEMO_LOGINS['trainee']} / {DEMO_PASSWORD}\n"
        f"  LLM server:       {env.get('LLM_BASE_URL') or 'none configured (template mode)'}\n"
        + (
            "  The LLM worker now reads the demo trainee's most recent entries (about a minute on a CPU) and writes\n"
            "  the first rewordings and puzzles over them, then reads the whole life log (minutes the first time,\n"
            "  tens of minutes on a busy machine); the researcher's participant page shows how far it is. Sessions\n"
            "  never wait: until the LLM's work is ready they use ReMe's own wording and puzzles.\n"
            if env.get("LLM_BASE_URL")
            else ""
        )
        + "Press Ctrl-C to stop everything.\n",
        flush=True,
    )
    return children


if __name__ == "__main__":
    sys.exit(main())
