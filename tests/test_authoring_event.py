"""guess_event: one of the trainee's days described in new words, named among like decoys (chat.authoring_event).
No database, no model: the program's picks and how a trainee's answers score. The verifier's half, hand-written
descriptions of `LOG`'s Sunday service and the bench's, is in its corpora (tests/data/verifier, "guess-event-*")."""

import json
import random
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from chat import authoring, authoring_event, verifier
from chat.puzzles import EntryFacts
from chat.puzzles.authored import evaluate
from chat.scoring import content_words, normalize
from tests.test_verifier import _generated_pool

LONDON = ZoneInfo("Europe/London")


def _entry(id_: int, title: str, day: str, place: str, people: tuple[str, ...], tags: tuple[str, ...],
           text: str) -> EntryFacts:  # fmt: skip
    return EntryFacts(id=id_, title=title, description=text, place=place, people=people, tags=tags,
                      local_time=datetime.fromisoformat(day).replace(tzinfo=LONDON), precision="exact")  # fmt: skip


# A Sunday service and the days like it: a reading group and a theatre evening with Joan, coffees with Frank (one of
# them over tea with Joan too), and a doctor's appointment like none of them.
LOG = [
    _entry(1, "Sunday service", "2026-03-01T10:30", "St Mary's church", ("Joan", "Frank"), ("church",),
           "Went to St Mary's church. The choir sang 'Jerusalem'; afterwards tea with Joan and Frank. The vicar "
           "preached about patience for far too long."),
    _entry(2, "Library reading group", "2026-03-04T14:00", "the Central Library", ("Joan",), ("books", "friends"),
           "Reading group at the Central Library discussed 'Rebecca'. Joan disagreed with everyone, as usual."),
    _entry(3, "Coffee with Frank", "2026-03-10T11:00", "the Blue Door café", ("Frank",), ("friends",),
           "Met Frank at the Blue Door café. We talked about the weather and shared a slice of carrot cake."),
    _entry(4, "Coffee with Frank", "2026-05-12T11:00", "the Blue Door café", ("Frank", "Joan"), ("friends",),
           "Met Frank and Joan at the Blue Door café for a pot of tea."),
    _entry(5, "Evening at the theatre", "2026-04-18T19:30", "the Playhouse theatre", ("Joan",), ("culture",),
           "Saw 'Blithe Spirit' at the Playhouse theatre with Joan; the tickets were £18 each."),
    _entry(6, "Doctor's appointment", "2026-04-20T09:00", "the Banbury Road surgery", (), ("health",),
           "Check-up at the Banbury Road surgery about my knee."),
]  # fmt: skip


def _plan(pool: list[EntryFacts], answer: str, seed: int = 1) -> authoring.Plan:
    return next(p for p in authoring._guess_event(pool, random.Random(seed), known=pool) if p.answer == answer)


def test_the_program_picks_the_day_its_like_decoys_and_the_facts_that_tell_them_apart():
    plan = _plan(LOG, "Sunday service")
    assert plan.evidence_ids == [1] and plan.correct == ["Sunday service"]
    # like it by a person (Joan, Frank), never the doctor's appointment; one coffee title for both coffees
    assert sorted(plan.options) == ["Coffee with Frank", "Evening at the theatre", "Library reading group",
                                    "Sunday service"]  # fmt: skip
    own = plan.facts.split("Its own facts: ")[1].rstrip(".").split("; ")
    assert own == ["St Mary's church", "'Jerusalem'", "choir", "patience", "vicar"]  # not Joan, Frank or tea
    assert plan.question == authoring_event.QUESTION and "{description}" in plan.question
    assert plan.extra_cues == ["It was in March 2026.", 'Its first word begins with "S".']
    # the grammar holds the description from the title's words, the decoys' facts (cake) and dates
    pattern = plan.fields["description"]["pattern"]
    assert re.fullmatch(pattern, "You heard the choir sing Jerusalem, then had tea with Joan and Frank.")
    for said in ["On Sunday the choir sang Jerusalem.", "The choir sang, then you had carrot cake.",
                 "In March the choir sang Jerusalem."]:  # fmt: skip
        assert not re.fullmatch(pattern, said), said


@pytest.mark.parametrize("seed", [1, 7])
def test_on_a_generated_life_log_every_plan_can_be_answered_and_told_from_its_decoys(seed):
    """Each plan: one day, its title the answer once among 2-3 decoys that are titles of like entries and share
    no title word with the answer or each other; at least two listed facts, each of which no entry of any decoy
    title has; an activity once ("Phone call with Emily" and "with Tom" are one)."""
    pool = _generated_pool(120, seed)
    plans = authoring._guess_event(pool, random.Random(seed), known=pool)
    assert len(plans) >= 8
    assert len({plan.subject for plan in plans}) == len(plans)
    for plan in plans:
        (day,) = [facts for facts in pool if facts.id in plan.evidence_ids]
        decoys = [option for option in plan.options if option != day.title]
        assert plan.answer == day.title and plan.options.count(day.title) == 1 and 2 <= len(decoys) <= 3
        words = [set(content_words(option)) for option in plan.options]
        assert all(not a & b for i, a in enumerate(words) for b in words[i + 1 :]), plan.options
        own = plan.facts.split("Its own facts: ")[1].rstrip(".").split("; ")
        assert len(own) >= authoring_event.MIN_OWN_FACTS
        holders = [verifier.Source.from_facts(f) for f in pool if f.title in decoys]
        assert {normalize(h.title) for h in holders} == {normalize(d) for d in decoys}
        for fact in own:
            assert all(not set(content_words(fact)) <= set(content_words(h.grounded())) for h in holders), fact


def test_a_trainee_s_plausible_answers_score_as_expected():
    plan = _plan(LOG, "Sunday service")
    candidate = authoring.candidate(plan, json.dumps({"description": "You heard the choir sing Jerusalem, then "
                                                                     "had tea with Joan and Frank."}))  # fmt: skip
    payload = authoring.payload(plan, candidate, {facts.id: facts for facts in LOG})
    for answer, right in [("the Sunday service", True), ("church on a Sunday", True), ("sunday servise", True),
                          ("the reading group", False), ("Coffee with Frank", False)]:  # fmt: skip
        assert evaluate(payload, 0, answer).correct is right, answer
    recognition = payload["recognition"]
    letter = "ABCD"[recognition["answer_index"]]
    wrong = "ABCD"[(recognition["answer_index"] + 1) % 4]
    level = len(payload["cues"]) + 1  # after the cues: the choices
    assert evaluate(payload, level, letter).correct and not evaluate(payload, level, wrong).correct
    assert evaluate(payload, level, "Sunday service").correct
