"""Numbers from the diary: a line of the trainee's own with a price, distance, weight or amount left out.

Free recall of the number (digits or words, its unit optional, a hedged guess within the policy's
tolerance), then a range as a clue, then a choice of four plausible values.
"""

import math
import random
import re

from chat.scoring import Score, match_number_choice, match_quantity
from chat.scoring_numbers import Quantity, format_quantity, quantities
from studies.scoring_policy import STANDARD, ScoringPolicy

from .base import BuiltPuzzle, EntryFacts, NotEnoughEntries, is_recognition, render, when_phrase, with_choices

BLANK = "_____"
# Units a question can be asked about; a bare count ("act two") or a time of day is not one.
ASKS = {
    "gbp": "ask_price",
    "mile": "ask_distance",
    "km": "ask_distance",
    "kg": "ask_weight",
    "stone": "ask_weight",
    "litre": "ask_amount",
    "week": "ask_time",
    "month": "ask_time",
    "year": "ask_age",
}


def _sentences(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"(?<=[.!?])\s+", text) if part.strip()]


def find_quantities(facts: EntryFacts) -> list[tuple[str, Quantity]]:
    """(sentence, quantity) for every quantity with a unit we can ask about in the entry's description."""
    return [
        (sentence, quantity)
        for sentence in _sentences(facts.description)
        for quantity in quantities(sentence)
        if quantity.unit in ASKS and quantity.high is None and not quantity.hedged and quantity.value > 0
    ]


def _nice(value: float, money: bool) -> float:
    """A wrong value written the way people write one: pennies for small sums, else whole numbers."""
    if money and value < 10:
        return round(value, 2)
    return float(round(value)) if value >= 1 else round(value, 1)


def plausible_values(value: float, unit: str, others: list[float], rng: random.Random, count: int = 3) -> list[float]:
    """Wrong values a trainee could believe: other entries' amounts in the same unit first, then near
    multiples of the true one. Each is clearly apart from the truth and from each other (more than a hedge)."""
    money = unit == "gbp"
    factors = [0.6, 0.7, 0.8, 1.25, 1.4, 1.6]
    rng.shuffle(factors)
    generated = [_nice(value * factor, money) for factor in factors]
    if value == int(value):
        generated = [float(max(1, round(candidate))) for candidate in generated]
    chosen: list[float] = []
    believable = [other for other in others if value / 2.5 <= other <= value * 2.5]
    for candidate in [*believable, *generated]:
        apart = all(abs(candidate - taken) > 0.15 * max(candidate, taken) for taken in [value, *chosen])
        if candidate > 0 and apart:
            chosen.append(candidate)
        if len(chosen) == count:
            return chosen
    raise NotEnoughEntries("not enough distinct values to choose from")


def range_clue(value: float, rng: random.Random) -> tuple[float, float]:
    """Round bounds on either side of the value, not centred on it, so the clue narrows without telling."""
    step = 10 ** math.floor(math.log10(value)) if value >= 1 else 0.1
    low = math.floor(value * rng.uniform(0.4, 0.8) / step) * step
    high = math.ceil(value * rng.uniform(1.3, 1.9) / step) * step
    return float(low), float(high)


def build(templates: dict, rules: dict, candidates: list[EntryFacts], pool: list[EntryFacts], rng: random.Random):
    for facts in candidates:
        found = find_quantities(facts)
        if not found:
            continue
        sentence, quantity = rng.choice(found)
        unit = quantity.unit
        others = sorted(
            {q.value for other in pool if other.id != facts.id for _, q in find_quantities(other) if q.unit == unit}
        )
        rng.shuffle(others)
        try:
            distractors = plausible_values(quantity.value, unit, others, rng)
        except NotEnoughEntries:
            continue
        answer = format_quantity(quantity.value, unit)
        options, answer_index = with_choices(rng, answer, [format_quantity(value, unit) for value in distractors])
        blanked = sentence[: quantity.start] + BLANK + sentence[quantity.end :]
        low, high = range_clue(quantity.value, rng)
        cue = (
            render(templates["cue_below"], high=format_quantity(high, unit))
            if low <= 0
            else render(templates["cue_range"], low=format_quantity(low, unit), high=format_quantity(high, unit))
        )
        payload = {
            "question": render(
                templates["question"], when=when_phrase(facts), sentence=blanked, ask=templates[ASKS[unit]]
            ),
            "cues": [cue],
            "recognition": {"prompt": templates["recognition"], "options": options, "answer_index": answer_index},
            "answer": answer,
            "value": quantity.value,
            "unit": unit,
            "correct": render(templates["correct"], answer=answer),
            "reveal": render(templates["reveal"], answer=answer),
        }
        return BuiltPuzzle(entry_id=facts.id, entry_ids=[facts.id], payload=payload)
    raise NotEnoughEntries("no diary line with a price, distance, weight or amount in it")


def evaluate(payload: dict, level: int, answer: str, policy: ScoringPolicy = STANDARD) -> Score:
    if is_recognition(payload, level):
        recognition = payload["recognition"]
        return match_number_choice(answer, recognition["options"], recognition["answer_index"], payload["unit"])
    return match_quantity(answer, payload["value"], payload["unit"], policy=policy)
