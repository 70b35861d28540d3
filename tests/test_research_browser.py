"""The researcher dashboard in headless Chromium against a real Daphne server: Chart.js draws every plot
from the numbers the page embeds, and a plot without numbers says so instead."""

import pytest
from playwright.sync_api import expect

from tests.conftest import DaphneServer
from tests.research_helpers import research_world
from tests.test_chat_browser import ARTIFACTS, log_in, page  # noqa: F401 - `page` is a fixture
from tests.test_chat_browser import pytestmark as browser_marks

pytestmark = browser_marks
CHARTS = ["chart-accuracy", "chart-cue-level", "chart-response-times", "chart-retention", "chart-coverage"]


@pytest.fixture
def server(world, tmp_path):
    research_world(world)
    daphne = DaphneServer(tmp_path / "daphne.log", extra_env={"CHAT_SCORER_WARM_UP": "0"})
    yield daphne
    daphne.stop()


def test_dashboard_plots_are_drawn(world, server, page):  # noqa: F811
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, server, "res-a")
    page.goto(f"{server.url}/research/studies/study-a/")
    expect(page.locator("#chart-enrolment[data-drawn=true]")).to_have_count(1)
    page.get_by_role("link", name=world.participant_a.public_code).click()
    for chart in CHARTS:
        expect(page.locator(f"#{chart}[data-drawn=true]")).to_have_count(1)
    # Chart.js sized each canvas from its box: a drawn plot, not a blank 0×0 element.
    sizes = page.locator("canvas").evaluate_all("cs => cs.map(c => c.width * c.height)")
    assert len(sizes) == len(CHARTS) and all(size > 10_000 for size in sizes)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "research-participant.png"), full_page=True)

    other_study = page.goto(f"{server.url}/research/participants/{world.participant_b.public_code}/")
    assert other_study.status == 404 and page.locator("canvas").count() == 0  # (the 404 page echoes only the URL)
    assert errors == []


def test_a_participant_without_sessions_gets_notes_not_empty_plots(world, server, page):  # noqa: F811
    from studies.services import participant_enroll

    newcomer = participant_enroll(study=world.study_a, arm=world.arm_a)
    log_in(page, server, "res-a")
    page.goto(f"{server.url}/research/participants/{newcomer.public_code}/")
    expect(page.locator(".no-data")).to_have_count(len(CHARTS))
    expect(page.locator("canvas")).to_have_count(0)
