"""Scoring a trainee's answer: names (with nicknames and near-misses), numbers, closed-class synonyms, choices,
orders and months by rule; free text by keyword, then by meaning unless it contradicts the entry.

Every scorer takes a ScoringPolicy (chat/scoring_policy.py; the standard one by default). Thresholds are tuned
on the labelled set's tuning part and measured on its held-out part: `python -m chat.tune_scoring`.
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

from studies.scoring_policy import STANDARD, STRICT, ScoringPolicy

from .scoring_conflicts import conflicting_slot, slots
from .scoring_details import mentioned, named_in
from .scoring_names import is_first_name, names_in, nickname_found
from .scoring_numbers import is_number, quantities, quantity_matches
from .synonyms import meaning_of, same_meaning

# Tuned on the labelled set's tuning part (chat/tune_scoring.py); the spelling threshold is the policy's.
SEMANTIC_MIN = 0.35  # cosine similarity for free text to count as recalling the event
# The rule scorer's Cohen's kappa on the held-out part of the labelled set (README, "Scoring"). An LLM judge
# must measure at least this to be used (chat/judge.py); tests/test_scoring.py keeps it equal to the measurement.
RULE_KAPPA = 0.966

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
        "anything",
        "everything",
        "nothing",
        "somewhere",
        "stuff",
        "lot",
        "lots",
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
        best = max((fuzz.ratio(word, candidate) for candidate in candidates), default=0.0)
        near_miss = policy.spelling_min is not None and len(word) >= SHORTEST_NEAR_MISS and best >= policy.spelling_min
        if best == 100 or near_miss:
            matched.append(best)
    if not matched or len(matched) * 2 < len(term_words):
        return 0.0
    return sum(matched) / len(matched) / 100


def match_term(answer: str, expected: str, *, policy: ScoringPolicy = STANDARD) -> Score:
    """A missing word: a number as a number; a colour, relation, day, month, season or common object by
    meaning (another word of its class is wrong, however close its spelling); else a name or word by spelling."""
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


CHOICE_FUZZY_MIN = 80.0  # an option named in words: its token-set ratio, clearly ahead of the others


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
        if ratios[best] >= CHOICE_FUZZY_MIN and sorted(ratios)[-2] < ratios[best]:
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
        quantities("about £12.50 or 3 miles")  # quantulum3 reads its unit tables on first use (~3 s)
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


def match_free_text(
    answer: str, expected: str, *, keywords: list[str], already_given: str = "", policy: ScoringPolicy = STANDARD
) -> Score:
    """What happened, in the trainee's words. Wrong when it puts them somewhere else or doing something else
    (chat/scoring_conflicts.py); else right with a keyword of the event not already given as a cue; else by
    meaning."""
    normalized = normalize(answer)
    if conflicting_slot(normalized, normalize(expected)):
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
    if not set(content_words(answer)) - given:  # nothing beyond what the question and cues already said
        return Score(correct=False, score=0.0, scorer="rule")
    similarity = semantic_similarity(answer, expected)
    return Score(correct=similarity >= SEMANTIC_MIN, score=round(max(similarity, 0.0), 4), scorer="semantic")


def _names_what_happened(normalized_answer: str, expected: str, normalized_given: str) -> bool:
    """The event's activity in other words ("I rang my son" for "Phone call with David"), or a thing of its
    description ("my knee" for a check-up about the knee), not already said by the question or a cue."""
    title, _, description = expected.partition(". ")
    given_tags = slots(normalized_given)["activity"]
    fresh_tags = slots(normalized_answer)["activity"] - given_tags
    if fresh_tags & slots(normalize(title))["activity"]:
        return True
    return any(
        mentioned(normalized_answer, phrase) and not mentioned(normalized_given, phrase)
        for _, phrase in named_in(normalize(description))
    )


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


def score_order(answer: str, correct_order: list[int], labels: list[str], *, cued: int = 0) -> Score:
    """Share of item pairs the answer puts in the right order; correct only when all are.

    `cued` is how many ends the clues have given (1: the first item, 2: the first and the last). An answer
    that names all but one item leaves that one where the clues put it ("A then C" after "B came first"),
    else last."""
    given = parse_order(answer, len(correct_order), labels)
    if len(given) == len(correct_order) - 1:
        missing = next(i for i in range(len(correct_order)) if i not in given)
        if cued >= 1 and missing == correct_order[0]:
            given.insert(0, missing)
        else:
            given.append(missing)
    rank = {item: position for position, item in enumerate(correct_order)}
    pairs = [(a, b) for i, a in enumerate(given) for b in given[i + 1 :]]
    total_pairs = len(correct_order) * (len(correct_order) - 1) // 2
    concordant = sum(1 for a, b in pairs if rank[a] < rank[b])
    correct = given == correct_order
    return Score(correct=correct, score=round(concordant / total_pairs, 4), scorer="rule")


def detail_found(answer: str, detail: dict, clauses: list[str], policy: ScoringPolicy = STANDARD) -> bool:
    """Whether the answer recalls one detail of the day (chat/puzzles/detail_probe.py builds them)."""
    kind, label = detail["kind"], detail["label"]
    normalized = normalize(answer)
    if kind == "person":
        padded = f" {normalized} "
        by_relation = any(f" {alias} " in padded or f" {alias}s " in padded for alias in detail.get("aliases", []))
        return by_relation or term_found(answer, label, policy) > 0
    if kind == "place":
        return term_found(answer, label, policy) > 0
    if kind == "activity":
        return bool(slots(normalized)["activity"] & set(detail["tags"]))
    if kind in {"animal", "thing"}:
        return mentioned(normalized, label) or term_found(answer, label, policy) > 0
    keywords = [word for word in content_words(label) if len(word) >= 4]
    if any(term_found(answer, word, policy) > 0 for word in keywords):
        return True
    if slots(normalized)["activity"] & slots(normalize(label))["activity"]:  # "I rang" for "Phone call with Tom"
        return True
    return bool(clauses) and max(semantic_similarity(clause, label) for clause in clauses) >= SEMANTIC_MIN


def count_details(answer: str, details: list[dict], policy: ScoringPolicy = STANDARD) -> tuple[int, list[str]]:
    """How many true details of the day the answer recalls: people, places, other events, activities, animals
    and things named in that day's entries."""
    clauses = [part for part in re.split(r"[.,;!?]| and | then ", answer) if content_words(part)]
    found = [detail["label"] for detail in details if detail_found(answer, detail, clauses, policy)]
    return len(found), found


def intrusions(answer: str, details: list[dict], shown: str = "") -> list[str]:
    """People, animals and places the answer puts in the day that its entries (and the question) do not have:
    a first name from the nickname dataset, an animal of the lexicon, a kind of place."""
    day_text = normalize(shown + " " + " ".join(detail["label"] for detail in details))
    people = [detail for detail in details if detail["kind"] == "person"]
    wrong: list[str] = []
    for word, capital in names_in(answer):
        if not capital or word in day_text.split() or meaning_of(word) or not is_first_name(word):
            continue
        if not any(nickname_found(word.capitalize(), part) for person in people for part in person["label"].split()):
            wrong.append(word)
    normalized = normalize(answer)
    wrong += [phrase for kind, phrase in named_in(normalized) if kind == "animal" and phrase not in day_text]
    day_places = slots(day_text)["place"]
    wrong += sorted(slots(normalized)["place"] - day_places) if day_places else []
    return wrong


def score_details(answer: str, details: list[dict], *, shown: str = "", policy: ScoringPolicy = STANDARD) -> Score:
    """The score is the number of true details recalled. The day counts as recalled when there is at least one
    and they outnumber the intrusions (a tea with the wrong friend is not that day's tea)."""
    count, _ = count_details(answer, details, policy)
    wrong = len(intrusions(answer, details, shown))
    uses_meaning = any(detail["kind"] == "event" for detail in details)
    return Score(correct=count > wrong, score=float(count), scorer="semantic" if uses_meaning else "rule")
