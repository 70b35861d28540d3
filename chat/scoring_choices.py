"""Which option of a multiple choice an answer names by its position: "B", "b)", "2", "two", "the second one",
"option 3", "I think c", "the last one".

The answer must be the position and nothing else but filler words; "a walk" is the option's text, not "A".
"""

import re

# Words around a bare position that say nothing about which option it is.
FILLERS = frozenset(
    {"i", "think", "its", "it", "is", "was", "be", "must", "maybe", "probably", "perhaps", "guess", "say", "id",
     "answer", "option", "number", "letter", "the", "one", "please", "ok", "oh", "um", "er", "hmm", "go", "with",
     "for", "sure", "definitely"}
)  # fmt: skip
WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "first": 1, "second": 2, "third": 3,
         "fourth": 4, "fifth": 5, "sixth": 6, "1st": 1, "2nd": 2, "3rd": 3, "4th": 4, "5th": 5, "6th": 6}  # fmt: skip


def _position(token: str, count: int) -> int | None:
    if token in {"last", "final", "bottom"}:  # "the last one", "the bottom one"
        return count - 1
    if token == "top":
        return 0
    letters = "abcdefgh"[:count]
    if len(token) == 1 and token in letters:
        return letters.index(token)
    number = int(token) if token.isdigit() else WORDS.get(token)
    return number - 1 if number is not None and 1 <= number <= count else None


def option_position(normalized_answer: str, count: int, *, digits: bool = True) -> int | None:
    """The 0-based option an answer (through chat.scoring.normalize) names by letter or position, or None.
    With `digits` off, a bare number is not a position (the options are numbers themselves)."""
    tokens = normalized_answer.split()
    if not tokens:
        return None
    # "one" alone is the first option; among other words it is filler ("the second one").
    core = [token for token in tokens if token not in FILLERS] or [token for token in tokens if token == "one"]
    if len(core) != 1:
        return None
    token = core[0]
    if not digits and re.fullmatch(r"\d+", token):
        return None
    return _position(token, count)
