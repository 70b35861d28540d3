"""LLM-authored puzzles: written ahead of time and verified (chat.authoring, chat.verifier), stored per
participant; a session takes a ready one from the store (chat.services), so `build` here never runs. Scoring is
the same as for the template puzzles: a letter at recognition, the word for a key word, else free recall; a
description of a word without naming it by its own rule (chat.scoring_describe)."""

import random

from chat.scoring import Score, match_choice, match_free_text, match_term
from chat.scoring_describe import match_description
from studies.scoring_policy import STANDARD, ScoringPolicy

from .base import EntryFacts, NotEnoughEntries, is_recognition, other_events, prompt_at


class NoneReady(NotEnoughEntries):
    """No verified puzzle is ready for this trainee yet: the session fills in with a template group, silently."""


def build(templates: dict, rules: dict, candidates: list[EntryFacts], pool: list[EntryFacts], rng: random.Random):
    raise NoneReady("LLM-authored puzzles come from the store")


def evaluate(payload: dict, level: int, answer: str, policy: ScoringPolicy = STANDARD) -> Score:
    if is_recognition(payload, level) or payload.get("choice_in_question"):  # "which came first, A or B?"
        recognition = payload["recognition"]
        return match_choice(answer, recognition["options"], recognition["answer_index"])
    if payload.get("variant") in ("key_word", "thing"):  # a word, or the thing two events had in common
        return match_term(answer, payload["answer"], policy=policy)
    if payload.get("variant") == "describe_without_naming":  # an open answer: no word to avoid, a few words
        return match_description(answer, payload["avoid"])
    given = " ".join(prompt_at(payload, shown) for shown in range(level + 1))
    return match_free_text(answer, payload["expected"], keywords=payload["keywords"], already_given=given,
                           others=other_events(payload), policy=policy)  # fmt: skip
