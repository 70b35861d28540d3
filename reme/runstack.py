"""`make run`: the whole platform on one machine, as real processes, stopped cleanly by Ctrl-C.

Starts PostgreSQL+pgvector and Redis (see devservices), migrates, loads the demo study, then a
Celery worker, Daphne (HTTP + WebSocket) and our LLM server (inference.server, llama.cpp on the CPU).
Set DATABASE_URL / REDIS_URL / LLM_BASE_URL to use your own; REME_LLM=off runs without an LLM;
REME_DATA_DIR moves the bundled services' data (default .data/).
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from reme import devservices, queues
from reme.serve import stop_processes
from research.demo import DEMO_LOGINS, DEMO_PASSWORD

BASE_DIR = Path(__file__).resolve().parent.parent
HOST = os.environ.get("REME_HOST", "127.0.0.1")
PORT = int(os.environ.get("REME_PORT", "8000"))
LLM_PORT = int(os.environ.get("REME_LLM_PORT", "8080"))


def main() -> int:
    data_dir = Path(os.environ.get("REME_DATA_DIR", BASE_DIR / ".data"))
    started_postgres = "DATABASE_URL" not in os.environ
    children: list[subprocess.Popen] = []
    stopping = False

    def stop(*_args) -> None:
        nonlocal stopping
        stopping = True

    try:
        env = _prepare(data_dir)
        children.extend(_start(env))
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        exit_code = 0
        while not stopping:
            for child in children:
                if child.poll() is not None:
                    print(f"{child.args[2]} exited with {child.returncode}; stopping", file=sys.stderr)
                    stopping, exit_code = True, 1
            time.sleep(0.5)
    except KeyboardInterrupt:  # Ctrl-C while migrating or loading the demo
        exit_code = 130
    finally:
        # Whatever happened, stop what we started, the bundled PostgreSQL included; a second Ctrl-C
        # must not cut this short.
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        stop_processes(children, timeout=20)
        if started_postgres:
            devservices.stop_postgres(data_dir / "pg")
        print("ReMe stopped.", flush=True)
    return exit_code


def _prepare(data_dir: Path) -> dict:
    env = dict(os.environ, DJANGO_SETTINGS_MODULE=os.environ.get("DJANGO_SETTINGS_MODULE", "reme.settings.local"))
    env.setdefault("DATABASE_URL", devservices.ensure_postgres(data_dir / "pg", "reme"))
    env.setdefault("REDIS_URL", devservices.ensure_redis(data_dir / "redis", 0))
    manage = [sys.executable, str(BASE_DIR / "manage.py")]
    subprocess.run([*manage, "migrate", "--no-input"], env=env, check=True)
    subprocess.run([*manage, "load_demo"], env=env, check=True)
    return env


def _start(env: dict) -> list[subprocess.Popen]:
    python = sys.executable
    # Our LLM server, unless another is configured; the chat uses templates until it answers.
    own_llm = not env.get("LLM_BASE_URL") and env.get("REME_LLM", "on") != "off"
    if own_llm:
        env["LLM_BASE_URL"] = f"http://{HOST}:{LLM_PORT}/v1"
    # One worker per queue (reme/queues.py): a minutes-long LLM prefill never holds up an import.
    children = [
        subprocess.Popen(
            [python, "-m", "celery", "-A", "reme", "worker", "-l", "info", "--concurrency", "1", "-Q", queue,
             "-n", f"{queue}@%h"],
            env=env, cwd=BASE_DIR,
        )
        for queue in queues.worker_queues()
    ]  # fmt: skip
    children.append(subprocess.Popen([python, "-m", "daphne", "-b", HOST, "-p", str(PORT), "reme.asgi:application"],
                                     env=env, cwd=BASE_DIR))  # fmt: skip
    if own_llm:
        children.append(subprocess.Popen([python, "-m", "inference.server", "--host", HOST, "--port", str(LLM_PORT)],
                                         env=env, cwd=BASE_DIR))  # fmt: skip
    print(
        f"\nReMe is running at http://{HOST}:{PORT}/\n"
        f"  researcher login: {DEMO_LOGINS['researcher']} / {DEMO_PASSWORD}\n"
        f"  trainee login:    {DEMO_LOGINS['trainee']} / {DEMO_PASSWORD}\n"
        f"  LLM server:       {env.get('LLM_BASE_URL') or 'none configured (template mode)'}\n"
        "Press Ctrl-C to stop everything.\n",
        flush=True,
    )
    return children


if __name__ == "__main__":
    sys.exit(main())
