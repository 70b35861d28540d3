"""Puzzle groups by kind. Each kind builds a puzzle (answer, cues, options) from entries and scores answers."""

from types import ModuleType

from chat.models import PuzzleKind

from . import authored, detail_probe, language, life_recall, number_recall, temporal_order
from .base import BuiltPuzzle, EntryFacts, NotEnoughEntries, max_level, prompt_at

KINDS: dict[str, ModuleType] = {
    PuzzleKind.LIFE_RECALL: life_recall,
    PuzzleKind.LANGUAGE: language,
    PuzzleKind.TEMPORAL_ORDER: temporal_order,
    PuzzleKind.DETAIL_PROBE: detail_probe,
    PuzzleKind.NUMBER_RECALL: number_recall,
    PuzzleKind.LLM_AUTHORED: authored,
}

__all__ = ["KINDS", "BuiltPuzzle", "EntryFacts", "NotEnoughEntries", "max_level", "prompt_at"]
