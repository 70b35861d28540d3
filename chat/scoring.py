"""Scoring a trainee's answer: names (with nicknames and near-misses), numbers, closed-class synonyms, choices
and months by rule; free text by keyword, then by meaning unless it contradicts the entry or adds a thing it
does not have. Beside it: the order of events (scoring_order.py), a day's details (scoring_day.py), months
(scoring_dates.py), a choice by position (scoring_choices.py).

Every scorer takes a ScoringPolicy (studies/scoring_policy.py; the standard one by default). Thresholds and rules
are tuned on the older labelled sets and the fresh set, and measured on the third set, all held out:
`python -m chat.tune_scoring`.
"""

import os
import re
import sys
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

import numpy as np
from rapidfuzz import fuzz
from rapidfuzz.distance import OSA, Hamming

from studies.scoring_policy import STANDARD, STRICT, ScoringPolicy

from .scoring_choices import option_position
from .scoring_conflicts import (
    at_someones,
    conflicting_slot,
    implied_activities,
    own_doings,
    side_activity_only,
    slots,
    split_doings,
)
from .scoring_dates import mentioned_dates
from .scoring_details import mentioned, named_in, stray_things
from .scoring_names import (
    COMMON_WORDS,
    another_name,
    is_first_name,
    known_name,
    nickname_found,
    same_person,
    strangers,
)
from .scoring_numbers import amounts_in, amounts_not_in, is_number, quantities, quantity_matches
from .synonyms import meaning_of, other_relations, same_meaning

# Tuned on the older labelled sets (chat/tune_scoring.py); the spelling threshold is the policy's.
SEMANTIC_MIN = 0.35  # cosine similarity for free text to count as recalling the event
# The rule scorer's Cohen's kappa against the third independent marker, on the third set that tuning never
# read (round 4; README, "Scoring"). An LLM judge must measure at least this to be used (chat/judge.py);
# tests/test_scoring.py keeps it equal to the measurement.
RULE_KAPPA = 0.962

STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "from",
        "up",
        "about",
        "into",
        "over",
        "after",
        "before",
        "then",
        "than",
        "i",
        "me",
        "my",
        "we",
        "our",
        "you",
        "your",
        "he",
        "she",
        "they",
        "them",
        "his",
        "her",
        "their",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "there",
        "here",
        "was",
        "were",
        "is",
        "are",
        "be",
        "been",
        "being",
        "am",
        "do",
        "did",
        "does",
        "done",
        "have",
        "has",
        "had",
        "go",
        "went",
        "going",
        "gone",
        "get",
        "got",
        "some",
        "any",
        "all",
        "very",
        "just",
        "so",
        "too",
        "also",
        "not",
        "no",
        "yes",
        "maybe",
        "think",
        "remember",
        "recall",
        "know",
        "dont",
        "don't",
        "what",
        "which",
        "who",
        "when",
        "where",
        "why",
        "how",
        "one",
        "thing",
        "things",
        "day",
        "time",
        # Vague words recall nothing: "something in the garden" after the clue "garden" is only the clue.
        "something",
        "someone",
        "somebody",
        "anyone",
        "everyone",
        "else",
        "anything",
        "everything",
        "nothing",
        "somewhere",
        "stuff",
        "lot",
        "lots",
    ]
)

WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


@lru_cache(maxsize=16384)  # a pure function called thousands of times a turn, mostly on the same words
def normalize(text: str) -> str:
    """Casefolded, accents stripped, punctuation to spaces, whitespace collapsed."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    stripped = stripped.replace("'", "").replace("\u2019", "")
    return " ".join(re.sub(r"[^\w]+", " ", stripped).split())


def content_words(text: str) -> list[str]:
    return [word for word in normalize(text).split() if word not in STOPWORDS and len(word) > 1]


@dataclass(frozen=True)
class Score:
    correct: bool
    score: float
    scorer: str  # "rule" | "semantic" | "judge"


HONORIFICS = frozenset({"uncle", "aunt", "auntie", "grandma", "grandpa", "mr", "mrs", "ms", "miss", "dr", "st"})


SHORTEST_NEAR_MISS = 4  # letters a word needs before a misspelling of it can count


def term_found(answer: str, term: str, policy: ScoringPolicy = STANDARD) -> float:
    """How well (0-1) the answer names a name, place, word or number; 0 when it does not.

    A multi-word term counts when the answer holds at least half of its distinctive words ("Peter" for
    "Uncle Peter", "Blue Door" for "the Blue Door café"), each with the policy's spelling tolerance or as
    a nickname; words the trainee splits or joins ("middle march") are compared joined too. A number is
    compared as a number, never by its spelling ("47" is not 147).
    """
    if is_number(term):
        quantity = quantities(term)[0]
        return quantity_matches(answer, quantity.value, quantity.unit, policy)
    answer_words = normalize(answer).split()
    normalized_term = normalize(term)
    if not answer_words or not normalized_term:
        return 0.0
    padded = f" {' '.join(answer_words)} "
    joined_pairs = {a + b for a, b in pairwise(answer_words)}
    if f" {normalized_term} " in padded or normalized_term.replace(" ", "") in joined_pairs:
        return 1.0
    term_words = [word for word in normalized_term.split() if word not in STOPWORDS and word not in HONORIFICS]
    term_words = term_words or normalized_term.split()
    # Little words are never near-misses of a name ("to" is not Tom), and a short word must be exact:
    # one letter changes a short name into another (Tom, Tim; Jo, Jan).
    candidates = [word for word in answer_words if word not in STOPWORDS] + sorted(joined_pairs)
    matched = []
    for word in term_words:
        if policy.accept_nicknames and nickname_found(answer, word):
            matched.append(100.0)
            continue
        # Another real name is another person, however close its spelling ("Ellie" for Elsie).
        best = max(
            (fuzz.ratio(word, candidate) for candidate in candidates if not another_name(candidate, word)), default=0.0
        )
        near_miss = policy.spelling_min is not None and len(word) >= SHORTEST_NEAR_MISS and best >= policy.spelling_min
        if best == 100 or near_miss:
            matched.append(best)
        elif _slip(word, candidates, policy):
            matched.append(policy.spelling_min or 100.0)
    if not matched or len(matched) * 2 < len(term_words):
        return 0.0
    return sum(matched) / len(matched) / 100


def _slip(word: str, candidates: list[str], policy: ScoringPolicy) -> bool:
    """Whether a candidate is the word with two letters swapped, and no other name (with a spelling tolerance)."""
    if policy.spelling_min is None or len(word) < SHORTEST_NEAR_MISS:
        return False
    return any(swapped_letters(candidate, word) and not another_name(candidate, word) for candidate in candidates)


def swapped_letters(typed: str, word: str) -> bool:
    """Whether `typed` is `word` with two neighbouring letters swapped ("Raod" for Road, "Fram" for Farm): one
    slip of the finger, which the fuzzy ratio of a short word scores as two (75 for four letters)."""
    return len(typed) == len(word) and OSA.distance(typed, word) == 1 and Hamming.distance(typed, word) == 2


def match_term(answer: str, expected: str, *, context: str = "", policy: ScoringPolicy = STANDARD) -> Score:
    """A missing word: a number as a number; a colour, relation, day, month, season or common object by
    meaning (another word of its class is wrong, however close its spelling); else a name or word by spelling.
    A name that is neither the word nor in `context` (the diary line) makes it a guess: "Maggie or Rita"."""
    if context and strangers(answer, f"{context} {expected}", policy.spelling_min, policy.accept_nicknames):
        return Score(correct=False, score=0.0, scorer="rule")
    guesses = [part for part in re.split(r"\bor\b|/", answer) if content_words(part)]
    if len(guesses) > 1:  # "Elm or Oak": right only when every guess is
        verdicts = [match_term(part, expected, policy=policy) for part in guesses]
        right = all(verdict.correct for verdict in verdicts)
        return Score(correct=right, score=min(verdict.score for verdict in verdicts), scorer="rule")
    if not is_number(expected):
        verdict = same_meaning(normalize(answer), normalize(expected))
        if verdict is False or (verdict and policy.accept_synonyms):
            return Score(correct=bool(verdict), score=1.0 if verdict else 0.0, scorer="rule")
    value = term_found(answer, expected, policy)
    return Score(correct=value > 0, score=value, scorer="rule")


def match_quantity(answer: str, value: float, unit: str | None, *, policy: ScoringPolicy = STANDARD) -> Score:
    """A price, distance, weight or amount: compared as a number (chat/scoring_numbers.py), never by spelling."""
    score = quantity_matches(answer, value, unit, policy)
    return Score(correct=score > 0, score=score, scorer="rule")


def match_number_choice(answer: str, options: list[str], answer_index: int, unit: str | None) -> Score:
    """Recognition among numbers: a letter, or the value itself ("12" or "twelve pounds" for "£12").
    A bare number is read as a value first ("2" for "2 miles" must mean two miles), and as the option's
    position only when no option has that value ("3" among £12.50, £42, £26.50 and £15 is the third)."""
    normalized = normalize(answer)
    picked = option_position(normalized, len(options), digits=False)
    if picked is None:
        values = [quantities(option)[0].value for option in options]
        hits = [index for index, value in enumerate(values) if quantity_matches(answer, value, unit, STRICT) == 1.0]
        picked = hits[0] if len(hits) == 1 else None
        bare = all(quantity.unit is None for quantity in quantities(answer))  # "3", not "£3"
        if bare and not hits and not any(quantity_matches(answer, value, unit) for value in values):
            picked = option_position(normalized, len(options))
    correct = picked == answer_index
    return Score(correct=correct, score=1.0 if correct else 0.0, scorer="rule")


CHOICE_FUZZY_MIN = 80.0  # an option named in words: its token-set ratio, clearly ahead of the others


def match_choice(answer: str, options: list[str], answer_index: int) -> Score:
    """Recognition: a letter (B), a position (2, "two", "the second one", "the last one") or the option's words;
    among months, the month and year ("feb", "Feb 2026"; chat/scoring_dates.py); an option's person by a
    nickname ("Mags" for Maggie). Naming someone the option does not have is not that option ("Coffee with
    Jean" for Coffee with Joan)."""
    normalized = normalize(answer)
    picked = option_position(normalized, len(options))
    months = [mentioned_dates(option)[:2] for option in options]
    if picked is None and all(len(found) == 1 and len(year) == 1 for found, year in months):
        picked = _month_option(answer, months)
    elif picked is None and normalized:
        # Content words only: "the doctors" shares "the" with "Walk along the river", which says nothing.
        own = " ".join(content_words(answer)) or normalized
        ratios = [fuzz.token_set_ratio(own, " ".join(content_words(option)) or normalize(option)) for option in options]
        best = int(np.argmax(ratios))
        if ratios[best] >= CHOICE_FUZZY_MIN and sorted(ratios)[-2] < ratios[best]:
            picked = best
        else:
            picked = _option_by_name(answer, options)
    if picked is not None and strangers(answer, options[picked]):
        picked = None
    correct = picked == answer_index
    return Score(correct=correct, score=1.0 if correct else 0.0, scorer="rule")


def _month_option(answer: str, options: list[tuple[set[int], set[int]]]) -> int | None:
    """The one month option ((months, years) of each) the answer names by its month, and its year if given."""
    months, years, _ = mentioned_dates(answer)
    if len(months) != 1 or len(years) > 1:
        return None
    hits = [index for index, (month, year) in enumerate(options) if months == month and (not years or years == year)]
    return hits[0] if len(hits) == 1 else None


def _option_by_name(answer: str, options: list[str]) -> int | None:
    """The one option with a person the answer calls by a nickname or pet form ("Mags" for the option Maggie)."""
    words = [word for word in re.findall(r"[A-Za-z]{3,}", answer) if word.casefold() not in STOPWORDS]
    hits = {
        index
        for index, option in enumerate(options)
        for name in re.findall(r"\b[A-Z][a-z]{2,}", option)
        if is_first_name(name) and any(same_person(word, name, STANDARD.spelling_min) for word in words)
    }
    return hits.pop() if len(hits) == 1 else None


READY_LINE = "chat scorer ready"


def warm_up() -> threading.Thread:
    """Load the embedding model in the background, not inside the first trainee's turn. A web process encodes
    one short answer at a time: one torch thread keeps idle OpenMP workers from spinning on the cores the
    event loop and the database need."""
    # Imported here, not in the thread. quantulum3's English module imports inflect, whose typeguard decorators
    # ast.parse its source: CPython 3.11's AST state is shared by threads, and in the thread this import raised
    # SystemError (~2 s here). transformers' lazy module is not thread-safe either, and a concurrent import
    # elsewhere failed with ImportError.
    import quantulum3._lang.en_US.parser  # noqa: F401
    import sentence_transformers  # noqa: F401
    import torch

    torch.set_num_threads(int(os.environ.get("SCORER_TORCH_THREADS", "1")))

    def load() -> None:
        _embedding("warm up")
        quantities("about £12.50 or 3 miles")  # quantulum3 reads its unit tables on first use (~3 s)
        known_name("warm")  # gender-guesser reads its table of first names on first use (~0.6 s)
        print(f"{READY_LINE} (pid {os.getpid()})", file=sys.stderr, flush=True)

    thread = threading.Thread(target=load, name="scorer-warm-up", daemon=True)
    thread.start()
    return thread


_VECTORS: OrderedDict[str, np.ndarray] = OrderedDict()  # the latest texts' embeddings, least recent first
_VECTORS_MAX = 4096
_vectors_lock = threading.Lock()


def _embeddings(texts: Sequence[str]) -> list[np.ndarray]:
    """The texts' sentence embeddings; those not known yet in one forward pass. A pass over a few short texts
    costs about what one costs (it is bound by reading the model's weights): three short texts in one batch
    measured 22 ms of CPU against 43 ms one by one (bench/results/chat-load-cpu.md)."""
    with _vectors_lock:
        missing = list(dict.fromkeys(text for text in texts if text not in _VECTORS))
    if missing:
        from lifelog.embeddings import embed_texts

        vectors = embed_texts(missing)
        with _vectors_lock:
            _VECTORS.update(zip(missing, vectors, strict=True))
            while len(_VECTORS) > _VECTORS_MAX:
                _VECTORS.popitem(last=False)
    found = {text: vector for text, vector in zip(missing, vectors, strict=True)} if missing else {}
    with _vectors_lock:
        for text in texts:
            if text not in found:
                found[text] = _VECTORS[text]
                _VECTORS.move_to_end(text)
    return [found[text] for text in texts]


def _embedding(text: str) -> np.ndarray:
    return _embeddings([text])[0]


def semantic_similarity(answer: str, expected: str) -> float:
    """Cosine similarity of the two texts' sentence embeddings (a puzzle's expected text is embedded once,
    with its first answer)."""
    answer_vector, expected_vector = _embeddings([answer, expected])
    return float(np.dot(answer_vector, expected_vector))


def best_similarity(texts: Sequence[str], expected: str) -> float:
    """The highest similarity of any of the texts (the clauses of an answer) to the expected one, all embedded
    in one pass."""
    *vectors, expected_vector = _embeddings([*texts, expected])
    return max(float(np.dot(vector, expected_vector)) for vector in vectors)


def match_free_text(
    answer: str,
    expected: str,
    *,
    keywords: list[str],
    already_given: str = "",
    place: str = "",
    others: Sequence[str] = (),
    policy: ScoringPolicy = STANDARD,
) -> Score:
    """What happened, in the trainee's words. Wrong when it puts them somewhere else or doing something else
    (chat/scoring_conflicts.py; `place` is the entry's place, when the text does not name it), names another
    of their events (`others`: titles, as the puzzle's choices offer them), or names a thing the entry does not
    have; else right with a keyword of the event not already given as a cue; else by meaning."""
    normalized, entry = normalize(answer), normalize(f"{expected} {place}")
    title = expected.partition(". ")[0]
    doings = normalize(f"{own_doings(expected)} {place}")
    # What the answer says others did ("Harold was selling honey") is compared with the whole entry, what the
    # trainee did with the entry's own doings: "I was selling my jam" is not the shopping where Harold sold honey.
    people = {word.casefold() for word in re.findall(r"\b[A-Z][a-z]+", expected)}
    mine, theirs = (normalize(part) for part in split_doings(answer, people))
    mine += " their place" if at_someones(answer) else ""  # "I went to Joan's for coffee"
    if conflicting_slot(mine, entry, doings) or conflicting_slot(theirs, entry):
        return Score(correct=False, score=0.0, scorer="rule")
    if _another_event(answer, mine, title, doings, others, policy):
        return Score(correct=False, score=0.0, scorer="rule")
    if stray_things(normalized, entry, COMMON_WORDS):  # "Tom showed me his model railway": it was his guitar
        return Score(correct=False, score=0.0, scorer="rule")
    if _someone_else(answer, f"{expected} {place} {already_given}", policy):
        return Score(correct=False, score=0.0, scorer="rule")
    if amounts_not_in(answer, expected, policy):  # "the bill was £12" for the £9.20 one
        return Score(correct=False, score=0.0, scorer="rule")
    given = set(content_words(already_given))
    fresh_keywords = [word for word in keywords if normalize(word) not in given]
    # Only the answer's own words can hit a keyword: "garden" after the clue "garden" is not "gardening".
    own_words = " ".join(word for word in normalized.split() if word not in given)
    for keyword in fresh_keywords:
        if len(normalize(keyword)) >= 3 and term_found(own_words, keyword, policy) > 0:
            return Score(correct=True, score=1.0, scorer="rule")
    if _names_what_happened(normalized, expected, normalize(already_given)):
        return Score(correct=True, score=1.0, scorer="rule")
    if set(amounts_in(answer, expected, policy)) - set(amounts_in(answer, already_given, policy)):
        return Score(correct=True, score=1.0, scorer="rule")  # "we drove 138 miles": an amount of the entry
    if _only_repeats(answer, already_given):  # nothing beyond what the question and cues already said
        return Score(correct=False, score=0.0, scorer="rule")
    similarity = semantic_similarity(answer, expected)
    return Score(correct=similarity >= SEMANTIC_MIN, score=round(max(similarity, 0.0), 4), scorer="semantic")


def _someone_else(answer: str, text: str, policy: ScoringPolicy) -> bool:
    """Whether the answer puts someone in the event who was not there: a first name that is none of the
    text's people by nickname or spelling ("coffee with Jean" for Joan; chat/scoring_names.py, `strangers`),
    or a relation the text does not give them ("my grandson" for the granddaughter; chat/synonyms.py)."""
    if strangers(answer, text, policy.spelling_min, policy.accept_nicknames):
        return True
    return bool(other_relations(normalize(answer), text))


def _only_repeats(answer: str, already_given: str) -> bool:
    """Whether every content word of the answer was said by the question or a cue, itself or as a word of the
    same meaning ("at home on Elm Rd" after "it was at the house on Elm Road")."""
    given = set(content_words(already_given))
    given_meanings = {meaning for word in given if (meaning := meaning_of(word))}
    return all(
        word in given or word in LIGHT_VERBS or meaning_of(word) in given_meanings for word in content_words(answer)
    )


# Verbs that add nothing to people or a place already given: "I saw Rita and Joan" after "you were with Rita
# and Joan" recalls nothing.
LIGHT_VERBS = frozenset({"saw", "see", "seen", "seeing", "met", "meet", "meeting", "together", "spent", "came"})


def _another_event(
    answer: str, mine: str, title: str, entry: str, others: Sequence[str], policy: ScoringPolicy
) -> bool:
    """Another of the trainee's events named by its title, or a side activity done with the entry's people
    with nothing of its title (chat/scoring_conflicts.py, `side_activity_only`; `mine` is what the answer says
    the trainee did, normalized)."""
    if names_another_event(answer, title, others, policy):
        return True
    if not side_activity_only(mine, normalize(title), entry):
        return False
    return not any(term_found(answer, word, policy) > 0 for word in content_words(title))


def names_another_event(answer: str, title: str, others: Sequence[str], policy: ScoringPolicy = STANDARD) -> bool:
    """Whether the answer names another of the trainee's events by every word of its title ("coffee with Frank",
    when the life log has a "Coffee with Frank", for the Sunday service that had tea with Frank after), and
    not the event asked about."""

    def named(event: str) -> bool:
        words = content_words(event)
        return bool(words) and all(term_found(answer, word, policy) > 0 for word in words)

    return not named(title) and any(named(other) for other in others)


def _names_what_happened(normalized_answer: str, expected: str, normalized_given: str) -> bool:
    """The event's activity in other words ("I rang my son" for "Phone call with David"), or a thing of its
    description ("my knee" for a check-up about the knee), not already said by the question or a cue."""
    title, _, description = expected.partition(". ")
    given_tags = slots(normalized_given)["activity"]
    fresh_tags = slots(normalized_answer)["activity"] - given_tags
    titled = slots(normalize(title))
    if fresh_tags & (titled["activity"] | implied_activities(titled["place"])):  # "a play" for the theatre
        return True
    return any(
        mentioned(normalized_answer, phrase) and not mentioned(normalized_given, phrase)
        for _, phrase in named_in(normalize(description))
    )


def match_month(answer: str, month: int, year: int) -> Score:
    """A month question: the right month, and the right year if one is given (a day may be added)."""
    months, years, _ = mentioned_dates(answer)
    correct = months == {month} and (not years or years == {year})
    return Score(correct=correct, score=1.0 if correct else 0.0, scorer="rule")
