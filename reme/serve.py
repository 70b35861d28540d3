"""Run N Daphne processes on one listening socket: `python -m reme.serve --port 8000 --processes 2`.

Python serves one core per process (the GIL), so a deployment runs one per core; the kernel spreads new
connections over them, and the Redis channel layer joins tabs of one session held by different processes.
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A port nobody listens on now (for tests and benchmarks that start their own servers)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_servers(
    host: str, port: int, processes: int, *, env: dict | None = None, stdout=None
) -> tuple[socket.socket, list[subprocess.Popen]]:
    listener = socket.create_server((host, port), backlog=1024)
    os.set_inheritable(listener.fileno(), True)
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "daphne", "--fd", str(listener.fileno()), "reme.asgi:application"],
            cwd=BASE_DIR,
            env=env,
            stdout=stdout,
            stderr=subprocess.STDOUT if stdout else None,
            pass_fds=(listener.fileno(),),
        )
        for _ in range(max(1, processes))
    ]
    return listener, children


def stop_processes(children: list[subprocess.Popen], timeout: float = 30) -> None:
    """SIGTERM to all, then wait; whatever has not exited in `timeout` seconds is killed."""
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def stop_servers(listener: socket.socket, children: list[subprocess.Popen]) -> None:
    stop_processes(children)
    listener.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=os.environ.get("HOST", "0.0.0.0"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--processes", type=int, default=int(os.environ.get("WEB_PROCESSES", os.cpu_count() or 1)))
    args = parser.parse_args()
    listener, children = start_servers(args.host, args.port, args.processes)
    signal.signal(signal.SIGTERM, lambda *_: stop_servers(listener, children))
    try:
        for child in children:
            child.wait()
    except KeyboardInterrupt:
        stop_servers(listener, children)


if __name__ == "__main__":
    main()
