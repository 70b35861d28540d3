"""Accessibility in headless Chromium against a real Daphne server: axe-core (from npm, injected by Playwright)
finds no WCAG 2.1 A/AA violation on any trainee or researcher page at 100/150/200% text and in high contrast;
the chat keeps its latest message and its input in view at desktop and phone sizes, with the keyboard up; and
each bot message can be read aloud with the browser's own speech synthesis."""

import os

import pytest
from playwright.sync_api import expect, sync_playwright

from accounts.models import User
from chat.models import ChatMessage
from chat.services import training_session_start
from tests.chat_helpers import give_life_log
from tests.conftest import PASSWORD, ROOT, DaphneServer
from tests.research_helpers import arm_with_protocol, play_session, put_on_arm
from tests.test_chat_browser import CHROMIUM
from tests.test_chat_browser import pytestmark as browser_marks

pytestmark = browser_marks
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
# Text size in percent, high contrast. Colours do not change with size, so high contrast runs once, at 200%.
DISPLAYS = [(100, False), (150, False), (200, True)]
SIZES = {"desktop": (1280, 900), "phone": (390, 844), "phone, keyboard up": (390, 450)}
# Only the browser's speech API is stubbed (Chromium has no voices headless): it records what it is asked to say.
SPEECH_STUB = """
window.spoken = [];
window.SpeechSynthesisUtterance = class { constructor(text) { this.text = text; } };
Object.defineProperty(window, "speechSynthesis", {
  configurable: true, value: { speak: (utterance) => window.spoken.push(utterance.text), cancel: () => {} },
});
"""


@pytest.fixture(scope="module")
def browser():
    # Playwright's sync API keeps an event loop on this thread; the tests' own ORM calls are still sync.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "1"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE")


@pytest.fixture
def server(world, tmp_path):
    daphne = DaphneServer(tmp_path / "daphne.log", extra_env={"CHAT_SCORER_WARM_UP": "0"})
    yield daphne
    daphne.stop()


def logged_in(browser, server, username: str, problems: list[str] | None = None):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(path=str(AXE))
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(server.url + "/login/")
    if problems is not None:
        problems += violations(page)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/login/" not in url)
    return page


def display(username: str, scale: int, contrast: bool) -> None:
    User.objects.filter(username=username).update(font_scale=scale, high_contrast=contrast)


def violations(page) -> list[str]:
    found = page.evaluate(
        """async (tags) => (await axe.run(document, { runOnly: { type: "tag", values: tags } })).violations
            .map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`)""",
        WCAG_21_AA,
    )
    return [f"{page.url} {item}" for item in found]


def test_trainee_pages_have_no_wcag_aa_violations(world, server, browser):
    give_life_log(world.participant_a, count=40)
    session = training_session_start(participant=world.participant_a, puzzles=2)
    problems: list[str] = []
    page = logged_in(browser, server, "trainee-a", problems)  # the login page first
    pages = ["/train/", "/lifelog/", f"/train/session/{session.pk}/"]
    for scale, contrast in DISPLAYS:
        display("trainee-a", scale, contrast)
        for path in pages:
            page.goto(server.url + path)
            if "session" in path:
                expect(page.locator("#chat[data-connected=true]")).to_have_count(1)
            problems += violations(page)
    assert problems == [], "\n".join(problems)


def test_researcher_pages_have_no_wcag_aa_violations(world, server, browser):
    arm, protocol = arm_with_protocol(world.study_a)
    put_on_arm(world.participant_a, arm, protocol)
    give_life_log(world.participant_a, count=40)
    play_session(world.participant_a)  # the dashboard's plots and tables have rows
    page = logged_in(browser, server, "res-a")
    code = world.participant_a.public_code
    pages = ["/research/", "/research/studies/study-a/", f"/research/participants/{code}/",
             "/research/studies/study-a/audit/", f"/research/arms/{arm.pk}/protocol/new/"]  # fmt: skip
    problems = []
    for scale, contrast in DISPLAYS:
        display("res-a", scale, contrast)
        for path in pages:
            page.goto(server.url + path)
            page.wait_for_load_state("load")
            problems += violations(page)
    assert problems == [], "\n".join(problems)


def in_view(page) -> dict:
    """Where the latest bot message, the conversation area and the input are, against the viewport."""
    return page.evaluate(
        """() => {
          const box = (el) => el.getBoundingClientRect();
          const bots = document.querySelectorAll("#log li.bot");
          const latest = box(bots[bots.length - 1]), log = box(document.getElementById("log"));
          const input = box(document.getElementById("answer"));
          return { latest: [latest.top, latest.bottom], log: [log.top, log.bottom], input: [input.top, input.bottom],
                   height: innerHeight, notices: box(document.querySelector(".notices")).height,
                   line: parseFloat(getComputedStyle(document.querySelector(".notices")).lineHeight) };
        }"""
    )


def test_the_latest_message_and_the_input_stay_in_view_at_every_size(world, server, browser):
    give_life_log(world.participant_a, count=40)
    session = training_session_start(participant=world.participant_a, puzzles=2)
    page = logged_in(browser, server, "trainee-a")
    failures = []
    for scale in (100, 150, 200):
        display("trainee-a", scale, False)
        for name, (width, height) in SIZES.items():
            page.set_viewport_size({"width": width, "height": height})
            page.goto(f"{server.url}/train/session/{session.pk}/")
            expect(page.locator("#chat[data-connected=true]")).to_have_count(1)
            # Every notice at once (offline, simpler replies, memory book not ready): still one line.
            page.evaluate("""() => { for (const id of ["connection", "assistant-notice", "context-notice"]) {
                const el = document.getElementById(id); el.hidden = false; el.textContent ||= "A notice"; } }""")
            if "keyboard" in name:
                page.get_by_label("Your answer").focus()
            page.evaluate("() => window.dispatchEvent(new Event('resize'))")
            page.wait_for_timeout(100)
            box = in_view(page)
            where = f"{scale}% {name}: {box}"
            top, bottom = box["latest"]
            area = box["log"][1] - box["log"][0]
            # A message that fits in the conversation area is shown whole; a longer one (a long question at 200%
            # on a phone) from its start, and the area keeps at least half the screen (a third above a keyboard).
            share = 0.33 if "keyboard" in name else 0.5
            if not (0 <= box["log"][0] <= top + 1 and top < box["height"]):
                failures.append("latest message's start not in view at " + where)
            if bottom - top <= area and not (bottom <= box["log"][1] + 1 and bottom <= box["height"] + 1):
                failures.append("latest message cut off at " + where)
            if area < min(bottom - top, share * box["height"]):
                failures.append("conversation area too small at " + where)
            if not (box["input"][0] >= 0 and box["input"][1] <= box["height"] + 1):
                failures.append("input out of view at " + where)
            if box["notices"] > 1.6 * box["line"]:
                failures.append("notices take more than one line at " + where)
    assert failures == [], "\n".join(failures)


def test_bot_messages_are_read_aloud_on_request_and_by_setting(world, server, browser):
    give_life_log(world.participant_a, count=40)
    session = training_session_start(participant=world.participant_a, puzzles=2)
    page = logged_in(browser, server, "trainee-a")
    page.add_init_script(SPEECH_STUB)
    page.goto(f"{server.url}/train/session/{session.pk}/")
    expect(page.locator("#chat[data-connected=true]")).to_have_count(1)
    question = page.locator("#log li.bot").last
    question.get_by_role("button", name="Read aloud").click()
    assert page.evaluate("window.spoken") == [question.locator(".text").text_content()]
    assert page.evaluate("window.spoken.length") == 1  # nothing is read unasked while the setting is off

    toggle = page.get_by_role("button", name="Speak new messages")
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    page.get_by_label("Your answer").fill("I really do not know")
    page.keyboard.press("Enter")
    expect(page.locator("#log li.bot .text").last).to_contain_text("That's all right")
    latest = ChatMessage.objects.filter(session=session, role="bot").order_by("-seq").first()
    expect(page.locator("#log li.bot")).to_have_count(session.messages.filter(role="bot").count())
    page.wait_for_function("(text) => window.spoken.includes(text)", arg=latest.text)
    assert User.objects.get(username="trainee-a").read_aloud
    page.reload()  # the setting follows the trainee
    expect(page.get_by_role("button", name="Speak new messages")).to_have_attribute("aria-pressed", "true")
