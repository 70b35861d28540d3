"""Detail probe: given one event of a day, recall what else was true of that day: people, places, other events,
activities, animals and things named in that day's entries."""

import random
import re

from chat.scoring import Score, normalize
from chat.scoring_conflicts import ACTIVITIES, slots
from chat.scoring_day import score_details
from chat.scoring_details import named_in
from chat.scoring_names import is_first_name
from chat.synonyms import CLASSES, meaning_of
from studies.scoring_policy import STANDARD, ScoringPolicy

from .base import (
    BuiltPuzzle,
    EntryFacts,
    NotEnoughEntries,
    day_phrase,
    known_to_the_day,
    place_phrase,
    prompt_at,
    render,
    same_day_entries,
)

RELATION_WORDS = [word for group in CLASSES["relation"] for word in group if " " not in word]
_RELATION = re.compile(r"\bmy (" + "|".join(RELATION_WORDS) + r")(?:,)? ((?:[A-Z][a-z]+ )?[A-Z][a-z]+)")


def relations(pool: list[EntryFacts]) -> dict[str, list[str]]:
    """Who is whose relation, as the diary says it ("my daughter Sarah"): name -> relation words, with their
    synonyms ("mum" for mother), so "my son rang" recalls David."""
    found: dict[str, set[str]] = {}
    for facts in pool:
        for relation, name in _RELATION.findall(facts.description):
            group = next(group for group in CLASSES["relation"] if relation.casefold() in group)
            found.setdefault(name, set()).update(word for word in group if " " not in word)
    return {name: sorted(words) for name, words in sorted(found.items())}


def day_details(
    anchor: EntryFacts, same_day: list[EntryFacts], shown: str, known: dict[str, list[str]] | None = None
) -> list[dict]:
    """Everything true of the anchor's day that the question did not already say."""
    details: list[dict] = []
    seen: set[str] = set()
    shown_words = normalize(shown)
    asked_activity = slots(normalize(anchor.title))["activity"]  # "Baking day" asks about baking: no credit for it

    def add(kind: str, label: str, **extra) -> None:
        key = normalize(label)
        if key and key not in seen and f" {key} " not in f" {shown_words} ":
            seen.add(key)
            details.append({"kind": kind, "label": label, **extra})

    for facts in [anchor, *same_day]:
        if facts is not anchor:
            add("event", facts.title)
        for person in facts.people:
            add("person", person, aliases=(known or {}).get(person, []))
        if facts.place:
            add("place", facts.place)
        text = normalize(f"{facts.title}. {facts.description}")
        for phrase, tags in ACTIVITIES.items():
            credited = any(set(detail.get("tags", ())) == set(tags) for detail in details)  # "ate", "sandwiches": one
            if re.search(rf"\b{re.escape(phrase)}\b", text) and not tags & asked_activity and not credited:
                add("activity", phrase, tags=sorted(tags))
        for kind, phrase in named_in(text):
            add(kind, phrase)
        for name in proper_names(facts):
            add("name", name)
    return details


def proper_names(facts: EntryFacts) -> list[str]:
    """Names in an entry's description that are not its people or place: a title in quotes ('Blithe Spirit',
    'Amazing Grace'), a capitalised word inside a sentence ("Spain", "Leeds")."""
    quoted = re.findall(r"'([A-Z][^']+)'", facts.description)
    unquoted = re.sub(r"'[A-Z][^']+'", " ", facts.description)
    known = normalize(" ".join([facts.place, *facts.people, *quoted])).split()
    names = list(quoted)
    for sentence in re.split(r"(?<=[.!?;])\s+", unquoted):
        run: list[str] = []  # capitalised words in a row are one name ("Lyme Regis")
        for word in [*re.findall(r"[A-Za-z][A-Za-z'’]*", sentence)[1:], ""]:
            key = normalize(word).removesuffix("s") if word.endswith(("'s", "’s")) else normalize(word)
            if word and word[0].isupper() and key not in known and not is_first_name(key) and not meaning_of(key):
                run.append(word)
            elif run:
                names.append(" ".join(run))
                run = []
    return names


def day_text(anchor: EntryFacts, same_day: list[EntryFacts]) -> str:
    """The day's entries as one text: what an answer may say about the day without intruding on it."""
    return " ".join(
        f"{facts.title}. {facts.description} {facts.place}. {', '.join(facts.people)}." for facts in [anchor, *same_day]
    )


def build(templates: dict, rules: dict, candidates: list[EntryFacts], pool: list[EntryFacts], rng: random.Random):
    # Only entries known to the day have a day to ask about, and only they share it.
    same_days = {facts.id: same_day_entries(facts, pool) for facts in candidates if known_to_the_day(facts)}
    ranked = sorted(
        (facts for facts in candidates if facts.id in same_days), key=lambda facts: -len(same_days[facts.id])
    )  # richer days first
    known = relations(pool)
    for anchor in ranked:
        same_day = same_days[anchor.id]
        question = render(templates["question"], day=day_phrase(anchor.local_time), title=anchor.title)
        details = day_details(anchor, same_day, question, known)
        if len(details) < rules.get("min_details", 2):
            continue
        people = [d["label"] for d in details if d["kind"] == "person"]
        places = [d["label"] for d in details if d["kind"] == "place"]
        cues = []
        if people:
            cues.append(render(templates["cue_person"], initial=people[0][0]))
        if places:
            cues.append(render(templates["cue_place"], place=place_phrase(places[0])))
        # The reveal names what the diary names: people, places and events (activities and things are credited
        # when recalled, but listing every one would bury the day).
        answer = "; ".join(d["label"] for d in details if d["kind"] in {"event", "person", "place"})
        payload = {
            "question": question,
            "cues": cues,
            "recognition": None,
            "details": details,
            "day": day_text(anchor, same_day),
            "relations": known,
            "answer": answer,
            "correct": render(templates["correct"], answer=answer),
            "reveal": render(templates["reveal"], answer=answer),
        }
        return BuiltPuzzle(entry_id=anchor.id, entry_ids=[anchor.id] + [f.id for f in same_day], payload=payload)
    raise NotEnoughEntries("no day with at least two details to recall")


def evaluate(payload: dict, level: int, answer: str, policy: ScoringPolicy = STANDARD) -> Score:
    """Details the question and the clues so far have named do not count; puzzles built before the day's text
    was stored are checked for intrusions against the details' labels alone."""
    shown = " ".join(prompt_at(payload, shown_level) for shown_level in range(level + 1))
    day, relations = payload.get("day", ""), payload.get("relations")
    return score_details(answer, payload["details"], shown=shown, day=day, relations=relations, policy=policy)
