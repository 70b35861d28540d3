"""The scorer: its rules on real-looking answers, and its agreement with the labelled set's held-out part."""

import pytest

from chat import scoring
from chat.scoring_cases import assign_splits, load_cases, load_puzzles
from chat.scoring_numbers import quantity_matches
from chat.synonyms import CLASSES
from chat.tune_scoring import LabelledSet, agreement, cohen_kappa, verdicts
from studies.scoring_policy import STANDARD, STRICT, ScoringPolicy

CASES = load_cases()
PUZZLES = load_puzzles()


def test_labelled_set_size_hard_negatives_and_coverage():
    assert len(CASES) >= 300
    assert sum(case["hard_negative"] for case in CASES) * 3 >= len(CASES)
    assert all(not case["correct"] for case in CASES if case["hard_negative"])
    for name in {case["class"] for case in CASES} - {"contradiction"}:  # those are wrong by definition
        assert {case["correct"] for case in CASES if case["class"] == name} == {True, False}, name
    from chat.puzzles.base import max_level

    for kind in {"life_recall", "language", "temporal_order", "detail_probe", "number_recall"}:
        puzzles = [puzzle for puzzle in PUZZLES.values() if puzzle["kind"] == kind]
        levels = {case["level"] for case in CASES if PUZZLES[case["puzzle"]]["kind"] == kind}
        assert levels >= set(range(max(max_level(puzzle["payload"]) for puzzle in puzzles) + 1)), kind


def test_split_is_by_puzzle_and_reproducible():
    stored = {puzzle_id: puzzle["split"] for puzzle_id, puzzle in PUZZLES.items()}
    again = [dict(puzzle) for puzzle in PUZZLES.values()]
    assign_splits(again)
    assert {puzzle["id"]: puzzle["split"] for puzzle in again} == stored
    heldout = [case for case in CASES if stored[case["puzzle"]] == "heldout"]
    assert 0.3 <= len(heldout) / len(CASES) <= 0.5


def test_kappa_and_confusion_are_computed_as_defined():
    pairs = [(True, True)] * 40 + [(False, False)] * 40 + [(True, False)] * 10 + [(False, True)] * 10
    assert cohen_kappa(pairs) == pytest.approx(0.6)
    cases = [{"correct": label, "class": "x"} for label, _ in pairs]
    result = agreement(cases, [verdict for _, verdict in pairs])
    assert result.confusion == {"tp": 40, "fn": 10, "fp": 10, "tn": 40} and result.class_errors == {"x": (20, 100)}


def test_heldout_agreement_meets_the_goal_and_matches_the_quoted_kappa():
    labelled = LabelledSet()
    result = agreement(labelled.heldout, verdicts(labelled, labelled.heldout))
    print(f"held-out accuracy {result.accuracy:.3f} kappa {result.kappa:.3f} {result.confusion}")
    assert result.kappa >= 0.85
    assert all(wrong <= 0.10 * total for wrong, total in result.class_errors.values()), result.class_errors
    assert result.kappa == pytest.approx(scoring.RULE_KAPPA, abs=0.0005)  # README and the judge gate quote it


@pytest.mark.parametrize(
    ("answer", "expected", "correct"),
    [("Bill", "William", True), ("William", "Bill", True), ("Kate", "Katherine", True), ("Bert", "Albert", True),
     ("Margaret", "Maggie", True), ("Maggie", "Margaret", True), ("Uncle Pete", "Uncle Peter", True),
     ("Rita", "Maggie", False), ("Peggy", "Maggie", False), ("Tim", "Tom", False), ("Bernhard", "Bernard", True),
     ("Bertie", "Bernard", False), ("Jean", "Joan", False), ("my uncle", "Uncle Peter", False)],
)  # fmt: skip
def test_names_with_nicknames_both_ways_and_near_misses(answer, expected, correct):
    assert scoring.match_term(answer, expected).correct is correct


def test_strict_policy_wants_the_name_as_written():
    assert not scoring.match_term("Bill", "William", policy=STRICT).correct
    assert not scoring.match_term("Bernhard", "Bernard", policy=STRICT).correct
    assert scoring.match_term("bernard", "Bernard", policy=STRICT).correct
    no_nicknames = ScoringPolicy(accept_nicknames=False)
    assert not scoring.match_term("Maggie", "Margaret", policy=no_nicknames).correct


def test_a_nickname_that_is_an_everyday_word_needs_its_capital():
    assert not scoring.term_found("the bill came to twelve pounds", "William")
    assert scoring.term_found("Bill came round", "William")


@pytest.mark.parametrize(
    ("answer", "value", "unit", "correct"),
    [("twelve pounds", 12, "gbp", True), ("£12", 12, "gbp", True), ("12 quid", 12, "gbp", True),
     ("£13", 12, "gbp", False), ("3 miles", 8, "mile", False), ("eight miles", 8, "mile", True),
     ("8 mi", 8, "mile", True), ("8 km", 8, "mile", False), ("47", 147, None, False), ("147", 147, None, True),
     ("about 150", 147, None, True), ("150", 147, None, False), ("about 200", 147, None, False),
     ("150-ish", 147, None, True), ("between 140 and 150", 147, None, True), ("47 or 147", 147, None, False),
     ("two kilos", 2, "kg", True), ("2 kg", 2, "kg", True), ("2 kilograms", 2, "kg", True),
     ("four pounds fifty", 4.5, "gbp", True), ("450p", 4.5, "gbp", True), ("twenty-six fifty", 26.5, "gbp", True),
     ("£26", 26.5, "gbp", False), ("about £27", 26.5, "gbp", True), ("about £20", 26.5, "gbp", False)],
)  # fmt: skip
def test_numbers_digits_words_units_and_hedges(answer, value, unit, correct):
    assert scoring.match_quantity(answer, value, unit).correct is correct


def test_hedge_tolerance_is_the_policys():
    assert quantity_matches("about 150", 147, None, STANDARD) > 0
    assert quantity_matches("about 150", 147, None, ScoringPolicy(hedge_tolerance=0.01)) == 0
    assert quantity_matches("about 150", 147, None, STRICT) == 0


def test_a_number_blank_is_never_matched_by_spelling():
    assert not scoring.match_term("seven", "eleven").correct
    assert scoring.match_term("3", "three").correct


@pytest.mark.parametrize(
    ("answer", "expected", "correct"),
    [("dark blue", "navy", True), ("navy blue", "navy", True), ("blue", "navy", False), ("grey", "green", False),
     ("mum", "mother", True), ("my mam", "mother's", True), ("Sat", "Saturday", True), ("Sunday", "Saturday", False),
     ("fall", "autumn", True), ("settee", "sofa", True), ("apartment", "flat", True), ("house", "flat", False),
     ("burgundy", "maroon", True), ("red", "maroon", False)],
)  # fmt: skip
def test_closed_class_synonyms(answer, expected, correct):
    assert scoring.match_term(answer, expected).correct is correct


def test_synonym_classes_are_the_documented_ones():
    assert set(CLASSES) == {"colour", "relation", "day", "month", "season", "object"}


RESTAURANT = "Dinner at the Italian restaurant. Had lasagne at Luigi's with Joan for her birthday."


@pytest.mark.parametrize(
    ("answer", "correct"),
    [("I was at home all evening", False), ("we had dinner at home", False), ("I stayed in and watched the telly",
     False), ("we went to the cinema", False), ("an evening meal out with Joan", True), ("lasagne with Joan", True)],
)  # fmt: skip
def test_a_different_place_or_activity_contradicts_the_event(answer, correct):
    result = scoring.match_free_text(answer, RESTAURANT, keywords=["dinner", "italian", "restaurant"])
    assert result.correct is correct


def test_a_contradiction_fails_even_when_meaning_is_close():
    answer = "we had dinner at home"
    assert scoring.semantic_similarity(answer, RESTAURANT) >= scoring.SEMANTIC_MIN  # meaning alone would pass it
    assert not scoring.match_free_text(answer, RESTAURANT, keywords=["dinner", "italian", "restaurant"]).correct


def test_cued_words_do_not_count_as_recall():
    expected = "Coffee with Joan. Met Joan at the café."
    assert not scoring.match_free_text("Joan", expected, keywords=["coffee", "joan"], already_given="with Joan").correct
    assert scoring.match_free_text("Joan", expected, keywords=["coffee", "joan"], already_given="What?").correct
    garden = "Gardening. Spent the afternoon in the garden."
    assert not scoring.match_free_text("in the garden", garden, keywords=["gardening"], already_given="garden").correct


def test_the_events_activity_in_other_words_is_recall():
    expected = "Phone call with David. Long phone call with my son David."
    assert scoring.match_free_text("I rang my son", expected, keywords=["phone", "call", "david"]).correct


def test_partial_order_scores_share_of_pairs_and_a_clue_fills_its_end():
    result = scoring.score_order("B, A, C", [0, 1, 2], ["x", "y", "z"])
    assert not result.correct and result.score == pytest.approx(2 / 3, abs=1e-3)
    assert not scoring.score_order("A then C", [1, 0, 2], ["x", "y", "z"]).correct
    assert scoring.score_order("A then C", [1, 0, 2], ["x", "y", "z"], cued=1).correct


def test_details_count_animals_things_activities_and_relations():
    details = [
        {"kind": "person", "label": "David", "aliases": ["son"]},
        {"kind": "animal", "label": "dog"},
        {"kind": "place", "label": "the canal towpath"},
        {"kind": "thing", "label": "belemnite"},
        {"kind": "activity", "label": "walked", "tags": ["walk"]},
    ]
    count, found = scoring.count_details("we walked the dog along the canal", details)
    assert count == 3 and set(found) == {"dog", "the canal towpath", "walked"}
    assert scoring.count_details("my son found a fossil", details) == (2, ["David", "belemnite"])
    assert scoring.count_details("I found an ammonite", details)[0] == 0


def test_intrusions_outweighing_true_details_fail_the_day():
    details = [{"kind": "person", "label": "Maggie"}, {"kind": "activity", "label": "tea", "tags": ["drink"]}]
    assert scoring.score_details("tea with Maggie", details).correct
    assert scoring.score_details("tea with Margaret", details).correct
    wrong_friend = scoring.score_details("I had tea with Rita", details)
    assert not wrong_friend.correct and wrong_friend.score == 1.0


def test_policy_is_plain_data_and_refuses_unknown_settings():
    policy = ScoringPolicy(accept_nicknames=False, hedge_tolerance=0.05)
    assert ScoringPolicy.from_dict(policy.as_dict()) == policy
    assert ScoringPolicy.from_dict(None) == STANDARD
    with pytest.raises(ValueError, match="unknown"):
        ScoringPolicy.from_dict({"acept_nicknames": False})
    with pytest.raises(ValueError):
        ScoringPolicy(spelling_min=120)


def test_the_judge_stays_off_unless_measured_at_least_as_good_as_the_rules(settings):
    from chat import judge

    settings.LLM_BASE_URL = "http://127.0.0.1:9"
    settings.CHAT_LLM_JUDGE = True
    settings.CHAT_LLM_JUDGE_KAPPA = scoring.RULE_KAPPA - 0.01
    assert not judge.enabled()
    settings.CHAT_LLM_JUDGE_KAPPA = scoring.RULE_KAPPA
    assert judge.enabled()
    settings.CHAT_LLM_JUDGE = False
    assert not judge.enabled()


def test_tune_scoring_judge_measures_a_yes_saying_judge_below_the_rules(settings, capsys):
    from chat.tune_scoring import run_judge
    from tests.scripted_llm import ScriptedLLM

    server = ScriptedLLM(lambda request: "yes")  # the packaged small model's habit
    try:
        settings.LLM_BASE_URL, settings.LLM_MODEL = server.base_url, "yes-sayer"
        labelled = LabelledSet()
        cases = [case for case in labelled.heldout if PUZZLES[case["puzzle"]]["kind"] == "life_recall"]
        judge_result, rule_result = run_judge(labelled, cases)
    finally:
        server.close()
    assert judge_result.confusion["fn"] == judge_result.confusion["tn"] == 0  # it said yes to everything
    assert judge_result.kappa == pytest.approx(0.0) and rule_result.kappa > judge_result.kappa
    assert "may_enable=false" in capsys.readouterr().out
