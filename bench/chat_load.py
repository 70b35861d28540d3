"""Chat load benchmark: `python -m bench.chat_load --sessions 200` (or `make bench-chat`).

Starts the real server (Daphne, Channels on Redis, PostgreSQL) and drives N concurrent trainees over
WebSockets through whole training sessions in template mode: each puzzle gets a free-text guess, a clue
request, a letter guess and, if still open, a skip, with think time between actions. The server reports
each turn's time (receipt to the last event sent, LLM wording excluded); afterwards the database is
checked for every action the clients sent: lost = acknowledged or sent but not stored, duplicated =
stored more than once.

Before measuring, the database gets a year of history (`--history-participants 1000 --history-weeks 52`: a
session a week for the trainees and for other participants up to 1,000, 5 puzzles × 4 attempts each, so
1,040,000 attempts), written with bench.export's INSERT … SELECT. Reported beside p50/p99: the database's
size, the CPU model, the load average and the server processes' CPU time per turn (less sensitive than
wall-clock latency to other work on a shared machine). Prints a table; the last line is
`chat_load sessions=<N> p99_ms=<N> lost=<N> duplicated=<N> cpu_ms_per_turn=<N>`.
"""

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import statistics
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reme.settings.local")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
django.setup()

import numpy as np  # noqa: E402
import websockets  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from accounts.models import User  # noqa: E402
from accounts.services import user_create  # noqa: E402
from bench.export import PEOPLE, PLACES, cpu_model, insert_played_sessions, load_average  # noqa: E402
from chat import authoring, verifier  # noqa: E402
from chat.authored_store import authored_puzzle_store  # noqa: E402
from chat.models import Attempt, AuthoredPuzzle, ChatMessage, PuzzleGroup, PuzzleSource, TrainingSession  # noqa: E402
from chat.scoring import READY_LINE  # noqa: E402
from chat.selectors import entry_facts_list  # noqa: E402
from chat.services import puzzle_groups_install_defaults, training_session_start  # noqa: E402
from lifelog import services as lifelog_services  # noqa: E402
from lifelog.models import LifeLogEntry  # noqa: E402
from lifelog.sample_data import generate_json  # noqa: E402
from reme.serve import start_servers, stop_servers  # noqa: E402
from studies.models import Study  # noqa: E402
from studies.services import arm_create, participant_enroll, protocol_version_create, study_create  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
STUDY_SLUG = "bench-chat"
HISTORY_SLUG = "bench-chat-history"  # the participants beyond the trainees who play now
GUESSES = ["I think we went for a walk", "was it with Sarah?", "the market, maybe", "I'm not sure, something at home",
           "coffee with a friend", "church on Sunday", "Tom", "the garden"]  # fmt: skip


@dataclass
class Trainee:
    session_id: int
    cookie: str
    authored: bool = False  # on the protocol with LLM-authored puzzles
    sent: list[str] = field(default_factory=list)
    acked: set[str] = field(default_factory=set)
    refused: set[str] = field(default_factory=set)
    server_ms: list[float] = field(default_factory=list)
    server_ms_by_kind: dict = field(default_factory=dict)
    client_ms: list[float] = field(default_factory=list)
    finished: bool = False
    error: str = ""


AUTHORED_PINS = [{"key": "llm-authored", "version": 1}, {"key": "life-recall", "version": 1},
                 {"key": "temporal-order", "version": 1}]  # fmt: skip
BENCH_PREFIX = "0" * 64  # no prefix was sent: the bench writes the text itself


def seed_authored(participant, count: int) -> int:
    """Ready LLM-authored puzzles for a trainee, stored by the product's store (chat.authored_store) after the
    product's planner chose the facts and its verifier accepted the text, as the authoring task stores them.
    Only the text is the bench's: a fixed "which came first" question over the plan's facts, so no model runs
    (a session takes verified puzzles from the store and calls no LLM at turn time either). Returns how
    many are ready."""
    pool = entry_facts_list(participant=participant)
    by_id = {facts.id: facts for facts in pool}
    group = PuzzleGroup.objects.get(key="llm-authored", version=1)
    plans = authoring.plans_for(pool, rng=random.Random(participant.pk), limit=40)
    ready = 0
    for plan in (p for p in plans if p.kind == "which_first"):
        first, second = plan.options
        question = f"Which came first: {first} or {second}?"
        keys = [key for key in plan.fields if key.startswith("cue")]
        cues = {key: f"{fact}." for key, fact in zip(keys, plan.cue_facts, strict=True)}
        reply = json.dumps({"question": question, **cues})
        candidate = authoring.candidate(plan, reply)
        reasons = verifier.check_authored(candidate, entries=authoring.sources(pool),
                                          distractor_pool=authoring.distractor_pool(plan, pool))  # fmt: skip
        stored = authored_puzzle_store(
            participant_id=participant.pk, group=group, prefix_sha256=BENCH_PREFIX, plan=plan, candidate=candidate,
            reasons=reasons, reply=reply, model="bench-writer", prompt_sha256=BENCH_PREFIX, seconds=0.0, by_id=by_id,
        )  # fmt: skip
        ready += stored.status == AuthoredPuzzle.Status.READY
        if ready >= count:
            break
    return ready


def prepare(sessions: int, entries: int, puzzles: int, authored_share: float = 0.0) -> list[Trainee]:
    """Trainees with life logs (embeddings skipped: the chat never reads them) and an open session each.
    `authored_share` of them are on a protocol that pins the LLM-authored group beside two template groups
    (templates only: no model phrases their replies), with verified puzzles ready in the store."""
    study = Study.objects.filter(slug=STUDY_SLUG).first()
    if study:
        drop_played_sessions(study)
        User.objects.filter(participant__study=study).delete()
        study.participants.all().delete()
        study.delete()
    puzzle_groups_install_defaults()
    study = study_create(name="Chat load benchmark", slug=STUDY_SLUG, researchers=[])
    arm = arm_create(study=study, key="authored", name="LLM-authored puzzles")
    protocol_version_create(arm=arm, puzzle_groups=AUTHORED_PINS, puzzles_per_session=puzzles)
    authored_every = round(1 / authored_share) if authored_share > 0 else 0
    trainees = []
    zero_vectors = lambda texts, **kwargs: np.zeros((len(texts), 384), dtype=np.float32)  # noqa: E731
    with mock.patch.object(lifelog_services, "embed_texts", zero_vectors):
        for index in range(sessions):
            user = user_create(username=f"bench-trainee-{index}-{uuid.uuid4().hex[:6]}", password=None, role="trainee")
            authored = bool(authored_every) and index % authored_every == 0
            participant = participant_enroll(
                study=study, user=user, timezone="Europe/London", arm=arm if authored else None
            )
            job = lifelog_services.import_job_create(
                participant=participant, filename="log.json", data=generate_json(entries, seed=index),
                created_by=None, enqueue=False,
            )  # fmt: skip
            lifelog_services.import_job_run(job_id=job.pk)
            if authored:
                participant.refresh_from_db()
                seed_authored(participant, count=puzzles)
            session = training_session_start(participant=participant, puzzles=puzzles)
            trainees.append(Trainee(session_id=session.pk, cookie=login_cookie(user), authored=authored))
    return trainees


def drop_played_sessions(study: Study) -> None:
    """Chat rows of the study's participants in SQL: the ORM's cascade would load a year of them first."""
    with connection.cursor() as cursor, transaction.atomic():
        for sql in [
            "DELETE FROM chat_authoredpuzzle WHERE participant_id IN "
            "(SELECT id FROM research_participant WHERE study_id = %s)",
            "DELETE FROM chat_attempt a USING chat_puzzle pz, chat_trainingsession ts WHERE a.puzzle_id = pz.id AND "
            "pz.session_id = ts.id AND ts.participant_id IN (SELECT id FROM research_participant WHERE study_id = %s)",
            "DELETE FROM chat_chatmessage m USING chat_trainingsession ts WHERE m.session_id = ts.id "
            "AND ts.participant_id IN (SELECT id FROM research_participant WHERE study_id = %s)",
            "DELETE FROM chat_puzzle pz USING chat_trainingsession ts WHERE pz.session_id = ts.id "
            "AND ts.participant_id IN (SELECT id FROM research_participant WHERE study_id = %s)",
            "DELETE FROM chat_trainingsession WHERE participant_id IN "
            "(SELECT id FROM research_participant WHERE study_id = %s)",
        ]:
            cursor.execute(sql, [study.pk])


def seed_history(study: Study, participants: int, weeks: int, keep: bool = False) -> None:
    """A year of weekly sessions for the trainees and for others up to `participants` in total (10 life-log
    entries each, no identities or accounts: only their rows' volume matters to the trainees' queries).
    `keep`: the others' history of an earlier run is kept when it has the size asked for (the new trainees
    get theirs), which saves minutes between runs."""
    group = PuzzleGroup.objects.get(key="life-recall", version=1)
    others = Study.objects.filter(slug=HISTORY_SLUG).first()
    wanted_others = max(0, participants - study.participants.count())
    if keep and others and weeks > 0 and others.participants.count() == wanted_others:
        seeded = TrainingSession.objects.filter(participant__study=others).count()
        if seeded == wanted_others * weeks:
            insert_played_sessions([study.pk], group.pk, sessions=weeks, puzzles=5, attempts=4, days_apart=7)
            return
    if others:
        drop_played_sessions(others)
        LifeLogEntry.objects.filter(participant__study=others).delete()
        others.participants.all().delete()
        others.delete()
    if weeks <= 0:
        return
    others = study_create(name="Chat load history", slug=HISTORY_SLUG, researchers=[])
    with transaction.atomic():
        enrolled = [participant_enroll(study=others, full_name=f"Person {i}") for i in range(wanted_others)]
        LifeLogEntry.objects.bulk_create(
            LifeLogEntry(
                participant=p, occurred_at=django.utils.timezone.now(), title=f"Coffee with {PEOPLE[n % 5]}",
                place_name=PLACES[n % 3], people=[PEOPLE[n % 5], PEOPLE[(n + 1) % 5]], content_hash=f"{p.pk}-{n}",
            )
            for p in enrolled for n in range(10)
        )  # fmt: skip
    insert_played_sessions([study.pk, others.pk], group.pk, sessions=weeks, puzzles=5, attempts=4, days_apart=7)


def database_size() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        return cursor.fetchone()[0]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of the processes (from /proc: utime and stime, in clock ticks)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(FileNotFoundError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def login_cookie(user: User) -> str:
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return f"{settings.SESSION_COOKIE_NAME}={store.session_key}"


async def play(trainee: Trainee, base: str, think: tuple[float, float], rng: random.Random) -> None:
    headers = {"Cookie": trainee.cookie, "Origin": "http://127.0.0.1"}
    state: dict = {}
    try:
        async with websockets.connect(f"{base}/ws/chat/{trainee.session_id}/", additional_headers=headers) as ws:
            await ws.send(json.dumps({"type": "hello", "after_seq": 0}))
            while (event := json.loads(await ws.recv()))["type"] != "state":
                pass
            state = event
            while state["status"] == "active":
                puzzle = state["puzzle_index"]
                # Every free-text guess is new text (as real answers are), so the scorer embeds it afresh.
                guess = f"{rng.choice(GUESSES)}, around {rng.randint(1, 12)} o'clock"
                for kind, text in [("text", guess), ("hint", ""), ("text", "B"), ("skip", "")]:
                    await asyncio.sleep(rng.uniform(*think))
                    client_id = str(uuid.uuid4())
                    trainee.sent.append(client_id)
                    started = time.perf_counter()
                    await ws.send(json.dumps({"type": "action", "client_id": client_id, "kind": kind, "text": text}))
                    while True:
                        event = json.loads(await ws.recv())
                        if event["type"] == "state":
                            state = event
                        elif event["type"] == "ack":
                            trainee.acked.add(event["client_id"])
                        elif event["type"] == "turn" and event["client_id"] == client_id:
                            state = event["state"]
                            trainee.server_ms.append(event["server_ms"])
                            trainee.server_ms_by_kind.setdefault(kind, []).append(event["server_ms"])
                            trainee.client_ms.append((time.perf_counter() - started) * 1000)
                            break
                        elif event["type"] == "refused":
                            trainee.refused.add(event["client_id"])
                            trainee.error = trainee.error or f"refused: {event['error']}"
                            break
                    if state["status"] != "active" or state["puzzle_index"] != puzzle:
                        break
            trainee.finished = state.get("status") == "ended"
    except Exception as error:
        trainee.error = f"{type(error).__name__}: {error}"


def count_lost_and_duplicated(trainees: list[Trainee]) -> tuple[int, int]:
    sent = [client_id for trainee in trainees for client_id in trainee.sent if client_id not in trainee.refused]
    stored = {}
    for client_id, kind, attempts in ChatMessage.objects.filter(client_id__in=sent).values_list(
        "client_id", "kind", "attempt"
    ):
        stored.setdefault(str(client_id), []).append((kind, attempts))
    lost = sum(1 for client_id in sent if client_id not in stored)
    duplicated = sum(len(rows) - 1 for rows in stored.values())
    answer_messages = [client_id for client_id, rows in stored.items() if rows[0][0] == "text"]
    attempts = Attempt.objects.filter(message__client_id__in=answer_messages).count()
    duplicated += max(0, attempts - len(answer_messages))
    lost += max(0, len(answer_messages) - attempts)
    return lost, duplicated


def percentile(values: list[float], share: float) -> float:
    return float(np.percentile(values, share * 100)) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--puzzles", type=int, default=3, help="per session")
    parser.add_argument("--entries", type=int, default=40, help="life-log entries per trainee")
    parser.add_argument("--think-min", type=float, default=3.0, help="seconds between a trainee's actions")
    parser.add_argument("--think-max", type=float, default=8.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--server-processes", type=int, default=os.cpu_count() or 1, help="Daphne processes")
    parser.add_argument("--history-participants", type=int, default=1000, help="participants with a history")
    parser.add_argument("--history-weeks", type=int, default=52, help="weekly past sessions each (0: none)")
    parser.add_argument("--authored-share", type=float, default=0.5,
                        help="share of trainees whose protocol pins the LLM-authored group (0: none)")  # fmt: skip
    parser.add_argument("--keep-history", action="store_true", help="reuse the other participants' history")
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; preparing {args.sessions} trainees…", flush=True)
    trainees = prepare(args.sessions, args.entries, args.puzzles, args.authored_share)
    seeding = time.perf_counter()
    seed_history(
        Study.objects.get(slug=STUDY_SLUG), args.history_participants, args.history_weeks, keep=args.keep_history
    )
    history = (Attempt.objects.count(), time.perf_counter() - seeding, database_size())
    print(f"history: {history[0]:,} attempts in the database (seeded in {history[1]:.0f} s), {history[2]}", flush=True)

    # The deployment's launcher: one Daphne process per core on one listening socket.
    env = dict(os.environ, PYTHONUNBUFFERED="1", LLM_BASE_URL="")
    log = open(ROOT / "bench" / "results" / "chat-load-daphne.log.tmp", "w")  # noqa: SIM115
    listener, servers = start_servers("127.0.0.1", 0, args.server_processes, env=env, stdout=log)
    port = listener.getsockname()[1]
    try:
        log_path = Path(log.name)
        deadline = time.monotonic() + 120
        while log_path.read_text().count(READY_LINE) < len(servers):  # every process has loaded its scorer
            if time.monotonic() > deadline or any(server.poll() is not None for server in servers):
                raise RuntimeError("the server did not start:\n" + log_path.read_text())
            time.sleep(0.2)
        rng = random.Random(args.seed)
        pids = [server.pid for server in servers]
        cpu_before = cpu_seconds(pids)
        started = time.perf_counter()

        async def everyone() -> None:
            await asyncio.gather(*(play(t, f"ws://127.0.0.1:{port}", (args.think_min, args.think_max),
                                        random.Random(rng.random())) for t in trainees))  # fmt: skip

        asyncio.run(everyone())
        wall = time.perf_counter() - started
        server_cpu = cpu_seconds(pids) - cpu_before
    finally:
        stop_servers(listener, servers)
        log.close()

    lost, duplicated = count_lost_and_duplicated(trainees)
    server_ms = [ms for t in trainees for ms in t.server_ms]
    client_ms = [ms for t in trainees for ms in t.client_ms]
    errors = [t.error for t in trainees if t.error]
    turns = len(server_ms)
    print(f"\n{'metric':<34}{'value':>12}")
    cpu_ms_per_turn = server_cpu * 1000 / max(turns, 1)
    rows = [
        ("CPU", cpu_model()),
        ("load average during the run", load_average()),
        ("database size", database_size()),
        ("attempts in the database", f"{Attempt.objects.count():,}"),
        ("concurrent sessions", args.sessions),
        ("server processes (Daphne)", args.server_processes),
        ("sessions finished", sum(t.finished for t in trainees)),
        ("connection errors", len(errors)),
        ("turns", turns),
        ("turns per second", f"{turns / wall:.1f}"),
        ("think time between actions (s)", f"{args.think_min:g}-{args.think_max:g}"),
        ("server turn p50 (ms)", f"{percentile(server_ms, 0.50):.1f}"),
        ("server turn p95 (ms)", f"{percentile(server_ms, 0.95):.1f}"),
        ("server turn p99 (ms)", f"{percentile(server_ms, 0.99):.1f}"),
        ("server turn max (ms)", f"{max(server_ms, default=float('nan')):.1f}"),
        ("client round trip p99 (ms)", f"{percentile(client_ms, 0.99):.1f}"),
        ("actions sent", sum(len(t.sent) for t in trainees)),
        ("actions refused (not stored)", sum(len(t.refused) for t in trainees)),
        ("lost", lost),
        ("duplicated", duplicated),
        ("wall time (s)", f"{wall:.1f}"),
        ("server CPU per turn (ms)", f"{cpu_ms_per_turn:.1f}"),
    ]
    for kind in ("text", "hint", "skip"):
        values = [ms for t in trainees for ms in t.server_ms_by_kind.get(kind, [])]
        rows.append(
            (f"  {kind} turns p50 / p99 (ms)", f"{percentile(values, 0.5):.0f} / {percentile(values, 0.99):.0f}")
        )
    sent = [client_id for t in trainees for client_id in t.sent]
    on_authored = Attempt.objects.filter(message__client_id__in=sent, puzzle_source=PuzzleSource.LLM_AUTHORED)
    authored_ms = [ms for t in trainees if t.authored for ms in t.server_ms]
    rows += [
        ("trainees pinning llm-authored", sum(t.authored for t in trainees)),
        ("  trial rows on authored puzzles", on_authored.count()),
        ("  their turns p50 / p99 (ms)", f"{percentile(authored_ms, 0.5):.0f} / {percentile(authored_ms, 0.99):.0f}"),
    ]
    for name, value in rows:
        print(f"{name:<34}{value!s:>12}")
    for error in errors[:5]:
        print("  error:", error)
    mean = statistics.fmean(server_ms) if server_ms else float("nan")
    print(f"server turn mean {mean:.1f} ms")
    print(f"chat_load sessions={args.sessions} p99_ms={percentile(server_ms, 0.99):.0f} lost={lost} "
          f"duplicated={duplicated} cpu_ms_per_turn={cpu_ms_per_turn:.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
