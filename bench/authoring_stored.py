"""The report of a `bench.authoring` run that had to be stopped (a deadline, a machine too loaded to finish):
`python -m bench.authoring_stored --demo --model qwen2.5-coder-0.5b-instruct [--metrics URL --cold-tokens N]`.

It reads what the run stored (every candidate is stored as it is verified, ready or rejected with its reasons)
and writes the same table, audit file and last line as bench.authoring, marked as stopped. The cache hit share
comes from the still-running server's /metrics, less the cold request's `--cold-tokens` (its prompt, all miss).
"""

import argparse
import os
import time

import httpx
from django.utils.text import slugify

from bench.authoring import RESULTS, ROOT, STUDY_SLUG, audit  # first: it sets Django up
from chat.models import AuthoredPuzzle
from studies.models import Study


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=300)
    parser.add_argument("--demo", action="store_true")
    parser.add_argument("--model", required=True)
    parser.add_argument("--metrics", default="", help="the run's server, still up: its /metrics URL")
    parser.add_argument("--cold-tokens", type=int, default=0, help="prompt tokens of the run's cold request")
    parser.add_argument("--note", default="", help="the run's conditions")
    parser.add_argument("--out", default="authoring-cpu")
    args = parser.parse_args()
    label = "demo" if args.demo else str(args.entries)
    study = Study.objects.get(slug=slugify(f"{STUDY_SLUG}-{args.model}".replace(".", "-"))[:50])
    participant = study.participants.get()
    rows = AuthoredPuzzle.objects.filter(participant=participant)
    candidates, accepted = rows.count(), rows.filter(status=AuthoredPuzzle.Status.READY).count()
    reasons: dict[str, int] = {}
    for row in rows.filter(status=AuthoredPuzzle.Status.REJECTED):
        for reason in row.reasons:
            rule = reason.split(" '")[0].split(":")[0]
            reasons[rule] = reasons.get(rule, 0) + 1
    seconds = sum(row.seconds or 0 for row in rows)
    ready, kinds = rows.filter(status=AuthoredPuzzle.Status.READY), sorted(set(rows.values_list("kind", flat=True)))
    by_kind = {kind: f"{ready.filter(kind=kind).count()}/{rows.filter(kind=kind).count()}" for kind in kinds}
    cache_hit, cache_note = float("nan"), "not measured"
    if args.metrics:
        metrics = httpx.get(args.metrics).json()
        prompt = metrics["prompt_tokens"] - args.cold_tokens
        cache_hit = metrics["prefix_cache_hit_tokens"] / prompt if prompt > 0 else 0.0
        cache_note = f"{metrics['prefix_cache_hit_tokens']} of {prompt} candidate prompt tokens"
    audit_path = RESULTS / f"{args.out}-audit-{label}-{args.model}.md"
    violations = audit(participant, audit_path)
    accept_rate = accepted / candidates if candidates else 0.0
    s_per_accepted = seconds / accepted if accepted else float("inf")
    lines = [
        f"## {label} entries, {args.model}: run STOPPED after {candidates} candidates, reported from the stored rows "
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average now {os.getloadavg()[0]:.1f})",
        "",
        f"{args.note}",
        "",
        "| design | candidates | accepted | accept rate | rejection reasons |",
        "|---|---|---|---|---|",
        f"| split (program picks facts, model writes words) | {candidates} | {accepted} | {accept_rate:.2f} | "
        f"{dict(sorted(reasons.items(), key=lambda kv: -kv[1]))} |",
        "",
        f"accepted/candidates by kind: {by_kind}; candidates {seconds:.1f} s in all, {s_per_accepted:.1f} s per "
        f"accepted; cache hit {cache_hit:.3f} ({cache_note}); audit file {audit_path.relative_to(ROOT)}",
        "",
    ]
    summary = (f"authoring model={args.model} entries={label} candidates={candidates} accepted={accepted} "
               f"accept_rate={accept_rate:.2f} s_per_accepted={s_per_accepted:.1f} cache_hit={cache_hit:.3f} "
               f"audit_violations={violations}")  # fmt: skip
    with open(RESULTS / f"{args.out}.md", "a") as out:
        out.write("\n".join(lines) + "\n" + summary + "\n\n")
    print("\n".join(lines))
    print(summary)


if __name__ == "__main__":
    main()
