"""LLM-authored puzzles on the CPU: `python -m bench.authoring --entries 300` (or `--demo`).

A trainee with a generated life log (lifelog.sample_data; `--demo` is the demo trainee's: 320 entries, seed
2026) is imported into the database, our embedded server (inference.server, llama.cpp, the packaged model
unless LLM_MODEL_PATH says otherwise) is started, the participant's `[system][life log]` prefix is sent once,
and then the product's own service (chat.authored_store.authored_puzzles_write) writes `--candidates`
candidates over that cached prefix, each verified and stored with its reasons. Side by side, the naive design
(`--naive` requests asking the model for a whole puzzle as schema-constrained JSON) passes the same verifier.

Reported: candidates, accepted, rejection reasons, seconds per accepted puzzle, the prefix-cache hit share
of the candidate requests (the server's /metrics), and an audit file listing each accepted puzzle beside the
text of its evidence entries, with an independent second check (`audit_violations`: every capitalized word,
number, month and weekday of an accepted puzzle must be found in its evidence entries' text and dates).
Last line: `authoring model=<name> entries=<N> candidates=<N> accepted=<N> accept_rate=<x> s_per_accepted=<x>
cache_hit=<x> audit_violations=<N>`.
"""

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from unittest import mock

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reme.settings.local")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
django.setup()

import httpx  # noqa: E402
import numpy as np  # noqa: E402
from django.conf import settings  # noqa: E402
from django.test import override_settings  # noqa: E402
from django.utils.text import slugify  # noqa: E402

from accounts.services import user_create  # noqa: E402
from chat import authoring, verifier  # noqa: E402
from chat.authored_store import authored_puzzles_write  # noqa: E402
from chat.context import prefix_forget  # noqa: E402
from chat.llm import llm_client  # noqa: E402
from chat.models import AuthoredPuzzle  # noqa: E402
from chat.selectors import entry_facts_list, llm_prefix_get  # noqa: E402
from chat.services import puzzle_groups_install_defaults  # noqa: E402
from inference.server.model_files import resolve_model_path  # noqa: E402
from lifelog import services as lifelog_services  # noqa: E402
from lifelog.sample_data import generate_json  # noqa: E402
from reme.serve import free_port, stop_processes  # noqa: E402
from studies.models import Study  # noqa: E402
from studies.services import participant_enroll, study_create  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
STUDY_SLUG = "bench-authoring"
PING = {"role": "user", "content": "Reply with OK."}


def start_server(n_ctx: int, threads: int, log: Path, kv_dir: str = "") -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ, LLM_KV_DIR=kv_dir or tempfile.mkdtemp(prefix="bench-authoring-kv-"),
               LLM_SERVER_N_CTX=str(n_ctx), LLM_SERVER_THREADS=str(threads))  # fmt: skip
    process = subprocess.Popen([sys.executable, "-m", "inference.server", "--port", str(port)], cwd=ROOT, env=env,
                               stdout=open(log, "w"), stderr=subprocess.STDOUT)  # noqa: SIM115  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the LLM server exited:\n" + log.read_text())
        try:
            if httpx.get(base + "/health", timeout=2).status_code == 200:
                return process, base
        except httpx.HTTPError:
            time.sleep(1)
    raise RuntimeError("the LLM server did not start")


def trainee(entries: int, seed: int, slug: str = STUDY_SLUG, keep: bool = False):
    """A participant with the generated life log (embeddings skipped: authoring never reads them); one study
    per model and life log, so two models, or two life logs, can run side by side in one database. `keep`:
    the study's participant of an earlier run, if any (same entries and ids: the prefix it prepared), with its
    authored puzzles deleted."""
    study = Study.objects.filter(slug=slug).first()
    if keep and study and (participant := study.participants.first()):
        AuthoredPuzzle.objects.filter(participant=participant).delete()
        return participant
    if study:
        for participant in study.participants.all():
            participant.user.delete() if participant.user_id else None
        study.participants.all().delete()
        study.delete()
    puzzle_groups_install_defaults()
    study = study_create(name=f"Authoring benchmark {slug}", slug=slug, researchers=[])
    user = user_create(username=f"bench-author-{uuid.uuid4().hex[:6]}", password=None, role="trainee")
    participant = participant_enroll(study=study, user=user, timezone="Europe/London")
    zero_vectors = lambda texts, **kwargs: np.zeros((len(texts), 384), dtype=np.float32)  # noqa: E731
    with mock.patch.object(lifelog_services, "embed_texts", zero_vectors):
        job = lifelog_services.import_job_create(participant=participant, filename="log.json",
                                                 data=generate_json(entries, seed=seed), created_by=None,
                                                 enqueue=False)  # fmt: skip
        lifelog_services.import_job_run(job_id=job.pk)
    return participant


# -- the independent second check ---------------------------------------------------------------------------

MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december"]  # fmt: skip
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
OPENERS = {"who", "what", "which", "when", "where", "how", "in", "on", "at", "you", "your", "it", "the", "a", "an",
           "this", "that", "one", "another", "think", "her", "his", "their", "she", "he", "they", "did", "do", "can",
           "was", "were", "once", "some", "its", "describe", "there", "both", "during", "for", "with",
           "something", "someone", "after", "before", "then", "if", "i", "remember",
           "somewhere", "things", "people", "part", "used"}  # fmt: skip


def evidence_text(facts_list) -> str:
    parts = []
    for facts in facts_list:
        when = facts.local_time
        dates = f"{when:%B} {when.year}" + (f" {when:%A} {when.day}" if facts.precision in ("exact", "day") else "")
        parts.append(" ".join([facts.title, facts.description, facts.place, *facts.people, *facts.tags, dates]))
    return " ".join(parts).lower()


def audit_violations(text: str, evidence: str) -> list[str]:
    """Written apart from chat.verifier, on purpose simpler and stricter: every capitalized word (a sentence's
    first word only when it is one of a few openers is spared), every number, month and weekday."""
    found = []
    for sentence in re.split(r"(?<=[.!?:;\"“”])\s*", text):
        words = re.findall(r"[A-Za-z][A-Za-z'’]*", sentence)
        for index, word in enumerate(words):
            lower = re.sub(r"['’]s$", "", word.lower())
            if index == 0 and lower in OPENERS:
                continue
            is_date = lower in MONTHS or lower in WEEKDAYS
            if (word[0].isupper() or is_date) and len(word) > 1 and lower not in evidence:
                found.append(word)
    found += [number for number in re.findall(r"\d+", text) if number not in re.findall(r"\d+", evidence)]
    return found


def audit(participant, path: Path) -> int:
    by_id = {facts.id: facts for facts in entry_facts_list(participant=participant)}
    violations, lines = 0, [f"# Audit of accepted LLM-authored puzzles ({path.stem})\n"]
    for row in AuthoredPuzzle.objects.filter(participant=participant, status=AuthoredPuzzle.Status.READY):
        evidence = [by_id[i] for i in row.evidence_ids if i in by_id]
        payload = row.payload
        written = "\n".join([payload["question"], *payload["cues"], payload["answer"], payload.get("description", "")])
        problems = audit_violations(written, evidence_text(evidence))
        violations += len(problems)
        lines += [f"## {row.kind} (evidence {row.evidence_ids})", f"- question: {payload['question']}"]
        lines += [f"- cue {i}: {cue}" for i, cue in enumerate(payload["cues"], start=1)]
        options = (payload.get("recognition") or {}).get("options", [])
        if "description" in payload:  # describe_without_naming: the model wrote the description
            lines += [f"- description: {payload['description']}", f"- words to avoid: {list(payload['avoid'])}"]
        lines += [f"- answer: {payload['answer']}", f"- options: {options}", "- evidence:"]
        lines += [f"  - [{f.id}] {f.local_time:%Y-%m-%d} ({f.precision}) {f.title} | {f.place} | "
                  f"{', '.join(f.people)} | {f.description}" for f in evidence]  # fmt: skip
        lines += [f"- audit: {'violations ' + str(problems) if problems else 'ok'}", ""]
    lines.append("# Rejected candidates (the model's reply and the verifier's reasons)\n")
    for row in AuthoredPuzzle.objects.filter(participant=participant, status=AuthoredPuzzle.Status.REJECTED):
        lines += [f"- {row.kind} (evidence {row.evidence_ids}): `{row.reply}`", f"  - reasons: {row.reasons}"]
    path.write_text("\n".join(lines) + "\n")
    return violations


# -- the naive design --------------------------------------------------------------------------------------


def naive_run(participant, prefix: list[dict], count: int, base_url: str, model: str) -> tuple[int, dict]:
    pool = entry_facts_list(participant=participant)
    entries, titles = authoring.sources(pool), {facts.title for facts in pool}
    accepted, reasons = 0, {}
    for _ in range(count):
        client = llm_client(settings.LLM_AUTHORING_TIMEOUT_S)
        reply = client.complete([*prefix, authoring.NAIVE_REQUEST], max_tokens=220, temperature=0.3, base_url=base_url,
                                model=model, json_schema=authoring.NAIVE_SCHEMA)  # fmt: skip
        try:
            problems = verifier.check_authored(authoring.naive_candidate(reply), entries=entries,
                                               distractor_pool=titles)  # fmt: skip
        except authoring.BadReply as error:
            problems = [str(error)]
        accepted += not problems
        for problem in problems:
            rule = problem.split(" '")[0].split(":")[0]
            reasons[rule] = reasons.get(rule, 0) + 1
    return accepted, reasons


def _cold(seconds: float, prepared: Path | None) -> str:
    """The cold prefix's time, or, for a prefix a --prefill-only run prepared, that run's and this one's restore."""
    if not prepared or not prepared.exists():
        return f"cold {seconds:.1f} s"
    earlier = json.loads(prepared.read_text())
    return (
        f"cold {earlier['cold_s']:.1f} s (prepared by --prefill-only at {earlier['at']}, load average "
        f"{earlier['load'][0]:.1f} before, {earlier['load'][1]:.1f} after; restored here in {seconds:.1f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--demo", action="store_true", help="the demo trainee's life log (320 entries, seed 2026)")
    parser.add_argument("--candidates", type=int, default=12)
    parser.add_argument("--naive", type=int, default=0, help="requests of the naive whole-puzzle design")
    parser.add_argument("--n-ctx", type=int, default=32768,
                        help="the server's context (LLM_SERVER_N_CTX's default); the prefix fits it")  # fmt: skip
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--kinds", nargs="+", choices=authoring.KINDS, default=list(authoring.KINDS),
                        help="the kinds to author (default: all; the product: LLM_AUTHORING_KINDS)")  # fmt: skip
    parser.add_argument("--out", default="authoring-cpu")
    parser.add_argument("--kv-dir", default="",
                        help="the server's prefix store (default: a new one, so the prefix is cold); a run with the "
                             "same --kv-dir, --entries and --seed after --prefill-only starts warm")  # fmt: skip
    parser.add_argument(
        "--budget-s",
        type=float,
        default=0,
        help="ask for no new split candidate after this many seconds of them (0: no limit)",
    )
    parser.add_argument("--prefill-only", action="store_true",
                        help="prepare the prefix into --kv-dir and stop: a 30K-token prefix takes 10-40 min on 2 "
                             "cores, and can be prepared while other work runs")  # fmt: skip
    args = parser.parse_args()
    if args.prefill_only and not args.kv_dir:
        parser.error("--prefill-only needs --kv-dir")
    entries, seed, label = (320, 2026, "demo") if args.demo else (args.entries, args.seed, str(args.entries))
    seeded = "" if args.demo else f", seed {seed}"
    settings.LLM_CONTEXT_TOKENS = args.n_ctx  # the prefix fits the server's context, as the platform budgets it
    # a cold 30K-token prefix on a loaded 2-core machine takes over 30 min: the product's 600 s and two retries
    # (each queued behind the first, still running) lost a whole prefix once; one request, waited for
    settings.LLM_AUTHORING_TIMEOUT_S, settings.LLM_RETRIES = 4 * 3600, 0
    settings.LLM_TURN_RESERVE_TOKENS = 1024  # a suffix (examples + request, ≤ ~500 tokens) and a reply (≤ 200)
    RESULTS.mkdir(parents=True, exist_ok=True)
    model_name = resolve_model_path().stem
    slug = slugify(f"{STUDY_SLUG}-{label}-s{seed}-{model_name}".replace(".", "-"))[:50]
    participant = trainee(entries, seed, slug=slug, keep=bool(args.kv_dir))
    log = Path(tempfile.mkdtemp(prefix="bench-authoring-")) / "server.log"
    process, base = start_server(args.n_ctx, args.threads, log, kv_dir=args.kv_dir)
    prepared = Path(args.kv_dir) / f"cold-{slug}.json" if args.kv_dir else None
    try:
        prefix_forget(participant.pk)  # built anew under this run's budget
        prefix = llm_prefix_get(participant.pk)
        load_before = os.getloadavg()
        started = time.perf_counter()
        llm_client(settings.LLM_AUTHORING_TIMEOUT_S).complete([*prefix, PING], max_tokens=1, base_url=base + "/v1",
                                                              model=model_name)  # fmt: skip
        cold_s = time.perf_counter() - started
        if args.prefill_only:
            prepared.write_text(json.dumps({"cold_s": cold_s, "load": [load_before[0], os.getloadavg()[0]],
                                            "at": time.strftime("%H:%M UTC", time.gmtime())}))  # fmt: skip
            print(f"prefix prepared in {cold_s:.1f} s into {args.kv_dir}")
            return
        before = httpx.get(base + "/metrics").json()
        # progress as it happens: a long run stopped early (a loaded machine) still leaves its numbers
        print(f"cold prefix {before['prompt_tokens']} tokens in {cold_s:.1f} s, load {os.getloadavg()[0]:.1f}",
              flush=True)  # fmt: skip
        with override_settings(LLM_AUTHORING_KINDS=tuple(args.kinds)):
            until = time.monotonic() + args.budget_s if args.budget_s else None
            run = authored_puzzles_write(participant_id=participant.pk, limit=args.candidates,
                                         base_url=base + "/v1", model=model_name, until=until)  # fmt: skip
        after = httpx.get(base + "/metrics").json()
        load_after = os.getloadavg()
        print(f"split design: {run.candidates} candidates, {run.accepted} accepted, {run.seconds:.1f} s, "
              f"load {load_after[0]:.1f}", flush=True)  # fmt: skip
        prompt = after["prompt_tokens"] - before["prompt_tokens"]
        cached = after["prefix_cache_hit_tokens"] - before["prefix_cache_hit_tokens"]
        naive_accepted, naive_reasons = (naive_run(participant, prefix, args.naive, base + "/v1", model_name)
                                         if args.naive else (0, {}))  # fmt: skip
    finally:
        stop_processes([process])
    # the seed in the name: a run on another generated life log never overwrites an earlier run's audit file
    audit_path = RESULTS / f"{args.out}-audit-{label}{seeded.replace(', seed ', '-seed')}-{model_name}.md"
    violations = audit(participant, audit_path)
    accept_rate = run.accepted / run.candidates if run.candidates else 0.0
    s_per_accepted = run.seconds / run.accepted if run.accepted else float("inf")
    cache_hit = cached / prompt if prompt else 0.0
    prefix_tokens = before["prompt_tokens"]
    in_prefix = sum(line.startswith("[") for line in prefix[0]["content"].split("LIFE LOG\n", 1)[-1].splitlines())
    rows = AuthoredPuzzle.objects.filter(participant=participant)
    kinds = sorted(set(rows.values_list("kind", flat=True)))
    ready = rows.filter(status=AuthoredPuzzle.Status.READY)
    by_kind = {kind: f"{ready.filter(kind=kind).count()}/{rows.filter(kind=kind).count()}" for kind in kinds}
    table = [
        f"## {label} entries{seeded}, {model_name}, {platform.node()} ({os.cpu_count()} cores, {args.threads} "
        f"threads), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {verifier.VERSION}, context {args.n_ctx}"
        + ("" if tuple(args.kinds) == authoring.KINDS else f", kinds {' '.join(args.kinds)}"),
        "",
        "| design | candidates | accepted | accept rate | rejection reasons |",
        "|---|---|---|---|---|",
        f"| split (program picks facts, model writes words) | {run.candidates} | {run.accepted} | {accept_rate:.2f} | "
        f"{dict(sorted(run.reasons.items(), key=lambda kv: -kv[1]))} |",
    ]
    if args.naive:
        table.append(f"| naive (model writes the whole puzzle) | {args.naive} | {naive_accepted} | "
                     f"{naive_accepted / args.naive:.2f} | {naive_reasons} |")  # fmt: skip
    table += [
        "",
        f"accepted/candidates by kind: {by_kind}",
        "",
        f"prefix {prefix_tokens} tokens ({in_prefix} of {entries} entries: the most recent that fit the context), "
        f"{_cold(cold_s, prepared)}; load average {load_before[0]:.1f} before, {load_after[0]:.1f} after; "
        f"split candidates {run.seconds:.1f} s in all, "
        f"{s_per_accepted:.1f} s per accepted; cache hit {cache_hit:.3f} ({cached} of {prompt} prompt tokens); "
        f"audit file {audit_path.relative_to(ROOT)}",
        "",
    ]
    summary = (f"authoring model={model_name} entries={label} candidates={run.candidates} accepted={run.accepted} "
               f"accept_rate={accept_rate:.2f} s_per_accepted={s_per_accepted:.1f} cache_hit={cache_hit:.3f} "
               f"audit_violations={violations}")  # fmt: skip
    with open(RESULTS / f"{args.out}.md", "a") as out:
        out.write("\n".join(table) + "\n" + summary + "\n\n")
    print("\n".join(table))
    print(summary)


if __name__ == "__main__":
    main()
