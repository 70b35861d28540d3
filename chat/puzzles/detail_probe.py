"""Detail probe: given one event of a day, recall what else was true of that day (people, places, events)."""

import random

from chat.scoring import Score, normalize, score_details

from .base import BuiltPuzzle, EntryFacts, NotEnoughEntries, day_phrase, render


def _details(anchor: EntryFacts, same_day: list[EntryFacts], shown: str) -> list[dict]:
    details: list[dict] = []
    seen: set[str] = set()

    def add(kind: str, label: str) -> None:
        key = normalize(label)
        if key and key not in seen and key not in normalize(shown):
            seen.add(key)
            details.append({"kind": kind, "label": label})

    for facts in [anchor, *same_day]:
        if facts is not anchor:
            add("event", facts.title)
        for person in facts.people:
            add("person", person)
        if facts.place:
            add("place", facts.place)
    return details


def build(templates: dict, rules: dict, candidates: list[EntryFacts], pool: list[EntryFacts], rng: random.Random):
    by_day: dict = {}
    for facts in pool:
        by_day.setdefault(facts.day, []).append(facts)
    ranked = sorted(candidates, key=lambda facts: -len(by_day[facts.day]))  # richer days first
    for anchor in ranked:
        same_day = [facts for facts in by_day[anchor.day] if facts.id != anchor.id]
        question = render(templates["question"], day=day_phrase(anchor.local_time), title=anchor.title)
        details = _details(anchor, same_day, question)
        if len(details) < rules.get("min_details", 2):
            continue
        people = [d["label"] for d in details if d["kind"] == "person"]
        places = [d["label"] for d in details if d["kind"] == "place"]
        cues = []
        if people:
            cues.append(render(templates["cue_person"], initial=people[0][0]))
        if places:
            cues.append(render(templates["cue_place"], place=places[0]))
        answer = "; ".join(d["label"] for d in details)
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


def evaluate(payload: dict, level: int, answer: str) -> Score:
    return score_details(answer, payload["details"])
