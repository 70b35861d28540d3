"""Tune the scorer's thresholds on the labelled cases: `python -m chat.tune_scoring [cases.json]`.

Prints accuracy over a grid and the best pair; the shipped constants in chat/scoring.py come from here.
"""

import json
import sys
from pathlib import Path

from chat import scoring

DEFAULT_CASES = Path(__file__).resolve().parent.parent / "tests" / "data" / "scoring_cases.json"


def score_case(case: dict) -> scoring.Score:
    kind = case["kind"]
    if kind == "term":
        return scoring.match_term(case["answer"], case["expected"])
    if kind == "event":
        return scoring.match_free_text(
            case["answer"], case["expected"], keywords=case["keywords"], already_given=case["question"]
        )
    if kind == "month":
        year, month = (int(part) for part in case["expected"].split("-"))
        return scoring.match_month(case["answer"], month, year)
    if kind == "choice":
        return scoring.match_choice(case["answer"], case["options"], case["answer_index"])
    if kind == "order":
        return scoring.score_order(case["answer"], case["correct_order"], case["labels"])
    if kind == "details":
        return scoring.score_details(case["answer"], case["details"])
    raise ValueError(f"unknown case kind {kind!r}")


def accuracy(cases: list[dict]) -> tuple[float, list[dict]]:
    wrong = [case for case in cases if score_case(case).correct != case["correct"]]
    return 1 - len(wrong) / len(cases), wrong


def load_cases(path: Path = DEFAULT_CASES) -> list[dict]:
    return json.loads(path.read_text())["cases"]


def main() -> None:
    cases = load_cases(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_CASES)
    shipped = (scoring.NAME_FUZZY_MIN, scoring.SEMANTIC_MIN)
    results = []
    for name_min in (70.0, 75.0, 80.0, 85.0, 90.0):
        for semantic_min in (0.30, 0.35, 0.40, 0.45, 0.50, 0.55, 0.60):
            scoring.NAME_FUZZY_MIN, scoring.SEMANTIC_MIN = name_min, semantic_min
            results.append((accuracy(cases)[0], name_min, semantic_min))
    print(f"{'name_fuzzy_min':>14} {'semantic_min':>12} {'accuracy':>8}")
    for acc, name_min, semantic_min in results:
        print(f"{name_min:>14.0f} {semantic_min:>12.2f} {acc:>8.3f}")
    scoring.NAME_FUZZY_MIN, scoring.SEMANTIC_MIN = shipped
    acc, wrong = accuracy(cases)
    for case in wrong:
        print(f"  miss: {case['kind']}: {case['answer']!r} expected correct={case['correct']}")
    best = max(results)
    print(f"scoring cases={len(cases)} shipped_accuracy={acc:.3f} best_accuracy={best[0]:.3f} "
          f"best_name_min={best[1]:.0f} best_semantic_min={best[2]:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
