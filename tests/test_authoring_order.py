"""which_first over a recurring event: two occurrences of one activity, months apart, each named by facts only it
has in the whole life log (chat.authoring_order), the program's choices and answer held by the verifier's
`order_problems`. No database, no model: the program's half, and the verifier against hand-written replies."""

import dataclasses
import json
import random
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from chat import authoring, authoring_order, verifier
from chat.puzzles import EntryFacts
from chat.scoring import content_words, match_choice, normalize
from tests.test_verifier import _generated_pool

LONDON = ZoneInfo("Europe/London")


def _reading(id_: int, day: str, book: str, person: str) -> EntryFacts:
    return EntryFacts(id=id_, title="Library reading group", place="the Central Library", people=(person,),
                      description=f"Reading group at the Central Library discussed '{book}'. {person} disagreed.",
                      tags=("books",), local_time=datetime.fromisoformat(day).replace(tzinfo=LONDON),
                      precision="exact")  # fmt: skip


def _reply(plan: authoring.Plan) -> str:
    """A good reply, written as the kind's examples are."""
    cues = [fact.replace('"', "") + "." for fact in plan.cue_facts]
    return json.dumps({"question": f"Which of these came first{plan.ending}?", "cue1": cues[0], "cue2": cues[1]})


def _problems(plan: authoring.Plan, known: list[EntryFacts], reply: str | None = None) -> list[str]:
    return verifier.check_authored(authoring.candidate(plan, reply or _reply(plan)), entries=authoring.sources(known),
                                   distractor_pool=authoring.distractor_pool(plan, known),
                                   instructions=plan.instructions, example_words=authoring.EXAMPLE_WORDS)  # fmt: skip


def test_a_marker_is_the_fewest_facts_no_other_occurrence_has_all_of():
    rebecca_maggie = _reading(1, "2026-02-11T14:00", "Rebecca", "Maggie")
    known = [rebecca_maggie, _reading(2, "2026-04-08T10:00", "Rebecca", "Joan"),
             _reading(3, "2026-06-17T11:00", "Brooklyn", "Maggie"),
             _reading(4, "2026-09-02T15:00", "Emma", "Elsie")]  # fmt: skip
    assert authoring_order.marker(rebecca_maggie, known) == (("quoted", "Rebecca"), ("person", "Maggie"))
    assert authoring_order.marker(known[3], known) == (("quoted", "Emma"),)  # one fact is enough
    twin = _reading(5, "2026-10-01T10:00", "Rebecca", "Maggie")
    assert authoring_order.marker(rebecca_maggie, [*known, twin]) is None  # the same facts twice: nothing tells them
    assert authoring_order.option(rebecca_maggie, authoring_order.marker(rebecca_maggie, known)) == (
        "Library reading group with 'Rebecca' and Maggie"
    )


def test_quoted_items_are_not_apostrophes():
    text = "Baked a cake for Tom's visit in my mother's old bowl. Saw 'The Mousetrap'; the choir sang 'Abide with Me'."
    assert verifier.quoted_items(text) == ["The Mousetrap", "Abide with Me"]
    titles = "Discussed 'The Handmaid's Tale' with Rita; sang 'Don't Stop Me Now' and read ‘Charlotte’s Web’."
    assert verifier.quoted_items(titles) == ["The Handmaid's Tale", "Don't Stop Me Now", "Charlotte’s Web"]


@pytest.mark.parametrize("seed", [7, 31])
def test_recurring_events_become_which_first_plans_months_apart_that_the_verifier_accepts(seed):
    """On a generated life log every activity recurs (none is done once): the plans are two occurrences of one
    title, at least REPEAT_DAYS_APART apart, the earlier the answer, each choice's words its own entry's facts
    and no other occurrence's in the whole log, the question's fixed ending free of dates and order words."""
    known = _generated_pool(300, seed)
    plans = authoring._which_first(known, random.Random(seed), known=known)
    by_id = {facts.id: facts for facts in known}
    recurring = [p for p in plans if len({by_id[i].title for i in p.evidence_ids}) == 1]
    assert len(recurring) >= 5
    assert all(_problems(plan, known) == [] for plan in plans)
    for plan in recurring:
        first, second = (by_id[i] for i in plan.evidence_ids)
        assert (second.local_time - first.local_time).days >= verifier.REPEAT_DAYS_APART
        assert plan.answer in plan.options and plan.answer.startswith(f"{first.title} with ")
        entries = (first, second) if plan.options[0] == plan.answer else (second, first)
        for option, entry in zip(plan.options, entries, strict=True):
            words = set(content_words(option))
            holders = [f.id for f in known if normalize(f.title) == normalize(entry.title)
                       and words <= set(normalize(verifier.Source.from_facts(f).grounded()).split())]  # fmt: skip
            assert holders == [entry.id], (option, holders)
        assert not verifier.calendar_words(plan.ending) - verifier.calendar_words(first.title)
        assert not re.search(r"\d", plan.ending) and not set(normalize(plan.ending).split()) & verifier.ORDER_WORDS


def test_the_whole_life_log_decides_what_names_an_occurrence_not_the_prefix_alone():
    """A fact unique among the entries the prefix holds may be shared with an older occurrence the trainee lived
    too: the question would then have two right readings."""
    pool = [_reading(1, "2026-02-11T14:00", "Rebecca", "Maggie"), _reading(2, "2026-06-17T11:00", "Brooklyn", "Elsie")]
    older = [
        _reading(10, "2025-05-05T10:00", "Rebecca", "Maggie"),
        _reading(11, "2025-07-07T10:00", "Brooklyn", "Elsie"),
    ]
    assert authoring._which_first(pool, random.Random(1))  # judged on the pool alone
    assert authoring._which_first(pool, random.Random(1), known=[*older, *pool]) == []
    plan = authoring._which_first(pool, random.Random(1))[0]
    assert any("also fits" in problem for problem in _problems(plan, [*older, *pool]))


def test_events_done_once_still_make_the_once_only_plan():
    cafe = dict(place="the Blue Door café", tags=("friends",), precision="exact", description="We had tea.")
    pool = [EntryFacts(id=1, title="Coffee with Frank", people=("Frank",), **cafe,
                       local_time=datetime(2026, 3, 4, 11, tzinfo=LONDON)),
            EntryFacts(id=2, title="Coffee with Elsie", people=("Elsie",), **cafe,
                       local_time=datetime(2026, 5, 6, 11, tzinfo=LONDON))]  # fmt: skip
    [plan] = authoring._which_first(pool, random.Random(1))
    assert sorted(plan.options) == ["Coffee with Elsie", "Coffee with Frank"] and plan.answer == "Coffee with Frank"
    assert plan.ending in (": Coffee with Frank or Coffee with Elsie", ": Coffee with Elsie or Coffee with Frank")
    assert _problems(plan, pool) == []


def _recurring_plan() -> tuple[authoring.Plan, list[EntryFacts]]:
    known = [_reading(1, "2026-02-11T14:00", "Rebecca", "Maggie"), _reading(2, "2026-06-17T11:00", "Brooklyn", "Elsie")]
    return authoring._which_first(known, random.Random(3), known=known)[0], known


def test_the_question_s_grammar_lets_the_model_say_no_order_and_no_date():
    plan, _ = _recurring_plan()
    pattern = plan.fields["question"]["pattern"]
    assert re.fullmatch(pattern, f"Which of these came first{plan.ending}?")
    told_order = (
        "Which came last",
        "Which was the most recent",
        "Which came first in June",
        "Which came first in 2026",
    )
    for told in told_order:
        assert not re.fullmatch(pattern, f"{told}{plan.ending}?"), told


def test_a_cue_cannot_glue_a_season_the_entries_lack_to_a_word():
    """Seen at 300 entries, seed 41: "…was in April 2026, in the summermonth." (the worked example then ended
    its cue with "in the summer"); the entries are in February and June, so only winter and summer are theirs."""
    plan, _ = _recurring_plan()
    cue = plan.fields["cue1"]["pattern"]
    opening = plan.cue_facts[0].split('"')[1]
    assert re.fullmatch(cue, f"{opening} was in June 2026, in the summer.")
    for glued in ("in the springtime", "in the autumnal rain", "in the summermonth"):
        ok = glued == "in the summermonth"  # June is summer: a word that begins with it is no false season
        assert bool(re.fullmatch(cue, f"{opening} was in June 2026, {glued}.")) is ok, glued


def test_the_verifier_holds_the_choices_to_their_own_entries():
    plan, known = _recurring_plan()
    assert _problems(plan, known) == []
    swapped = dataclasses.replace(plan, answer=next(o for o in plan.options if o != plan.answer))
    assert any("did not come first" in p for p in _problems(swapped, known, _reply(plan)))
    wrong_month = json.loads(_reply(plan))
    wrong_month["cue1"] = wrong_month["cue1"].replace("June", "February")  # the earlier one's month, said of the later
    assert any(p.startswith("cue 1 puts february") for p in _problems(plan, known, json.dumps(wrong_month)))


def test_a_trainee_answers_with_a_fact_of_the_occurrence():
    options = ["Library reading group with 'Brooklyn' and Elsie", "Library reading group with 'Rebecca' and Maggie"]
    assert match_choice("Rebecca", options, 1).correct
    assert match_choice("the one with Maggie", options, 1).correct
    assert not match_choice("the reading group", options, 1).correct  # both are: no choice made
    assert not match_choice("Brooklyn", options, 1).correct
