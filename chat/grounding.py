"""The grounding check on LLM text: it may reword, never add facts.

A name (a capitalized word inside a sentence), a number, a month or a weekday that is not in the grounded
text (the template draft plus the puzzle's own entries) rejects the text; so does any word of the answer
that the draft does not already say (the LLM must not give the answer away).
"""

import re

from .scoring import STOPWORDS, WEEKDAYS, normalize
from .scoring_dates import MONTHS

NUMBER_WORDS = {
    "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8",
    "nine": "9", "ten": "10", "eleven": "11", "twelve": "12", "twenty": "20", "thirty": "30", "hundred": "100",
    "thousand": "1000", "first": "1", "second": "2", "third": "3",
}  # fmt: skip
# Words the bot itself may capitalize inside a sentence.
OWN_WORDS = {"reme", "i", "ok", "okay"}
CALENDAR_WORDS = set(MONTHS) | set(WEEKDAYS)  # checked as dates, not as names


def _sentences(text: str) -> list[str]:
    return [part for part in re.split(r"(?<=[.!?:\n])\s+", text) if part.strip()]


def _names(text: str) -> set[str]:
    """Capitalized words that are not the first word of a sentence: the things that look like names."""
    names = set()
    for sentence in _sentences(text):
        words = re.findall(r"[\w'’]+", sentence)
        for word in words[1:]:
            normalized = normalize(word)
            if word[:1].isupper() and normalized not in OWN_WORDS | CALENDAR_WORDS:
                names.add(normalized)
    return names


def _numbers(text: str) -> set[str]:
    normalized = normalize(text)
    digits = {str(int(number)) for number in re.findall(r"\d+", normalized)}
    for word in normalized.split():
        if word in NUMBER_WORDS:
            digits.add(NUMBER_WORDS[word])
        match = re.fullmatch(r"(\d+)(st|nd|rd|th)", word)
        if match:
            digits.add(str(int(match.group(1))))
    return digits


def _calendar_words(text: str) -> set[str]:
    return {word for word in normalize(text).split() if word in CALENDAR_WORDS}


def ungrounded(text: str, *, grounded: str, answer: str = "", draft: str = "") -> list[str]:
    """What `text` says that `grounded` does not support, and answer words the draft does not reveal."""
    vocabulary = set(normalize(grounded).split())
    problems = [f"name {name!r}" for name in sorted(_names(text)) if name not in vocabulary]
    problems += [f"number {n}" for n in sorted(_numbers(text) - _numbers(grounded))]
    problems += [f"date word {w!r}" for w in sorted(_calendar_words(text) - _calendar_words(grounded))]
    draft_words = set(normalize(draft).split())
    text_words = set(normalize(text).split())
    secret = {word for word in normalize(answer).split() if word not in STOPWORDS and len(word) > 2}
    problems += [f"answer word {word!r}" for word in sorted((secret - draft_words) & text_words)]
    return problems
