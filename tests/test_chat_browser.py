"""End to end in headless Chromium (Debian's build, driven by Playwright) against a real Daphne server."""

import os
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from chat.models import Attempt, ChatMessage, Puzzle, TrainingSession
from tests.chat_helpers import give_life_log, right_answer
from tests.conftest import PASSWORD, ROOT, DaphneServer, wait_until
from tests.scripted_llm import ScriptedLLM, faithful

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("REME_TEST_ARTIFACTS", ROOT / "test-artifacts"))
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(300),
    pytest.mark.skipif(
        not Path(CHROMIUM).exists() and not os.environ.get("CI"), reason="needs Debian's chromium (make browser)"
    ),
]
WRONG = "I think I was at the zoo with a zebra"
expect.set_options(timeout=20_000)  # a busy CI machine may take seconds to notice a dead server


@pytest.fixture
def server(world, tmp_path, settings):
    give_life_log(world.participant_a)
    daphne = DaphneServer(tmp_path / "daphne.log", extra_env={"CHAT_PUZZLES_PER_SESSION": "2"})
    yield daphne
    daphne.stop()


@pytest.fixture
def page(server, monkeypatch):
    # Playwright's sync API keeps an event loop on this thread; the test's own ORM reads are still sync.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "1")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"],
        )  # fmt: skip
        context = browser.new_context(viewport={"width": 900, "height": 900})
        # Every page of every browser test runs under the Content-Security-Policy: a blocked script, style or
        # connection fails the test (the event reaches the console; Chromium also logs its own refusal there).
        context.add_init_script(CSP_LISTENER)
        page = context.new_page()
        violations: list[str] = []
        page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
        page.set_default_timeout(20_000)
        yield page
        browser.close()
    assert violations == []


CSP_LISTENER = """document.addEventListener("securitypolicyviolation", (e) => console.error(
  `Content Security Policy violation: ${e.violatedDirective} blocked ${e.blockedURI}`
  + ` at ${e.sourceFile}:${e.lineNumber}`));"""


def log_in(page, server, username: str) -> None:
    page.goto(server.url + "/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def bot_bubbles(page):
    return page.locator("#log li.bot .text")


def answer(page, text: str, connected: bool = True) -> None:
    if connected:  # the page's script is up (typing before it loads would only add a newline)
        expect(page.locator("#chat[data-connected=true]")).to_have_count(1)
    page.get_by_label("Your answer").fill(text)
    page.keyboard.press("Enter")  # keyboard only: Enter sends


def current_puzzle(world) -> Puzzle:
    return Puzzle.objects.get(session__participant=world.participant_a, outcome="open")


def test_a_trainee_completes_a_session_with_a_miss_a_clue_a_reload_and_a_right_answer(world, server, page):
    log_in(page, server, "trainee-a")
    page.get_by_role("button", name="Start today's session").click()
    expect(page.locator("#progress")).to_have_text("Puzzle 1 of 2")
    expect(bot_bubbles(page).last).to_contain_text("Puzzle 1 of 2.")

    answer(page, WRONG)
    expect(bot_bubbles(page).last).to_contain_text("Not quite.")
    page.get_by_role("button", name="Give me a clue").click()
    expect(page.locator("#log li.trainee").last).to_have_text(re.compile("asked for a clue"))
    bubbles_before = page.locator("#log li").count()

    page.reload()
    expect(page.locator("#log li")).to_have_count(bubbles_before)
    seqs = page.locator("#log li").evaluate_all("items => items.map(li => li.dataset.seq)")
    assert len(set(seqs)) == len(seqs) == bubbles_before

    # the clue is stored before the right answer is worked out (on a loaded machine the reload can come first)
    first = wait_until(lambda: (p := current_puzzle(world)).hints_used == 1 and p, timeout=20, message="the clue")
    answer(page, right_answer(first))
    expect(page.locator("#progress")).to_have_text("Puzzle 2 of 2")
    expect(bot_bubbles(page).last).to_contain_text("Puzzle 2 of 2.")
    answer(page, "<b>not bold</b>")  # shown as typed, never as markup
    expect(page.locator("#log li.trainee .text").last).to_have_text("<b>not bold</b>")
    second = current_puzzle(world)
    page.get_by_role("button", name="Give me a clue").click()
    wait_until(lambda: Puzzle.objects.get(pk=second.pk).hints_used == 1, timeout=20, message="the clue")
    answer(page, right_answer(Puzzle.objects.get(pk=second.pk)))
    expect(bot_bubbles(page).last).to_contain_text("That's the end of today's session")
    expect(page.get_by_role("link", name="Back to the training page")).to_be_visible()
    expect(page.locator("#announcer")).to_contain_text("ReMe says: That's the end")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "chat-session.png"), full_page=True)

    session = TrainingSession.objects.get(participant=world.participant_a)
    assert session.status == "ended"
    rows = list(Attempt.objects.filter(puzzle__session=session).order_by("puzzle__index", "attempt_number"))
    assert [(a.puzzle.index, a.attempt_number, a.correct) for a in rows][:2] == [(1, 1, False), (1, 2, True)]
    assert rows[0].response_text == WRONG and rows[0].cue_level == 0
    assert rows[1].cue_level == 2 and rows[1].hints_used == 1  # the miss gave cue 1, the clue button cue 2
    assert rows[-1].correct and rows[-1].puzzle.index == 2
    trainee_messages = ChatMessage.objects.filter(session=session, role="trainee")
    assert trainee_messages.count() == len(set(trainee_messages.values_list("client_id", flat=True)))
    assert Attempt.objects.filter(puzzle__session=session).count() == trainee_messages.filter(kind="text").count()


def test_an_answer_typed_while_the_server_is_down_is_stored_once_when_it_returns(world, server, page):
    log_in(page, server, "trainee-a")
    page.get_by_role("button", name="Start today's session").click()
    expect(page.locator("#chat[data-connected=true]")).to_have_count(1)  # the page's script is up
    server.crash()
    expect(page.locator("#connection")).to_contain_text("Reconnecting")
    answer(page, WRONG, connected=False)
    expect(page.locator("#log li.trainee.pending")).to_have_count(1)
    server.start()
    expect(bot_bubbles(page).last).to_contain_text("Not quite.", timeout=30_000)
    expect(page.locator("#log li.trainee.pending")).to_have_count(0)
    expect(page.locator("#connection")).to_be_hidden()
    page.reload()  # nothing is left to resend, nothing is doubled
    expect(page.locator("#log li.trainee")).to_have_count(1)
    assert Attempt.objects.filter(puzzle__session__participant=world.participant_a).count() == 1


def test_text_size_and_contrast_persist(world, server, page):
    log_in(page, server, "trainee-a")
    page.get_by_role("button", name="Larger text").click()
    page.get_by_role("button", name="High contrast").click()
    expect(page.locator("html")).to_have_class("contrast")
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-scale", "125")
    assert page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--scale').trim()") == "125"
    expect(page.locator("html")).to_have_class("contrast")
    world.trainee_a.refresh_from_db()
    assert (world.trainee_a.font_scale, world.trainee_a.high_contrast) == (125, True)


def test_keyboard_only_and_touch_targets(world, server, page):
    log_in(page, server, "trainee-a")
    page.get_by_role("button", name="Start today's session").focus()
    page.keyboard.press("Enter")
    expect(bot_bubbles(page).last).to_contain_text("Puzzle 1 of 2.")
    page.wait_for_load_state("load")  # measure with the stylesheet applied
    sizes = page.locator(".actions button:visible, #send").evaluate_all(
        "els => els.map(e => [e.getBoundingClientRect().width, e.getBoundingClientRect().height])"
    )
    assert sizes and all(width >= 44 and height >= 44 for width, height in sizes)
    page.set_viewport_size({"width": 390, "height": 500})  # a phone with the keyboard up
    page.get_by_label("Your answer").focus()
    box = page.get_by_label("Your answer").bounding_box()
    assert box["y"] + box["height"] <= 500


def test_reload_in_the_middle_of_a_streamed_reply(world, tmp_path, monkeypatch):
    """Also: a reply being prepared shows a typing indicator, and the progress line waits for the next puzzle."""
    give_life_log(world.participant_a)
    llm = ScriptedLLM(faithful, chunk_delay_s=0.12, first_chunk_delay_s=1.0)
    env = {"CHAT_PUZZLES_PER_SESSION": "2", "LLM_BASE_URL": llm.base_url, "LLM_MODEL": "scripted-test-model",
           "LLM_PREFILL_ENABLED": "0", "CHAT_LLM_FIRST_TOKEN_S": "10"}  # fmt: skip
    daphne = DaphneServer(tmp_path / "daphne.log", extra_env=env)
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "1")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page()
            page.set_default_timeout(20_000)
            log_in(page, daphne, "trainee-a")
            page.get_by_role("button", name="Start today's session").click()
            typing = page.locator("#log li.bot.typing")
            expect(typing).to_have_count(1)  # before the first words: the indicator, not an empty bubble
            dots = typing.locator(".text").evaluate("body => getComputedStyle(body, '::before').content")
            assert "●" in dots
            expect(page.locator("#log li.bot[aria-busy=true] .text")).to_contain_text("Let's see.")
            expect(typing).to_have_count(0)
            page.reload()  # mid-reply
            expect(page.locator("#log li.bot[aria-busy=true]")).to_have_count(0, timeout=30_000)
            expect(page.locator("#log li.bot .text").last).to_contain_text("Let's see. Puzzle 1 of 2.")
            expect(page.locator("#announcer")).to_contain_text("ReMe says: Let's see. Puzzle 1 of 2.")
            answer(page, WRONG)
            expect(page.locator("#log li.bot .text").last).to_contain_text("Not quite.", timeout=30_000)
            expect(page.locator("#log li.bot[aria-busy=true]")).to_have_count(0, timeout=30_000)
            seqs = page.locator("#log li").evaluate_all("items => items.map(li => li.dataset.seq)")
            assert len(set(seqs)) == len(seqs)
            # Right: the praise, then the next puzzle, each written in turn; "Puzzle 2 of 2" only once it shows.
            answer(page, right_answer(current_puzzle(world)))
            expect(page.locator("#log li.bot[aria-busy=true]")).to_have_count(2)
            expect(typing).not_to_have_count(0)  # the next puzzle's bubble waits its turn with the indicator
            page.wait_for_timeout(500)  # the state that moves the progress has come by now
            assert page.locator("#log li.bot[aria-busy=true]").count() >= 1
            expect(page.locator("#progress")).to_have_text("Puzzle 1 of 2")
            expect(page.locator("#progress")).to_have_text("Puzzle 2 of 2", timeout=30_000)
            assert page.locator("#log li.bot[aria-busy=true]").count() == 0
            expect(page.locator("#log li.bot .text").last).to_contain_text("Puzzle 2 of 2.")
            browser.close()
    finally:
        daphne.stop()
        llm.close()
    messages = ChatMessage.objects.filter(session__participant=world.participant_a)
    assert not messages.filter(status="streaming").exists()
    opening = messages.get(seq=2)
    assert opening.text.startswith("Let's see. Puzzle 1 of 2.") and opening.text.count("Puzzle 1 of 2.") == 1
    assert Attempt.objects.filter(puzzle__session__participant=world.participant_a).count() == 2
