"""Temporal ordering: put three or four of the trainee's own events in the order they happened."""

import random
import string
from collections import Counter

from chat.scoring import Score
from chat.scoring_order import score_order
from studies.scoring_policy import STANDARD, ScoringPolicy

from .base import BuiltPuzzle, EntryFacts, NotEnoughEntries, join_names, lettered, render, surely_before


def event_labels(pool: list[EntryFacts]) -> dict[int, str]:
    """A name for each entry that no other entry of the life log shares: its title, or where the title recurs
    ("Sunday service" every week) the title with who was there. Neither says when, so the order stays to
    recall. Entries still ambiguous get no label and are never put in order."""

    def with_people(facts: EntryFacts) -> str:
        extra = [person for person in facts.people if person.casefold() not in facts.title.casefold()]
        return f"{facts.title} with {join_names(extra)}" if extra else facts.title

    titles = Counter(facts.title.casefold() for facts in pool)
    named = {facts.id: facts.title if titles[facts.title.casefold()] == 1 else with_people(facts) for facts in pool}
    counts = Counter(label.casefold() for label in named.values())
    return {entry_id: label for entry_id, label in named.items() if counts[label.casefold()] == 1}


def build(templates: dict, rules: dict, candidates: list[EntryFacts], pool: list[EntryFacts], rng: random.Random):
    count = rules.get("items", 3)
    min_days_apart = rules.get("min_days_apart", 7)
    names = event_labels(pool)
    candidates = [facts for facts in candidates if facts.id in names]
    for anchor in candidates:
        chosen = [anchor]
        others = [facts for facts in candidates if facts.id != anchor.id]
        rng.shuffle(others)
        for facts in others:
            titles = {item.title.casefold() for item in chosen}
            apart = all(
                surely_before(facts, item, min_days_apart) or surely_before(item, facts, min_days_apart)
                for item in chosen
            )  # month-only entries are placed only against other months
            if apart and facts.title.casefold() not in titles:
                chosen.append(facts)
            if len(chosen) == count:
                break
        if len(chosen) < count:
            continue
        rng.shuffle(chosen)
        labels = [names[item.id] for item in chosen]
        correct_order = sorted(range(count), key=lambda index: chosen[index].local_time)
        letters = string.ascii_uppercase
        first, last = chosen[correct_order[0]], chosen[correct_order[-1]]
        order_text = ", ".join(f"{letters[index]}) {labels[index]}" for index in correct_order)
        payload = {
            "question": render(templates["question"], count=str(count)) + "\n" + lettered(labels),
            "cues": [
                render(templates["cue_first"], letter=letters[correct_order[0]], title=names[first.id]),
                render(templates["cue_last"], letter=letters[correct_order[-1]], title=names[last.id]),
            ],
            "recognition": None,
            "labels": labels,
            "places": [item.place for item in chosen],  # "church" names the Sunday service at St Mary's church
            "correct_order": correct_order,
            "answer": order_text,
            "correct": render(templates["correct"], answer=order_text),
            "reveal": render(templates["reveal"], answer=order_text),
        }
        return BuiltPuzzle(entry_id=anchor.id, entry_ids=[item.id for item in chosen], payload=payload)
    raise NotEnoughEntries(f"needs {count} different events at least {min_days_apart} days apart")


def evaluate(payload: dict, level: int, answer: str, policy: ScoringPolicy = STANDARD) -> Score:
    """Letters, numbers or the events' words (their titles and places); the policy's spelling tolerance applies
    to the words."""
    cued = min(level, len(payload["cues"]))
    places = payload.get("places")  # puzzles built before places were stored are read by their titles alone
    return score_order(answer, payload["correct_order"], payload["labels"], cued=cued, places=places, policy=policy)
