"""A participant's authored puzzles vary their facts: a season_repeat puzzle's place is not asked about again
while an accepted puzzle (ready or used) is about it; a rejected one holds nothing back. (In the generated life
logs one routine qualifies, the surgery every season: it filled a run's season_repeat candidates.)"""

import json
import random

import pytest
from django.test import override_settings

from chat import authoring
from chat.authored_store import authored_puzzles_write
from chat.context import prefix_forget
from chat.models import AuthoredPuzzle, PuzzleGroup
from chat.selectors import authored_plan_keys_accepted, entry_facts_list
from tests.chat_helpers import give_life_log
from tests.scripted_llm import ScriptedLLM

pytestmark = pytest.mark.django_db
OLD_PREFIX = "o" * 64


def _author(participant, server: ScriptedLLM) -> list[AuthoredPuzzle]:
    """One authoring run of season_repeat plans only; the rows it stored."""
    with override_settings(LLM_AUTHORING_KINDS=("season_repeat",)):
        authored_puzzles_write(participant_id=participant.pk, limit=20, base_url=server.base_url, model="scripted")
    return list(AuthoredPuzzle.objects.filter(participant=participant).exclude(prefix_sha256=OLD_PREFIX))


def test_an_accepted_season_repeat_puzzle_s_place_is_not_asked_about_again(world, settings):
    participant = world.participant_a
    give_life_log(participant, count=300, seed=7)
    pool = entry_facts_list(participant=participant)
    by_id = {facts.id: facts for facts in pool}
    plans = authoring._season_repeat(pool, random.Random(1))
    place = by_id[plans[0].evidence_ids[0]].place
    assert len([p for p in plans if by_id[p.evidence_ids[0]].place == place]) >= 2  # one routine, many seasons
    accepted = AuthoredPuzzle.objects.create(
        participant=participant, group=PuzzleGroup.objects.get(key="llm-authored", version=1), kind="season_repeat",
        plan_key=plans[0].key(), status=AuthoredPuzzle.Status.USED, evidence_ids=plans[0].evidence_ids,
        model_name="m", prompt_sha256="p" * 64, prefix_sha256=OLD_PREFIX, verifier_version="v",
    )  # fmt: skip
    assert authored_plan_keys_accepted(participant_id=participant.pk) == [plans[0].key()]
    prefix_forget(participant.pk)
    server = ScriptedLLM(complete=lambda body: json.dumps({"question": "What did you do there?", "cue1": "A clue."}))
    settings.LLM_BASE_URL = server.base_url
    try:
        assert _author(participant, server) == []  # no other place qualifies: nothing new is asked
        accepted.status = AuthoredPuzzle.Status.REJECTED
        accepted.save()
        rows = _author(participant, server)
    finally:
        server.close()
    places = [by_id[row.evidence_ids[0]].place for row in rows]
    assert places == [place]  # once rejected, the place is free again, and one plan asks about it, not five
