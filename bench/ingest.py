"""Ingestion and retrieval benchmark: `python -m bench.ingest` (or `make bench-ingest`).

Imports 10,000 generated entries for 100 participants through the real import path (parse,
embed with all-MiniLM-L6-v2 on the CPU, one bulk insert per file into PostgreSQL+pgvector), then
runs 1,000 filtered and unfiltered semantic searches. A second, smaller run imports diary-only
text to show how throughput depends on how much text each entry has (embedding is compute-bound).
Prints a table; the last line is `ingest entries_per_s=<N> search_p95_ms=<N>`.
"""

import argparse
import os
import platform
import random
import statistics
import time
from datetime import UTC, datetime

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reme.settings.local")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
django.setup()

from django.core.management import call_command  # noqa: E402

from lifelog import services  # noqa: E402
from lifelog.embeddings import embed_texts, get_model  # noqa: E402
from lifelog.models import ImportJob  # noqa: E402
from lifelog.sample_data import FRIENDS, generate_json  # noqa: E402
from lifelog.selectors import SearchFilters, entry_search  # noqa: E402
from studies.models import Participant, Study  # noqa: E402
from studies.services import participant_enroll, study_create  # noqa: E402

QUERIES = [
    "a day at the seaside", "talking with a friend over cake", "hospital or doctor visit", "singing in church",
    "working in the garden", "a trip to see family", "buying food at the market", "a book we discussed",
    "birds by the water", "an evening at the theatre", "baking something sweet", "a picnic outdoors",
]  # fmt: skip


class EmbedTimer:
    """Wraps the embedding call the import service makes, to split embedding from the rest."""

    def __init__(self):
        self.seconds = 0.0
        self.texts = 0

    def __call__(self, texts, **kwargs):
        start = time.perf_counter()
        result = embed_texts(texts, **kwargs)
        self.seconds += time.perf_counter() - start
        self.texts += len(texts)
        return result


def reset_study(slug: str, participants: int) -> list[Participant]:
    Study.objects.filter(slug=slug).first() and _delete_study(slug)
    study = study_create(name=f"Benchmark {slug}", slug=slug, researchers=[])
    return [participant_enroll(study=study, timezone="Europe/London") for _ in range(participants)]


def _delete_study(slug: str) -> None:
    for participant in Participant.objects.filter(study__slug=slug):
        participant.delete()
    Study.objects.filter(slug=slug).delete()


def run_imports(participants: list[Participant], per_participant: int, description_share: float, seed: int) -> dict:
    timer = EmbedTimer()
    services.embed_texts = timer
    files = [
        generate_json(per_participant, seed=seed + i, description_share=description_share)
        for i in range(len(participants))
    ]
    start = time.perf_counter()
    created = 0
    for participant, data in zip(participants, files, strict=True):
        job = services.import_job_create(
            participant=participant, filename="lifelog.json", data=data, created_by=None, enqueue=False
        )
        job = services.import_job_run(job_id=job.pk)
        assert job.status == ImportJob.Status.DONE, job.errors
        created += job.created_count
    elapsed = time.perf_counter() - start
    services.embed_texts = embed_texts
    return {"entries": created, "seconds": elapsed, "embed_seconds": timer.seconds}


def run_searches(participants: list[Participant], count: int) -> dict:
    rng = random.Random(11)
    latencies, embed_ms, hits = [], [], 0
    for i in range(count):
        participant = rng.choice(participants)
        # distinct texts, as a conversation produces: nothing is served from a cache
        query = f"{rng.choice(QUERIES)} with {rng.choice(FRIENDS)} ({i})"
        filters = SearchFilters()
        if i % 3 == 1:
            filters = SearchFilters(
                date_from=datetime(2026, 3, 1, tzinfo=UTC), date_to=datetime(2026, 9, 1, tzinfo=UTC)
            )
        elif i % 3 == 2:
            filters = SearchFilters(person=rng.choice(FRIENDS))
        start = time.perf_counter()
        results = entry_search(participant=participant, query=query, k=10, filters=filters)
        latencies.append((time.perf_counter() - start) * 1000)
        hits += len(results)
        assert all(r.participant_id == participant.pk for r in results)
    for query in QUERIES * 10:  # the query-embedding share of a search, measured on its own
        start = time.perf_counter()
        embed_texts([query])
        embed_ms.append((time.perf_counter() - start) * 1000)
    latencies.sort()
    return {
        "count": count,
        "p50": statistics.median(latencies),
        "p95": latencies[int(0.95 * len(latencies)) - 1],
        "p99": latencies[int(0.99 * len(latencies)) - 1],
        "embed_p50": statistics.median(embed_ms),
        "mean_hits": hits / count,
    }


def sgemm_gflops() -> float:
    """The machine's fp32 matmul speed right now, at the embedding model's shapes: shared vCPUs
    vary from run to run, and the embedding rate follows this number."""
    import torch

    a, b = torch.randn(1440, 384), torch.randn(384, 1536)
    for _ in range(3):
        a @ b
    start = time.perf_counter()
    for _ in range(50):
        a @ b
    return 2 * 1440 * 384 * 1536 * 50 / (time.perf_counter() - start) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--participants", type=int, default=100)
    parser.add_argument("--entries", type=int, default=100, help="per participant")
    parser.add_argument("--searches", type=int, default=1000)
    parser.add_argument("--description-share", type=float, default=0.4)
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    get_model()  # load once, outside the timings
    embed_texts(["warm-up"])
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, torch sgemm {sgemm_gflops():.0f} GFLOP/s "
        "(the embedding model needs ~21 MFLOP per token)"
    )

    mixed = reset_study("bench-mixed", args.participants)
    mixed_result = run_imports(mixed, args.entries, args.description_share, seed=1000)
    diary = reset_study("bench-diary", max(1, args.participants // 10))
    diary_result = run_imports(diary, args.entries, 1.0, seed=5000)
    search = run_searches(mixed, args.searches)

    rows = [
        (f"mixed ({args.description_share:.0%} diary text)", mixed_result),
        ("diary text only", diary_result),
    ]
    print(f"\n{'import':<26}{'entries':>9}{'seconds':>9}{'entries/s':>11}{'embed share':>13}")
    for name, r in rows:
        print(
            f"{name:<26}{r['entries']:>9}{r['seconds']:>9.1f}{r['entries'] / r['seconds']:>11.0f}"
            f"{r['embed_seconds'] / r['seconds']:>13.0%}"
        )
    print(f"\n{'search':<26}{'count':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'embed p50':>11}")
    print(
        f"{'top-10, 1/3 filtered':<26}{search['count']:>9}{search['p50']:>9.1f}{search['p95']:>9.1f}"
        f"{search['p99']:>9.1f}{search['embed_p50']:>11.1f}"
    )
    for slug in ("bench-mixed", "bench-diary"):
        _delete_study(slug)
    rate = mixed_result["entries"] / mixed_result["seconds"]
    print(f"ingest entries_per_s={rate:.0f} search_p95_ms={search['p95']:.1f}")


if __name__ == "__main__":
    main()
