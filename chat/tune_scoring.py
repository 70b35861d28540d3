"""Tune the scorer on the labelled sets it may read, and measure it on the third set, which tuning never reads.

    python -m chat.tune_scoring              # grid on the tuning sets, their misses, then the held-out figures
    python -m chat.tune_scoring --tune-only  # the same without scoring any third-set case (while rules change)
    python -m chat.tune_scoring --no-grid    # the figures with the shipped thresholds, without the grid
    python -m chat.tune_scoring --judge      # the LLM judge's agreement on the same cases, next to the rules'

Four sets. The same-author set (written with the rules) and the first independent set (an independent
marker's, written without seeing the scorer) answer the same puzzles and were split by puzzle in round 2; since
round 3 every part of both is tuning data. The fresh set (a second independent marker, new puzzles) was all held
out in round 3 and is **tuning data since round 4**: its misses are listed like the others'. The third set (new
puzzles from new seeds, a third independent marker who never saw the scorer or the other sets) is all held out:
it is scored with the thresholds chosen, only aggregate figures are printed (never a case or a miss), and it never
feeds back into the choice. Its figures are the headline. The sets and their split: chat/scoring_cases.py.
"""

import argparse
import asyncio
import json
import os
from collections import Counter
from dataclasses import dataclass, replace

from chat import scoring
from chat.scoring import RULE_KAPPA
from chat.scoring_cases import (
    MODULES,
    facts_from_json,
    load_cases,
    load_fresh,
    load_fresh_puzzles,
    load_independent,
    load_legacy,
    load_puzzles,
    load_third,
    load_third_puzzles,
)
from chat.scoring_day import score_details
from chat.scoring_order import score_order
from studies.scoring_policy import STANDARD, ScoringPolicy

SPELLING_GRID = (70.0, 75.0, 80.0, 85.0, 90.0)
SEMANTIC_GRID = (0.30, 0.35, 0.40, 0.45, 0.50, 0.55)


@dataclass(frozen=True)
class Agreement:
    cases: int
    accuracy: float
    kappa: float
    confusion: dict  # {"tp", "fn", "fp", "tn"}: scorer's verdict against the label (positive = correct)
    class_errors: dict  # class -> (wrong, cases)


def cohen_kappa(pairs: list[tuple[bool, bool]]) -> float:
    """Agreement beyond chance between two yes/no markers: (observed - expected) / (1 - expected)."""
    total = len(pairs)
    observed = sum(a == b for a, b in pairs) / total
    first_yes = sum(a for a, _ in pairs) / total
    second_yes = sum(b for _, b in pairs) / total
    expected = first_yes * second_yes + (1 - first_yes) * (1 - second_yes)
    return 1.0 if expected == 1 else (observed - expected) / (1 - expected)


def agreement(cases: list[dict], verdicts: list[bool]) -> Agreement:
    pairs = [(case["correct"], verdict) for case, verdict in zip(cases, verdicts, strict=True)]
    confusion = {
        "tp": sum(label and verdict for label, verdict in pairs),
        "fn": sum(label and not verdict for label, verdict in pairs),
        "fp": sum(not label and verdict for label, verdict in pairs),
        "tn": sum(not label and not verdict for label, verdict in pairs),
    }
    totals, wrong = Counter(), Counter()
    for case, (label, verdict) in zip(cases, pairs, strict=True):
        totals[case["class"]] += 1
        wrong[case["class"]] += label != verdict
    return Agreement(
        cases=len(pairs),
        accuracy=sum(label == verdict for label, verdict in pairs) / len(pairs),
        kappa=cohen_kappa(pairs),
        confusion=confusion,
        class_errors={name: (wrong[name], totals[name]) for name in sorted(totals)},
    )


class LabelledSet:
    """The cases of the four sets with their puzzles. The older two keep round 2's split by puzzle (`tune` /
    `heldout` for the same-author set, `independent_tune` / `independent_heldout`), all of which the tuner now
    reads, as it reads `fresh` (the second independent marker's, held out in round 3); `third` is the third
    independent marker's set, all held out ([] until its file exists)."""

    def __init__(self) -> None:
        self.puzzles = load_puzzles()
        for more in (load_fresh_puzzles(), load_third_puzzles()):
            assert not self.puzzles.keys() & more.keys(), "each set's puzzle ids must be new"
            self.puzzles.update(more)
        self.fresh = load_fresh()
        self.third = load_third()
        cases, independent = load_cases(), load_independent()
        self.tune = [case for case in cases if self.split(case) == "tune"] + load_legacy()
        self.heldout = [case for case in cases if self.split(case) == "heldout"]
        self.independent_tune = [case for case in independent if self.split(case) == "tune"]
        self.independent_heldout = [case for case in independent if self.split(case) == "heldout"]

    @property
    def tuning(self) -> list[dict]:
        """Everything the tuner may read: every part of the two older sets (round 2's held-out parts included)
        and, since round 4, the fresh set."""
        return self.tune + self.heldout + self.independent_tune + self.independent_heldout + self.fresh

    def split(self, case: dict) -> str:
        return self.puzzles[case["puzzle"]]["split"]

    def payload(self, case: dict) -> dict:
        """The stored puzzle, with what today's builder adds from its entries: a free-recall entry's place, an
        order puzzle's places, a detail probe's details and day (drawn again by today's rule)."""
        from chat.puzzles import detail_probe

        puzzle = self.puzzles[case["puzzle"]]
        if puzzle["kind"] == "temporal_order":
            return {**puzzle["payload"], "places": [entry["place"] for entry in puzzle["entries"]]}
        if "expected" in puzzle["payload"]:  # free recall: the entry's place
            return {**puzzle["payload"], "place": puzzle["entries"][0]["place"]}
        if puzzle["kind"] != "detail_probe":
            return puzzle["payload"]
        anchor, *same_day = [facts_from_json(entry) for entry in puzzle["entries"]]
        known = puzzle.get("relations", {})
        details = detail_probe.day_details(anchor, same_day, puzzle["payload"]["question"], known)
        day = detail_probe.day_text(anchor, same_day)
        return {**puzzle["payload"], "details": details, "day": day, "relations": known}

    def score(self, case: dict, policy: ScoringPolicy = STANDARD) -> scoring.Score:
        if "puzzle" not in case:
            return score_legacy(case, policy)
        kind = self.puzzles[case["puzzle"]]["kind"]
        return MODULES[kind].evaluate(self.payload(case), case["level"], case["answer"], policy=policy)


def score_legacy(case: dict, policy: ScoringPolicy = STANDARD) -> scoring.Score:
    """The earlier hand-labelled cases, which name a scoring rule instead of a puzzle."""
    kind = case["kind"]
    if kind == "term":
        return scoring.match_term(case["answer"], case["expected"], policy=policy)
    if kind == "event":
        return scoring.match_free_text(
            case["answer"], case["expected"], keywords=case["keywords"], already_given=case["question"], policy=policy
        )
    if kind == "month":
        year, month = (int(part) for part in case["expected"].split("-"))
        return scoring.match_month(case["answer"], month, year)
    if kind == "choice":
        return scoring.match_choice(case["answer"], case["options"], case["answer_index"])
    if kind == "order":
        return score_order(case["answer"], case["correct_order"], case["labels"], policy=policy)
    if kind == "details":
        return score_details(case["answer"], case["details"], policy=policy)
    raise ValueError(f"unknown case kind {kind!r}")


def verdicts(labelled: LabelledSet, cases: list[dict], policy: ScoringPolicy = STANDARD) -> list[bool]:
    return [labelled.score(case, policy).correct for case in cases]


def tune(labelled: LabelledSet) -> tuple[float, float, list[tuple[float, float, float]]]:
    """(spelling_min, semantic_min) with the best kappa on the tuning sets, and the whole grid."""
    shipped = scoring.SEMANTIC_MIN
    grid = []
    try:
        for semantic_min in SEMANTIC_GRID:
            scoring.SEMANTIC_MIN = semantic_min
            for spelling_min in SPELLING_GRID:
                policy = replace(STANDARD, spelling_min=spelling_min)
                kappa = agreement(labelled.tuning, verdicts(labelled, labelled.tuning, policy)).kappa
                grid.append((kappa, spelling_min, semantic_min))
    finally:
        scoring.SEMANTIC_MIN = shipped
    # Ties go to the shipped values, then to the stricter thresholds.
    best = max(grid, key=lambda row: (round(row[0], 4), row[1:] == (STANDARD.spelling_min, shipped), row[1], row[2]))
    return best[1], best[2], grid


def report(title: str, result: Agreement) -> None:
    c = result.confusion
    print(f"{title}: cases={result.cases} accuracy={result.accuracy:.3f} kappa={result.kappa:.3f}")
    print("  confusion (rows: label, columns: scorer)   scorer right  scorer wrong")
    print(f"    label right {c['tp']:>30} {c['fn']:>13}")
    print(f"    label wrong {c['fp']:>30} {c['tn']:>13}")
    for name, (wrong, total) in result.class_errors.items():
        print(f"  {name:<14} error {wrong / total:6.1%} ({wrong}/{total})")


def run_judge(labelled: LabelledSet, cases: list[dict]) -> tuple[Agreement, Agreement] | None:
    """Ask the configured LLM judge about every free-recall case and compare it with the rules on the same cases:
    (judge, rules), or None when there is no judge to ask or it never answered yes or no."""
    from django.conf import settings

    from chat import judge
    from chat.llm import llm_client

    free = [case for case in cases if "expected" in labelled.payload(case) and not _recognition(labelled, case)]
    if not settings.LLM_BASE_URL:
        print("judge: LLM_BASE_URL is not set; nothing to ask")
        return None

    async def ask_all() -> list[bool | None]:
        client = llm_client()
        answers = []
        for case in free:
            question = judge.JudgeQuestion(
                puzzle_id=0,
                cue_level=case["level"],
                expected=labelled.payload(case)["expected"],
                participant_id=0,
                model=settings.LLM_MODEL,
            )
            base_url = settings.LLM_BASE_URL.split(",")[0].strip()
            verdict = await judge.ask(question, case["answer"], client=client, base_url=base_url)
            answers.append(None if verdict is None else verdict.correct)
        return answers

    judged = asyncio.run(ask_all())
    usable = [(case, verdict) for case, verdict in zip(free, judged, strict=True) if verdict is not None]
    print(f"judge: {len(usable)} of {len(free)} free-recall cases got a yes/no from {settings.LLM_MODEL!r}")
    if not usable:
        return None
    judged_cases = [case for case, _ in usable]
    judge_result = agreement(judged_cases, [verdict for _, verdict in usable])
    rule_result = agreement(judged_cases, verdicts(labelled, judged_cases))
    report("judge", judge_result)
    report("rules on the same cases", rule_result)
    allowed = judge_result.kappa >= rule_result.kappa
    print(f"judge_kappa={judge_result.kappa:.3f} rule_kappa={rule_result.kappa:.3f} may_enable={str(allowed).lower()}")
    print(f"to enable it: CHAT_LLM_JUDGE=1 CHAT_LLM_JUDGE_KAPPA={judge_result.kappa:.3f} (needs >= {RULE_KAPPA})")
    return judge_result, rule_result


def _recognition(labelled: LabelledSet, case: dict) -> bool:
    from chat.puzzles.base import is_recognition

    return is_recognition(labelled.payload(case), case["level"])


def list_misses(labelled: LabelledSet, cases: list[dict], title: str) -> None:
    """Each tuning case the scorer marks against its label. Never called on third-set cases: reading their
    misses would be tuning on them."""
    for case, verdict in zip(cases, verdicts(labelled, cases), strict=True):
        if verdict != case["correct"]:
            where = case.get("puzzle", "legacy " + case.get("kind", ""))
            label = "right" if case["correct"] else "wrong"
            print(f"  {title} miss [{case['class']}] {where} L{case.get('level', 0)} label={label}: {case['answer']!r}")


def figures(result: Agreement) -> dict:
    return {
        "cases": result.cases,
        "accuracy": round(result.accuracy, 4),
        "kappa": round(result.kappa, 4),
        "confusion": result.confusion,
        "class_errors": {name: [wrong, total] for name, (wrong, total) in result.class_errors.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--judge", action="store_true", help="measure the LLM judge on the labelled set")
    parser.add_argument("--tune-only", action="store_true", help="score no third-set case (while changing rules)")
    parser.add_argument("--json", action="store_true", help="print the measured figures as one JSON line too")
    parser.add_argument("--no-grid", action="store_true", help="skip the threshold grid (30 passes over the sets)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(int(os.environ.get("SCORER_TORCH_THREADS", "1")))  # a few short encodings: one is fastest
    labelled = LabelledSet()
    if args.judge:
        cases = [case for case in labelled.tuning if "puzzle" in case] + labelled.third
        run_judge(labelled, cases)
        return
    if not args.no_grid:
        spelling_min, semantic_min, grid = tune(labelled)
        print(f"{'spelling_min':>12} {'semantic_min':>12} {'tune kappa':>10}")
        for kappa, spelling, semantic in grid:
            print(f"{spelling:>12.0f} {semantic:>12.2f} {kappa:>10.3f}")
        print(f"best on the tuning sets: spelling_min={spelling_min:.0f} semantic_min={semantic_min:.2f}")
    print(f"shipped: spelling_min={STANDARD.spelling_min:.0f} semantic_min={scoring.SEMANTIC_MIN:.2f}\n")
    parts = {
        "same_author_tune": ("same-author set, round 2 tuning part", labelled.tune),
        "same_author_heldout": ("same-author set, round 2 held-out part (tuning data since round 3)", labelled.heldout),
        "independent_tune": ("independent set, round 2 tuning part", labelled.independent_tune),
        "independent_heldout": (
            "independent set, round 2 held-out part (tuning data since round 3)",
            labelled.independent_heldout,
        ),
        "fresh": (
            "fresh set (second independent marker; held out in round 3, tuning data since round 4)",
            labelled.fresh,
        ),
    }
    measured = {}
    for key, (title, cases) in parts.items():
        measured[key] = agreement(cases, verdicts(labelled, cases))
        report(title, measured[key])
    list_misses(labelled, labelled.tune + labelled.heldout, "same-author")
    list_misses(labelled, labelled.independent_tune + labelled.independent_heldout, "independent")
    list_misses(labelled, labelled.fresh, "fresh")
    if not args.tune_only and not labelled.third:
        print("\nthird set: tests/data/scoring_cases_third.json is not there yet; nothing held out to measure")
    elif not args.tune_only:
        # The third set: aggregate figures only, scored once with the shipped thresholds.
        measured["third"] = agreement(labelled.third, verdicts(labelled, labelled.third))
        print()
        report("THIRD set (all held out, third independent marker) — headline", measured["third"])
    if args.json:
        print(json.dumps({key: figures(result) for key, result in measured.items()}))


if __name__ == "__main__":
    main()
