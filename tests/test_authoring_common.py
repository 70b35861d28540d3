"""common_ground: two events of different kinds that had one thing in common, and only it (chat.authoring_common),
the program's answer and choices held by the verifier's `common_problems`. No database, no model: the program's
half, and the verifier against hand-written replies."""

import dataclasses
import json
import random
import re
from datetime import datetime
from zoneinfo import ZoneInfo

from chat import authoring, authoring_common, verifier
from chat.puzzles import EntryFacts
from chat.puzzles.authored import evaluate
from chat.puzzles.base import max_level
from chat.scoring import normalize

LONDON = ZoneInfo("Europe/London")


def _entry(id_: int, day: str, title: str, text: str, place: str, people: tuple[str, ...] = ()) -> EntryFacts:
    return EntryFacts(id=id_, title=title, description=text, place=place, people=people, tags=(),
                      local_time=datetime.fromisoformat(day).replace(tzinfo=LONDON), precision="exact")  # fmt: skip


def _market(id_: int, day: str, first: str, second: str, seller: str = "Joan") -> EntryFacts:
    return _entry(id_, day, "Shopping at the market",
                  f"Bought {first} and {second} at the Saturday market on Castle Street for £7.25. {seller} was there "
                  "selling honey.", "the Saturday market on Castle Street", (seller,))  # fmt: skip


def _picnic(id_: int, day: str, ate: str, stolen: str, people=("Sarah", "Tom")) -> EntryFacts:
    return _entry(id_, day, "Picnic in the park",
                  f"Picnic at University Parks with {people[0]} and {people[1]} on the old navy rug. We ate sandwiches "
                  f"and {ate}; a dog stole some of the {stolen}.", "University Parks", people)  # fmt: skip


LOG = [
    _market(1, "2026-03-07T10:00", "plums", "cheddar"),
    _picnic(2, "2026-06-14T13:00", "ham", "plums"),
    _market(3, "2026-04-11T10:00", "eggs", "fresh bread", seller="Rita"),
    _picnic(4, "2026-07-19T13:00", "tomatoes", "strawberries", people=("David", "Emily")),
]


def _reply(question: str = "What did the shopping at the market in March 2026 and the picnic in the park in June "
           "2026 have in common?", cue: str = "At the market you bought it with some cheddar.") -> str:  # fmt: skip
    return json.dumps({"question": question, "cue1": cue})


def _problems(plan: authoring.Plan, reply: str, log: list[EntryFacts] = LOG) -> list[str]:
    return verifier.check_authored(authoring.candidate(plan, reply), entries=authoring.sources(log),
                                   distractor_pool=authoring.distractor_pool(plan, log),
                                   instructions=plan.instructions, example_words=authoring.EXAMPLE_WORDS)  # fmt: skip


def _plan(log: list[EntryFacts] = LOG) -> authoring.Plan:
    (plan,) = authoring.plans_for(log, rng=random.Random(3), limit=5, kinds=["common_ground"])
    return plan


def test_the_one_thing_two_events_share_is_the_answer_and_other_days_give_the_choices():
    plan = _plan()
    assert (plan.answer, plan.evidence_ids) == ("plums", [1, 2])
    # what other markets and picnics had in the plums' spot, none of it at either event
    assert set(plan.options) - {"plums"} <= {"eggs", "fresh bread", "strawberries"} and len(plan.options) >= 3
    assert 'cue1 fact: at "Shopping at the market": Bought something and cheddar' in plan.facts
    assert plan.extra_cues == ['It begins with "P".']


def test_events_that_share_a_person_a_place_or_two_things_have_no_one_answer():
    with_joan = _picnic(2, "2026-06-14T13:00", "ham", "plums", people=("Joan", "Tom"))
    two_things = _picnic(2, "2026-06-14T13:00", "cheddar", "plums")
    same_title = _market(5, "2026-06-20T10:00", "plums", "eggs", seller="Elsie")
    for pair in ([LOG[0], with_joan], [LOG[0], two_things], [LOG[0], same_title]):
        assert list(authoring_common.pairs(pair)) == []
    assert authoring_common.shared_thing(LOG[0], LOG[1]) == "plums"


def test_things_are_the_text_s_noun_phrases_less_what_names_the_event():
    things = authoring_common.things(LOG[1])
    assert {"ham", "plums", "sandwiches", "old navy rug"} <= things
    assert not {"sarah", "tom", "university parks", "picnic"} & things


def test_a_good_reply_passes():
    assert _problems(_plan(), _reply()) == []


def test_the_verifier_holds_the_question_and_the_cue_to_the_kind():
    plan = _plan()
    cases = {
        "the question does not ask what they had in common": _reply(
            "What did you buy at the shopping at the market in March 2026 and at the picnic in the park?"),
        "the question does not name the event": _reply(
            "What did the shopping at the market in March 2026 have in common with June 2026?"),
        "gives the answer away": _reply(cue="At the market you bought plums with some cheddar."),
        # a cue that names both events says a fact that cannot be placed
        "names 2 of the events": _reply(cue="At the market and at the picnic you had some cheddar."),
    }  # fmt: skip
    for expected, reply in cases.items():
        assert any(expected in problem for problem in _problems(plan, reply)), (expected, _problems(plan, reply))


def test_a_wrong_choice_in_both_events_or_an_answer_missing_from_one_is_rejected():
    plan = _plan()
    also_right = dataclasses.replace(plan, options=[*plan.options, "cheddar"])
    cheddar_too = [LOG[0], _picnic(2, "2026-06-14T13:00", "cheddar", "plums"), *LOG[2:]]
    assert any("'cheddar' is in every event" in p for p in _problems(also_right, _reply(), cheddar_too))
    moved = [LOG[0], _picnic(2, "2026-06-14T13:00", "ham", "pears"), *LOG[2:]]
    assert any("is not in 'Picnic in the park'" in p for p in _problems(plan, _reply(), moved))


def test_the_trainee_names_the_thing_in_their_own_words():
    payload = authoring.payload(_plan(), authoring.candidate(_plan(), _reply()), {f.id: f for f in LOG})
    right = ["plums", "the plums", "a plum", "I think it was plums"]
    wrong = ["cheddar", "fruit", "strawberries", "ham"]
    assert all(evaluate(payload, 0, answer).correct for answer in right)
    assert not any(evaluate(payload, 0, answer).correct for answer in wrong)
    letter = "ABCD"[[normalize(o) for o in payload["recognition"]["options"]].index("plums")]
    assert evaluate(payload, max_level(payload), letter).correct


def test_the_cue_may_name_its_own_event_but_not_the_other():
    """Seen (seed 109): hiding the gardening's "gardening" hid "garden" by its stem, and the model wrote "Millets
    Farm garrison centre" for the garden centre; seen (seed 103): "At the picnic you bought ... at the market"."""
    centre = _entry(11, "2026-01-10T11:00", "Trip to the garden centre", "Drove with David to Millets Farm garden "
                    "centre and bought sweet peas for £8.", "Millets Farm garden centre", ("David",))  # fmt: skip
    garden = _entry(12, "2026-04-20T14:00", "Gardening", "Spent the afternoon in the garden at the house on Elm Road, "
                    "planting sweet peas. Sarah came round to help.", "the house on Elm Road", ("Sarah",))  # fmt: skip
    others = [_entry(13, "2026-02-10T11:00", "Trip to the garden centre", "Drove with Tom to Millets Farm garden "
                     "centre and bought lavender for £6.", "Millets Farm garden centre", ("Tom",)),
              _entry(14, "2026-03-10T11:00", "Trip to the garden centre", "Drove with Tom to Millets Farm garden "
                     "centre and bought tulip bulbs for £5.", "Millets Farm garden centre", ("Tom",))]  # fmt: skip
    (plan,) = authoring.plans_for([centre, garden, *others], rng=random.Random(3), limit=5, kinds=["common_ground"])
    cue = re.compile(plan.fields["cue1"]["pattern"])
    assert cue.fullmatch("You drove with David to Millets Farm garden centre and bought something.")
    assert not cue.fullmatch("You drove with David to the house and bought something.")


def test_the_wrong_choices_come_from_the_same_spot_of_a_sentence_never_across_two():
    """Review: with the thing first in its sentence, "Plums were cheap today." gave "and the stalls" and "apples.
    Pears" (across a full stop)."""
    first = _entry(21, "2026-01-03T10:00", "Shopping", "Plums were cheap today. We had tea.", "the market")
    others = [_entry(22, "2026-01-10T10:00", "Shopping", "Bought apples and the stalls were busy. Pears were cheap "
                     "too.", "the market"),
              _entry(23, "2026-01-17T10:00", "Shopping", "Apples were cheap today.", "the market")]  # fmt: skip
    assert authoring_common.in_place_of("plums", first, [first, *others]) == ["Pears", "Apples"]
