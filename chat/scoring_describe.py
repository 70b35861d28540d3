"""Scoring a description of a word that must not name it (the describe_without_naming puzzle), by rule.

An open answer has no one right text, and a live LLM never grades at play time, so the rule is what a speech
therapist's word-finding exercise asks for: the trainee says what the thing is in a few words of their own
and none of the words to avoid (the word itself, its forms and the few related words the puzzle named). A
word to avoid is told back kindly, by name, so the next try can go around it.

No dictionary here: the forms of each word were stored with the puzzle when it was written (chat.authoring);
an answer word counts as one of them when it is that form or the form with an everyday ending ("umbrellas",
"baking" for "bake"), never merely a word that contains it ("blocks" does not say "lock").

Not checked: that the description is of the thing at all ("the big blue one" is right). Relevance would need
a judge at play time; the recognition level, among real definitions, is where a wrong idea shows.
"""

import re

from .scoring import STOPWORDS, Score, normalize
from .scoring_choices import FILLERS

MIN_WORDS = 2  # words that carry meaning: "keeps you dry" is a description, "a brolly" is another name
ENDINGS = ("s", "es", "ed", "d", "ing", "er", "ers", "y")
# Words that carry no description of a thing: pronouns, auxiliaries, fillers.
NO_MEANING = frozenset(
    """you your yours me my mine we our us they them their he him his she her hers this that these those are
    were been being has have had do does did can could would should will shall may might not no yes very so
    just really also too thing things something stuff kind sort like which who what when where forget forgot
    remember name word idea know sure think""".split()  # noqa: SIM905 -- "I forget the name" describes nothing
)
EMPTY = STOPWORDS | FILLERS | NO_MEANING


def says(text_word: str, form: str) -> bool:
    """Whether `text_word` is `form`, or `form` with an everyday ending (a final "e" or "y" dropped first:
    "baking", "strawberries")."""
    if text_word == form:
        return True
    if len(form) <= 3:  # "bus", "car": a plural only ("busy", "card" and "cared" are other words)
        return text_word in (form + "s", form + "es")
    roots = {form, form[:-1]} if form.endswith(("e", "y")) else {form}
    if form.endswith("y"):
        roots.add(form[:-1] + "i")  # "berries"
    return any(text_word == root + ending for root in roots for ending in ENDINGS)


def avoided_words_said(answer: str, avoid: dict[str, list[str]]) -> list[str]:
    """The words to avoid (`avoid`: each as the puzzle named it, with its forms) that the answer says."""
    words = normalize(answer).split()
    return [word for word, forms in avoid.items() if any(says(w, normalize(f)) for f in forms for w in words)]


def meaning_words(answer: str) -> list[str]:
    return [w for w in normalize(answer).split() if len(w) > 2 and w not in EMPTY and not re.fullmatch(r"\d+", w)]


def match_description(answer: str, avoid: dict[str, list[str]]) -> Score:
    """Right when the answer says none of the words to avoid and at least MIN_WORDS words that carry meaning."""
    right = not avoided_words_said(answer, avoid) and len(meaning_words(answer)) >= MIN_WORDS
    return Score(correct=right, score=1.0 if right else 0.0, scorer="rule")


def feedback(answer: str, avoid: dict[str, list[str]]) -> str:
    """What the bot says to a description that is not right yet (before the next cue)."""
    if said := avoided_words_said(answer, avoid):
        quoted = " and ".join(f"“{word}”" for word in said[:2])
        which = "one of the words" if len(said) == 1 else "words"
        return f"Nearly! You said {quoted}, {which} to leave out. Try to say it another way."
    return "Tell me a little more, in a few words of your own."
