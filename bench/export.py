"""Export benchmark: `python -m bench.export` (or `make bench-export`).

Creates 1,000,000 attempts (500 participants × 20 sessions × 5 puzzles × 20 attempts, written with
INSERT … SELECT so setup takes seconds, not the hours of playing them), then streams the attempts export
of the study over HTTP from a real Daphne process and measures, per run on a freshly started server:
rows received per second at the client and the server process's peak resident memory (VmHWM).

Runs, side by side:
- the CSV export of 10% of the rows (one arm) and of all rows: peak memory must not grow with rows;
- the JSON export and the redacted CSV export of the 10%;
- the baseline a researcher has without an export: paging through `GET /api/attempts/` (1,000 a page);
- PostgreSQL's own `COPY (<the export's SELECT>) TO STDOUT WITH CSV` of the same rows, read by psql (a C
  client, as curl is): the export's rate over COPY's is the machine-independent figure (goal >= 0.5).

Exports are downloaded with curl, the pages with httpx; client, server and PostgreSQL share the cores.

Prints a table; the last line is `export rows=<N> rows_per_s=<N> peak_rss_mb=<N> copy_ratio=<x>` for the full
CSV export.
"""

import argparse
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reme.settings.local")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
django.setup()

import httpx  # noqa: E402
import psycopg  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

from accounts.models import User  # noqa: E402
from accounts.services import user_create  # noqa: E402
from chat.models import PuzzleGroup  # noqa: E402
from chat.services import puzzle_groups_install_defaults  # noqa: E402
from lifelog.models import LifeLogEntry  # noqa: E402
from reme.serve import free_port  # noqa: E402
from research.export import ExportFilters, attempt_export_csv_select  # noqa: E402
from studies.models import AuditEvent, Participant, Study  # noqa: E402
from studies.services import arm_create, participant_enroll, protocol_version_create, study_create  # noqa: E402

SLUG = "bench-export"
ROOT = Path(__file__).resolve().parent.parent
SESSIONS, PUZZLES, ATTEMPTS = 20, 5, 20
PEOPLE = ["Tom Baker", "Elsie Moore", "Dr Patel", "Maggie", "David Jones"]
PLACES = ["Blue Door café, Leeds", "Kew Gardens", "the house on Elm Road"]


def build_study(participants: int) -> Study:
    """Study with two arms ("small" holds a tenth of the participants), a life log and played sessions."""
    Study.objects.filter(slug=SLUG).exists() and _drop_study()
    puzzle_groups_install_defaults()
    researcher = User.objects.filter(username="bench-researcher").first() or user_create(
        username="bench-researcher", password="bench-password-not-secret", role=User.Role.RESEARCHER
    )
    study = study_create(name="Export benchmark", slug=SLUG, researchers=[researcher])
    pins = [{"key": "life-recall", "version": 1}]
    for key in ("small", "large"):
        arm = arm_create(study=study, key=key, name=key)
        protocol_version_create(arm=arm, puzzle_groups=pins, puzzles_per_session=PUZZLES)
    small, large = study.arms.get(key="small"), study.arms.get(key="large")
    with transaction.atomic():
        enrolled = [
            participant_enroll(study=study, arm=small if i % 10 == 0 else large, full_name=f"Person {i}")
            for i in range(participants)
        ]
        LifeLogEntry.objects.bulk_create(
            LifeLogEntry(
                participant=p, occurred_at=django.utils.timezone.now(), title=f"Coffee with {PEOPLE[n % 5]}",
                place_name=PLACES[n % 3], people=[PEOPLE[n % 5], PEOPLE[(n + 1) % 5]], content_hash=f"{p.pk}-{n}",
            )
            for p in enrolled for n in range(10)
        )  # fmt: skip
    insert_played_sessions([study.pk], PuzzleGroup.objects.get(key="life-recall", version=1).pk)
    return study


# Tables just filled in the same transaction: without fresh statistics (and with nested loops) the attempts'
# INSERT ran for over 20 minutes on a fresh database.
ANALYZE = "ANALYZE research_participant, chat_trainingsession, chat_puzzle, chat_chatmessage, chat_attempt"


def insert_played_sessions(
    study_ids: list[int], group_id: int, *, sessions: int = SESSIONS, puzzles: int = PUZZLES,
    attempts: int = ATTEMPTS, days_apart: int = 1,
) -> None:  # fmt: skip
    """Ended sessions for every participant of the studies (each needs a life-log entry), one every
    `days_apart` days back from now, each with its puzzles, trainee messages and attempts: written with
    INSERT … SELECT, so a million attempts take seconds, not the hours of playing them."""
    prompt = "Puzzle {i} of 5. Let''s think back to the morning of Saturday 31 October 2026. What did you do then?"
    with connection.cursor() as cursor, transaction.atomic():
        cursor.execute("SET LOCAL synchronous_commit = off")
        # An empty table's NOT EXISTS as a nested loop rescans the rows this statement is adding: quadratic.
        cursor.execute("SET LOCAL enable_nestloop = off")
        cursor.execute(
            f"""INSERT INTO chat_trainingsession (participant_id, protocol_version_id, status, puzzles_planned,
                    group_keys, model_name, seed, started_at, ended_at)
                SELECT p.id, p.protocol_version_id, 'ended', {puzzles}, '["life-recall"]', 'bench-model', s,
                       now() - make_interval(days => s * {days_apart}), now() - make_interval(days => s * {days_apart})
                FROM research_participant p CROSS JOIN generate_series(1, {sessions}) s
                WHERE p.study_id = ANY(%s)""",
            [study_ids],
        )
        cursor.execute(ANALYZE)  # the planner must see the rows just written, or it joins them row by row
        cursor.execute(
            f"""INSERT INTO chat_puzzle (session_id, index, group_id, entry_id, entry_ids, payload, start_cue_level,
                    cue_level, hints_used, outcome, recalled_at_level, created_at, finished_at)
                SELECT ts.id, i, %s, e.first_id, '[]', '{{}}', 0, 2, 1, 'recalled', 2, ts.started_at, ts.started_at
                FROM chat_trainingsession ts
                JOIN research_participant p ON p.id = ts.participant_id
                JOIN (SELECT participant_id, min(id) AS first_id FROM lifelog_lifelogentry GROUP BY participant_id) e
                  ON e.participant_id = p.id
                CROSS JOIN generate_series(1, {puzzles}) i
                WHERE p.study_id = ANY(%s) AND ts.status = 'ended' AND ts.model_name = 'bench-model'
                  AND NOT EXISTS (SELECT 1 FROM chat_puzzle done WHERE done.session_id = ts.id)""",
            [group_id, study_ids],
        )
        cursor.execute(ANALYZE)  # the planner must see the rows just written, or it joins them row by row
        cursor.execute(
            f"""INSERT INTO chat_chatmessage (session_id, seq, role, kind, puzzle_id, text, template_text, status,
                    created_at, completed_at, rejection, text_source, llm_prompt_hash, verifier_version)
                SELECT pz.session_id, (pz.index - 1) * {attempts} + a, 'trainee', 'text', pz.id,
                       'I think I was with Tom at the Blue Door café, answer ' || a, '', 'complete',
                       pz.created_at, pz.created_at, '', 'template', '', ''
                FROM chat_puzzle pz JOIN chat_trainingsession ts ON ts.id = pz.session_id
                JOIN research_participant p ON p.id = ts.participant_id
                CROSS JOIN generate_series(1, {attempts}) a
                WHERE p.study_id = ANY(%s) AND ts.model_name = 'bench-model'
                  AND NOT EXISTS (SELECT 1 FROM chat_chatmessage done WHERE done.puzzle_id = pz.id)""",
            [study_ids],
        )
        cursor.execute(ANALYZE)  # the planner must see the rows just written, or it joins them row by row
        cursor.execute(
            f"""INSERT INTO chat_attempt (puzzle_id, message_id, attempt_number, cue_level, hints_used, prompt_shown,
                    prompt_hash, response_text, response_time_ms, correct, score, scorer, model_name, shown_at,
                    answered_at, outcome, puzzle_source, text_source, llm_prompt_hash, verifier_version)
                SELECT m.puzzle_id, m.id, m.seq - (pz.index - 1) * {attempts}, LEAST(m.seq %% 4, 3), m.seq %% 2,
                       replace('{prompt}', '{{i}}', pz.index::text), md5(m.id::text) || md5(m.seq::text), m.text,
                       1000 + (m.id %% 9000), m.seq %% 3 = 0, (m.seq %% 10) / 10.0, 'semantic', 'bench-model',
                       m.created_at, m.created_at + interval '5 seconds', 'answered', 'template', 'template', '', ''
                FROM chat_chatmessage m JOIN chat_puzzle pz ON pz.id = m.puzzle_id
                JOIN chat_trainingsession ts ON ts.id = pz.session_id
                JOIN research_participant p ON p.id = ts.participant_id
                WHERE p.study_id = ANY(%s) AND ts.model_name = 'bench-model'
                  AND NOT EXISTS (SELECT 1 FROM chat_attempt done WHERE done.message_id = m.id)""",
            [study_ids],
        )
    with connection.cursor() as cursor:
        cursor.execute(
            "ANALYZE chat_attempt; ANALYZE chat_chatmessage; ANALYZE chat_puzzle; ANALYZE chat_trainingsession"
        )


def _drop_study() -> None:
    with connection.cursor() as cursor, transaction.atomic():
        cursor.execute(
            """DELETE FROM chat_attempt a USING chat_puzzle pz, chat_trainingsession ts, research_participant p,
                   research_study s
               WHERE a.puzzle_id = pz.id AND pz.session_id = ts.id AND ts.participant_id = p.id
                 AND p.study_id = s.id AND s.slug = %s""",
            [SLUG],
        )
    for participant in Participant.objects.filter(study__slug=SLUG):
        participant.training_sessions.all().delete()
        participant.entries.all().delete()
        participant.delete()
    AuditEvent.objects.filter(study__slug=SLUG).delete()  # the benchmark's own trail protects its study
    Study.objects.filter(slug=SLUG).delete()


class Server:
    """A fresh Daphne process per run, so its peak memory belongs to that run alone."""

    def __enter__(self):
        self.port = free_port()
        # A researcher-facing web process: no chat scorer model loaded (see CHAT_SCORER_WARM_UP).
        env = dict(os.environ, DEBUG="0", DB_CONN_MAX_AGE="0", PYTHONUNBUFFERED="1", CHAT_SCORER_WARM_UP="0")
        self.log = open(ROOT / ".data" / "bench-export-daphne.log", "a")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), "reme.asgi:application"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{self.port}/login/", timeout=1)
                return self
            except httpx.TransportError:
                time.sleep(0.2)
        raise RuntimeError("daphne did not start")

    def peak_rss_mb(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
        return kb / 1024

    def __exit__(self, *exc):
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()


@dataclass
class Run:
    name: str
    rows: int
    seconds: float
    peak_rss_mb: float
    startup_rss_mb: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds


def stream_export(name: str, path: str, token: str, json_format: bool = False) -> Run:
    """Download with curl: a C client costs the two shared cores little, so the rate is the server's
    (httpx's pure-Python chunked decoding on the same cores cut the measured rate by ~40%)."""
    with Server() as server:
        startup = server.peak_rss_mb()
        url = f"http://127.0.0.1:{server.port}{path}"
        started = time.perf_counter()
        curl = subprocess.Popen(
            ["curl", "-sS", "--fail", "-H", f"Authorization: Token {token}", url], stdout=subprocess.PIPE
        )
        newlines = 0  # the generated texts hold no line breaks, so lines are rows (JSON escapes them anyway)
        while chunk := curl.stdout.read(1 << 20):
            newlines += chunk.count(b"\n")
        if curl.wait() != 0:
            raise RuntimeError(f"curl failed on {path}")
        seconds = time.perf_counter() - started
        rows = newlines - (2 if json_format else 1)  # JSON: "[" and "]" lines; CSV: the header
        return Run(name, rows, seconds, server.peak_rss_mb(), startup)


def copy_with_psql(name: str, study: Study, filters: ExportFilters) -> Run:
    """The same SELECT as the CSV export, through PostgreSQL's COPY into psql, on the same cores."""
    sql, params = attempt_export_csv_select(study=study, filters=filters)
    connection.ensure_connection()
    statement = psycopg.ClientCursor(connection.connection).mogrify(f"COPY ({sql}) TO STDOUT WITH CSV", params)
    info = connection.connection.info  # where Django is connected (a socket directory for the bundled server)
    command = ["psql", "-X", "-q", "-h", info.host, "-p", str(info.port), "-U", info.user, "-d", info.dbname]
    env = dict(os.environ, PGPASSWORD=info.password or "")
    started = time.perf_counter()
    psql = subprocess.Popen([*command, "-c", statement], stdout=subprocess.PIPE, env=env)
    newlines = 0
    while chunk := psql.stdout.read(1 << 20):
        newlines += chunk.count(b"\n")
    if psql.wait() != 0:
        raise RuntimeError("psql COPY failed")
    return Run(name, newlines, time.perf_counter() - started, float("nan"), float("nan"))


def page_through_api(name: str, token: str, arm: str) -> Run:
    with Server() as server:
        startup = server.peak_rss_mb()
        headers = {"Authorization": f"Token {token}"}
        url = f"http://127.0.0.1:{server.port}/api/attempts/?study={SLUG}&arm={arm}&limit=1000"
        rows, started = 0, time.perf_counter()
        with httpx.Client(headers=headers, timeout=600) as client:
            while url:
                page = client.get(url).raise_for_status().json()
                rows += len(page["results"])
                url = page["next"]
        return Run(name, rows, time.perf_counter() - started, server.peak_rss_mb(), startup)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=500, help="×2,000 attempts each")
    parser.add_argument("--reuse", action="store_true", help="keep the study of a previous run")
    args = parser.parse_args()
    (ROOT / ".data").mkdir(exist_ok=True)
    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    study = Study.objects.filter(slug=SLUG).first() if args.reuse else None
    study = study or build_study(args.participants)
    setup_s = time.perf_counter() - started
    total = Participant.objects.filter(study=study).count() * SESSIONS * PUZZLES * ATTEMPTS
    token = Token.objects.get_or_create(user=User.objects.get(username="bench-researcher"))[0].key
    base = f"/api/studies/{SLUG}/attempts"
    runs = [
        stream_export("csv, arm small (10%)", f"{base}.csv?arm=small", token),
        stream_export("csv, all rows", f"{base}.csv", token),
        stream_export("json, arm small", f"{base}.json?arm=small", token, json_format=True),
        stream_export("csv redacted, arm small", f"{base}.csv?arm=small&redact=1", token),
        page_through_api("baseline: GET /api/attempts/ pages", token, "small"),
        copy_with_psql("PostgreSQL COPY -> psql, all rows", study, ExportFilters()),
        copy_with_psql("PostgreSQL COPY -> psql, arm small", study, ExportFilters(arm="small")),
    ]
    full, copy_all, copy_small = runs[1], runs[5], runs[6]
    print(f"\n# Export benchmark ({cpu_model()}, {os.cpu_count()} cores, load average {load_average()})")
    print(f"setup: {total:,} attempts in {setup_s:.1f} s\n")
    print(f"| {'run':<36} | {'rows':>9} | {'seconds':>8} | {'rows/s':>9} | {'peak RSS MB':>11} | {'at start MB':>11} |")
    print(f"|{'-' * 38}|{'-' * 11}|{'-' * 10}|{'-' * 11}|{'-' * 13}|{'-' * 13}|")
    for run in runs:
        print(
            f"| {run.name:<36} | {run.rows:>9,} | {run.seconds:>8.2f} | {run.rows_per_s:>9,.0f} "
            f"| {run.peak_rss_mb:>11.1f} | {run.startup_rss_mb:>11.1f} |"
        )
    baseline = runs[4]
    print(
        f"\nfull csv vs paging the list API: {full.rows_per_s / baseline.rows_per_s:.1f}x rows/s; "
        f"peak RSS full/10%: {full.peak_rss_mb / runs[0].peak_rss_mb:.2f}x "
        f"for {full.rows / max(runs[0].rows, 1):.0f}x rows"
    )
    print("\nrows/s over PostgreSQL's COPY of the same SELECT (same run; goal >= 0.5):")
    print(f"  csv, all rows: {full.rows_per_s / copy_all.rows_per_s:.2f}")
    for run in runs[0], runs[2], runs[3]:
        print(f"  {run.name}: {run.rows_per_s / copy_small.rows_per_s:.2f}")
    assert full.rows == total == copy_all.rows, f"expected {total} rows, got {full.rows} / COPY {copy_all.rows}"
    print(
        f"export rows={full.rows} rows_per_s={full.rows_per_s:.0f} peak_rss_mb={full.peak_rss_mb:.0f} "
        f"copy_ratio={full.rows_per_s / copy_all.rows_per_s:.2f}"
    )


def cpu_model() -> str:
    """The CPU's name (lscpu's "Model name"): rates move with it."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def load_average() -> str:
    """The machine may be shared: the load beside the figures says how far to trust absolute rates."""
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


if __name__ == "__main__":
    main()
