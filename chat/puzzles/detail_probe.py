"""Detail probe: given one event of a day, recall what else was true of that day: people, places, other events,
activities, animals and things named in that day's entries."""

import random
import re

from chat.scoring import Score, normalize, score_details
from chat.scoring_conflicts import ACTIVITIES, slots
from chat.scoring_details import named_in
from chat.synonyms import CLASSES
from studies.scoring_policy import STANDARD, ScoringPolicy

from .base import BuiltPuzzle, EntryFacts, NotEnoughEntries, day_phrase, render

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
    return details


def build(templates: dict, rules: dict, candidates: list[EntryFacts], pool: list[EntryFacts], rng: random.Random):
    by_day: dict = {}
    for facts in pool:
        by_day.setdefault(facts.day, []).append(facts)
    ranked = sorted(candidates, key=lambda facts: -len(by_day[facts.day]))  # richer days first
    known = relations(pool)
    for anchor in ranked:
        same_day = [facts for facts in by_day[anchor.day] if facts.id != anchor.id]
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
            cues.append(render(templates["cue_place"], place=places[0]))
        # The reveal names what the diary names: people, places and events (activities and things are credited
        # when recalled, but listing every one would bury the day).
        answer = "; ".join(d["label"] for d in details if d["kind"] in {"event", "person", "place"})
        payload = {
            "question": question,
            "cues": cues,
            "recognition": None,
            "details": details,
            "answer": answer,
            "correct": render(templates["correct"], answer=answer),
            "reveal": render(templates["reveal"], answer=answer),
        }
        return BuiltPuzzle(entry_id=anchor.id, entry_ids=[anchor.id] + [f.id for f in same_day], payload=payload)
    raise NotEnoughEntries("no day with at least two details to recall")


def evaluate(payload: dict, level: int, answer: str, policy: ScoringPolicy = STANDARD) -> Score:
    return score_details(answer, payload["details"], shown=payload["question"], policy=policy)
