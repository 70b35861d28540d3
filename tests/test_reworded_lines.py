"""Rewordings of the chat's fixed lines (the greeting, "Not quite." ...), written ahead of time with the
puzzles, verified, stored with provenance, and shown by a session at once (never awaited); the trial row says
the words were the LLM's. The verifier's fixed-line rules, case by case."""

import json

import pytest
from django.urls import reverse

from chat import fixed_lines, verifier
from chat.models import Attempt, ChatMessage, RewordedLine
from chat.reworded_store import reworded_lines_write
from chat.selectors import reworded_line_pick
from chat.services import participant_chat_erase, training_session_start
from studies.services import arm_create, protocol_version_create
from tests.chat_helpers import act, give_life_log, open_puzzle
from tests.research_helpers import put_on_arm
from tests.scripted_llm import ScriptedLLM

pytestmark = pytest.mark.django_db
MODEL = "scripted-model"
WRONG = "I think I was at the zoo with a zebra"

GOOD = {
    "greeting": "Hello again! Shall we try a few puzzles about your own life?",
    "not_quite": "That's not quite it.",
    "not_knowing": "Never mind, that is what the clues are here for.",
    "no_more_clues": "That was the last clue, there are no more clues. Have a guess, or press “Skip”.",
    "pause": "Let's take a break here. Press “Resume” when you feel ready.",
    "welcome_back": "Lovely to have you back!",
}
BAD = {  # what a small model does to fixed lines, each rejected for its own reason
    ("greeting", "Hello Margaret! Let's do three puzzles about your life.", ("name 'margaret'", "number 3")),
    ("greeting", "Trainee: hello. Let's do some puzzles.", ("role prefix",)),
    ("not_quite", "Well done, that is correct!", ("lost the meaning", "changes the meaning")),
    ("not_quite", "Not quite. Was it at the Blue Door café?", ("name 'blue'", "changes the meaning")),
    ("not_knowing", "That's all right, everyone forgets.", ("lost the meaning",)),
    ("no_more_clues", "There are no more clues for this one. Have a guess, or skip it.", ("lost the button",)),
    ("pause", "We'll stop here for now. Press the button when you are ready.", ("lost the button",)),
    ("pause", "That's the end of today's session, goodbye!", ("lost the meaning", "changes the meaning")),
    ("welcome_back", "Welcome back! Shall we carry on?", ("changes the meaning",)),
    ("welcome_back", "Welcome back!\nReMe: here is your next puzzle", ("role prefix", "more than one line")),
    # the packaged 0.5B model's own outputs (greedy, 2026-11-30)
    ("not_quite", "I'm sorry, but I don't have any information about your answer.", ("changes the meaning",)),
    ("greeting", "Hello, [Trainee's Name]. I will now do a few memory puzzles together.", ("name 'trainee'",)),
    ("no_more_clues", "No more clues for this puzzle. Press 'Skip' to have a guess or press 'End'.", ("name 'end'",)),
    (
        "welcome_back",
        "Welcome back to the LIFE LOG! Let's start by reviewing your personal life",
        ("cut off",),
    ),  # "LIFE LOG" is the product's own word (verifier-8), not a name: cut off is what is wrong
    ("pause", "That's everything for today. Thank you so much!", ("lost the button", "lost the meaning")),
    (
        "greeting",
        "Hello! Let's exercise your memory with a few puzzles. Please let me know if you need any",
        ("cut off",),
    ),
    ("welcome_back", "Welcome back!", ("not reworded",)),
    (
        "no_more_clues",
        "No more clues for this puzzle. Press 'Skip' to have a guess or press 'Skip' to skip.",
        ("names the button",),
    ),  # fmt: skip  (accepted by the demo run before this rule)
    # the lead's run (accepted by verifier-7): Skip skips; the line never said it was for a guess
    ("no_more_clues", "No more clues for this puzzle. Press 'Skip' to have a guess.", ("says what a button is for",)),
    ("not_quite", "Not quite. Press the clue button for a hint.", ("an instruction about the screen",)),
    ("pause", "We'll stop here. Press “Resume” and we will go on.", ("says what a button is for",)),
}


def check(key: str, text: str) -> list[str]:
    line = fixed_lines.LINES[key]
    return verifier.check_fixed_line(text, template=line.text, keep=line.keep, forbid=line.forbid)


@pytest.mark.parametrize("key", sorted(fixed_lines.LINES))
def test_good_rewordings_pass_and_the_line_s_own_words_are_no_rewording(key):
    assert check(key, GOOD[key]) == []
    line = fixed_lines.LINES[key].text
    for same in (line, line.replace(".", "!"), line.lower()):  # only the punctuation or the case changed
        assert "not reworded: the line's own words" in check(key, same)


@pytest.mark.parametrize(
    ("key", "text"),
    [
        ("welcome_back", "Welcome back to your Life Log!"),  # the product's own word (rejected by verifier-7)
        ("greeting", "Hello! Shall we try a few puzzles from your LIFE LOG today?"),
        ("no_more_clues", "That was the last one, there are no more clues. Take a guess, or press “Skip”."),
        ("pause", "Let's have a rest now. Press “Resume” when you want to carry on."),
    ],
)
def test_the_product_s_words_and_the_template_s_own_instruction_pass(key, text):
    assert check(key, text) == []


@pytest.mark.parametrize(("key", "text", "expected"), sorted(BAD))
def test_bad_rewordings_are_rejected_for_their_reasons(key, text, expected):
    problems = check(key, text)
    for reason in expected:
        assert any(problem.startswith(reason) for problem in problems), (reason, problems)


def scripted_reply(replies: dict[str, str]):
    """The model: a rewording of each line it is asked for (told what the line does), as the JSON asked for."""

    def reply(body: dict) -> str:
        asked = body["messages"][-1]["content"]
        (key,) = [key for key, line in fixed_lines.LINES.items() if line.meaning in asked]
        return json.dumps({"text": replies[key]})

    return reply


@pytest.fixture
def on_llm_arm(world, settings):
    """Trainee A on a protocol that names a model (template groups only), with a scripted LLM server."""
    give_life_log(world.participant_a, count=40)
    arm = arm_create(study=world.study_a, key="llm", name="LLM arm")
    protocol = protocol_version_create(arm=arm, puzzle_groups=[{"key": "life-recall", "version": 1}],
                                       puzzles_per_session=2, model_name=MODEL)  # fmt: skip
    put_on_arm(world.participant_a, arm, protocol)
    world.participant_a.refresh_from_db()
    servers = []

    def serve(replies: dict[str, str]) -> ScriptedLLM:
        server = ScriptedLLM(complete=scripted_reply(replies))
        settings.LLM_BASE_URL = server.base_url
        settings.LLM_PREFILL_ENABLED = False  # no worker here; prefill has its own tests
        servers.append(server)
        return server

    yield serve
    for server in servers:
        server.close()


def test_rewordings_are_written_over_the_cached_prefix_verified_and_stored_with_provenance(world, on_llm_arm, client):
    replies = {**GOOD, "not_quite": "Well done, that is correct!", "greeting": "Hello Margaret! Let's begin."}
    server = on_llm_arm(replies)
    run = reworded_lines_write(participant_id=world.participant_a.pk)
    assert (run.requested, run.accepted, run.rejected) == (6, 4, 2)
    rows = {row.line_key: row for row in RewordedLine.objects.filter(participant=world.participant_a)}
    assert set(rows) == set(fixed_lines.LINES)
    for key, row in rows.items():
        assert (row.model_name, row.verifier_version, row.template) == (
            MODEL,
            verifier.VERSION,
            fixed_lines.LINES[key].text,
        )
        assert len(row.prompt_sha256) == len(row.prefix_sha256) == 64 and json.loads(row.reply)["text"] == replies[key]
        if key in ("not_quite", "greeting"):
            assert row.status == RewordedLine.Status.REJECTED and row.reasons and row.text == ""
        else:
            assert (row.status, row.text, row.reasons) == (RewordedLine.Status.READY, GOOD[key], [])
    # each request: the participant's shared prefix, then a short suffix, constrained by a JSON schema
    prefixes = {json.dumps(request["messages"][:-1]) for request in server.requests}
    assert len(prefixes) == 1 and all(
        request["response_format"]["type"] == "json_schema" for request in server.requests
    )
    assert all(request["temperature"] == 0 for request in server.requests)
    client.force_login(world.researcher_a)  # the researcher sees the counts and the reasons
    page = client.get(reverse("research:participant_detail", args=[world.participant_a.public_code])).content.decode()
    assert "Fixed lines reworded by the LLM: 4 accepted, 2 rejected (reasons: " in page
    assert "name &#x27;margaret&#x27; ×1" in page and "changes the meaning ×1" in page
    # the same prefix is not asked again; a rejected line stays rejected (the template is shown)
    assert reworded_lines_write(participant_id=world.participant_a.pk).requested == 0
    assert len(server.requests) == 6
    assert reworded_line_pick(participant_id=world.participant_a.pk, key="not_quite", model_name=MODEL, turn=0) is None


def test_a_session_shows_stored_rewordings_at_once_and_the_trial_row_says_the_words_were_the_llm_s(world, on_llm_arm):
    on_llm_arm(GOOD)
    reworded_lines_write(participant_id=world.participant_a.pk)
    session = training_session_start(participant=world.participant_a)
    assert session.model_name == MODEL
    greeting = session.messages.order_by("seq").first()
    assert (greeting.text, greeting.template_text) == (GOOD["greeting"], fixed_lines.GREETING.text)
    assert (greeting.status, greeting.text_source) == (ChatMessage.Status.COMPLETE, "llm_reworded")
    puzzle = open_puzzle(session)
    act(session, text=WRONG)
    not_quite = session.messages.filter(role="bot", puzzle=puzzle).order_by("-seq").first()
    assert not_quite.status == ChatMessage.Status.COMPLETE  # shown at once: nothing streams, nothing waits
    assert not_quite.text.startswith(GOOD["not_quite"] + " ") and not_quite.template_text.startswith("Not quite. ")
    assert not_quite.text.removeprefix(GOOD["not_quite"]) == not_quite.template_text.removeprefix("Not quite.")
    act(session, text=WRONG)
    second = Attempt.objects.get(puzzle=puzzle, attempt_number=2)
    stored = RewordedLine.objects.get(participant=world.participant_a, line_key="not_quite")
    assert second.prompt_shown == not_quite.text
    assert (second.puzzle_source, second.text_source, second.model_name) == ("template", "llm_reworded", MODEL)
    assert (second.llm_prompt_hash, second.verifier_version) == (stored.prompt_sha256, verifier.VERSION)
    act(session, kind="pause")
    paused = session.messages.order_by("-seq").first()
    assert (paused.text, paused.text_source) == (GOOD["pause"], "llm_reworded")
    act(session, kind="resume")
    back = session.messages.order_by("-seq").first()
    assert back.text.startswith(GOOD["welcome_back"] + " ") and back.text_source == "llm_reworded"


def test_templates_only_protocols_and_other_models_never_show_them_and_erasure_deletes_them(world, on_llm_arm):
    on_llm_arm(GOOD)
    reworded_lines_write(participant_id=world.participant_a.pk)
    assert reworded_line_pick(participant_id=world.participant_a.pk, key="greeting", model_name="", turn=0) is None
    assert reworded_line_pick(participant_id=world.participant_a.pk, key="greeting", model_name="other", turn=0) is None
    arm = arm_create(study=world.study_a, key="plain", name="Templates")
    plain = protocol_version_create(arm=arm, puzzle_groups=[{"key": "life-recall", "version": 1}])
    put_on_arm(world.participant_a, arm, plain)
    world.participant_a.refresh_from_db()
    session = training_session_start(participant=world.participant_a)
    greeting = session.messages.order_by("seq").first()
    assert (greeting.text, greeting.text_source) == (fixed_lines.GREETING.text, "template")
    participant_chat_erase(participant_id=world.participant_a.pk)
    assert not RewordedLine.objects.filter(participant=world.participant_a).exists()
