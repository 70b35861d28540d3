"""Trainee pages: who may see or start which session, escaping, preferences."""

import pytest
from django.urls import reverse

from chat.models import TrainingSession
from chat.services import training_session_start
from tests.chat_helpers import act, give_life_log


@pytest.fixture
def sessions(world):
    give_life_log(world.participant_a, count=40)
    give_life_log(world.participant_b, count=40, seed=8)
    world.session_a = training_session_start(participant=world.participant_a, puzzles=2)
    world.session_b = training_session_start(participant=world.participant_b, puzzles=2)
    return world


def test_trainee_home_offers_to_continue_the_open_session(sessions, client):
    client.force_login(sessions.trainee_a)
    page = client.get(reverse("chat:home")).content.decode()
    assert "Continue my session" in page and reverse("chat:session", args=[sessions.session_a.pk]) in page
    assert reverse("chat:session", args=[sessions.session_b.pk]) not in page


def test_start_needs_post_and_reuses_the_open_session(sessions, client):
    client.force_login(sessions.trainee_a)
    assert client.get(reverse("chat:start")).status_code == 405
    response = client.post(reverse("chat:start"))
    assert response.url == reverse("chat:session", args=[sessions.session_a.pk])
    assert TrainingSession.objects.filter(participant=sessions.participant_a).count() == 1


@pytest.mark.parametrize("who", ["trainee_b", "researcher_a", "researcher_b"])
def test_nobody_else_sees_a_trainees_session(sessions, client, who):
    client.force_login(getattr(sessions, who))
    assert client.get(reverse("chat:session", args=[sessions.session_a.pk])).status_code == 404


@pytest.mark.parametrize("who", ["researcher_a", "researcher_b"])
def test_researchers_have_no_trainee_pages(sessions, client, who):
    client.force_login(getattr(sessions, who))
    assert client.get(reverse("chat:home")).status_code == 404
    assert client.post(reverse("chat:start")).status_code == 404


def test_anonymous_callers_are_sent_to_log_in(sessions, client):
    for url in (reverse("chat:home"), reverse("chat:session", args=[sessions.session_a.pk])):
        assert client.get(url).url.startswith(reverse("login"))


def test_session_page_shows_the_transcript_escaped(sessions, client):
    act(sessions.session_a, text="<script>alert('x')</script>")
    client.force_login(sessions.trainee_a)
    page = client.get(reverse("chat:session", args=[sessions.session_a.pk])).content.decode()
    assert "<script>alert('x')</script>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "Puzzle 1 of 2" in page


def test_context_preparation_state_is_shown_while_prefilled_and_after_it_failed(sessions, client):
    from chat.models import LLMContext

    TrainingSession.objects.filter(pk=sessions.session_a.pk).update(model_name="some-model")
    LLMContext.objects.create(participant=sessions.participant_a, state=LLMContext.State.PREPARING)
    client.force_login(sessions.trainee_a)
    page = client.get(reverse("chat:session", args=[sessions.session_a.pk])).content.decode()
    notice = page.split('id="context-notice"', 1)[1].split(">", 1)[0]
    assert "hidden" not in notice
    assert "still being prepared" in page
    LLMContext.objects.filter(participant=sessions.participant_a).update(state=LLMContext.State.READY)
    page = client.get(reverse("chat:session", args=[sessions.session_a.pk])).content.decode()
    assert "hidden" in page.split('id="context-notice"', 1)[1].split(">", 1)[0]
    # A failed preparation is not "still being prepared": the page says what the trainee gets instead,
    # and so does the state every turn sends to an open page.
    LLMContext.objects.filter(participant=sessions.participant_a).update(state=LLMContext.State.FAILED)
    page = client.get(reverse("chat:session", args=[sessions.session_a.pk])).content.decode()
    notice = page.split('id="context-notice"', 1)[1].split("</p>", 1)[0]
    assert "hidden" not in notice.split(">", 1)[0] and "still being prepared" not in page
    assert "could not read your memory book" in notice
    state = act(sessions.session_a, text="no idea").state
    assert state["context"] == "failed" and "could not read" in state["context_notice"]


def test_preferences_are_clamped_and_redirects_stay_on_site(world, client):
    client.force_login(world.trainee_a)
    for _ in range(6):
        client.post(reverse("preferences"), {"font_step": "+1"})
    world.trainee_a.refresh_from_db()
    assert world.trainee_a.font_scale == 200
    response = client.post(reverse("preferences"), {"high_contrast": "1", "next": "https://evil.example/"})
    assert response.url == reverse("home") or response.url == "/"
    json_reply = client.post(reverse("preferences"), {"font_step": "-1"}, HTTP_ACCEPT="application/json").json()
    assert json_reply == {"font_scale": 175, "high_contrast": True, "read_aloud": False}
    json_reply = client.post(reverse("preferences"), {"read_aloud": "1"}, HTTP_ACCEPT="application/json").json()
    assert json_reply == {"font_scale": 175, "high_contrast": True, "read_aloud": True}


def test_two_quick_taps_keep_both_preferences(world):
    """Two taps in flight at once: each request holds the user as it was before the other one's write."""
    from accounts.models import User
    from accounts.services import user_set_preferences

    first_tap, second_tap = User.objects.get(pk=world.trainee_a.pk), User.objects.get(pk=world.trainee_a.pk)
    user_set_preferences(user=first_tap, font_step="+1")
    user_set_preferences(user=second_tap, high_contrast="1")
    world.trainee_a.refresh_from_db()
    assert (world.trainee_a.font_scale, world.trainee_a.high_contrast) == (125, True)


def test_researchers_see_the_llm_context_state_of_their_participants(sessions, client, settings):
    from chat.models import LLMContext

    url = reverse("research:participant_detail", args=[sessions.participant_a.public_code])
    client.force_login(sessions.researcher_a)
    assert "Assistant context: not used (no LLM server" in client.get(url).content.decode()  # none configured
    settings.LLM_BASE_URL = "http://127.0.0.1:9/v1"  # configured (the page never asks it anything)
    assert "Assistant context: not prepared yet: queued" in client.get(url).content.decode()
    LLMContext.objects.create(participant=sessions.participant_a, state=LLMContext.State.FAILED, error="HTTP 503")
    assert "Assistant context: Failed (HTTP 503)" in client.get(url).content.decode()
    client.force_login(sessions.researcher_b)
    assert client.get(url).status_code == 404
