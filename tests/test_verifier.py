"""The verifier: every known bad LLM output is rejected with a reason, every good one passes, and the
grounding rules hold wherever a name stands (sentence start, after ':', in quotes) and for month-only entries."""

import json
import re
from datetime import datetime
from pathlib import Path

import pytest

from chat import phrasing
from chat.verifier import Candidate, Source, check_authored, check_rewording, non_words, ungrounded
from inference.client import ClientSettings, LLMClient
from tests.scripted_llm import ScriptedLLM

DATA = Path(__file__).parent / "data" / "verifier"


def _sources(entries: list[dict]) -> list[Source]:
    fields = ("id", "title", "text", "place", "precision")
    return [
        Source(
            **{f: e[f] for f in fields},
            people=tuple(e["people"]),
            tags=tuple(e["tags"]),
            when=datetime.fromisoformat(e["when"]),
        )
        for e in entries
    ]


def problems_of(case: dict) -> list[str]:
    sources = _sources(case["entries"])
    if case["type"] == "rewording":
        return check_rewording(case["text"], template=case["template"], sources=sources, answer=case["answer"],
                               others=case["others"], context=case["context"])  # fmt: skip
    candidate = Candidate(**case["candidate"])
    return check_authored(candidate, entries={s.id: s for s in sources}, distractor_pool=case["pool"],
                          instructions=case.get("instructions", ""),
                          example_words=case.get("example_words", ()))  # fmt: skip


def _cases(name: str) -> list[dict]:
    return json.loads((DATA / name).read_text())


@pytest.mark.parametrize("case", _cases("bad.json"), ids=lambda case: case["id"])
def test_every_known_bad_output_is_rejected_with_its_reason(case):
    problems = problems_of(case)
    assert any(case["expect"] in problem for problem in problems), problems


@pytest.mark.parametrize("case", _cases("good.json"), ids=lambda case: case["id"])
def test_good_outputs_pass(case):
    assert problems_of(case) == []


def test_the_issue_s_three_bad_rewordings_lead_the_corpus():
    first = [case["id"] for case in _cases("bad.json")[:3]]
    assert first == ["issue-question-replaced-by-dialogue", "issue-order-task-became-a-statement",
                     "issue-clue-of-a-previous-puzzle"]  # fmt: skip


GROUNDED = "Concert with Helen at the Blue Door"


@pytest.mark.parametrize(
    "text",
    [
        "Biscuit came too.",  # the issue's example: a name opening a sentence
        "A clue: Biscuit came too.",
        "Who came? Biscuit.",
        'You wrote "Biscuit came too".',
        "You wrote “Biscuit came too”.",
        "It was lovely; Biscuit came too.",
        "Think of Biscuit's bark.",
        "With Helen - Biscuit came too.",
    ],
)
def test_a_name_is_checked_wherever_it_stands(text):
    assert ungrounded(text, grounded=GROUNDED) == ["name 'biscuit'"]


@pytest.mark.parametrize(
    "text", ["Helen came too.", "A clue: Helen came too.", 'You wrote "Helen came too".', "Blue Door: who came?"]
)
def test_a_grounded_name_passes_wherever_it_stands(text):
    assert ungrounded(text, grounded=GROUNDED) == []


def test_month_only_entries_never_get_a_day_or_weekday():
    month_only = Source(id=1, title="Holiday", text="By the sea.", when=datetime(2024, 7, 1, 12), precision="month")
    dated = Source(id=1, title="Holiday", text="By the sea.", when=datetime(2024, 7, 1, 12), precision="day")
    template = "When was the Holiday? Think of July 2024."
    for text in ["It was on Monday, in July 2024. When was it?", "It was on 1 July 2024. When was it?",
                 "It was July 1st 2024. When was it?"]:  # fmt: skip
        assert any("known only by month" in p for p in check_rewording(text, template=template, sources=[month_only]))
        assert not any("known only by month" in p for p in check_rewording(text, template=template, sources=[dated]))
    assert check_rewording("Think of summer 2024. When was the Holiday?", template=template, sources=[month_only]) == []


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.parametrize(
    ("reply", "others"),
    [
        ("The events you mentioned are in the order they happened, earliest first.", []),  # the issue's statement
        ("Trainee: garden", []),
        ("Can you order them? The day had: Biscuit; home.", ["That's all right. The day had: Biscuit; home."]),
    ],
)
async def test_a_streamed_rewording_that_drops_the_request_falls_back_to_the_template(anyio_backend, reply, others):
    """Through the phrasing path the chat uses: the final check runs after the last sentence streamed."""
    server = ScriptedLLM(lambda request: reply)
    template = "Can you put these 3 events in the order they happened, earliest first?\nA) Gardening\nB) Picnic"
    request = phrasing.build_request(seq=1, template_text=template, prefix=[], entries=[], dialogue=[], answer="",
                                     base_url=server.base_url, model="scripted", others=others)  # fmt: skip
    client = LLMClient(ClientSettings(base_url=server.base_url, retries=0))
    shown: list[str] = []

    async def emit(piece: str) -> None:
        shown.append(piece)

    try:
        final, outcome = await phrasing.phrase(request, emit, client)
    finally:
        server.close()
    assert (final, outcome) == (template, phrasing.UNGROUNDED)
    assert request.rejection  # the reason is kept


def _generated_pool(count: int, seed: int):
    from zoneinfo import ZoneInfo

    from chat.puzzles import EntryFacts
    from lifelog.sample_data import generate_entries

    pool = []
    for index, entry in enumerate(generate_entries(count, seed), start=1):
        when = entry["when"] if len(entry["when"]) > 7 else entry["when"] + "-01"
        precision = "exact" if "T" in entry["when"] else "day" if len(entry["when"]) == 10 else "month"
        pool.append(EntryFacts(id=index, title=entry["title"], description=entry["description"],
                               place=entry["place"]["name"], people=tuple(entry["people"]), tags=tuple(entry["tags"]),
                               local_time=datetime.fromisoformat(when).replace(tzinfo=ZoneInfo("Europe/London")),
                               precision=precision))  # fmt: skip
    return pool


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_program_fixes_one_right_answer_from_the_evidence(seed):
    """The split design's half that is the program's: whatever the model writes, the answer, evidence and
    choices of every plan are right (the answer is in the evidence, no distractor is also right)."""
    import random

    from chat import authoring
    from chat.scoring import content_words, normalize

    pool = _generated_pool(120, seed)
    by_id = {facts.id: facts for facts in pool}
    plans = authoring.plans_for(pool, rng=random.Random(seed), limit=40)
    assert set(authoring.KINDS) - {"which_first"} <= {plan.kind for plan in plans}
    for plan in plans:
        evidence = [by_id[i] for i in plan.evidence_ids]
        text = normalize(" ".join(Source.from_facts(facts).grounded() for facts in evidence))
        assert set(content_words(plan.answer)) <= set(text.split()), plan
        if plan.options and plan.kind != "describe_without_naming":  # a description's choices: descriptions
            assert [normalize(o) for o in plan.options].count(normalize(plan.answer)) == 1
        if plan.kind == "shared_person":
            first, second = evidence
            assert set(first.people) & set(second.people) == {plan.answer}
            assert not {o for o in plan.options if o != plan.answer} & (set(first.people) | set(second.people))
        elif plan.kind == "which_first":  # the answer's words are the earlier event's facts, not all the later's
            first, second = sorted(evidence, key=lambda facts: facts.local_time)
            words = [set(normalize(Source.from_facts(facts).grounded()).split()) for facts in (first, second)]
            assert plan.answer == first.title or set(content_words(plan.answer)) <= words[0], plan
            assert not set(content_words(plan.answer)) <= words[1], plan
        elif plan.kind == "season_repeat":
            place, season = evidence[0].place, authoring._season(evidence[0])
            there = [f for f in pool if f.place == place and authoring._season(f) == season]
            titles = [normalize(f.title) for f in there]
            assert [t for t in set(titles) if titles.count(t) > 1] == [normalize(plan.answer)]
            assert not {normalize(o) for o in plan.options if o != plan.answer} & set(titles)
        elif plan.kind == "common_ground":  # said in both events, no wrong choice in either, nobody at both
            first, second = evidence

            def says(text: str, thing: str) -> bool:
                return re.search(rf"\b{re.escape(normalize(thing))}\b", normalize(text)) is not None

            assert all(says(facts.description, plan.answer) for facts in evidence)
            both = f"{first.description} {second.description}"
            assert not any(says(both, option) for option in plan.options if option != plan.answer)
            assert not set(first.people) & set(second.people)
        elif plan.kind == "guess_event":  # the day's title, no decoy of the same title
            assert plan.answer == evidence[0].title and plan.correct == [plan.answer]
            assert not {normalize(o) for o in plan.options if o != plan.answer} & {normalize(plan.answer)}
        elif plan.kind == "describe_without_naming":  # the thing of the line, and the words to avoid beside it
            assert normalize(evidence[0].description).split().count(plan.answer) == 1
            assert next(iter(plan.scoring["avoid"])) == plan.answer and list(plan.fields) == ["description"]
            assert plan.options.count("{description}") == 1 and len(plan.options) == 3
        else:
            assert normalize(evidence[0].description).split().count(plan.answer) == 1
            assert not any(plan.answer in cue for cue in plan.extra_cues) and "_____" in plan.extra_cues[0]
            assert plan.answer not in plan.question and list(plan.fields) == ["hint"]  # the model writes the hint


def test_a_word_the_entries_lack_must_be_english_british_spellings_included():
    vocabulary = {"visit", "to", "sarah", "mousetrap"}
    assert non_words("Sarah came tovisit toars.", vocabulary=vocabulary) == [
        "not a word 'toars'",
        "not a word 'tovisit'",
    ]
    assert non_words("Your favourite colour at the theatre centre, a cuppa and a fiver", vocabulary=vocabulary) == []
    assert non_words("The Mousetrap on the 14th", vocabulary=vocabulary) == []  # the entries' own words and numbers


EVENTS = ["Sunday service St Mary's church", "Library reading group the Central Library"]


@pytest.mark.parametrize(
    ("kind", "question", "expect"),
    [
        ("shared_person", "Who was with you both at the Sunday service and at the Library reading group?", None),
        ("shared_person", "Did anyone come with you to the Sunday service and the Library reading group?", "ask who"),
        ("shared_person", "Who came to the Sunday service, and who came to the Library reading group?", "who twice"),
        ("shared_person", "Who was with you at the Sunday service?", "name the event 'Library reading group"),
        (
            "shared_person",
            "Who was with Sarah both at the Sunday service and the Library reading group?",
            "'Sarah', who was not at both",
        ),  # seen: accepted by verifier-6; Sarah was at one event only
        ("which_first", "Which of these came first: Coffee with Frank or Coffee with Elsie?", None),
        ("which_first", "Think back. Which was earlier: Coffee with Frank or Coffee with Elsie?", None),
        ("which_first", "Which of these did you enjoy: Coffee with Frank or Coffee with Elsie?", "came first"),
        ("which_first", "Coffee with Frank came first, before Coffee with Elsie?", "ask which"),
        ("season_repeat", "In spring 2026 you went to the surgery more than once. What did you do there?", None),
        (
            "season_repeat",
            "In spring 2026 you went to the surgery. After the surgery, you were discharged?",
            "ask what was done",
        ),  # seen: accepted by verifier-5
        ("season_repeat", "In spring 2026, how often did you go to the surgery?", None),
        ("key_word", "A word from your diary for May 2026: Something you plant in autumn. Which word is it?", None),
        ("key_word", "Which word is missing from your diary line?", None),
        ("key_word", "In April 2025 you put some flowers into the ground. Which flowers were they?", None),
        ("key_word", "Which word does the dog tell you about?", "ask for the word"),  # seen: accepted by verifier-5
        ("key_word", "What did you plant in April 2025?", "ask for the word"),
        ("naive", "Tell me about it.", None),  # the naive design's kinds are not checked here
    ],
)
def test_the_question_asks_the_puzzle_s_question_for_its_kind(kind, question, expect):
    from chat.verifier import question_problems

    shared = kind == "shared_person"
    problems = question_problems(kind, question, titles=EVENTS if shared else [], people=["Sarah"] if shared else [])
    if expect is None:
        assert problems == []
    else:
        assert any(expect in problem for problem in problems), problems


def _key_word_plan():
    import random

    from chat import authoring

    pool = _generated_pool(120, 1)
    # the key-word plans alone: the other kinds' plans would move the draw (the hints below are about "compost")
    plans = authoring.plans_for(pool, rng=random.Random(1), limit=40, kinds=("key_word",))
    return next(plan for plan in plans if plan.answer == "compost"), pool


@pytest.mark.parametrize(
    ("hint", "expect"),
    [
        ("A mix of rotted plants and leaves that you dig into soil.", None),  # the plan's word: "compost"
        ("Something you can hold, found at the shop.", "shares no meaning with the dictionary senses"),
        ("{answer} is the word.", "gives the answer away"),
        ("Many {stem}s in a row.", "gives the answer away"),  # the answer's stem with another ending
        ("It means what the word means, in other words.", "copies the instructions"),
        ("Sarah came tovisit toars.", "not a word"),
        ("The {halves} is the road.", "gives the answer away in two words"),  # seed 47: "The tow path is ..."
        ("{line}", "copies the diary line"),
    ],
)
def test_a_key_word_hint_is_a_description_in_new_words(hint, expect):
    """The program fixes the key-word puzzle's question around the model's hint: the verifier rejects a hint
    that says the word (or its stem), copies the request or the diary line, or mangles words."""
    import json

    from chat import authoring
    from chat.verifier import check_authored, stem_of

    plan, pool = _key_word_plan()
    line = plan.extra_cues[0].split('"')[1].replace("_____", "thing")
    halves = f"{plan.answer[:3]} {plan.answer[3:]}"
    text = hint.format(answer=plan.answer.capitalize(), stem=stem_of(plan.answer), line=line, halves=halves)
    candidate = authoring.candidate(plan, json.dumps({"hint": text}))
    assert candidate.question.startswith("A word from your diary for ") and text in candidate.question
    assert candidate.cues == plan.extra_cues
    problems = check_authored(candidate, entries=authoring.sources(pool),
                              distractor_pool=authoring.distractor_pool(plan, pool),
                              instructions=plan.instructions, example_words=authoring.EXAMPLE_WORDS)  # fmt: skip
    if expect is None:
        assert problems == [], (plan.answer, problems)
    else:
        assert any(expect in problem for problem in problems), (plan.answer, problems)


COFFEE = "Which came first: Coffee at Ulysses or Coffee with Frank at the Central Library?"


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("Which coffee was made in ulysses first?", "name in lower case 'ulysses'"),  # the lead's run
        ("Was the coffee with frank at ulysses first?", "name in lower case 'ulysses'"),
        ("Which came first, the coffee at Ulysses or the one with Frank?", None),
        ("Which came first, the coffee at the library or the one with frank?", None),  # common words: out of reach
    ],
)
def test_a_rare_name_written_in_lower_case_is_garbled(text, expect):
    problems = ungrounded(text, grounded=COFFEE)
    assert problems == [] if expect is None else expect in problems[0], problems


@pytest.mark.parametrize("text", ["Your Life Log says: Concert with Helen.", "Your LIFE LOG says Helen came.",
                                  "Life-log: Helen came.", "ReMe asks: who came?"])  # fmt: skip
def test_the_product_s_own_words_are_no_names(text):
    assert ungrounded(text, grounded=GROUNDED) == []


PICNIC = Source(id=41, title="Picnic in the park", text="Picnic at University Parks with David and Tom.",
                place="University Parks", people=("David", "Tom", "Uncle Peter"),
                when=datetime(2026, 7, 9, 12))  # fmt: skip
CLUE = "A clue: someone was there whose name begins with “D”."


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("A clue: Tom was there, and someone whose name begins with “D”.", "names 'Tom'"),  # a wrong lead
        ("Think of Uncle Peter. A clue: someone there has a name that begins with “D”.", "names 'Uncle Peter'"),
        ("A clue: David was there.", "answer word 'david'"),  # the answer itself: a give-away, as before
        ("Here is a clue: somebody was there whose name starts with “D”.", None),
    ],
)
def test_a_rewording_names_no_person_the_template_does_not(text, expect):
    problems = check_rewording(text, template=CLUE, sources=[PICNIC], answer="David")
    assert problems == [] if expect is None else any(expect in p for p in problems), problems


def test_a_person_the_template_names_may_be_named():
    template = "Puzzle 1 of 5. You went to the Picnic in the park with Tom. Who else was there?"
    assert check_rewording("Puzzle 1 of 5. Tom came to the picnic in the park. Who else came?", template=template,
                           sources=[PICNIC], answer="David") == []  # fmt: skip


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("Puzzle 1 of 5. Press “Give me a clue” if you are stuck. Who else came?", "instruction about the screen"),
        ("Puzzle 1 of 5. Tap the button for a clue. Who else was there?", "instruction about the screen"),
        ("Puzzle 1 of 5. Who else came to the picnic with Tom?", None),
        ("Puzzle 1 of 5. No pressure: who else came to the picnic with Tom?", None),
        ("Puzzle 1 of 5. Take your time and press on: who else was there?", None),
    ],
)
def test_a_rewording_gives_no_instruction_about_the_screen(text, expect):
    template = "Puzzle 1 of 5. You went to the Picnic in the park with Tom. Who else was there?"
    problems = check_rewording(text, template=template, sources=[PICNIC])
    assert problems == [] if expect is None else any(expect in p for p in problems), problems


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_season_repeat_plans_do_not_repeat_a_place(seed):
    """A routine (the surgery every season) filled a run's season_repeat plans: one place per participant now,
    across the plans chosen together and against the participant's accepted ones (`used`)."""
    import random

    from chat import authoring

    pool = _generated_pool(300, seed)
    by_id = {facts.id: facts for facts in pool}
    every = [p for p in authoring._season_repeat(pool, random.Random(seed))]
    assert len(every) > len({by_id[p.evidence_ids[0]].place for p in every})  # the planner repeats places
    plans = [p for p in authoring.plans_for(pool, rng=random.Random(seed), limit=40) if p.kind == "season_repeat"]
    places = [by_id[p.evidence_ids[0]].place for p in plans]
    assert places and len(places) == len(set(places)), places
    again = authoring.plans_for(pool, rng=random.Random(seed + 10), limit=40, used=[p.key() for p in plans])
    assert not {by_id[p.evidence_ids[0]].place for p in again if p.kind == "season_repeat"} & set(places)
    assert {p.kind for p in again} >= {"shared_person", "key_word"}  # the other kinds are not held back


def test_a_title_s_first_word_is_no_name():
    """A title starts its line: a rare word opening it ("Allotment") is capitalized as a sentence's first word is,
    not as a name, and may be written in lower case."""
    source = Source(id=5, title="Allotment day", text="Dug the beans with Helen.", place="Cowley Road",
                    people=("Helen",), when=datetime(2025, 5, 3, 10))  # fmt: skip
    template = "Puzzle 1 of 5. What did you do on Saturday 3 May 2025?"
    assert check_rewording("Puzzle 1 of 5. What did you do at the allotment on Saturday 3 May 2025?",
                           template=template, sources=[source]) == []  # fmt: skip
    assert "name in lower case 'cowley'" in check_rewording(
        "Puzzle 1 of 5. What did you do on cowley road on Saturday 3 May 2025?", template=template, sources=[source]
    )
