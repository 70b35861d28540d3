"""Each puzzle group on its own, from hand-made entries: every fact it states comes from the entries, its
cue ladder, its scoring at each level, and a clear refusal when the life log is too thin."""

import hashlib
import json
import random
import re
from datetime import UTC, datetime

import pytest

from chat.puzzle_defaults import SHIPPED_GROUPS
from chat.puzzles import KINDS, EntryFacts, NotEnoughEntries, max_level, prompt_at
from chat.scoring import normalize
from lifelog.sample_data import generate_entries
from studies.scoring_policy import STRICT

GROUPS = {group["kind"]: group for group in SHIPPED_GROUPS}


def facts(id_, title, when, description="", place="", people=(), tags=(), precision="exact"):
    return EntryFacts(id_, title, description, place, tuple(people), tuple(tags), when, precision)


LOG = [
    facts(1, "Coffee with Joan", datetime(2025, 3, 4, 10, tzinfo=UTC),
          "Met Joan at the Blue Door café. We talked about the grandchildren and shared a slice of lemon drizzle.",
          "the Blue Door café", ["Joan"], ["friends"]),
    facts(2, "Sunday service", datetime(2025, 4, 13, 11, tzinfo=UTC),
          "Went to St Mary's church. The choir sang Abide with Me; afterwards tea with Rita and Frank.",
          "St Mary's church", ["Rita", "Frank"], ["church"]),
    facts(3, "Picnic in the park", datetime(2025, 6, 21, 13, tzinfo=UTC),
          "Picnic at University Parks with Sarah and Tom. We had cheese sandwiches; a dog stole a scone.",
          "University Parks", ["Sarah", "Tom"], ["family", "outdoors"]),
    facts(4, "Phone call with Tom", datetime(2025, 6, 21, 19, tzinfo=UTC),
          "Long phone call with Tom about his new job.", "", ["Tom"], ["family"]),
    facts(5, "Evening at the theatre", datetime(2025, 10, 2, 19, tzinfo=UTC),
          "Saw Blithe Spirit at the Playhouse theatre with Harold. The lead actor forgot a line in act two.",
          "the Playhouse theatre", ["Harold"], ["culture"]),
]  # fmt: skip
TITLES = {entry.title for entry in LOG}


def build(kind, candidates=LOG, pool=LOG, seed=3, **rules):
    group = GROUPS[kind]
    return KINDS[kind].build(group["templates"], {**group["rules"], **rules}, candidates, pool, random.Random(seed))


def evaluate(kind, payload, level, answer, **policy):
    return KINDS[kind].evaluate(payload, level, answer, **policy)


def test_life_recall_ladder_from_free_recall_to_recognition():
    built = build("life_recall", candidates=[LOG[0]])
    payload = built.payload
    assert built.entry_id == 1 and payload["question"] == (
        "Let's think back to the morning of Tuesday 4 March 2025. What did you do then?"
    )
    assert payload["cues"] == [
        "Here is a clue: you were with Joan.",
        "Another clue: it was at the Blue Door café.",
        "One more clue: it had to do with friends.",
    ]
    options = payload["recognition"]["options"]
    assert "Coffee with Joan" in options and set(options) <= TITLES and len(set(options)) == 4
    assert max_level(payload) == 4 and prompt_at(payload, 4).endswith("D) " + options[3])
    assert payload["place"] == "the Blue Door café"
    assert evaluate("life_recall", payload, 0, "I had coffee with a friend").correct
    assert not evaluate("life_recall", payload, 0, "I went to the doctor").correct
    assert not evaluate("life_recall", payload, 1, "Joan").correct  # the cue said Joan
    letter = "ABCD"[payload["recognition"]["answer_index"]]
    assert evaluate("life_recall", payload, 4, letter).correct
    assert not evaluate("life_recall", payload, 4, "ABCD".replace(letter, "")[0]).correct


def test_life_recall_skips_days_with_two_events():
    built = build("life_recall", candidates=[LOG[2], LOG[4]])
    assert built.entry_id == 5  # 21 June has the picnic and the phone call: "what did you do?" is ambiguous


def test_language_missing_word_from_the_trainees_own_sentence():
    built = build("language", candidates=[LOG[1]], variants=["missing_word"])
    payload = built.payload
    word = payload["answer"]
    assert word in LOG[1].description and "_____" in payload["question"]
    quoted = payload["question"].split('"')[1]
    assert quoted.replace("_____", word, 1) in LOG[1].description
    assert payload["cues"] == [
        f'A clue: the word begins with "{word[0]}".',
        f"Another clue: it has {len(word)} letters.",
    ]
    assert evaluate("language", payload, 0, word.lower()).correct
    assert not evaluate("language", payload, 0, "banana").correct


def test_language_three_clues_and_when_was_it():
    clues = build("language", candidates=[LOG[4]], variants=["three_clues"]).payload
    assert "You were with Harold." in clues["question"] and "October 2025" in clues["question"]
    assert evaluate("language", clues, 0, "we saw a play at the theatre").correct
    when = build("language", candidates=[LOG[4]], variants=["when_was_it"]).payload
    assert when["answer"] == "October 2025" and when["cues"] == ['Another clue: the month begins with "O".']
    assert evaluate("language", when, 0, "it was October").correct
    assert not evaluate("language", when, 0, "September 2025").correct
    assert set(when["recognition"]["options"]) <= {"March 2025", "April 2025", "June 2025", "October 2025"}


def test_temporal_order_scores_pairs_and_needs_distant_events():
    payload = build("temporal_order").payload
    labels, order = payload["labels"], payload["correct_order"]
    assert len(labels) == 3 and set(labels) <= TITLES
    right = ", ".join("ABC"[index] for index in order)
    assert evaluate("temporal_order", payload, 0, right).correct
    by_title = {entry.title: entry for entry in LOG}
    assert payload["places"] == [by_title[label].place for label in labels]  # "church" names the service
    in_words = ", then ".join(by_title[labels[index]].place.split()[-1] for index in order)
    assert evaluate("temporal_order", payload, 0, in_words).correct, in_words
    assert not evaluate("temporal_order", payload, 0, ", ".join(reversed(right.split(", ")))).correct
    with pytest.raises(NotEnoughEntries):
        build("temporal_order", candidates=LOG[2:4], pool=LOG[2:4])


def test_detail_probe_counts_true_details_of_the_day():
    built = build("detail_probe")
    payload = built.payload
    assert sorted(built.entry_ids) == [3, 4]
    labels = {detail["label"] for detail in payload["details"]}
    day_text = normalize(" ".join(f"{e.title} {e.description} {e.place} {' '.join(e.people)}" for e in LOG[2:4]))
    for label in labels:
        assert normalize(label) in day_text  # every detail is named in that day's entries
        assert label not in payload["question"]  # nothing to recall that the question already says
    assert {"dog", "Tom", "University Parks"} <= labels
    assert evaluate("detail_probe", payload, 0, "a dog pinched our food").correct  # an animal of the day counts
    assert payload["answer"].count(";") < len(labels) - 1  # the reveal lists people, places and events only
    result = evaluate("detail_probe", payload, 0, "Sarah was there, and we were in the University Parks")
    assert result.correct and result.score >= 2
    assert not evaluate("detail_probe", payload, 0, "I can't remember").correct
    assert "a dog stole a scone" in payload["day"]  # the day's own text, for what an answer adds to it
    assert not evaluate("detail_probe", payload, 0, "a cat stole a scone").correct  # an animal not of the day
    assert not evaluate("detail_probe", payload, 0, "Tom and Sarah, and Joan came too").correct


def test_too_thin_a_life_log_is_refused_clearly():
    with pytest.raises(NotEnoughEntries, match=r"three other events|other different"):
        build("life_recall", candidates=LOG[:1], pool=LOG[:2])
    with pytest.raises(NotEnoughEntries):
        build("detail_probe", candidates=[LOG[0]], pool=[LOG[0]], min_details=3)


def test_a_cue_never_gives_the_answer_away():
    shopping = facts(6, "Shopping at the market", datetime(2025, 8, 9, 10, tzinfo=UTC), "Bought apples.",
                     "Castle Street", ["Norman"], ["shopping", "food"])  # fmt: skip
    payload = build("language", candidates=[shopping], pool=[*LOG, shopping], variants=["three_clues"]).payload
    assert payload["cues"][0] == "A clue: it had to do with food."
    assert evaluate("language", payload, 2, "we went shopping").correct


PRICED = [
    facts(7, "Shopping at the market", datetime(2025, 8, 9, 10, tzinfo=UTC),
          "Bought plums and honey at the Saturday market for £7.25. Norman was there selling honey.",
          "the Saturday market", ["Norman"], ["shopping"]),
    facts(8, "Walk along the river", datetime(2025, 8, 16, 10, tzinfo=UTC),
          "Walked 3 miles with Elsie along the towpath. Saw a heron near the lock.", "the towpath", ["Elsie"]),
    facts(9, "Evening at the theatre", datetime(2025, 9, 2, 19, tzinfo=UTC),
          "Saw Pygmalion with Frank; the tickets were £18 each.", "the Playhouse theatre", ["Frank"]),
]  # fmt: skip


def test_number_puzzle_asks_for_a_quantity_of_the_diary_with_a_range_clue_and_choices():
    payload = build("number_recall", candidates=[PRICED[0]], pool=[*LOG, *PRICED]).payload
    assert payload["question"].endswith("How much was it? Pounds and pence, or roughly, is fine.")
    quoted = payload["question"].split('"')[1]
    assert quoted.replace("_____", "£7.25") in PRICED[0].description and "7.25" not in payload["question"]
    assert (payload["answer"], payload["value"], payload["unit"]) == ("£7.25", 7.25, "gbp")
    low, high = (float(part.strip("£.")) for part in payload["cues"][0].removeprefix("A clue: it was between ").split(
        " and "))  # fmt: skip
    assert low < 7.25 < high
    options = payload["recognition"]["options"]
    assert len(set(options)) == 4 and options[payload["recognition"]["answer_index"]] == "£7.25"
    assert "£18" in options  # another entry's price comes before made-up ones
    for answer, correct in [("£7.25", True), ("seven pounds twenty five", True), ("about £7", True),
                            ("£7", False), ("£72.50", False), ("25", False)]:  # fmt: skip
        assert evaluate("number_recall", payload, 0, answer).correct is correct, answer
    assert not evaluate("number_recall", payload, 0, "about £7", policy=STRICT).correct
    letter = "ABCD"[payload["recognition"]["answer_index"]]
    assert evaluate("number_recall", payload, 2, letter).correct
    assert evaluate("number_recall", payload, 2, "7.25").correct  # the value itself, not an option number
    assert not evaluate("number_recall", payload, 2, "£18").correct


def test_number_puzzle_distances_and_a_log_without_numbers():
    payload = build("number_recall", candidates=[PRICED[1]], pool=[*LOG, *PRICED]).payload
    assert payload["unit"] == "mile" and payload["question"].endswith("How far was it?")
    assert evaluate("number_recall", payload, 0, "three miles").correct
    assert not evaluate("number_recall", payload, 0, "8 miles").correct
    assert not evaluate("number_recall", payload, 0, "3 km").correct
    with pytest.raises(NotEnoughEntries, match="price, distance"):
        build("number_recall", candidates=LOG, pool=LOG)


APRIL = [
    facts(11, "Phone call with Uncle Peter", datetime(2026, 4, 1, tzinfo=UTC), "Long phone call with Uncle Peter.",
          "", ["Uncle Peter"], ["family"], precision="month"),
    facts(12, "Gardening", datetime(2026, 4, 1, tzinfo=UTC), "Planted sweet peas with David.", "allotment",
          ["David"], ["garden"], precision="month"),
    facts(13, "Coffee with Joan", datetime(2026, 4, 1, 10, tzinfo=UTC), "Met Joan at the café.", "the café",
          ["Joan"], ["friends"]),
    facts(14, "Walk along the river", datetime(2026, 4, 1, 15, tzinfo=UTC), "Walked with Rita by the lock.",
          "the towpath", ["Rita"], ["walk"]),
    facts(15, "Sunday service", datetime(2026, 5, 3, 11, tzinfo=UTC), "Tea with Frank.", "St Mary's church",
          ["Frank"], ["church"]),
    facts(16, "Sunday service", datetime(2026, 6, 7, 11, tzinfo=UTC), "Tea with Rita.", "St Mary's church",
          ["Rita"], ["church"]),
    facts(17, "Sunday service", datetime(2026, 7, 5, 11, tzinfo=UTC), "Tea with Rita.", "St Mary's church",
          ["Rita"], ["church"]),
    facts(18, "Evening at the theatre", datetime(2026, 8, 6, 19, tzinfo=UTC), "Saw Pygmalion with Harold.",
          "the Playhouse theatre", ["Harold"], ["culture"]),
]  # fmt: skip
WEEKDAY = re.compile(r"\b(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|1 April)\b")


def texts(payload: dict) -> str:
    return " ".join([payload["question"], *payload["cues"], (payload.get("recognition") or {}).get("prompt", "")])


def test_an_entry_known_to_the_month_gets_no_day_and_that_day_holds_only_that_days_entries():
    month_only = APRIL[0]
    with pytest.raises(NotEnoughEntries):
        build("detail_probe", candidates=[month_only], pool=APRIL, min_details=1)
    day = build("detail_probe", candidates=[APRIL[2]], pool=APRIL, min_details=1)
    assert sorted(day.entry_ids) == [13, 14]  # not the two April-only entries dated to the 1st
    assert "Uncle Peter" not in day.payload["answer"] and "Gardening" not in day.payload["answer"]
    for variant in ["missing_word", "three_clues", "when_was_it"]:
        try:
            payload = build("language", candidates=[APRIL[1]], pool=APRIL, variants=[variant]).payload
        except NotEnoughEntries:
            continue
        assert not WEEKDAY.search(texts(payload)), texts(payload)
    assert build("life_recall", candidates=[APRIL[2]], pool=APRIL[2:3] + APRIL[4:] + APRIL[:2], alone_on_day=True)
    for seed in range(6):  # an April-only entry is never ordered against another April entry
        built = build("temporal_order", candidates=APRIL, pool=APRIL, seed=seed)
        assert sum(entry_id in {11, 12, 13, 14} for entry_id in built.entry_ids) <= 1


def test_ordering_puzzles_name_each_event_uniquely_without_telling_the_order():
    for seed in range(6):
        payload = build("temporal_order", candidates=APRIL[2:], pool=APRIL, seed=seed).payload
        labels = payload["labels"]
        assert len({label.casefold() for label in labels}) == len(labels)
        for label in labels:  # a recurring title is named with who was there; twice the same is never used
            assert label != "Sunday service" and "Tea with Rita" not in label
            assert not re.search(r"\d|May|June|July|August", label)


def test_cues_that_tell_nothing_are_skipped_and_places_read_naturally():
    when = build("language", candidates=[APRIL[7]], pool=APRIL, variants=["when_was_it"]).payload
    assert not any("2026" in cue for cue in when["cues"])  # every entry is from 2026
    spans_years = build("language", candidates=[APRIL[7]], pool=APRIL + LOG[:2], variants=["when_was_it"]).payload
    assert spans_years["cues"][0] == "A clue: it was in 2026."
    gardening = facts(20, "Gardening", datetime(2026, 4, 8, 15, tzinfo=UTC), "Planted beans.", "allotment",
                      ["David"], ["garden"], precision="day")  # fmt: skip
    recall = build("life_recall", candidates=[gardening], pool=[gardening, *APRIL[2:]]).payload
    assert "Another clue: it was at the allotment." in recall["cues"]
    assert (
        "Another clue: it was at St Mary's church."
        in build("life_recall", candidates=[APRIL[4]], pool=APRIL[2:]).payload["cues"]
    )


def demo_pool(seed: int, version: int = 2) -> list[EntryFacts]:
    entries = generate_entries(80, seed, version=version)
    pool = []
    for index, entry in enumerate(entries, start=1):
        when = entry["when"]
        precision = "exact" if "T" in when else "day" if len(when) == 10 else "month"
        moment = datetime.fromisoformat(when if precision != "month" else when + "-01").replace(tzinfo=UTC)
        pool.append(facts(index, entry["title"], moment, entry["description"], entry["place"]["name"],
                          entry["people"], entry["tags"], precision))  # fmt: skip
    return pool


@pytest.mark.parametrize("seed", [7, 2026])
def test_every_demo_puzzle_says_a_time_of_day_and_weekday_that_its_answer_agrees_with(seed):
    pool = demo_pool(seed)
    checked = 0
    for entry in pool:
        for kind in ["life_recall", "detail_probe"]:
            try:
                question = build(kind, candidates=[entry], pool=pool, min_details=1).payload["question"]
            except NotEnoughEntries:
                continue
            checked += 1
            text = f"{entry.title} {entry.description}"
            said = re.search(r"the (morning|afternoon|evening) of", question)
            for part in ("morning", "afternoon", "evening"):
                assert not (said and part in text.casefold() and said.group(1) != part), (question, text)
            if named := re.search(r"\b(Saturday|Sunday)\b", text):
                day_said = WEEKDAY.search(question)
                assert not day_said or day_said.group(1) == named.group(1), (question, text)
    assert checked >= 40


def test_demo_text_is_grammatical_and_the_labelled_sets_generator_is_unchanged():
    demo = [entry for seed in (7, 2026) for entry in demo_pool(seed)]
    texts = [entry.description for entry in demo]
    assert not [t for t in texts if re.search(r"\b(?:a|an) (?:strawberries|plums|tomatoes|eggs)\b", t)]
    assert not [t for t in texts if re.search(r"\bBaked (?!an? )", t)]
    assert not [t for t in texts if re.search(r"Bought (.+) and \1 at", t)]
    assert not [e for e in demo if "frozen" in e.description and e.local_time.month not in (12, 1, 2)]
    # tests/data/scoring_puzzles.json was built from version 1: it stays exactly as it was.
    old = json.dumps(generate_entries(60, 7, version=1)).encode()
    assert hashlib.sha256(old).hexdigest()[:16] == "1a0de9928293c3ba"
