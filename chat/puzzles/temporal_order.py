"""Temporal ordering: put three or four of the trainee's own events in the order they happened."""

import random
import string

from chat.scoring import Score
from chat.scoring_order import score_order
from studies.scoring_policy import STANDARD, ScoringPolicy

from .base import BuiltPuzzle, EntryFacts, NotEnoughEntries, lettered, render


def build(templates: dict, rules: dict, candidates: list[EntryFacts], pool: list[EntryFacts], rng: random.Random):
    count = rules.get("items", 3)
    min_days_apart = rules.get("min_days_apart", 7)
    for anchor in candidates:
        chosen = [anchor]
        others = [facts for facts in candidates if facts.id != anchor.id]
        rng.shuffle(others)
        for facts in others:
            titles = {item.title.casefold() for item in chosen}
            far_enough = all(abs((facts.day - item.day).days) >= min_days_apart for item in chosen)
            if far_enough and facts.title.casefold() not in titles:
                chosen.append(facts)
            if len(chosen) == count:
                break
        if len(chosen) < count:
            continue
        rng.shuffle(chosen)
        labels = [item.title for item in chosen]
        correct_order = sorted(range(count), key=lambda index: chosen[index].local_time)
        letters = string.ascii_uppercase
        first, last = chosen[correct_order[0]], chosen[correct_order[-1]]
        order_text = ", ".join(f"{letters[index]}) {labels[index]}" for index in correct_order)
        payload = {
            "question": render(templates["question"], count=str(count)) + "\n" + lettered(labels),
            "cues": [
                render(templates["cue_first"], letter=letters[correct_order[0]], title=first.title),
                render(templates["cue_last"], letter=letters[correct_order[-1]], title=last.title),
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
