"""The scorer: its rules on real-looking answers, and its agreement with the labelled sets' held-out parts."""

from datetime import UTC, datetime

import pytest

from chat import scoring
from chat.scoring_cases import assign_splits, load_cases, load_independent, load_puzzles
from chat.scoring_day import count_details, score_details
from chat.scoring_numbers import quantity_matches
from chat.scoring_order import score_order
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


# The third set (third independent marker, new puzzles, all held out), as `python -m chat.tune_scoring` measured
# it once after round 4's rules were fixed (README, "Scoring"; bench/results/scoring-third.md). The goal is
# kappa >= 0.85 with no class above 10% error. The figures are pinned so that a regression fails here; only
# aggregates are compared and printed, never a case.
THIRD = {"cases": 1162, "accuracy": 0.9811, "confusion": {"tp": 603, "fn": 13, "fp": 9, "tn": 537}}
THIRD_CLASS_ERRORS = {"choice": (1, 274), "contradiction": (1, 72), "details": (2, 116), "missing word": (2, 114),
                      "month": (5, 86), "names": (11, 126), "numbers": (0, 110), "order": (0, 79), "recall": (0, 117),
                      "synonyms": (0, 68)}  # fmt: skip
# Tuning figures (round 4 read the fresh set's misses; fitted, not a measure): every tuning set agrees fully.
FRESH_TUNING = {"cases": 829, "kappa": 1.0}
ROUND_2_INDEPENDENT_HELDOUT_KAPPA = 0.894  # round 2's held-out measurement, before it became tuning data
SAME_AUTHOR_HELDOUT_KAPPA = 1.0  # round 2 measured 0.989 before it became tuning data


@pytest.fixture(scope="module")
def labelled():
    return LabelledSet()


@pytest.fixture(scope="module")
def measured(labelled):
    """Each guarded set scored once for the module, with one torch thread: the sentence model's few encodings
    are most of the time, and on a busy machine more threads made them ten times slower (81 s against 7 s for
    the fresh set, measured on the shared 2-core machine at load 12)."""
    import torch

    parts = {"third": labelled.third, "fresh": labelled.fresh, "independent_heldout": labelled.independent_heldout,
             "same_author_heldout": labelled.heldout}  # fmt: skip
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return {name: agreement(cases, verdicts(labelled, cases)) for name, cases in parts.items()}
    finally:
        torch.set_num_threads(threads)


def test_third_agreement_is_the_quoted_one_and_meets_the_goal(measured):
    result = measured["third"]
    print(f"third accuracy {result.accuracy:.3f} kappa {result.kappa:.3f} {result.confusion}")  # aggregate only
    assert result.kappa == pytest.approx(scoring.RULE_KAPPA, abs=0.0005)  # README and the judge gate quote it
    assert result.kappa >= 0.85
    assert result.cases == THIRD["cases"]
    assert result.accuracy == pytest.approx(THIRD["accuracy"], abs=0.00005)
    assert result.confusion == THIRD["confusion"]
    assert result.class_errors == THIRD_CLASS_ERRORS
    assert all(wrong <= 0.10 * total for wrong, total in result.class_errors.values())


def test_tuning_sets_keep_their_figures(measured):
    fresh = measured["fresh"]
    assert fresh.cases == FRESH_TUNING["cases"] and fresh.kappa == pytest.approx(FRESH_TUNING["kappa"], abs=0.0005)
    independent = measured["independent_heldout"]
    assert independent.kappa >= ROUND_2_INDEPENDENT_HELDOUT_KAPPA
    assert all(wrong <= 0.10 * total for wrong, total in independent.class_errors.values()), independent.class_errors
    same_author = measured["same_author_heldout"]
    assert same_author.kappa == pytest.approx(SAME_AUTHOR_HELDOUT_KAPPA, abs=0.0005)
    assert all(wrong <= 0.10 * total for wrong, total in same_author.class_errors.values()), same_author.class_errors


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
    result = score_order("B, A, C", [0, 1, 2], ["x", "y", "z"])
    assert not result.correct and result.score == pytest.approx(2 / 3, abs=1e-3)
    assert not score_order("A then C", [1, 0, 2], ["x", "y", "z"]).correct
    assert score_order("A then C", [1, 0, 2], ["x", "y", "z"], cued=1).correct


def test_details_count_animals_things_activities_and_relations():
    details = [
        {"kind": "person", "label": "David", "aliases": ["son"]},
        {"kind": "animal", "label": "dog"},
        {"kind": "place", "label": "the canal towpath"},
        {"kind": "thing", "label": "belemnite"},
        {"kind": "activity", "label": "walked", "tags": ["walk"]},
    ]
    count, found = count_details("we walked the dog along the canal", details)
    assert count == 3 and set(found) == {"dog", "the canal towpath", "walked"}
    assert count_details("my son found a fossil", details) == (2, ["David", "belemnite"])
    assert count_details("I found an ammonite", details)[0] == 0


def test_an_intrusion_fails_the_day_whatever_else_is_right():
    details = [{"kind": "person", "label": "Maggie"}, {"kind": "activity", "label": "tea", "tags": ["drink"]}]
    assert score_details("tea with Maggie", details).correct
    assert score_details("tea with Margaret", details).correct
    wrong_friend = score_details("I had tea with Rita", details)
    assert not wrong_friend.correct and wrong_friend.score == 1.0
    also_rita = score_details("tea with Maggie, and Rita came too", details)
    assert not also_rita.correct and also_rita.score == 2.0  # two true details do not excuse a wrong one


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
        cases = [case for case in labelled.independent_tune if PUZZLES[case["puzzle"]]["kind"] == "life_recall"]
        judge_result, rule_result = run_judge(labelled, cases)
    finally:
        server.close()
    assert judge_result.confusion["fn"] == judge_result.confusion["tn"] == 0  # it said yes to everything
    assert judge_result.kappa == pytest.approx(0.0) and rule_result.kappa > judge_result.kappa
    assert "may_enable=false" in capsys.readouterr().out


# The independent marker's set: same puzzles, another author. Its tuning part may be read; its held-out part
# only through the figures below.
INDEPENDENT = load_independent()


def test_independent_set_takes_the_puzzle_split_and_never_shares_a_puzzle_across_it():
    labelled = LabelledSet()
    assert len(INDEPENDENT) == len(labelled.independent_tune) + len(labelled.independent_heldout) == 577
    tune_puzzles = {case["puzzle"] for case in labelled.independent_tune + labelled.tune if "puzzle" in case}
    heldout_puzzles = {case["puzzle"] for case in labelled.independent_heldout + labelled.heldout}
    assert not tune_puzzles & heldout_puzzles
    assert all(PUZZLES[puzzle]["split"] == "heldout" for puzzle in heldout_puzzles)
    # Since round 3 the grid reads every part of both older sets, since round 4 the fresh set too; the third set
    # is all held out, on puzzles of its own, and never among what the tuner reads.
    older = labelled.tune + labelled.heldout + labelled.independent_tune + labelled.independent_heldout
    assert labelled.tuning == older + labelled.fresh
    fresh_puzzles = {case["puzzle"] for case in labelled.fresh}
    assert len(labelled.fresh) == 829 and not fresh_puzzles & set(PUZZLES)
    third_puzzles = {case["puzzle"] for case in labelled.third}  # ids only: no third-set case is ever printed
    assert not third_puzzles & (set(PUZZLES) | fresh_puzzles)
    assert all(labelled.puzzles[puzzle]["split"] == "heldout" for puzzle in third_puzzles)


SERVICE = "Sunday service. Went to St Mary's church. The choir sang 'Abide with Me'; afterwards tea with Rita and Frank"
RIVER = "Walk along the river. Walked 6 miles with Harold along the towpath by the river. Saw a kingfisher."
CAFE = "Coffee with Bernard. Met Bernard at the Blue Door café. We shared a slice of fruit cake. The bill was £7.80"
VISIT = "Visit to Sarah. Took the train to Sarah's flat in Reading. Sarah cooked fish pie and Tom showed me his guitar."
GARDEN = "Gardening. Spent the afternoon in the garden, planting lavender. David came round to help."
BAKING = "Baking day. Baked apple crumble for Emily's visit in my grey mixing bowl."


def free(answer, expected, place="", given="What did you do then?"):
    title = expected.partition(". ")[0]
    return scoring.match_free_text(
        answer, expected, keywords=scoring.content_words(title), already_given=given, place=place
    ).correct


@pytest.mark.parametrize(
    ("answer", "expected", "correct"),
    [("coffee with Frank", SERVICE, False), ("tea with Frank after church", SERVICE, True),
     ("tea with Rita and Frank", SERVICE, True), ("singing in the choir", SERVICE, True),
     ("Harold and I went rowing on the river", RIVER, False), ("we saw a kingfisher", RIVER, True),
     ("cards with Bernard", CAFE, False), ("a fry up with Bernard at the cafe", CAFE, False),
     ("a cuppa and cake with Bernard", CAFE, True), ("Sarah and Tom came to me", VISIT, False),
     ("Sarah cooked fish pie", VISIT, True), ("went to see Sarah in Reading", GARDEN, False),
     ("David helped me plant lavender", GARDEN, True), ("Emily wrote me a letter", BAKING, False),
     ("a cuppa with Rita and Frank", SERVICE, True), ("Sarah came round for lunch", VISIT, False)],
)  # fmt: skip
def test_another_activity_with_the_same_people_is_another_event(answer, expected, correct):
    assert free(answer, expected) is correct


def test_naming_another_event_of_the_log_is_naming_another_event():
    others = ["Coffee with Frank", "Picnic in the park", "Gardening"]
    assert scoring.names_another_event("coffee with Frankie", "Sunday service", others)
    assert scoring.names_another_event("we did some gardening", "Trip to the garden centre", others)
    assert not scoring.names_another_event("Frank", "Sunday service", others)  # not every word of its title
    assert not scoring.names_another_event("Sunday service, then coffee with Frank", "Sunday service", others)
    keywords = ["sunday", "service"]
    assert not scoring.match_free_text("coffee with Frank", SERVICE, keywords=keywords, others=others).correct


def test_the_entrys_place_counts_even_when_its_text_does_not_name_it():
    assert free("baking at a café", BAKING)  # the text alone says nowhere
    assert not free("baking at a café", BAKING, place="the house on Elm Road")
    assert free("baking at home", BAKING, place="the house on Elm Road")


def test_a_thing_the_entry_does_not_have_is_a_wrong_detail():
    assert not free("Tom showed me his model railway", VISIT, given="you were with Sarah and Tom")
    assert free("Tom showed me his guitar", VISIT, given="you were with Sarah and Tom")
    assert not free("scones with Bernard", CAFE)
    assert free("cake with Bernard", CAFE)  # the general word for the fruit cake


def test_a_cue_said_in_other_words_is_still_the_cue():
    garden = "Gardening. Planted tomatoes at the house on Elm Road."
    cue = "What did you do then? Another clue: it was at the house on Elm Road."
    assert not free("at home on elm rd", garden, given=cue)
    assert free("planting tomatoes at home", garden, given=cue)


@pytest.mark.parametrize(
    ("answer", "correct"),
    [("August", True), ("Augst", True), ("agust 2026", True), ("8/2026", True), ("08/26", True), ("2026-08", True),
     ("aug 26", True), ("20/8/2026", True), ("augusto", True), ("July", False), ("August 2025", False),
     ("8/2025", False), ("A", False), ("in the summer", False), ("July or August", False)],
)  # fmt: skip
def test_months_misspelt_foreign_or_in_numbers(answer, correct):
    assert scoring.match_month(answer, 8, 2026).correct is correct


@pytest.mark.parametrize(
    ("answer", "month"),
    [("oktober", 10), ("octobre", 10), ("Febuary", 2), ("Septmber", 9), ("Decmber", 12), ("junk", None),
     ("mar", 3), ("marc", 3), ("may", 5), ("member", None)],
)  # fmt: skip
def test_a_misspelt_month_is_close_to_exactly_one_month(answer, month):
    months, _, _ = scoring.mentioned_dates(answer)
    assert months == ({month} if month else set())


OPTIONS = ["Coffee with Harold", "Walk along the river", "Coffee with Joan", "Evening at the theatre"]


@pytest.mark.parametrize(
    ("answer", "correct"),
    [("B", True), ("b)", True), ("2", True), ("two", True), ("the second one", True), ("I think b", True),
     ("option 2", True), ("the walk", True), ("a walk along the river", True), ("one", False), ("C", False),
     ("3", False), ("a", False)],
)  # fmt: skip
def test_a_choice_by_letter_position_in_words_or_the_options_words(answer, correct):
    assert scoring.match_choice(answer, OPTIONS, 1).correct is correct


def test_a_number_choice_reads_a_bare_number_as_a_value_before_a_position():
    prices = ["£12.50", "£42", "£26.50", "£15"]
    assert scoring.match_number_choice("3", prices, 2, "gbp").correct  # no option is £3: the third
    assert scoring.match_number_choice("third", prices, 2, "gbp").correct
    assert not scoring.match_number_choice("£3", prices, 2, "gbp").correct  # an amount, and none of them
    miles = ["1 mile", "3 miles", "5 miles", "2 miles"]
    assert scoring.match_number_choice("2", miles, 3, "mile").correct  # 2 miles, not the second option
    assert not scoring.match_number_choice("2", miles, 1, "mile").correct


@pytest.mark.parametrize(
    ("answer", "value", "unit", "correct"),
    [("£26 and 50p", 26.5, "gbp", True), ("£26 50p", 26.5, "gbp", True), ("26 pounds and 50p", 26.5, "gbp", True),
     ("a couple of miles", 2, "mile", True), ("a couple of miles", 3, "mile", False),
     ("half a mile", 0.5, "mile", True), ("a mile and a half", 1.5, "mile", True), ("a dozen", 12, None, True),
     ("a fiver", 5, "gbp", True),
     ("8.50 or 9.50", 8.5, "gbp", False), ("2 or 3 miles", 2, "mile", False), ("140 to 150", 147, None, True)],
)  # fmt: skip
def test_amounts_as_people_say_them_and_a_guess_between_two(answer, value, unit, correct):
    assert scoring.match_quantity(answer, value, unit).correct is correct


@pytest.mark.parametrize(
    ("answer", "expected", "correct"),
    [("Ellie", "Elsie", False), ("Elsa", "Elsie", False), ("Catherine", "Katherine", True), ("Sara", "Sarah", True),
     ("Normon", "Norman", True), ("Bernhard", "Bernard", True)],
)  # fmt: skip
def test_a_near_miss_that_is_another_name_is_another_person(answer, expected, correct):
    assert scoring.match_term(answer, expected).correct is correct


ORDER_LABELS = ["Trip to the garden centre", "Sunday service", "Picnic in the park"]
ORDER_PLACES = ["Millets Farm garden centre", "St Mary's church", "University Parks"]


@pytest.mark.parametrize(
    ("answer", "correct"),
    [("bac", True), ("B-A-C", True), ("b then a then c", True), ("2 1 3", True),
     ("church, then Millets, then the picnic", True), ("the service, the garden centre and a picnic", True),
     ("a picnic came last, church first, then millets", True), ("hymns, then compost shopping at Millets, park", True),
     ("B is first, A second and C last", True), ("a was second, b first, c last", True),
     ("the picnic, then church, then the garden centre", False), ("abc", False), ("a picnic, then church", False)],
)  # fmt: skip
def test_order_by_letters_or_the_events_own_words_and_places(answer, correct):
    assert score_order(answer, [1, 0, 2], ORDER_LABELS, places=ORDER_PLACES).correct is correct


def _probe(*entries, question_title):
    from chat.puzzles import detail_probe
    from chat.puzzles.base import EntryFacts

    day = [EntryFacts(n, title, text, place, tuple(people), (), datetime(2026, 7, 4, 9 + n, tzinfo=UTC), "exact")
           for n, (title, text, place, people) in enumerate(entries)]  # fmt: skip
    known = {"David": ["son"], "Sarah": ["daughter"], "Tom": ["grandson"]}
    question = f"On Saturday 4 July 2026 your diary says: {question_title}. What else can you remember about that day?"
    details = detail_probe.day_details(day[0], day[1:], question, known)
    return {"question": question, "cues": ["Another clue: think about the Playhouse theatre."], "details": details,
            "day": detail_probe.day_text(day[0], day[1:]), "relations": known, "recognition": None}  # fmt: skip


THEATRE_DAY = _probe(
    ("Evening at the theatre", "Saw 'Pygmalion' at the Playhouse theatre with Frank; the tickets were £18 each.",
     "the Playhouse theatre", ["Frank"]),
    ("Phone call with David", "Long phone call with my son David. They told me about their holiday in Spain.",
     "the house on Elm Road", ["David"]),
    ("Baking day", "Baked fruit cake in my cream mixing bowl.", "the house on Elm Road", []),
    question_title="Evening at the theatre",
)  # fmt: skip


@pytest.mark.parametrize(
    ("level", "answer", "correct"),
    [(0, "we saw Pygmalion", True), (0, "David rang about his holiday in Spain", True),
     (0, "my son told me about Spain", True), (0, "tickets were 18 quid", True), (0, "I baked a cake", True),
     (0, "the cake in my cream bowl", True), (0, "I was at home baking", True),
     (0, "David's holiday in France", False), (0, "my grandson rang", False), (0, "tickets were £22", False),
     (0, "the cake in my white bowl", False), (0, "I baked a carrot cake", False), (0, "the theatre", False),
     (0, "Frank and Ellie came", False), (1, "the Playhouse", False), (0, "the Playhouse", True)],
)  # fmt: skip
def test_detail_probe_credits_the_days_own_words_and_fails_any_intrusion(level, answer, correct):
    from chat.puzzles import detail_probe

    assert detail_probe.evaluate(THEATRE_DAY, level, answer).correct is correct


# Round 3: rules corrected on the older sets (every part), each with answers written for these tests.


@pytest.mark.parametrize(
    ("answer", "expected", "correct"),
    [("Emma", "Emily", False), ("Amelia", "Emily", False), ("Joanna", "Joan", False), ("Norma", "Norman", False),
     ("Johan", "Joan", False), ("Elise", "Elsie", False), ("Joanie", "Joan", True), ("Franky", "Frank", True),
     ("Maggy", "Maggie", True), ("Emilie", "Emily", True), ("Sahra", "Sarah", True), ("Harald", "Harold", True),
     ("Bernie", "Bernard", True), ("Millie", "Emily", True), ("Tommy", "Tom", True)],
)  # fmt: skip
def test_names_in_their_own_right_other_gender_and_pet_forms(answer, expected, correct):
    assert scoring.match_term(answer, expected).correct is correct


def test_names_rules_are_small_functions():
    from chat.scoring_names import another_name, lowercase_name, pet_form, sound_skeleton

    assert sound_skeleton("Sahra") == sound_skeleton("Sarah") and sound_skeleton("Elise") != sound_skeleton("Elsie")
    assert pet_form("joanie", "joan") and pet_form("maggy", "maggie") and not pet_form("norma", "norman")
    assert another_name("norma", "norman") and not another_name("harald", "harold")
    assert lowercase_name("emma") and not lowercase_name("carol") and not lowercase_name("honey")


PARK_PICNIC = "Picnic in the park. Picnic at University Parks with Sarah and David; we ate scones and ham."
CHURCH = "Sunday service. Went to St Mary's church. The choir sang 'Jerusalem'; afterwards tea with Maggie."
MARKET = "Shopping at the market. Bought plums at the Saturday market for £4.50. Elsie was there selling honey."


@pytest.mark.parametrize(
    ("answer", "expected", "correct"),
    [("we were flying a kite in the park", PARK_PICNIC, False), ("a picnic with Sarah and David", PARK_PICNIC, True),
     ("it was choir practice", CHURCH, False), ("a game of bridge at Maggie's", CHURCH, False),
     ("we sang Jerusalem in church", CHURCH, True), ("I was selling honey with Elsie", MARKET, False),
     ("I bought plums, Elsie had her honey stall", MARKET, True)],
)  # fmt: skip
def test_another_activity_or_someone_elses_activity_contradicts_the_event(answer, expected, correct):
    place = {PARK_PICNIC: "University Parks", CHURCH: "St Mary's church", MARKET: "the Saturday market"}[expected]
    keywords = {PARK_PICNIC: ["picnic", "park"], CHURCH: ["sunday", "service"], MARKET: ["shopping", "market"]}
    result = scoring.match_free_text(answer, expected, keywords=keywords[expected], place=place)
    assert result.correct is correct


def test_light_verbs_with_the_cued_people_recall_nothing():
    cue = "Here is a clue: you were with Sarah and David."
    recall = scoring.match_free_text("I saw Sarah and David", PARK_PICNIC, keywords=["picnic"], already_given=cue)
    assert not recall.correct
    assert scoring.match_free_text("picnic with Sarah", PARK_PICNIC, keywords=["picnic"], already_given=cue).correct


@pytest.mark.parametrize(
    ("answer", "value", "correct"), [("£6ish", 6.0, True), ("6-ish pounds", 6.0, True), ("£5ish", 6.0, False)]
)
def test_a_hedge_glued_to_the_number(answer, value, correct):
    assert bool(quantity_matches(answer, value, "gbp")) is correct


def test_an_amount_of_the_day_is_a_detail_exact_or_hedged():
    from chat.scoring_numbers import amounts_in

    day = "Day trip to the seaside with Tom, 138 miles each way. The nurse weighed me at 67 kilos."
    assert amounts_in("roughly 140 miles there", day) == ["140 miles"]
    assert amounts_in("it was 110 miles", day) == [] and amounts_in("I was 67 kilos", day) == ["67 kilos"]
    details = [{"kind": "person", "label": "Tom"}]
    assert score_details("a long drive, about 140 miles", details, day=day).correct
    assert not score_details("a long drive, about 160 miles", details, day=day).correct  # 16% off: an intrusion
    assert not score_details("sophie came with us", details, day=day).correct  # a name typed in lowercase


def test_both_ends_cued_and_the_middle_named_is_the_order():
    assert score_order("the service was in the middle", [0, 1, 2], ORDER_LABELS, cued=2, places=ORDER_PLACES).correct
    assert not score_order("the picnic was in the middle", [0, 1, 2], ORDER_LABELS, cued=2, places=ORDER_PLACES).correct
    assert not score_order("the service was in the middle", [0, 1, 2], ORDER_LABELS, places=ORDER_PLACES).correct


def test_an_ordinal_month_and_a_choice_by_its_content_words():
    assert scoring.match_month("I think the tenth month", 10, 2026).correct
    assert not scoring.match_month("the eleventh month", 10, 2026).correct
    options = ["Coffee with Frank", "Walk along the river", "Evening at the theatre"]
    assert scoring.match_choice("the theatre", options, 2).correct
    assert not scoring.match_choice("the theatre", options, 1).correct
