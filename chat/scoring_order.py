"""Temporal order answers: which events the trainee names, in which order, and how much of it is right.

People answer with letters ("B, A, C", "b then a then c", "bac", "B-A-C"), positions ("2 1 3") or the events
in their own words ("church, then Millets, then the picnic"): a part of the answer names an event by a word
of its title, a word of its place (Millets for "Millets Farm garden centre"), or a place or activity of the
contradiction lexicon ("church" for the Sunday service at St Mary's church). "First", "second", "last"
after a letter or in a part put its event there.
"""

import re

from studies.scoring_policy import STANDARD, ScoringPolicy

from .scoring import HONORIFICS, STOPWORDS, Score, content_words, normalize, term_found
from .scoring_conflicts import slots

_SEPARATORS = re.compile(
    r"[,;.>\n/]+|\s-+\s|\b(?:and then|then|after that|afterwards|followed by|next|before|finally|lastly|and)\b",
    re.IGNORECASE,
)
# Words that put an event at a position: 0 first, -1 last.
_POSITIONS = {"first": 0, "firstly": 0, "earliest": 0, "start": 0, "began": 0, "second": 1, "middle": 1,
              "third": 2, "fourth": 3, "last": -1, "lastly": -1, "latest": -1, "finally": -1, "end": -1}  # fmt: skip
_LINK_WORDS = frozenset({"then", "first", "second", "third", "middle", "last", "next", "finally", "lastly", "came",
                         "happened"})  # fmt: skip


def _pinned(order: list[int], pins: dict[int, int], count: int) -> list[int]:
    """The order with each pinned event at its position ("c last", "a was second"), the others in the order
    they were named, in the places left."""
    if not pins:
        return order
    places: list[int | None] = [None] * count
    for index, position in pins.items():
        if places[position] is None:
            places[position] = index
    rest = iter(index for index in order if index not in places)
    named = len(order)
    for position in range(count):
        if places[position] is None and named > sum(place is not None for place in places):
            places[position] = next(rest, None)
    return [index for index in places if index is not None]


def _pin(words: list[str], count: int) -> int | None:
    return next(((_POSITIONS[word] % count) for word in words if word in _POSITIONS), None)


def _letter_order(answer: str, count: int, labels: list[str]) -> list[int]:
    """Options named by letter or position, in order. An "a" before a word is the article ("a picnic"), unless
    the word links the order ("a then c", "a was second") or is of option A's own label."""
    letters = "abcdefgh"[:count]
    tokens = normalize(answer).split()
    if len(tokens) == 1 and len(tokens[0]) == count and set(tokens[0]) == set(letters):
        return [letters.index(letter) for letter in tokens[0]]  # "bac"
    order: list[int] = []
    pins: dict[int, int] = {}
    for position, token in enumerate(tokens):
        index = letters.index(token) if len(token) == 1 and token in letters else None
        if index is None and token.isdigit() and 1 <= int(token) <= count:
            index = int(token) - 1
        following = tokens[position + 1] if position + 1 < len(tokens) else None
        if token == "a" and following is not None:  # only "a" is also a word: "a picnic" is no letter
            own_label = set(normalize(labels[0]).split()) if labels else set()
            is_link = following in _LINK_WORDS or following in STOPWORDS or len(following) == 1 or following.isdigit()
            if not is_link and following not in own_label:
                index = None
        if index is not None and index not in order:
            order.append(index)
            if (pin := _pin(tokens[position + 1 : position + 3], count)) is not None:
                pins[index] = pin
    return _pinned(order, pins, count)


def _item_match(part: str, label: str, place: str, others: list[str], policy: ScoringPolicy) -> int:
    """How strongly one part of the answer names an event: words of its title count double; words of its
    place, and places and activities of the lexicon, once. Words every event shares say nothing."""
    if not content_words(part):
        return 0
    strength = 2 * sum(term_found(part, word, policy) > 0 for word in content_words(label))
    shared = {word for other in others for word in content_words(other)}
    place_words = [word for word in content_words(place) if word not in HONORIFICS and word not in shared]
    strength += sum(term_found(part, word, policy) > 0 for word in place_words if word not in STOPWORDS)
    part_slots, item_slots = slots(normalize(part)), slots(normalize(f"{label} {place}"))
    strength += sum(len(part_slots[slot] & item_slots[slot]) for slot in part_slots)
    return strength


def _word_order(answer: str, labels: list[str], places: list[str], policy: ScoringPolicy) -> list[int]:
    """Events named in the answer's own words, part by part, each put where a position word says."""
    order: list[int] = []
    pins: dict[int, int] = {}
    for part in _SEPARATORS.split(answer):
        if not part or not part.strip():
            continue
        strengths = [
            _item_match(part, label, place, [other for other in places if other != place], policy)
            for label, place in zip(labels, places, strict=True)
        ]
        best = max(strengths)
        if best == 0 or strengths.count(best) > 1:
            continue
        index = strengths.index(best)
        if index in order:
            continue
        order.append(index)
        if (pin := _pin(normalize(part).split(), len(labels))) is not None:
            pins[index] = pin
    return _pinned(order, pins, len(labels))


def parse_order(
    answer: str, count: int, labels: list[str], places: list[str] | None = None, policy: ScoringPolicy = STANDARD
) -> list[int]:
    """Event positions named in the answer, in the order given: by letter or number, else in words."""
    order = _letter_order(answer, count, labels)
    if len(order) >= count - 1:
        return order
    by_words = _word_order(answer, labels, places or [""] * count, policy)
    return by_words if len(by_words) > len(order) else order


def score_order(
    answer: str,
    correct_order: list[int],
    labels: list[str],
    *,
    cued: int = 0,
    places: list[str] | None = None,
    policy: ScoringPolicy = STANDARD,
) -> Score:
    """Share of item pairs the answer puts in the right order; correct only when all are.

    `cued` is how many ends the clues have given (1: the first item, 2: the first and the last). An answer
    that names all but one item leaves that one where the clues put it ("A then C" after "B came first"),
    else last."""
    given = parse_order(answer, len(correct_order), labels, places, policy)
    if given and cued >= 2 and len(given) < len(correct_order) - 1:
        # Both ends were given by the clues: "the garden centre was in the middle" completes the order.
        given = [correct_order[0]] * (correct_order[0] not in given) + given
        given += [correct_order[-1]] * (correct_order[-1] not in given)
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
