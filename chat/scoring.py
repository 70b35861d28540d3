"""Scoring a trainee's answer: normalized exact/fuzzy matching for names, places and choices, semantic
similarity for free text. Thresholds are tuned on tests/data/scoring_cases.json (`python -m chat.tune_scoring`).
"""

import os
import re
import sys
import threading
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

import numpy as np
from rapidfuzz import fuzz

from .scoring_numbers import quantities, quantity_matches
from .scoring_policy import STANDARD, STRICT, ScoringPolicy

# Tuned on the labelled cases; see chat/tune_scoring.py and the accuracy test.
NAME_FUZZY_MIN = 80.0  # token ratio (0-100) for a name, place or missing word to count
SEMANTIC_MIN = 0.35  # cosine similarity for free text to count as recalling the event

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
    ]
)

MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december"]  # fmt: skip
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


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


def term_found(answer: str, term: str) -> float:
    """Fuzzy match (0-1) of a name, place or word anywhere in the answer; 0 below the threshold.

    A multi-word term counts when the answer holds at least half of its distinctive words ("Peter" for
    "Uncle Peter", "Blue Door" for "the Blue Door café"), each with typo tolerance; words the trainee
    splits or joins ("middle march") are compared joined too.
    """
    answer_words = normalize(answer).split()
    normalized_term = normalize(term)
    if not answer_words or not normalized_term:
        return 0.0
    if normalized_term in normalize(answer) or normalized_term.replace(" ", "") in "".join(answer_words):
        return 1.0
    term_words = [word for word in normalized_term.split() if word not in STOPWORDS and word not in HONORIFICS]
    term_words = term_words or normalized_term.split()
    candidates = answer_words + [a + b for a, b in pairwise(answer_words)]
    ratios = [max(fuzz.ratio(word, candidate) for candidate in candidates) for word in term_words]
    matched = [ratio for ratio in ratios if ratio >= NAME_FUZZY_MIN]
    if len(matched) * 2 < len(term_words):
        return 0.0
    return sum(matched) / len(matched) / 100


def match_term(answer: str, expected: str) -> Score:
    """A name, place or single word: exact after normalization, else fuzzy."""
    value = term_found(answer, expected)
    return Score(correct=value > 0, score=value, scorer="rule")


def match_quantity(answer: str, value: float, unit: str | None, *, policy: ScoringPolicy = STANDARD) -> Score:
    """A price, distance, weight or amount: compared as a number (chat/scoring_numbers.py), never by spelling."""
    score = quantity_matches(answer, value, unit, policy)
    return Score(correct=score > 0, score=score, scorer="rule")


def match_number_choice(answer: str, options: list[str], answer_index: int, unit: str | None) -> Score:
    """Recognition among numbers: a letter, or the value itself ("12" or "twelve pounds" for "£12").
    A bare digit is read as a value, not an option number: "2" for "2 miles" must mean two miles."""
    letters = "abcdefgh"[: len(options)]
    single = re.fullmatch(rf"(?:option\s+)?([{letters}])", normalize(answer))
    if single:
        picked = letters.index(single.group(1))
    else:
        values = [quantities(option)[0].value for option in options]
        hits = [index for index, value in enumerate(values) if quantity_matches(answer, value, unit, STRICT) == 1.0]
        picked = hits[0] if len(hits) == 1 else None
    correct = picked == answer_index
    return Score(correct=correct, score=1.0 if correct else 0.0, scorer="rule")


def match_choice(answer: str, options: list[str], answer_index: int) -> Score:
    """Recognition: a letter (B), a number (2) or the option's words."""
    letters = "abcdefgh"[: len(options)]
    normalized = normalize(answer)
    picked = None
    single = re.fullmatch(rf"(?:option\s+)?([{letters}]|\d)", normalized)
    if single:
        token = single.group(1)
        picked = int(token) - 1 if token.isdigit() else letters.index(token)
    else:
        ratios = [fuzz.token_set_ratio(normalized, normalize(option)) for option in options]
        best = int(np.argmax(ratios))
        if ratios[best] >= NAME_FUZZY_MIN and sorted(ratios)[-2] < ratios[best]:
            picked = best
    correct = picked == answer_index
    return Score(correct=correct, score=1.0 if correct else 0.0, scorer="rule")


READY_LINE = "chat scorer ready"


def warm_up() -> threading.Thread:
    """Load the embedding model in the background, not inside the first trainee's turn. A web process encodes
    one short answer at a time: one torch thread keeps idle OpenMP workers from spinning on the cores the
    event loop and the database need."""
    import sentence_transformers  # noqa: F401 - imported here, not in the thread: transformers' lazy
    import torch  # module is not thread-safe, and a concurrent import elsewhere failed with ImportError

    torch.set_num_threads(int(os.environ.get("SCORER_TORCH_THREADS", "1")))

    def load() -> None:
        _embedding("warm up")
        print(f"{READY_LINE} (pid {os.getpid()})", file=sys.stderr, flush=True)

    thread = threading.Thread(target=load, name="scorer-warm-up", daemon=True)
    thread.start()
    return thread


@lru_cache(maxsize=4096)
def _embedding(text: str) -> np.ndarray:
    from lifelog.embeddings import embed_texts

    return embed_texts([text])[0]


def semantic_similarity(answer: str, expected: str) -> float:
    """Cosine similarity of the two texts' sentence embeddings (a puzzle's expected text is embedded once)."""
    return float(np.dot(_embedding(answer), _embedding(expected)))


def match_free_text(answer: str, expected: str, *, keywords: list[str], already_given: str = "") -> Score:
    """What happened, in the trainee's words: a keyword of the event (not one we gave as a cue), else meaning."""
    given = set(content_words(already_given))
    fresh_keywords = [word for word in keywords if normalize(word) not in given]
    for keyword in fresh_keywords:
        if len(normalize(keyword)) >= 3 and term_found(answer, keyword) > 0:
            return Score(correct=True, score=1.0, scorer="rule")
    if not set(content_words(answer)) - given:  # nothing beyond what the question and cues already said
        return Score(correct=False, score=0.0, scorer="rule")
    similarity = semantic_similarity(answer, expected)
    return Score(correct=similarity >= SEMANTIC_MIN, score=round(max(similarity, 0.0), 4), scorer="semantic")


MONTH_ABBREVIATIONS = {month[:3]: index for index, month in enumerate(MONTHS, start=1)} | {"sept": 9}


def mentioned_dates(answer: str) -> tuple[set[int], set[int], set[int]]:
    """Months, years and day numbers named in an answer ("3rd of May 2025", "5/2025", "May '25")."""
    months: set[int] = set()
    years: set[int] = set()
    days: set[int] = set()
    for day, month, year in re.findall(r"\b(\d{1,2})[/.-](\d{1,2})[/.-](\d{2,4})\b", answer):  # day first, as in the UK
        days.add(int(day))
        months.add(int(month))
        years.add(int(year) % 100 + 2000 if len(year) == 2 else int(year))
    for word in normalize(answer).split():
        if word in MONTHS:
            months.add(MONTHS.index(word) + 1)
        elif word in MONTH_ABBREVIATIONS:
            months.add(MONTH_ABBREVIATIONS[word])
        elif re.fullmatch(r"(19|20)\d\d", word):
            years.add(int(word))
        elif (match := re.fullmatch(r"(\d{1,2})(st|nd|rd|th)?", word)) and 1 <= int(match.group(1)) <= 31:
            days.add(int(match.group(1)))
    return months, years, days


def match_month(answer: str, month: int, year: int) -> Score:
    """A month question: the right month, and the right year if one is given (a day may be added)."""
    months, years, _ = mentioned_dates(answer)
    correct = months == {month} and (not years or years == {year})
    return Score(correct=correct, score=1.0 if correct else 0.0, scorer="rule")


def parse_order(answer: str, count: int, labels: list[str]) -> list[int]:
    """Item positions named in the answer, in the order given: letters, numbers, or words of the labels."""
    letters = "abcdefgh"[:count]
    tokens = normalize(answer).split()
    order: list[int] = []
    for token in tokens:
        index = letters.index(token) if len(token) == 1 and token in letters else None
        if index is None and token.isdigit() and 1 <= int(token) <= count:
            index = int(token) - 1
        if index is not None and index not in order:
            order.append(index)
    if len(order) >= count - 1:
        return order
    # Fall back to where each label's distinctive words first appear in the answer.
    positions = []
    normalized = normalize(answer)
    for index, label in enumerate(labels):
        spots = [normalized.find(word) for word in content_words(label) if normalized.find(word) >= 0]
        if spots:
            positions.append((min(spots), index))
    return [index for _, index in sorted(positions)]


def score_order(answer: str, correct_order: list[int], labels: list[str]) -> Score:
    """Share of item pairs the answer puts in the right order; correct only when all are."""
    given = parse_order(answer, len(correct_order), labels)
    if len(given) == len(correct_order) - 1:  # the last one is implied
        given.append(next(i for i in range(len(correct_order)) if i not in given))
    rank = {item: position for position, item in enumerate(correct_order)}
    pairs = [(a, b) for i, a in enumerate(given) for b in given[i + 1 :]]
    total_pairs = len(correct_order) * (len(correct_order) - 1) // 2
    concordant = sum(1 for a, b in pairs if rank[a] < rank[b])
    correct = given == correct_order
    return Score(correct=correct, score=round(concordant / total_pairs, 4), scorer="rule")


def count_details(answer: str, details: list[dict]) -> tuple[int, list[str]]:
    """How many true details of the day the answer recalls. A detail is a person, a place or an event."""
    clauses = [part for part in re.split(r"[.,;!?]| and | then ", answer) if content_words(part)]
    found = []
    for detail in details:
        if detail["kind"] in {"person", "place"}:
            hit = term_found(answer, detail["label"]) > 0
        else:
            keywords = [word for word in content_words(detail["label"]) if len(word) >= 4]
            hit = any(term_found(answer, word) > 0 for word in keywords)
            if not hit and clauses:
                hit = max(semantic_similarity(clause, detail["label"]) for clause in clauses) >= SEMANTIC_MIN
        if hit:
            found.append(detail["label"])
    return len(found), found


def score_details(answer: str, details: list[dict]) -> Score:
    count, _ = count_details(answer, details)
    uses_meaning = any(detail["kind"] == "event" for detail in details)
    return Score(correct=count > 0, score=float(count), scorer="semantic" if uses_meaning else "rule")
