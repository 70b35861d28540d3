"""FSRS scheduling of life-log items: grades from cue level and score, due items first, adaptive cueing."""

import random
from datetime import datetime, timedelta

from fsrs import Card, Rating, Scheduler

from .models import ItemMemory, Puzzle
from .puzzles import EntryFacts, max_level

# Sessions are days apart, so minute-scale learning steps of flashcard apps don't apply; no fuzzing keeps
# schedules reproducible for research.
SCHEDULER = Scheduler(learning_steps=(), relearning_steps=(), enable_fuzzing=False)

EASY_SCORE = 0.9  # a free recall this close to the record is Easy rather than Good
STRUGGLING_WINDOW = 6  # recent puzzles of a group considered for adapting the starting cue level
STRUGGLING_FREE_RECALL_SHARE = 1 / 3


def rating_for(puzzle: Puzzle, score: float) -> Rating:
    """Free recall → Good/Easy; recall with cues → Hard; recognition, a miss or a skip → Again."""
    if puzzle.outcome != Puzzle.Outcome.RECALLED:
        return Rating.Again
    level = puzzle.recalled_at_level
    recognition_level = max_level(puzzle.payload) if puzzle.payload.get("recognition") else None
    if level == 0:
        return Rating.Easy if score >= EASY_SCORE else Rating.Good
    if recognition_level is not None and level >= recognition_level:
        return Rating.Again
    return Rating.Hard


def item_memory_review(*, entry_id: int, rating: Rating, now: datetime) -> ItemMemory:
    memory = ItemMemory.objects.select_for_update().filter(entry_id=entry_id).first()
    card = Card.from_dict(memory.card) if memory else Card()
    card, _ = SCHEDULER.review_card(card, rating, review_datetime=now)
    memory = memory or ItemMemory(entry_id=entry_id)
    memory.card = card.to_dict()
    memory.due = card.due
    memory.reviews += 1
    memory.last_reviewed_at = now
    memory.save()
    return memory


def rank_candidates(
    entries: list[EntryFacts], due_by_entry: dict[int, datetime], now: datetime, rng: random.Random
) -> list[EntryFacts]:
    """Due items, most overdue first; then items never trained, in random order; then the rest by due date."""
    due = sorted(
        (e for e in entries if e.id in due_by_entry and due_by_entry[e.id] <= now), key=lambda e: due_by_entry[e.id]
    )
    new = [e for e in entries if e.id not in due_by_entry]
    rng.shuffle(new)
    later = sorted(
        (e for e in entries if e.id in due_by_entry and due_by_entry[e.id] > now), key=lambda e: due_by_entry[e.id]
    )
    return due + new + later


def qualifies(facts: EntryFacts, rules: dict, now: datetime) -> bool:
    if facts.local_time > now - timedelta(days=rules.get("min_age_days", 0)):
        return False
    return not (rules.get("min_precision") == "day" and facts.precision == "month")


def start_cue_level(recent_puzzles: list[Puzzle], payload: dict) -> int:
    """A trainee who rarely recalls freely in a group starts its next puzzle with the first cue given."""
    finished = recent_puzzles[:STRUGGLING_WINDOW]
    if len(finished) < STRUGGLING_WINDOW // 2 or not payload["cues"]:
        return 0
    free = sum(1 for puzzle in finished if puzzle.outcome == Puzzle.Outcome.RECALLED and puzzle.recalled_at_level == 0)
    return 1 if free / len(finished) < STRUGGLING_FREE_RECALL_SHARE else 0


def retrievability(memory: ItemMemory, now: datetime) -> float:
    """FSRS's predicted probability that the item would be recalled now."""
    return SCHEDULER.get_card_retrievability(Card.from_dict(memory.card), current_datetime=now)
