"""The scorer against the hand-labelled cases it was tuned on, and the cases that must never slip."""

import pytest

from chat import scoring
from chat.tune_scoring import accuracy, load_cases, score_case

CASES = load_cases()


def test_labelled_set_covers_every_kind_with_both_labels():
    for kind in {"term", "event", "month", "choice", "order", "details"}:
        labels = {case["correct"] for case in CASES if case["kind"] == kind}
        assert labels == {True, False}, kind


def test_accuracy_on_the_labelled_set():
    acc, wrong = accuracy(CASES)
    print(f"scorer accuracy {acc:.3f} on {len(CASES)} cases; misses: {[case['answer'] for case in wrong]}")
    assert acc >= 0.95


@pytest.mark.parametrize(
    ("answer", "expected", "correct"),
    [("Uncle Peter", "Uncle Peter", True), ("PETER!", "Uncle Peter", True), ("my uncle", "Uncle Peter", False),
     ("Cafe", "café", True), ("", "Joan", False), ("Joanna", "Joan", True), ("Sarah", "Joan", False)],
)  # fmt: skip
def test_terms(answer, expected, correct):
    assert scoring.match_term(answer, expected).correct is correct


def test_cued_words_do_not_count_as_recall():
    case = {"kind": "event", "expected": "Coffee with Joan. Met Joan at the café.", "keywords": ["coffee", "joan"],
            "answer": "Joan", "question": "What did you do? A clue: you were with Joan."}  # fmt: skip
    assert not score_case(case).correct
    assert score_case({**case, "question": "What did you do?"}).correct


def test_partial_order_scores_share_of_pairs():
    result = scoring.score_order("B, A, C", [0, 1, 2], ["x", "y", "z"])
    assert not result.correct and result.score == pytest.approx(2 / 3, abs=1e-3)


def test_detail_count_is_the_score():
    details = [{"kind": "person", "label": "Sarah"}, {"kind": "place", "label": "University Parks"}]
    result = scoring.score_details("Sarah and I were in the University Parks", details)
    assert result.correct and result.score == 2.0
