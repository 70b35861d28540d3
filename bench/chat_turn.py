"""A chat turn's server CPU and SQL, in one process: `python -m bench.chat_turn --trainees 12`.

The real consumer (Channels' WebsocketCommunicator on the Redis channel layer, the real database) plays the
trainees of bench.chat_load one after another, with no think time and nothing else in the process, so the
process's CPU time per action is the server's cost of a turn (consumer, channel layer, service, scorer, ORM;
not PostgreSQL's or Redis's own CPU). Queries are counted per action kind in the database thread. Run it on
the database bench.chat_load seeded (`--keep-history` there keeps a year of history between runs).

Prints a table per action kind ("service": the database thread's CPU in `trainee_action`, the rest is the
consumer, Channels and Redis's client); the last line is
`chat_turn turns=<N> cpu_ms_per_turn=<N> service_cpu_ms=<N> queries_per_turn=<N>`.
"""

import argparse
import asyncio
import cProfile
import gc
import json
import os
import pstats
import random
import statistics
import time
import uuid
from collections import defaultdict
from types import SimpleNamespace

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reme.settings.local")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ["LLM_BASE_URL"] = ""  # template mode, as bench.chat_load runs the server
django.setup()

from channels.testing import WebsocketCommunicator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

import chat.consumers  # noqa: E402
import chat.services  # noqa: E402
from bench.chat_load import GUESSES, STUDY_SLUG, Trainee, database_size, prepare, seed_history  # noqa: E402
from bench.export import cpu_model, load_average  # noqa: E402
from chat.models import Attempt, TrainingSession  # noqa: E402
from chat.scoring import warm_up  # noqa: E402
from reme.asgi import application  # noqa: E402
from studies.models import Study  # noqa: E402

QUERIES: list[int] = []  # per trainee_action call, appended in the database thread
SERVICE_MS: list[float] = []  # the database thread's CPU time in trainee_action (ORM, scorer), per call
SYNC_PROFILER: list[cProfile.Profile] = []  # the database thread's profiler, with --profile


GC_PAUSES: list[tuple[int, float]] = []  # (generation, ms) of every collection while the trainees play


def gc_timer(phase: str, info: dict) -> None:
    if phase == "start":
        GC_PAUSES.append((info["generation"], -time.perf_counter()))
    elif GC_PAUSES and GC_PAUSES[-1][1] < 0:
        generation, started = GC_PAUSES[-1]
        GC_PAUSES[-1] = (generation, (time.perf_counter() + started) * 1000)


def counting(action):
    """The service, with the queries it ran counted (in the thread that runs it)."""

    def counted(**kwargs):
        if SYNC_PROFILER:
            SYNC_PROFILER[0].enable()
        started = time.thread_time()
        with CaptureQueriesContext(connection) as captured:
            result = action(**kwargs)
        SERVICE_MS.append((time.thread_time() - started) * 1000)
        if SYNC_PROFILER:
            SYNC_PROFILER[0].disable()
        QUERIES.append(len(captured.captured_queries))
        return result

    return counted


async def play(trainee: Trainee, rng: random.Random, samples: dict, profiler: cProfile.Profile | None) -> int:
    session = await asyncio.to_thread(lambda: TrainingSession.objects.select_related("participant__user").get(
        pk=trainee.session_id))  # fmt: skip
    tab = WebsocketCommunicator(application, f"/ws/chat/{session.pk}/", headers=[(b"origin", b"http://localhost")])
    tab.scope["user"] = session.participant.user
    connected, _ = await tab.connect()
    assert connected
    await tab.send_json_to({"type": "hello", "after_seq": 0})
    while (state := await tab.receive_json_from(timeout=30))["type"] != "state":
        pass
    turns = 0
    while state["status"] == "active":
        puzzle = state["puzzle_index"]
        guess = f"{rng.choice(GUESSES)}, around {rng.randint(1, 12)} o'clock"
        for kind, text in [("text", guess), ("hint", ""), ("text", "B"), ("skip", "")]:
            client_id = str(uuid.uuid4())
            if profiler:
                profiler.enable()
            cpu, wall = time.process_time(), time.perf_counter()
            await tab.send_json_to({"type": "action", "client_id": client_id, "kind": kind, "text": text})
            while True:
                event = await tab.receive_json_from(timeout=30)
                if event["type"] == "turn" and event["client_id"] == client_id:
                    state = event["state"]
                    break
                assert event["type"] != "refused", event
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            if profiler:
                profiler.disable()
            label = "answer" if kind == "text" and text != "B" else ("letter" if kind == "text" else kind)
            samples[label].append((cpu * 1000, wall * 1000, QUERIES[-1], SERVICE_MS[-1]))
            turns += 1
            if state["status"] != "active" or state["puzzle_index"] != puzzle:
                break
    await tab.disconnect()
    return turns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trainees", type=int, default=12)
    parser.add_argument("--puzzles", type=int, default=3, help="per session")
    parser.add_argument("--entries", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--history-participants", type=int, default=1000, help="participants with a history")
    parser.add_argument("--history-weeks", type=int, default=52, help="weekly past sessions each (0: none)")
    parser.add_argument("--profile", type=int, default=0, help="print the N costliest functions (cProfile, CPU)")
    parser.add_argument("--sort", default="cumulative", help="the profile's order: cumulative or tottime (self)")
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    # No think time here: the per-connection frame limit would refuse the back-to-back actions.
    settings.CHAT_FRAMES_PER_SECOND, settings.CHAT_FRAMES_BURST = 1000, 1000
    warm_up().join()
    chat.consumers.trainee_action = counting(chat.consumers.trainee_action)
    # The same sessions in every run (their seeds pick the puzzles), so two checkouts play the same turns.
    chat.services.secrets = SimpleNamespace(randbits=random.Random(args.seed).getrandbits)
    trainees = prepare(args.trainees + 1, args.entries, args.puzzles)
    # A year of history as bench.chat_load seeds it; the other participants' is kept from an earlier run.
    seed_history(Study.objects.get(slug=STUDY_SLUG), args.history_participants, args.history_weeks, keep=True)
    rng = random.Random(args.seed)
    samples: dict[str, list] = defaultdict(list)
    asyncio.run(play(trainees[0], random.Random(0), defaultdict(list), None))  # lazy imports, first queries
    profiler = cProfile.Profile(time.thread_time) if args.profile else None
    if args.profile:
        SYNC_PROFILER.append(cProfile.Profile(time.thread_time))

    async def everyone() -> None:
        for trainee in trainees[1:]:
            await play(trainee, random.Random(rng.random()), samples, profiler)

    gc.callbacks.append(gc_timer)
    asyncio.run(everyone())
    gc.callbacks.remove(gc_timer)

    everything = [sample for values in samples.values() for sample in values]
    print(f"CPU: {cpu_model()}; load average {load_average()}; attempts in the database: "
          f"{Attempt.objects.count():,} ({database_size()}); {args.trainees} trainees, one at a time")  # fmt: skip
    print(f"\n{'action':<10}{'turns':>7}{'CPU ms mean':>13}{'CPU ms p50':>12}{'of it service':>15}"
          f"{'wall ms p50':>13}{'queries':>9}")  # fmt: skip
    for label, values in [*sorted(samples.items()), ("all", everything)]:
        cpu = [v[0] for v in values]
        wall = [v[1] for v in values]
        queries = [v[2] for v in values]
        service = [v[3] for v in values]
        print(f"{label:<10}{len(values):>7}{statistics.fmean(cpu):>13.2f}{statistics.median(cpu):>12.2f}"
              f"{statistics.fmean(service):>15.2f}{statistics.median(wall):>13.2f}"
              f"{statistics.fmean(queries):>9.1f}")  # fmt: skip
    if profiler:
        print("\nthe event loop's thread:")
        pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.profile)
        print("the database thread (trainee_action):")
        restriction = [r"chat/|compiler|quantulum|encode"] if args.sort == "cumulative" else []
        pstats.Stats(SYNC_PROFILER[0]).sort_stats(args.sort).print_stats(*restriction, args.profile)
    pauses = [ms for _, ms in GC_PAUSES if ms >= 0]
    full = [ms for generation, ms in GC_PAUSES if generation == 2 and ms >= 0]
    print(f"garbage collections: {len(pauses)} ({sum(pauses) / len(everything):.2f} ms per turn, longest "
          f"{max(pauses, default=0):.1f} ms); full: {len(full)}, longest {max(full, default=0):.1f} ms; "
          f"threshold {gc.get_threshold()}, frozen objects {gc.get_freeze_count():,}")  # fmt: skip
    cpu_mean = statistics.fmean(v[0] for v in everything)
    queries_mean = statistics.fmean(v[2] for v in everything)
    service_mean = statistics.fmean(v[3] for v in everything)
    print(json.dumps({label: len(values) for label, values in samples.items()}))
    print(f"chat_turn turns={len(everything)} cpu_ms_per_turn={cpu_mean:.1f} service_cpu_ms={service_mean:.1f} "
          f"queries_per_turn={queries_mean:.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
