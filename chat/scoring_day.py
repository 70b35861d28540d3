"""Detail probes: how many true details of a day an answer recalls, and what it puts in the day that was not.

A detail counts when the answer names it and neither the question nor a clue already did ("castle street"
after "think about the Saturday market on Castle Street" recalls nothing). An intrusion is something the
day's entries do not have: another person (a first name, a relation: "my grandson" on a day only the son
rang), an animal or thing of the lexicon ("carrot cake" on the day of the fruit cake), a kind of place, a
colour the day gives no thing ("a maroon rug" for the red one), an amount ("£42" for the £31.20 ticket), or
another proper name ("France" for the holiday in Spain). The day counts as recalled when the answer has at
least one true detail and no intrusion: a right detail does not excuse a wrong one.
"""

import re

from studies.scoring_policy import STANDARD, ScoringPolicy

from . import scoring
from .scoring import HONORIFICS, STOPWORDS, Score, best_similarity, content_words, normalize, term_found
from .scoring_conflicts import slots, without_places
from .scoring_details import mentioned, stray_things
from .scoring_names import COMMON_WORDS, is_first_name, lowercase_name, names_in, nickname_found, same_person
from .scoring_numbers import amounts_in, amounts_not_in
from .synonyms import meaning_of, meanings_in


def detail_found(answer: str, detail: dict, clauses: list[str], policy: ScoringPolicy = STANDARD) -> bool:
    """Whether the answer recalls one detail of the day (chat/puzzles/detail_probe.py builds them)."""
    kind, label = detail["kind"], detail["label"]
    normalized = normalize(answer)
    if kind == "person":
        padded = f" {normalized} "
        by_relation = any(f" {alias} " in padded or f" {alias}s " in padded for alias in detail.get("aliases", []))
        return by_relation or term_found(answer, label, policy) > 0
    if kind == "place":  # by its name, or its kind ("at home" for the house on Elm Road)
        return term_found(answer, label, policy) > 0 or bool(
            slots(normalized)["place"] & slots(normalize(label))["place"]
        )
    if kind == "name":  # a play, a hymn, a book, a town: "we saw An Inspector Calls", "Spain"
        return term_found(answer, label, policy) > 0
    if kind == "activity":
        return bool(slots(normalized)["activity"] & set(detail["tags"]))
    if kind in {"animal", "thing"}:
        return mentioned(normalized, label) or term_found(answer, label, policy) > 0
    keywords = [word for word in content_words(label) if len(word) >= 4]
    if any(term_found(answer, word, policy) > 0 for word in keywords):
        return True
    named = slots(normalize(label))
    if slots(normalized)["activity"] & named["activity"]:  # "I rang" for "Phone call with Tom"
        return True
    if slots(normalized)["place"] & named["place"]:  # "the seaside" for "Day by the sea"
        return True
    events = [clause for clause in clauses if not only_a_place(clause)]
    return bool(events) and best_similarity(events, label) >= scoring.SEMANTIC_MIN


def only_a_place(clause: str) -> bool:
    """Whether a clause names a kind of place and nothing else ("at home", "the library"): a place, not an
    event, however close a sentence model puts "at home" to "Day by the sea"."""
    normalized = normalize(clause)
    if not slots(normalized)["place"]:
        return False
    return not content_words(without_places(normalized))


def not_given(details: list[dict], shown: str) -> list[dict]:
    """The details that the question and the clues given so far do not name themselves."""
    padded = f" {normalize(shown)} "
    return [detail for detail in details if f" {normalize(detail['label'])} " not in padded]


def own_words(answer: str, shown: str) -> str:
    """The answer without the words the question and clues said ("the theatre" after "your diary says:
    Evening at the theatre" recalls nothing), capitals kept for names."""
    said = set(normalize(shown).split())
    return " ".join(word for word in answer.split() if normalize(word) not in said or not normalize(word))


def count_details(answer: str, details: list[dict], policy: ScoringPolicy = STANDARD) -> tuple[int, list[str]]:
    """How many true details of the day the answer recalls: people, places, other events, activities, animals
    and things named in that day's entries (amounts are counted by `score_details`, which has the day's text)."""
    clauses = [part for part in re.split(r"[.,;!?]| and | then ", answer) if content_words(part)]
    found = [detail["label"] for detail in details if detail_found(answer, detail, clauses, policy)]
    return len(found), found


def _one_of(word: str, people: list[dict], spelling_min: float | None) -> bool:
    """Whether a name is one of the day's people by a nickname, pet form or misspelling ("Mags", "Bernhard")."""
    return any(
        nickname_found(word.capitalize(), part) or same_person(word, part, spelling_min)
        for person in people
        for part in person["label"].split()
    )


def _people(
    answer: str,
    details: list[dict],
    day_words: set[str],
    relations: dict[str, list[str]],
    spelling_min: float | None = None,
) -> list[str]:
    """First names of people who were not there (written with a capital, or clearly a name in lowercase), and
    relations that only someone who was not there has in the life log (`relations`: name -> relation words):
    "my grandson" on the day the son rang. A relation nobody known has ("my husband") is left alone: the log
    may not say."""
    people = [detail for detail in details if detail["kind"] == "person"]
    wrong = []
    for word, capital in names_in(answer):
        if word in day_words or meaning_of(word) or not is_first_name(word):
            continue
        if not capital and not lowercase_name(word):  # "emma came too", typed on a tablet
            continue
        if not _one_of(word, people, spelling_min):
            wrong.append(word)
    there = {meaning for word in day_words if (meaning := meaning_of(word)) and meaning[0] == "relation"}
    there |= {meaning_of(alias) for person in people for alias in person.get("aliases", [])}
    absent = {
        meaning_of(word)
        for name, words in relations.items()
        if not set(normalize(name).split()) <= day_words
        for word in words
    }
    for meaning in meanings_in(normalize(answer)):
        if meaning[0] == "relation" and meaning in absent - there:
            wrong.append(f"relation {meaning[1]}")
    return wrong


def _colours(normalized: str, day_text: str) -> list[str]:
    """Colours the answer gives that no thing of the day has, when the day names a colour at all."""
    day_colours = {meaning for meaning in meanings_in(day_text) if meaning[0] == "colour"}
    if not day_colours:
        return []
    return [f"colour {m[1]}" for m in meanings_in(normalized) if m[0] == "colour" and m not in day_colours]


def _proper_names(answer: str, day_words: set[str], people: list[dict], spelling_min: float | None) -> list[str]:
    """Other capitalised words, not at a sentence's start, that the day does not have: "France" for Spain."""
    wrong = []
    for sentence in re.split(r"[.!?;]\s*", answer):
        words = re.findall(r"[A-Za-z][A-Za-z'’]*", sentence)
        for word in words[1:]:
            key = normalize(word)
            if not word[0].isupper() or key in STOPWORDS or key in HONORIFICS or len(key) < 3:
                continue
            if key in day_words or key.removesuffix("s") in day_words or meaning_of(key) or is_first_name(key):
                continue
            if _one_of(key, people, spelling_min):  # "Mags", "Emilie": a person of the day as people write them
                continue
            wrong.append(key)
    return wrong


def intrusions(
    answer: str,
    details: list[dict],
    shown: str = "",
    day: str = "",
    relations: dict[str, list[str]] | None = None,
    policy: ScoringPolicy = STANDARD,
) -> list[str]:
    """What the answer puts in the day that its entries (`day`, their text; else the details' labels) and the
    question do not have; `relations` are the life log's ("David": ["son"]), for relations of people absent."""
    raw_day = f"{shown} {day} " + " ".join(detail["label"] for detail in details)
    day_text = normalize(raw_day)
    day_words = set(day_text.split())
    normalized = normalize(answer)
    people = [detail for detail in details if detail["kind"] == "person"]
    wrong = _people(answer, details, day_words, relations or {}, policy.spelling_min)
    wrong += stray_things(normalized, day_text, COMMON_WORDS)
    day_places = slots(day_text)["place"]
    wrong += sorted(slots(normalized)["place"] - day_places) if day_places else []
    if day:  # the entries' own text: colours, amounts and names the labels do not carry
        wrong += _colours(normalized, day_text) + amounts_not_in(answer, raw_day, policy)
        wrong += _proper_names(answer, day_words, people, policy.spelling_min)
    return wrong


def score_details(
    answer: str,
    details: list[dict],
    *,
    shown: str = "",
    day: str = "",
    relations: dict[str, list[str]] | None = None,
    policy: ScoringPolicy = STANDARD,
) -> Score:
    """The score is the number of true details recalled in the answer's own words, beyond what the question
    and clues named. The day counts as recalled when there is at least one and nothing the day did not have."""
    # A place or event is recalled by the words of its name the question did not say ("Millets" for "Millets
    # Farm garden centre" after "Trip to the garden centre").
    fresh = [
        {**detail, "label": own_words(detail["label"], shown) or detail["label"]}
        if detail["kind"] in {"place", "event"}
        else detail
        for detail in not_given(details, shown)
    ]
    count, _ = count_details(own_words(answer, shown), fresh, policy)
    # An amount of the day (a distance, a price, a weight) is a detail too, unless the question or a clue said it.
    amounts = set(amounts_in(answer, day, policy)) - set(amounts_in(answer, shown, policy)) if day else set()
    count += len(amounts)
    wrong = intrusions(answer, details, shown, day, relations, policy)
    uses_meaning = any(detail["kind"] == "event" for detail in fresh)
    return Score(correct=count > 0 and not wrong, score=float(count), scorer="semantic" if uses_meaning else "rule")
