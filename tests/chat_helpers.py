"""Shared by the chat tests: a trainee with a realistic life log, and a way to play a session."""

import json
import uuid

from chat.models import ChatMessage, Puzzle, TrainingSession
from chat.puzzles import detail_probe
from chat.scoring_day import not_given
from chat.services import trainee_action
from lifelog.sample_data import generate_entries
from tests.test_import_service import run_import


def give_life_log(participant, count: int = 80, seed: int = 7, entries: list[dict] | None = None) -> None:
    run_import(participant, json.dumps({"entries": entries or generate_entries(count, seed)}).encode())


def act(session: TrainingSession, kind: str = "text", text: str = "", client_id: uuid.UUID | None = None):
    return trainee_action(session_id=session.pk, client_id=client_id or uuid.uuid4(), kind=kind, text=text)


def open_puzzle(session: TrainingSession) -> Puzzle:
    return session.puzzles.get(outcome=Puzzle.Outcome.OPEN)


def right_answer(puzzle: Puzzle) -> str:
    """What a trainee who remembers perfectly would type at the puzzle's current level."""
    payload = puzzle.payload
    recognition = payload.get("recognition")
    if recognition and puzzle.cue_level == len(payload["cues"]) + 1:
        return "ABCD"[recognition["answer_index"]]
    if puzzle.group.kind == "temporal_order":
        return ", ".join("ABCD"[index] for index in payload["correct_order"])
    if puzzle.group.kind == "detail_probe":  # a detail the question and the clues so far have not named
        shown = " ".join(detail_probe.prompt_at(payload, level) for level in range(puzzle.cue_level + 1))
        return not_given(payload["details"], shown)[0]["label"]
    if payload.get("variant") == "describe_without_naming":  # a description, never the word itself
        return payload["description"]
    return payload["answer"]


def bot_texts(session: TrainingSession) -> list[str]:
    return list(session.messages.filter(role=ChatMessage.Role.BOT).values_list("text", flat=True))
