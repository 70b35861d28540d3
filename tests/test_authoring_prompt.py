"""What an authoring request sends (chat.authoring.suffix): the shared, cached prefix holds only what every
request shares, and each request carries its own kind's worked examples right before it (measured: with the
examples above a 30,000-token life log the 0.5B copied them and lost the request; bench/results/authoring-cpu.md).
"""

import json
import random
import re

from chat import authoring, verifier
from chat.authored_store import author_one
from chat.context import SYSTEM_PROMPT
from inference.prompt import prefix_messages
from tests.test_verifier import _generated_pool


def _one_plan_per_kind():
    pool = _generated_pool(200, 1)
    plans = {}
    first = ("shared_person", "which_first", "season_repeat", "key_word")  # drawn together, as they always were
    for plan in authoring.plans_for(pool, rng=random.Random(1), limit=40, kinds=first):
        plans.setdefault(plan.kind, plan)
    for kind in set(authoring.KINDS) - set(first):  # each later kind alone: it moves no other kind's draw
        plans[kind] = authoring.plans_for(pool, rng=random.Random(1), limit=1, kinds=[kind])[0]
    assert set(plans) == set(authoring.KINDS)
    return plans, pool


def test_each_request_carries_its_own_kinds_examples_right_before_it_in_the_same_form():
    plans, _ = _one_plan_per_kind()
    for kind, plan in plans.items():
        *examples, request = authoring.suffix(plan)
        assert request["role"] == "user" and request["content"].startswith(f"{authoring.REQUEST_MARK} ({kind})\n")
        assert plan.facts in request["content"] and authoring.ASKS[kind] in request["content"]
        assert request["content"].endswith(f"\nJSON keys: {', '.join(plan.fields)}.")
        assert [turn["role"] for turn in examples] == ["user", "assistant"] * len(authoring.EXAMPLES[kind])
        for example, asked, answered in zip(authoring.EXAMPLES[kind], examples[::2], examples[1::2], strict=True):
            # the example's request reads as the real one does, with the example's facts and keys
            form = (
                request["content"]
                .replace(plan.facts, example.facts)
                .replace(f"JSON keys: {', '.join(plan.fields)}.", f"JSON keys: {', '.join(example.reply)}.")
            )
            assert asked["content"] == form
            assert json.loads(answered["content"]) == example.reply
        written = json.dumps(examples)
        for other in (e for k, shown in authoring.EXAMPLES.items() if k != kind for e in shown):
            assert not any(text in written for text in other.reply.values()), (kind, other)


def test_the_shared_prefix_is_one_for_every_kind_and_holds_no_example():
    plans, _ = _one_plan_per_kind()
    prefix = prefix_messages(SYSTEM_PROMPT, "[1] 2026-05-01 | Coffee with Rita | the café | Rita | We chatted.")
    firsts = {json.dumps([*prefix, *authoring.suffix(plan)][0]) for plan in plans.values()}
    assert len(firsts) == 1  # byte-identical: one cached prefix serves every kind
    assert authoring.REQUEST_MARK in SYSTEM_PROMPT  # the rules every request shares stay in it
    for kind, examples in authoring.EXAMPLES.items():
        assert authoring.ASKS[kind] not in SYSTEM_PROMPT
        for example in examples:
            assert example.facts.splitlines()[0] not in SYSTEM_PROMPT
            assert not any(text in SYSTEM_PROMPT for text in example.reply.values()), (kind, example.reply)


class _Replies:
    """Stands in for the server: authoring's prompt hash is all this test reads."""

    def __init__(self):
        self.sent: list[list[dict]] = []

    def complete(self, messages, **kwargs) -> str:
        self.sent.append(messages)
        return "{}"


def test_the_stored_prompt_hash_covers_the_kinds_examples(monkeypatch):
    plans, pool = _one_plan_per_kind()
    plan, client = plans["shared_person"], _Replies()
    prefix = prefix_messages(SYSTEM_PROMPT, "")
    *_, before = author_one(plan, prefix=prefix, pool=pool, client=client, base_url="http://unused", model="m")
    assert client.sent[0][1:] == authoring.suffix(plan)  # what was sent: the prefix, the examples, the request
    changed = authoring.Example(authoring.EXAMPLES["shared_person"][0].facts, {"question": "Who?", "cue1": "Cue."})
    monkeypatch.setitem(authoring.EXAMPLES, "shared_person", (changed,))
    *_, after = author_one(plan, prefix=prefix, pool=pool, client=client, base_url="http://unused", model="m")
    assert before != after


def _in_the_examples_form(plan, pool) -> dict[str, str]:
    """What a good reply to `plan` looks like, written as the kind's first example is."""
    by_id = {facts.id: facts for facts in pool}
    evidence = [by_id[i] for i in plan.evidence_ids]
    cues = [fact.replace('"', "").replace("-", " ") + "." for fact in plan.cue_facts]  # the grammar: " - " only
    cue = cues[0] if cues else ""
    if plan.kind == "shared_person":
        first, second = evidence
        return {"question": f"Who was with you both at the {first.title} in {first.local_time:%B %Y} and at the "
                            f"{second.title} in {second.local_time:%B %Y}?", "cue1": cue}  # fmt: skip
    if plan.kind == "which_first":
        return {"question": f"Which of these came first{plan.ending}?", "cue1": cue,
                "cue2": cues[1]}  # fmt: skip
    if plan.kind == "season_repeat":
        season, place = re.match(r"Season: (.+?)\. Place: (.+?)\. ", plan.facts).groups()
        return {"question": f"In {season} you went to {place} more than once. What did you do there?", "cue1": cue}
    if plan.kind == "common_ground":
        first, second = evidence
        fact = cue.split(": ", 1)[1]  # 'at "Baking day": Baked something ...', said to "you"
        return {"question": f"What did the {first.title} in {first.local_time:%B %Y} and the {second.title} in "
                            f"{second.local_time:%B %Y} have in common?",
                "cue1": "You " + re.sub(r"\bmy\b", "your", fact[0].lower() + fact[1:])}  # fmt: skip
    if plan.kind == "guess_event":  # two of the day's own facts, which no entry of a decoy title has
        first, second = (fact.strip("'") for fact in plan.facts.split("Its own facts: ")[1].rstrip(".").split("; ")[:2])
        return {"description": f"You will remember {first}, and {second} as well."}
    # the dictionary check holds a key word's hint and a thing's description to the word's senses
    return {next(iter(plan.fields)): RIGHT_DEFINITIONS[plan.answer]}


RIGHT_DEFINITIONS = {
    "return": "A ticket that takes you there and back again.",
    "carrot": "A long root vegetable you can eat.",
    "leaking": "It lets water out through a small hole or crack.",  # a deed in the diary
    "cake": "A sweet food you bake from flour, eggs and sugar.",  # describe_without_naming, drawn on its own
}


def test_a_puzzle_in_its_examples_form_passes_the_grammar_and_is_not_taken_for_copied_instructions():
    """The task lines added to each request are instructions the verifier rejects when copied (four words in a
    row): a good puzzle written as the examples are must still pass, and the grammar must let it be written."""
    plans, pool = _one_plan_per_kind()
    for kind, plan in plans.items():
        reply = _in_the_examples_form(plan, pool)
        for key, text in reply.items():
            assert re.fullmatch(plan.fields[key]["pattern"].strip("^$"), text), (kind, key, text)
        problems = verifier.check_authored(
            authoring.candidate(plan, json.dumps(reply)), entries=authoring.sources(pool),
            distractor_pool=authoring.distractor_pool(plan, pool), instructions=plan.instructions,
            example_words=authoring.EXAMPLE_WORDS,
        )  # fmt: skip
        assert problems == [], (kind, reply, problems)
        copied = f"{next(iter(reply.values()))[:-1]}, {authoring.ASKS[kind]}"
        bad = verifier.check_authored(
            authoring.candidate(plan, json.dumps({**reply, next(iter(reply)): copied})),
            entries=authoring.sources(pool), distractor_pool=authoring.distractor_pool(plan, pool),
            instructions=plan.instructions, example_words=authoring.EXAMPLE_WORDS,
        )  # fmt: skip
        assert any("copies the instructions" in problem for problem in bad), (kind, bad)


def test_a_question_cannot_say_its_cues_facts_so_the_cue_always_adds_something():
    """Seen at 30K tokens: "In summer 2026, what did you do to check up at the Banbury Road surgery about your
    hearing?" beside the cue "Check up at the Banbury Road surgery about my hearing." (rejected: cue 1 adds
    nothing); "Who was with Sarah both at …" (Sarah at one event only). The grammar no longer lets them be written."""
    plans, pool = _one_plan_per_kind()
    by_id = {facts.id: facts for facts in pool}
    for kind in ("shared_person", "season_repeat"):
        plan = plans[kind]
        good = _in_the_examples_form(plan, pool)["question"]
        pattern = plan.fields["question"]["pattern"].strip("^$")
        assert re.fullmatch(pattern, good)
        clue = plan.cue_facts[0].replace('"', "").replace("-", " ").rstrip(".")
        restated = f"{good[:-1]}, {clue[0].lower()}{clue[1:]}?"
        assert not re.fullmatch(pattern, restated), restated
        if kind == "shared_person":
            evidence = [by_id[i] for i in plan.evidence_ids]
            others = sorted({p for facts in evidence for p in facts.people} - {plan.answer})
            for person in others:
                if person.split()[0] not in good:
                    assert not re.fullmatch(pattern, good.replace("Who was with you", f"Who was with {person}"))


def test_a_shared_person_question_must_name_both_events():
    """Seen at 30K tokens, 3 of 4 rejected: "Who came to the Sunday service at St Mary's church?" (one event)."""
    plans, pool = _one_plan_per_kind()
    plan = plans["shared_person"]
    first, second = ({facts.id: facts for facts in pool}[i] for i in plan.evidence_ids)
    pattern = plan.fields["question"]["pattern"].strip("^$")
    assert re.fullmatch(pattern, _in_the_examples_form(plan, pool)["question"])
    for event in (first, second):
        assert not re.fullmatch(pattern, f"Who came with you to the {event.title} in {event.local_time:%B %Y}?")


def test_a_season_repeat_question_must_say_its_season_and_its_place():
    """Seen on a 3K-token run: "What did you do at the Banbury Road surgery about your health?" (no season: other
    seasons' visits would answer it too)."""
    plans, pool = _one_plan_per_kind()
    plan = plans["season_repeat"]
    season, place = re.match(r"Season: (.+?)\. Place: (.+?)\. ", plan.facts).groups()
    pattern = plan.fields["question"]["pattern"].strip("^$")
    assert re.fullmatch(pattern, _in_the_examples_form(plan, pool)["question"])
    assert not re.fullmatch(pattern, f"What did you do at {place} more than once?")
    assert not re.fullmatch(pattern, f"In {season}, what did you do more than once?")
