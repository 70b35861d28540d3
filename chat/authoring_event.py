"""Guess the event (chat.authoring's guess_event): one of the trainee's days described in new words, to be named.

The program picks a day with facts of its own and two or three decoys: titles of the trainee's other entries
that are like it (a tag, the place, a person or a title word in common) yet different. It keeps the day's facts that no
entry of any decoy title has (`verifier.fact_words`: people, place, quoted items, things, numbers), and plans
only a day with at least `MIN_OWN_FACTS` of them, so a description that says one singles the day out (the
verifier's `decoy_problems`). The model writes only the description, held by the grammar from the title's words,
from the decoys' facts and from dates (the month is the program's first cue); the question around it is fixed.
"""

import random

from .puzzles.base import EntryFacts
from .scoring import content_words, normalize
from .verifier import DIARY_VOICE, Source, fact_words, plain_words, quoted_items

QUESTION = "Which of your memories is this? {description}"
MIN_OWN_FACTS = 2
DECOYS = (2, 3)


def _facts(facts: EntryFacts) -> list[str]:
    """The day's facts as the request lists them: its people, place and quoted items, then the things its text
    names; none with a word of its title (the description may not say those)."""
    title = plain_words(facts.title)
    named = [*facts.people, facts.place, *(f"'{item}'" for item in quoted_items(facts.description))]
    said = plain_words(" ".join([*named, *facts.tags]))
    things = sorted(w for w in fact_words(Source.from_facts(facts)) - said if not w.isdigit())
    return [fact for fact in [*named, *things] if fact and not plain_words(fact) & title]


def _tells(fact: str, holders: list[Source]) -> bool:
    """No entry of a decoy title has all of the fact's words (as the verifier reads a fact: anywhere in it)."""
    return all(not plain_words(fact) <= plain_words(holder.grounded()) for holder in holders)


def _like(a: EntryFacts, b: EntryFacts) -> bool:
    """A tag, the place, a person or a title word in common: a day the trainee could mistake for the other."""
    return bool(set(a.tags) & set(b.tags) or (a.place and a.place == b.place) or set(a.people) & set(b.people)
                or set(content_words(a.title)) & set(content_words(b.title)))  # fmt: skip


def subject(facts: EntryFacts) -> str:
    """The activity, without who came ("phone call with" of "Phone call with Emily"): a participant's puzzles of
    this kind ask about an activity once (six phone calls in one run read as one puzzle asked six times)."""
    people = set(content_words(" ".join(facts.people)))
    return " ".join(word for word in normalize(facts.title).split() if word not in people)


def choose(facts: EntryFacts, by_title: dict[str, list[EntryFacts]], rng: random.Random,
           ) -> tuple[list[str], list[str]] | None:  # fmt: skip
    """(decoy titles, the day's facts that none of their entries has), or None: two or three titles like the day
    against which at least `MIN_OWN_FACTS` of its facts tell, taken in a random order while that many remain.
    No two options share a title word: "Coffee with Elsie" beside "Coffee with Frank" asks only who came, which
    the description may not say, and three phone calls as choices read as one."""
    own = _facts(facts)
    titles = [key for key, entries in by_title.items() if key != normalize(facts.title) and _like(facts, entries[0])]
    rng.shuffle(titles)
    decoys: list[str] = []
    said = set(content_words(facts.title))
    for key in titles:
        holders = [Source.from_facts(entry) for entry in by_title[key]]
        telling = [fact for fact in own if _tells(fact, holders)]
        if len(telling) >= MIN_OWN_FACTS and not said & set(content_words(key)):
            decoys.append(by_title[key][0].title)
            own, said = telling, said | set(content_words(key))
        if len(decoys) == DECOYS[1]:
            break
    return (decoys, own) if len(decoys) >= DECOYS[0] else None


def hidden(facts: EntryFacts, decoys: list[str], by_title: dict[str, list[EntryFacts]]) -> list[str]:
    """What the description may not say: the title, the decoys' facts that the day lacks, the diary's voice."""
    day = plain_words(Source.from_facts(facts).grounded())
    theirs = set().union(*(fact_words(Source.from_facts(e)) for title in decoys for e in by_title[normalize(title)]))
    title = [word for word in content_words(facts.title) if len(word) > 2]  # as `verifier.leaked` reads it: not "the"
    return [*title, *sorted(theirs - day), *sorted(DIARY_VOICE)]
