"""Telling apart two occurrences of one recurring event, for "which came first" (chat.authoring).

People repeat what they do (the reading group, the market, the surgery), so "which came first, the reading group
or the reading group?" needs each occurrence named by a fact of its own: the people there and the things its
text names in quotes (the book discussed, the play seen, the hymn sung). A marker is the fewest such facts (one,
else two) that the entry has and no other entry of the same title in the whole life log has all of: the trainee
lived every occurrence, so a fact shared with one they are not asked about would make the question ambiguous.
"""

import itertools
from collections.abc import Iterable

from wordfreq import zipf_frequency

from .puzzles.base import EntryFacts, join_names
from .scoring import content_words, normalize
from .verifier import CALENDAR_WORDS, RARE_ZIPF, Source, choice_fits, quoted_items

Marker = tuple[tuple[str, str], ...]  # (("quoted", "Rebecca"), ("person", "Maggie"))


def features(facts: EntryFacts) -> list[tuple[str, str]]:
    """The entry's own facts that can name it: its quoted items first (the book tells a reading group apart
    better than who came), then its people; none that its title already says ("Coffee with Frank")."""
    said = set(content_words(facts.title))
    found = [("quoted", item) for item in quoted_items(facts.description)]
    found += [("person", person) for person in facts.people]
    return [(kind, value) for kind, value in found if not set(content_words(value)) <= said]


def marker(facts: EntryFacts, known: Iterable[EntryFacts]) -> Marker | None:
    """The fewest of the entry's facts that no other entry of its title in `known` has all of, or None. "Has" as
    the verifier reads a choice (`verifier.choice_fits`): anywhere in the other entry's facts, quoted or not ("we
    talked of Rebecca again")."""
    title = normalize(facts.title)
    others = [Source.from_facts(other) for other in known if other.id != facts.id and normalize(other.title) == title]
    for size in (1, 2):
        for combo in itertools.combinations(features(facts), size):
            marked = tuple(sorted(combo, key=lambda fact: fact[0] != "quoted"))  # quoted item, then people
            if not any(choice_fits(option(facts, marked), other) for other in others):
                return marked
    return None


def detail(marked: Marker) -> str:
    """The marker in words: "'Rebecca' and Maggie", "Joan and Norman"."""
    quoted = [f"'{value}'" for kind, value in marked if kind == "quoted"]
    people = [value for kind, value in marked if kind == "person"]
    return " and ".join([*quoted, *([join_names(people)] if people else [])])


def option(facts: EntryFacts, marked: Marker) -> str:
    """The occurrence as a choice: "Library reading group with 'Rebecca' and Maggie"."""
    return f"{facts.title} with {detail(marked)}"


def in_a_sentence(facts: EntryFacts) -> str:
    """The title after "the", its first word in lower case unless it is a name: of the entry's place or people,
    of a day or month, or a rare word ("the evening at the theatre", "the Sunday service", "the Library
    reading group" at the Central Library)."""
    first, _, rest = facts.title.partition(" ")
    names = normalize(" ".join([facts.place, *facts.people])).split()
    key = normalize(first)
    if key in names or key in CALENDAR_WORDS or first.isupper() or zipf_frequency(key, "en") < RARE_ZIPF:
        return facts.title
    return f"{first[:1].lower()}{first[1:]} {rest}".strip()
