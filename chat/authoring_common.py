"""What two events had in common, for the `common_ground` kind (chat.authoring).

Two events of different kinds, weeks apart, have exactly one thing in common that a trainee can recall from
either: the plums bought at the market and stolen by a dog at the picnic, the lemon drizzle cake of a coffee and
of a baking day. Things are the noun phrases of the entries' texts (spaCy's noun chunks, as `chat.grammar`
parses), less what names the event (its title, place and people) and the diary's words for time. A pair counts
only when that thing is all they share: no person (a "who" would be a second answer), no place, no other thing.

The wrong choices are what the trainee had in the same spot on other days: the words another entry of the
same title says where this one says the thing ("a dog stole some of the tomatoes"), so every choice is of one
sort (a food, a cake, a plant) and none is in either event.
"""

import functools
import re
from collections.abc import Iterable
from itertools import combinations

from .grammar import parse
from .puzzles.base import EntryFacts
from .scoring import STOPWORDS, content_words, normalize

MIN_DAYS_APART = 14
# Words of a diary that are no thing of the day: time, and the diarist's own ways of counting it.
ARTICLES = frozenset("a an the my his her our their some".split())  # noqa: SIM905
TIME_WORDS = frozenset("afternoon morning evening day days week weeks time while way lot bit".split())  # noqa: SIM905


def things(facts: EntryFacts) -> frozenset[str]:
    """The entry's things: its text's noun phrases without their articles and possessives ("the old navy rug"
    stays whole, "a slice" goes: no content), none that names the event (its title, place or people)."""
    return _things(facts.description, " ".join([facts.title, facts.place, *facts.people]))


@functools.lru_cache(maxsize=4096)  # a pair is judged by both entries' things, each entry in many pairs
def _things(description: str, names: str) -> frozenset[str]:
    naming = set(content_words(names))
    found = set()
    for chunk in parse(description).noun_chunks:
        tokens = [t for t in chunk if t.pos_ not in ("DET", "PRON") and t.tag_ != "PRP$" and t.dep_ != "poss"]
        while tokens and tokens[0].pos_ == "VERB":  # the parser's "bought ham": the thing is the ham
            tokens = tokens[1:]
        words = [t.text for t in tokens]
        phrase = normalize(" ".join(words))
        content = set(content_words(phrase))
        if content and not content & naming and not content <= TIME_WORDS | STOPWORDS and not phrase.isdigit():
            found.add(phrase)
    return frozenset(found)


def said_in(thing: str, text: str) -> bool:
    return re.search(rf"\b{re.escape(thing)}\b", normalize(text)) is not None


def shared_thing(a: EntryFacts, b: EntryFacts) -> str | None:
    """The one thing both entries have, when it is all they share (no person, no place, no other thing)."""
    if set(a.people) & set(b.people) or (a.place and normalize(a.place) == normalize(b.place)):
        return None
    common = things(a) & things(b)
    # "cake" inside "lemon drizzle cake" is the same thing said shorter: the longest phrase stands for it
    whole = {thing for thing in common if not any(thing != other and said_in(thing, other) for other in common)}
    return next(iter(whole)) if len(whole) == 1 else None


def pairs(pool: list[EntryFacts]) -> Iterable[tuple[EntryFacts, EntryFacts, str]]:
    """(earlier, later, thing) for events of different titles at least two weeks apart that share one thing;
    each entry in one pair at most."""
    by_thing: dict[str, list[EntryFacts]] = {}
    for facts in pool:
        for thing in things(facts):
            by_thing.setdefault(thing, []).append(facts)
    used: set[int] = set()
    for thing, entries in sorted(by_thing.items(), key=lambda item: len(item[1])):  # rarest first
        for a, b in combinations(sorted(entries, key=lambda e: e.local_time), 2):
            if a.id in used or b.id in used or normalize(a.title) == normalize(b.title):
                continue
            if (b.local_time - a.local_time).days < MIN_DAYS_APART or shared_thing(a, b) != thing:
                continue
            used |= {a.id, b.id}
            yield a, b, thing
            break


def in_place_of(thing: str, facts: EntryFacts, pool: list[EntryFacts]) -> list[str]:
    """What other entries of the same title say where `facts` says `thing`, as they write it: the word before
    and after it in its sentence held fixed ("of the plums." → "of the tomatoes."), never across a sentence."""
    for sentence in _sentences(facts.description):
        words = normalize(sentence).split()
        spot = thing.split()
        start = next((i for i in range(len(words) - len(spot) + 1) if words[i : i + len(spot)] == spot), None)
        if start is not None:
            break
    else:
        return []
    before = rf"\b{re.escape(words[start - 1])} " if start else "^"
    after = rf" {re.escape(words[start + len(spot)])}\b" if start + len(spot) < len(words) else "$"
    pattern = re.compile(rf"{before}((?:\w+ ){{0,2}}\w+){after}")
    found: dict[str, str] = {}
    for other in pool:
        if other.id == facts.id or normalize(other.title) != normalize(facts.title):
            continue
        for match in filter(None, (pattern.search(normalize(s)) for s in _sentences(other.description))):
            value = _without_article(match.group(1))
            written = as_written(value, other)
            if value and value != thing and not re.search(r"[.!?;:,]", written):
                found.setdefault(value, written)
    return list(found.values())


def _sentences(text: str) -> list[str]:
    return [part for part in re.split(r"(?<=[.!?;])\s+", text) if part.strip()]


def _without_article(phrase: str) -> str:
    first, _, rest = phrase.partition(" ")
    return rest if first in ARTICLES else phrase


def as_written(thing: str, facts: EntryFacts) -> str:
    """The thing as the entry's text writes it ("Victoria sponge"), found without regard to case."""
    match = re.search(r"\b" + r"\W+".join(map(re.escape, thing.split())) + r"\b", facts.description, re.I)
    return match.group(0) if match else thing


def blanked_sentence(thing: str, facts: EntryFacts) -> str:
    """The sentence of the entry's text that has the thing, the thing said as "something" (a cue's fact: where
    it was, not what)."""
    for sentence in re.split(r"(?<=[.!?;])\s+", facts.description):
        if said_in(thing, sentence):
            words = sentence.split()
            spot = len(thing.split())
            for start in range(len(words) - spot + 1):
                if normalize(" ".join(words[start : start + spot])) == thing:
                    head = words[:start]
                    if head and head[-1].lower() in ARTICLES:  # "some of the plums" → "some of something"
                        head = head[:-1]
                    return " ".join([*head, "something", *words[start + spot :]]).rstrip(".!?;")
    return ""
