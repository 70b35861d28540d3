"""The patterns that hold what the model writes to the cited entries' words (chat.authoring_grammar). The
patterns use only syntax that Python's `re` reads the same way as llama.cpp's converter, so `re` checks what
the grammar lets through; with llama-cpp-python installed, every plan's schema also compiles to a grammar."""

import json
import random
import re
from datetime import datetime

import pytest

from chat import authoring, verifier
from chat.authoring_grammar import not_words, text_pattern
from chat.verifier import Source
from tests.test_verifier import _generated_pool

COFFEE = Source(id=1, title="Coffee with Rita", text="Met Rita and Joan at the Blue Door café. The bill came to £9.40.",
                place="the Blue Door café", people=("Rita", "Joan"), when=datetime(2024, 5, 3, 10))  # fmt: skip
SERVICE = Source(id=2, title="Sunday service", text="Went to St Mary's church; afterwards tea with Joan.",
                 place="St Mary's church", people=("Joan",), when=datetime(2024, 7, 7), precision="month")  # fmt: skip


def _matches(pattern: str, text: str) -> bool:
    return re.fullmatch(pattern.strip("^$"), text) is not None


def test_a_word_pattern_refuses_exactly_the_forbidden_words():
    pattern = not_words(["may", "two", "second"])
    for word in ["may", "two", "second"]:
        assert not _matches(pattern, word)
    for word in ["ma", "mayor", "tw", "twos", "seconds", "secon", "garden", "a", "é"]:
        assert _matches(pattern, word), word


def test_a_word_pattern_refuses_every_word_of_a_hidden_stem():
    pattern = not_words(["two"], stems=["grands", "discus"])
    for word in ["grandson", "grandsond", "grands", "discuss", "discussed", "two"]:
        assert not _matches(pattern, word), word
    for word in ["grand", "grandma", "disco", "discs", "tw"]:
        assert _matches(pattern, word), word


def test_the_question_can_say_the_entries_facts_and_nothing_else():
    pattern = text_pattern([COFFEE, SERVICE], hide=["Joan"], end=r"\?")
    good = [
        "Who was with you both at Coffee with Rita in May 2024 and at the Sunday service in July 2024?",
        "Who had tea with you after church, and coffee at the Blue Door café?",
        "Your bill came to £9.40. Who else was there?",
    ]
    for text in good:
        assert _matches(pattern, text), text
        problems = verifier.ungrounded(text, grounded=verifier.grounded_text([COFFEE, SERVICE]), answer="Joan")
        assert problems == [], (text, problems)
    bad = [
        "Who was with you at both, Joan?",  # the answer
        "Who was with Tom at the Sunday service?",  # a name of no cited entry
        "Who came with you twice in July 2024?",  # a number the entries do not state
        "Who came to coffee in March?",  # a month of no cited entry
        "Who came on Sunday 7 July?",  # 7 is not in the entries (the service is known only by its month)
        "Trainee: who came?",  # a role prefix
        "Who came with you to the service.",  # a question ends with a question mark
        "Was it Joan's friend?",  # the answer, with an ending
        "Was it Joanie?",  # a word of the answer's stem
    ]
    for text in bad:
        assert not _matches(pattern, text), text


def test_a_which_came_first_question_names_both_events_and_no_date():
    pattern = text_pattern([COFFEE, SERVICE], suffix=": Coffee with Rita or Sunday service", end=r"\?",
                           words=(1, 10), numbers=False, dates=False)  # fmt: skip
    assert _matches(pattern, "Which came first: Coffee with Rita or Sunday service?")
    assert _matches(pattern, "Think back, which of these came first: Coffee with Rita or Sunday service?")
    assert not _matches(pattern, "Which came first in 2024: Coffee with Rita or Sunday service?")
    assert not _matches(pattern, "Which came first, in May: Coffee with Rita or Sunday service?")
    assert not _matches(pattern, "Which came first?")


@pytest.mark.parametrize("seed", [1, 2])
def test_every_plan_has_a_schema_whose_strings_the_grammar_holds(seed):
    pool = _generated_pool(200, seed)
    plans = authoring.plans_for(pool, rng=random.Random(seed), limit=16)
    assert {plan.kind for plan in plans} >= {"shared_person", "season_repeat", "key_word"}
    for plan in plans:
        schema = authoring.schema(plan)
        # a key word's and a description's question is the program's, around what the model writes
        first = {"key_word": "hint", "guess_event": "description", "describe_without_naming": "description"}.get(
            plan.kind, "question"
        )
        assert next(iter(schema["properties"])) == first and schema["required"] == list(schema["properties"])
        for key, field in schema["properties"].items():
            re.compile(field["pattern"])
            if plan.kind != "which_first" or key != "question":
                assert not _matches(field["pattern"], f"Was it {plan.answer}?"), (plan.kind, key)
        assert plan.task == f"JSON keys: {', '.join(schema['properties'])}."


def test_the_schemas_compile_to_llama_cpp_grammars_in_their_own_field_order():
    grammar = pytest.importorskip("llama_cpp.llama_grammar", reason="needs llama-cpp-python (make install)")
    pool = _generated_pool(200, 1)
    plans = authoring.plans_for(pool, rng=random.Random(1), limit=8)
    assert {"question", "hint"} <= {key for plan in plans for key in plan.fields}  # both shapes compile
    for plan in plans:
        gbnf = grammar.json_schema_to_gbnf(json.dumps(authoring.schema(plan)))
        root = next(line for line in gbnf.splitlines() if line.startswith("root ::="))
        keys = list(authoring.schema(plan)["properties"])
        assert [root.index(key) for key in keys] == sorted(root.index(key) for key in keys), root
        # llama.cpp's grammar parser knows only these escapes (a `\\.` made the server abort)
        assert not re.search(r'\\[^"\\nrtxu\[\]-]', gbnf), re.search(r'.{20}\\[^"\\nrtxu\[\]-].{20}', gbnf)


def test_no_word_runs_on_past_fifteen_letters():
    """Seen: a lowercase "word" run on to the token limit ("youmadeintheplayhouseatcastlestreet...")."""
    pattern = text_pattern([COFFEE], hide=["Rita"], end=r"\.")
    assert _matches(pattern, "You had a straightforward chat at the Blue Door café.")  # 15 letters
    assert not _matches(pattern, "You had youmadeintheplayhouse at the Blue Door café.")
    assert not _matches(not_words(["abcdefghijklmno"]), "abcdefghijklmno")  # a forbidden word at the limit
    assert _matches(not_words(["abcdefghijklmno"]), "abcdefghijklmnp")


def test_a_key_word_hint_says_neither_the_word_nor_its_stem_and_starts_like_a_definition():
    pool = _generated_pool(200, 1)
    plan = next(p for p in authoring.plans_for(pool, rng=random.Random(1), limit=40) if p.kind == "key_word")
    pattern = authoring.schema(plan)["properties"]["hint"]["pattern"]
    word = plan.answer
    assert _matches(pattern, "Something you can hold in your hand, found at home.")
    assert _matches(pattern, "A thing you might buy at a shop.")
    for text in [f"A {word} you buy.", f"A {word[: max(4, len(word) - 3)]}ish thing.", "A thing, in May 2026.",
                 "Something sweet to spread on toast.", "Something sweet you spreadon toastmate.",
                 "A thing. Another thing."]:  # fmt: skip
        assert not _matches(pattern, text), text
