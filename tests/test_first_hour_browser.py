"""The first hour, in headless Chromium against real Daphne and Celery: a researcher with an empty study
sets it up, enrols a participant with a trainee login, uploads their life log, and the trainee logs in
with the password shown once and finishes a session. No shell, no admin."""

import json
import re

from playwright.sync_api import expect

from chat.models import Puzzle, TrainingSession
from lifelog.models import ImportJob
from lifelog.sample_data import generate_entries
from studies.models import Participant
from tests.chat_helpers import right_answer
from tests.conftest import DaphneServer, wait_until
from tests.test_chat_browser import CHROMIUM, answer
from tests.test_chat_browser import pytestmark as browser_marks

pytestmark = browser_marks


def test_a_fresh_researcher_runs_a_study_up_to_a_finished_session(world, celery_worker, tmp_path, monkeypatch):
    from playwright.sync_api import sync_playwright

    server = DaphneServer(tmp_path / "daphne.log")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "1")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page()
            page.set_default_timeout(20_000)
            _researcher_sets_up_and_enrols(page, server)
            code, username, password = _login_details(page)
            _researcher_uploads_a_life_log(page, server, code)
            page.get_by_role("button", name=re.compile("Log out")).click()
            _trainee_finishes_a_session(page, server, username, password)
            browser.close()
    finally:
        server.stop()
    session = TrainingSession.objects.get(participant__public_code=code)
    assert session.status == "ended" and session.puzzles.count() == 2


def _researcher_sets_up_and_enrols(page, server) -> None:
    page.goto(server.url + "/login/")
    page.get_by_label("Username").fill("res-a")
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Study A").click()
    expect(page.get_by_text("Add an arm with a protocol first.")).to_be_visible()
    page.get_by_label("Arm key").fill("recall")
    page.get_by_label("Arm name").fill("Recall training")
    page.get_by_role("button", name="Add arm").click()
    expect(page.get_by_role("heading", name="New protocol version for Recall training")).to_be_visible()
    page.get_by_label(re.compile(r"\(life-recall v1\)")).check()
    page.get_by_label("Puzzles per session").fill("2")
    page.get_by_role("button", name="Save as a new version").click()
    expect(page.get_by_text("Saved recall protocol version 1.")).to_be_visible()
    page.get_by_role("textbox", name="Consent text").fill("I agree to take part and may stop at any time.")
    page.get_by_role("button", name="Save consent text").click()
    page.get_by_label("Arm:", exact=True).select_option(label="study-a/recall")
    page.get_by_label("Consent given at").fill("2026-11-20T10:00")
    page.get_by_label("Full name").fill("Nora Newcomer")
    page.get_by_label("Username").fill("nora")
    page.get_by_role("button", name="Enrol").click()


def _login_details(page) -> tuple[str, str, str]:
    expect(page.locator("#login-password")).to_be_visible()
    code = re.search(r"P-\w+", page.get_by_role("heading", level=1).inner_text())[0]
    return code, page.locator("#login-username").inner_text(), page.locator("#login-password").inner_text()


def _researcher_uploads_a_life_log(page, server, code: str) -> None:
    page.get_by_role("link", name=f"Go to {code}'s page").click()
    life_log = json.dumps({"entries": generate_entries(24, seed=5)}).encode()
    page.get_by_label("File").set_input_files(
        files=[{"name": "nora.json", "mimeType": "application/json", "buffer": life_log}]
    )
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_text("nora.json is queued for import.")).to_be_visible()
    participant = Participant.objects.get(public_code=code)
    wait_until(
        lambda: ImportJob.objects.filter(participant=participant, status="done").exists(),
        timeout=120, message="the import",
    )  # fmt: skip
    assert participant.entries.count() == 24


def _trainee_finishes_a_session(page, server, username: str, password: str) -> None:
    page.goto(server.url + "/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("button", name="Start today's session").click()
    for index in (1, 2):
        expect(page.locator("#progress")).to_have_text(f"Puzzle {index} of 2")
        puzzle = Puzzle.objects.get(session__participant__user__username=username, outcome="open")
        answer(page, right_answer(puzzle))
    expect(page.locator("#log li.bot .text").last).to_contain_text("That's the end of today's session")
