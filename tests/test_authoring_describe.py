"""describe_without_naming: the program picks a concrete thing of a diary line and the words to avoid
(WordNet's, chat.authoring_describe), the grammar and the verifier hold the model's example description to
them, a trainee's description is scored by rule (chat.scoring_describe) through the real evaluate path, and
the session's feedback tells which word to avoid and shows the example description, never "The answer was"."""

import copy
import json
import random
from datetime import datetime
from functools import cache
from zoneinfo import ZoneInfo

import pytest

from chat import authoring, verifier
from chat.models import AuthoredPuzzle, PuzzleGroup, PuzzleKind
from chat.puzzles import KINDS, EntryFacts
from chat.services import training_session_start
from tests.chat_helpers import act, bot_texts, give_life_log, open_puzzle, right_answer
from tests.test_authoring import _pinned

DESCRIBE = "describe_without_naming"
LINES = [
    ("Tea with Joan", "Put the kettle on and had a long chat with Joan."),
    ("Shopping", "Walked to the shop in the rain and my umbrella blew inside out."),
    ("Park", "Fed the ducks by the pond with Frank."),
    ("Baking", "Baked scones for the church fair."),
    ("Tidying", "Found my old school reports up in the loft."),
    ("Garden", "Planted daffodils along the front path."),
    ("Market", "Bought a new teapot at the market."),
    ("Knitting", "Knitted a scarf for Maggie."),
    ("Evening", "Saw a fox at the bottom of the garden."),
    ("Walk", "Sat on a bench by the river."),
    ("Jobs", "Fixed the gate at the end of the lane."),
]
POOL = [
    EntryFacts(id=index, title=title, description=line, place="", people=(), tags=(),
               local_time=datetime(2026, index, 3, 10, tzinfo=ZoneInfo("Europe/London")), precision="day")
    for index, (title, line) in enumerate(LINES, start=1)
]  # fmt: skip
GOOD = "Something you boil water in to make a cup of tea."


@cache
def _plans() -> list[authoring.Plan]:
    return authoring.plans_for(POOL, rng=random.Random(3), limit=12, kinds=(DESCRIBE,))


def _plan(word: str = "kettle") -> authoring.Plan:
    return copy.deepcopy(next(plan for plan in _plans() if plan.answer == word))


def _candidate(plan: authoring.Plan, description: str) -> verifier.Candidate:
    return authoring.candidate(plan, json.dumps({"description": description}))


def _problems(candidate: verifier.Candidate, plan: authoring.Plan) -> list[str]:
    return verifier.check_authored(candidate, entries=authoring.sources(POOL),
                                   distractor_pool=authoring.distractor_pool(plan, POOL),
                                   instructions=plan.instructions, example_words=authoring.EXAMPLE_WORDS)  # fmt: skip


def test_the_program_picks_a_concrete_thing_of_the_line_and_the_words_to_avoid_from_wordnet():
    plans = _plans()
    # things one can see or hold, never a deed ("walked"), the weather ("rain") or an event ("fair", "chat")
    assert {plan.answer for plan in plans} <= {
        "kettle",
        "umbrella",
        "ducks",
        "scones",
        "loft",
        "daffodils",
        "teapot",
        "scarf",
        "fox",
        "bench",
        "gate",
    }
    plan = _plan()
    assert plan.scoring["avoid"] == {"kettle": ["kettle"], "boiler": ["boiler"], "pot": ["pot"]}  # synonym, broader
    assert plan.question == (
        'Your diary for January 2026 says: "Put the kettle on and had a long chat with Joan." Can you describe '
        '"kettle" in your own words, without saying it or "boiler" or "pot"?'
    )
    assert plan.extra_cues == ["Think of what it is for, what it looks like, or where you would find it."]
    others = [option for option in plan.options if option != "{description}"]
    assert len(others) == 2 and "Pot for brewing tea." not in others  # the teapot's definition fits a kettle too
    scones = _plan("scones")
    assert scones.scoring["avoid"]["scones"] == ["scones", "scone"]  # its dictionary form too
    assert "tastes like" in scones.extra_cues[0]  # a food's cue


def test_the_grammar_never_lets_the_description_say_a_word_to_avoid():
    from tests.test_authoring_grammar import _matches

    pattern = authoring.schema(_plan())["properties"]["description"]["pattern"]
    assert _matches(pattern, GOOD)
    for text in ["A kettle you boil water in.", "Kettles whistle.", "A metal pot you boil water in.",
                 "A big boiler for tea.", "Something holding pots of water."]:  # fmt: skip
        assert not _matches(pattern, text), text


@pytest.mark.parametrize(
    ("description", "expect"),
    [
        (GOOD, None),
        ("You fill it with water and it whistles when the water is hot.", None),
        ("A kettle you fill with water.", "gives the answer away: 'kettle'"),
        ("Kettles boil water for tea.", "gives the answer away: 'kettle'"),
        ("Something a kettl is.", "gives the answer away: 'kettle'"),  # its stem
        ("A metal pot that you boil water in.", "says a word to avoid 'pot'"),
        ("A big boiler for tea.", "says a word to avoid 'boiler'"),
        ("You put it on and had a long chat.", "copies the diary line"),
        ("You forgot it at the shop.", "the hint"),  # about the day, not the thing
        ("Something you boil tovisit.", "not a word"),
        ("Something Cyril boils water in.", "copies the examples"),
    ],
)
def test_the_verifier_holds_the_description_to_the_rules(description, expect):
    plan = _plan()
    problems = _problems(_candidate(plan, description), plan)
    assert problems == [] if expect is None else any(expect in p for p in problems), problems


def test_no_other_choice_may_describe_the_word_too():
    plan = _plan()
    plan.options = ["{description}", "A pot for boiling water.", plan.options[plan.options.index("{description}") - 1]]
    problems = _problems(_candidate(plan, GOOD), plan)
    assert "the choice 'A pot for boiling water.' describes 'kettle' too" in problems


def _payload(description: str = GOOD) -> dict:
    plan = _plan()
    return authoring.payload(plan, _candidate(plan, description), {facts.id: facts for facts in POOL})


@pytest.mark.parametrize(
    ("answer", "right"),
    [
        ("You boil water in it for a cup of tea", True),
        ("It sits on the stove and whistles when it's ready", True),
        ("something to make hot drinks with", True),
        ("keeps the water hot", True),
        ("A spotted thing you boil water in", True),  # "spotted" is not "pot"
        ("the kettle", False),
        ("A kettle you boil water in", False),
        ("Kettles whistle on the hob", False),
        ("A metal pot for boiling water", False),
        ("a big boiler", False),
        ("teapot", False),  # one word: another name, not a description
        ("hot", False),
        ("It's a thing", False),
        ("I forget the name", False),  # a non-answer (review)
    ],
)
def test_a_trainee_s_description_is_scored_by_rule(answer, right):
    score = KINDS[PuzzleKind.LLM_AUTHORED].evaluate(_payload(), 0, answer)
    assert (score.correct, score.scorer) == (right, "rule"), answer


def test_at_recognition_the_right_choice_is_the_verified_description():
    payload = _payload()
    letter = "ABC"[payload["recognition"]["answer_index"]]
    assert payload["recognition"]["options"][payload["recognition"]["answer_index"]] == GOOD
    assert payload["recognition"]["prompt"].startswith('Which of these describes "kettle" without naming it?')
    evaluate = KINDS[PuzzleKind.LLM_AUTHORED].evaluate
    assert evaluate(payload, 2, letter).correct and not evaluate(payload, 2, "ABC".replace(letter, "")[0]).correct
    assert "expected" not in payload  # no live judge for an open description


def _stored(participant, description: str = "Something you can see and touch at home.") -> AuthoredPuzzle:
    from chat.selectors import entry_facts_list

    pool = entry_facts_list(participant=participant)
    plan = authoring.plans_for(pool, rng=random.Random(1), limit=1, kinds=(DESCRIBE,))[0]
    candidate = authoring.candidate(plan, json.dumps({"description": description}))
    return AuthoredPuzzle.objects.create(
        participant=participant, group=PuzzleGroup.objects.get(key="llm-authored", version=2), kind=plan.kind,
        plan_key=plan.key(), status=AuthoredPuzzle.Status.READY, evidence_ids=plan.evidence_ids,
        payload=authoring.payload(plan, candidate, {facts.id: facts for facts in pool}), model_name="test-model",
        prompt_sha256="p" * 64, prefix_sha256="x" * 64, verifier_version=verifier.VERSION,
    )  # fmt: skip


@pytest.mark.django_db
def test_the_session_tells_which_word_to_avoid_and_shows_the_example_description(world):
    give_life_log(world.participant_a, count=12)
    _pinned(world, world.participant_a, world.study_a, version=2)  # the version that shows this kind
    stored = _stored(world.participant_a)
    word, description = stored.payload["answer"], stored.payload["description"]
    session = training_session_start(participant=world.participant_a)
    puzzle = open_puzzle(session)
    act(session, text=f"It is a {word} of course")
    assert bot_texts(session)[-1] == (f"Nearly! You said “{word}”, one of the words to leave out. Try to say it "
                                      f"another way. {stored.payload['cues'][0]}")  # fmt: skip
    act(session, text="hmm")
    assert bot_texts(session)[-1].startswith("Tell me a little more, in a few words of your own. Which of these")
    puzzle.refresh_from_db()
    act(session, text=right_answer(puzzle))
    said = bot_texts(session)
    assert f'Yes, that one describes "{word}" without naming it.' in said  # a choice: no "another way" of itself
    assert not any("The answer was" in text for text in said)
    # an open answer that is right, and a skip or a miss, show the example description as one way to put it
    assert stored.payload["correct"] == (f'Yes, that describes "{word}" without naming it. Another way to put '
                                         f'it: "{description}"')  # fmt: skip
    assert (
        stored.payload["reveal"]
        == f'That\'s all right. One way to describe "{word}" without naming it: "{description}"'
    )


def test_the_quoted_diary_line_may_name_a_weekday_the_description_may_not():
    """Seen at seed 89: "the Saturday market" of an entry known only by month, quoted in the program's
    question, was taken for a weekday the puzzle made up."""
    line = "Bought honey at the Saturday market."
    market = verifier.Source(id=99, title="Market", text=line, when=datetime(2026, 5, 1), precision="month")
    question = f'Your diary for May 2026 says: "{line}" Can you describe "honey" in your own words, without saying it?'

    def weekdays(description: str) -> list[str]:
        candidate = verifier.Candidate(
            kind=DESCRIBE, question=question, cues=["Think of what it tastes like."], answer="honey",
            evidence_ids=[99], options=[description, "A long seat for more than one person."],
            definition=description, avoid=["honey"],
        )  # fmt: skip
        return [
            p for p in verifier.check_authored(candidate, entries={99: market}, distractor_pool=[]) if "weekday" in p
        ]

    assert weekdays("Something sweet and sticky that bees make.") == []
    assert weekdays("Something sweet you buy on a Saturday.") == ["weekday 'saturday' for an entry known only by month"]


def test_a_short_word_to_avoid_is_said_only_as_itself_or_its_plural():
    """Review: "busy" said "bus", "cared" said "car" when any ending counted for a three-letter word."""
    from chat.scoring_describe import says

    assert says("buses", "bus") and says("cars", "car") and says("car", "car")
    assert not any(says(word, form) for word, form in (("busy", "bus"), ("cared", "car"), ("card", "car"),
                                                       ("hated", "hat")))  # fmt: skip
