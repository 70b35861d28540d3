"""Attacks on the web side: login lockout, token lifetime, logout, CSP, request bodies, media, enrolment input."""

import io
import socket
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse
from PIL import Image
from rest_framework.authtoken.models import Token

from accounts.models import User
from lifelog.importers.photo_format import GPS_IFD
from lifelog.services import import_job_create, import_job_run
from studies.models import Participant
from tests.conftest import PASSWORD, DaphneServer, api_client_for, jpeg_with_exif


@pytest.fixture(autouse=True)
def _fresh_counters():
    cache.clear()  # throttle counters live in the shared Redis cache


# --- login lockout (django-axes) ------------------------------------------------------------------------------


def test_forty_wrong_passwords_lock_the_login_with_a_plain_message(world, client):
    # Each guess claims another X-Forwarded-For: with no proxy configured the header counts for nothing.
    statuses = [
        client.post(reverse("login"), {"username": "trainee-a", "password": f"guess-{i}"},
                    HTTP_X_FORWARDED_FOR=f"10.9.{i}.1").status_code
        for i in range(40)
    ]  # fmt: skip
    assert statuses[:9] == [200] * 9 and set(statuses[10:]) == {429}
    right = client.post(reverse("login"), {"username": "trainee-a", "password": PASSWORD})
    assert right.status_code == 429 and "_auth_user_id" not in client.session
    text = right.content.decode()
    assert "password was wrong too many times" in text and "15 minutes" in text
    # Per user and address: the trainee on another device (address) still logs in.
    assert client.post(reverse("login"), {"username": "trainee-a", "password": PASSWORD},
                       REMOTE_ADDR="198.51.100.20").status_code == 302  # fmt: skip


# --- API tokens, sessions, logout -----------------------------------------------------------------------------


def test_api_tokens_expire_and_are_renewed(world, settings):
    anonymous = api_client_for(None)
    issued = anonymous.post("/api/token/", {"username": "res-a", "password": PASSWORD}).json()
    assert issued["expires_at"]
    Token.objects.filter(key=issued["token"]).update(created=Token.objects.get().created - timedelta(hours=25))
    anonymous.credentials(HTTP_AUTHORIZATION=f"Token {issued['token']}")
    expired = anonymous.get("/api/studies/")
    assert expired.status_code == 403 and "expired" in expired.json()["detail"]  # 403: session auth comes first
    assert not Token.objects.filter(key=issued["token"]).exists()
    anonymous.credentials()
    renewed = anonymous.post("/api/token/", {"username": "res-a", "password": PASSWORD}).json()["token"]
    assert renewed != issued["token"]
    anonymous.credentials(HTTP_AUTHORIZATION=f"Token {renewed}")
    assert anonymous.get("/api/studies/").status_code == 200


def test_logout_deletes_the_users_api_tokens(world, client):
    token = Token.objects.create(user=world.researcher_a)
    client.force_login(world.researcher_a)
    client.post(reverse("logout"))
    api = api_client_for(None)
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert api.get("/api/studies/").status_code == 403


def test_session_cookies_last_twelve_hours(world, client, settings):
    response = client.post(reverse("login"), {"username": "trainee-a", "password": PASSWORD})
    assert response.status_code == 302
    assert response.cookies["sessionid"]["max-age"] == 12 * 3600 == settings.SESSION_COOKIE_AGE


def test_pages_carry_a_strict_content_security_policy(world, client):
    for user, path in [
        (None, "/login/"),
        (world.trainee_a, "/lifelog/"),
        (world.researcher_a, "/research/studies/study-a/"),
    ]:
        if user:
            client.force_login(user)
        response = client.get(path)
        assert response.status_code == 200
        policy = response["Content-Security-Policy"]
        for directive in ("default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"):
            assert directive in policy
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert " style=" not in response.content.decode()  # no inline style the policy would block


# --- request bodies at the server -----------------------------------------------------------------------------


@pytest.fixture
def daphne(transactional_db, tmp_path):
    server = DaphneServer(tmp_path / "daphne.log", extra_env={"CHAT_SCORER_WARM_UP": "0"})
    yield server
    server.stop()


def raw_post(port: int, path: str, head: dict[str, str], body_chunks, timeout: float = 5) -> bytes:
    """Sends what it is given and returns whatever the server answered when it stopped reading."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in head.items()), "", ""]
        sock.sendall("\r\n".join(lines).encode())
        try:
            for chunk in body_chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server stopped reading: what it said is still in the receive buffer
        answer = b""
        try:
            while data := sock.recv(65536):
                answer += data
        except (TimeoutError, ConnectionResetError):
            pass
        return answer


def test_an_anonymous_200_mb_body_is_refused_before_it_is_read(daphne):
    form = {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": str(200 * 2**20)}
    answer = raw_post(daphne.port, "/login/", form, [b"a" * 65536])  # the other 199.9 MB are never sent
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_a_streamed_body_past_the_cap_is_cut_off(daphne):
    head = {"Content-Type": "application/octet-stream", "Transfer-Encoding": "chunked"}
    chunk = b"10000\r\n" + b"b" * 0x10000 + b"\r\n"
    answer = raw_post(daphne.port, "/api/token/", head, [chunk] * 64)  # 4 MB of a never-ending body
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_a_signed_in_upload_within_the_import_limit_still_passes_the_cap(world, settings):
    from reme.bodylimit import RequestBodyLimit

    limits = RequestBodyLimit(None, limit=settings.REQUEST_MAX_BODY_BYTES, anonymous_limit=64 * 1024)
    assert limits.limit_for({b"cookie": b"csrftoken=x; sessionid=abc"}) > settings.LIFELOG_MAX_UPLOAD_BYTES
    assert limits.limit_for({b"authorization": b"Token abc"}) > settings.LIFELOG_MAX_UPLOAD_BYTES
    assert limits.limit_for({b"cookie": b"csrftoken=x"}) == 64 * 1024


# --- media ------------------------------------------------------------------------------------------------------


@pytest.fixture
def photo_entry(world):
    job = import_job_create(
        participant=world.participant_a, filename="Beach_day.jpg", data=jpeg_with_exif(), created_by=None, enqueue=False
    )
    import_job_run(job_id=job.pk)
    return world.participant_a.entries.get()


def test_photos_are_served_only_to_the_trainee_and_their_studys_researchers(world, client, photo_entry):
    assert photo_entry.latitude  # the entry keeps the place for researchers
    page_url = reverse("lifelog:entry_photo", args=[photo_entry.pk])
    api_url = f"/api/entries/{photo_entry.pk}/photo/"
    assert client.get("/media/" + photo_entry.photo.name).status_code == 404  # no public media in development
    assert client.get(page_url).status_code == 302  # to the login page
    for user, status in [(world.trainee_a, 200), (world.researcher_a, 200), (world.trainee_b, 404),
                         (world.researcher_b, 404)]:  # fmt: skip
        client.force_login(user)
        response = client.get(page_url)
        assert response.status_code == status, user
        assert api_client_for(user).get(api_url).status_code == status, user
        if status == 200:
            image = Image.open(io.BytesIO(b"".join(response.streaming_content)))
            assert image.size == (32, 24) and GPS_IFD not in image.getexif()  # the copy shown has no location
    client.force_login(world.trainee_a)
    assert f'src="{page_url}"' in client.get(reverse("lifelog:my_entries")).content.decode()
    api_entry = api_client_for(world.researcher_a).get(f"/api/participants/{world.participant_a.public_code}/entries/")
    assert api_entry.json()["results"][0]["photo"] == api_url


# --- enrolment input ----------------------------------------------------------------------------------------------


def test_the_enrol_form_refuses_unknown_time_zones(world, client):
    from studies.services import arm_create, protocol_version_create

    arm = arm_create(study=world.study_a, key="main", name="Main")
    protocol_version_create(arm=arm, puzzle_groups=[{"key": "life-recall", "version": 1}])
    client.force_login(world.researcher_a)
    before = Participant.objects.count()
    for zone in ["Mars/Olympus_Mons", "../../../../etc/passwd", "Europe/Londn"]:
        form = {"arm": arm.pk, "timezone": zone, "username": "new-trainee"}
        response = client.post(reverse("research:study_detail", args=["study-a"]), form)
        assert response.status_code == 200 and "is not a time zone name" in response.content.decode()
    assert Participant.objects.count() == before and not User.objects.filter(username="new-trainee").exists()


def test_enrolment_refuses_a_bad_zone_and_gives_trainees_only_strong_passwords(world):
    """A researcher never chooses a trainee's password (so never a weak one like password12): enrolment and
    resets generate it, and what they generate passes Django's password validators."""
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    from studies.services import arm_create, participant_register, protocol_version_create

    arm = arm_create(study=world.study_a, key="main", name="Main")
    protocol_version_create(arm=arm, puzzle_groups=[{"key": "life-recall", "version": 1}])
    common = {"study": world.study_a, "arm": arm, "by": world.researcher_a, "consent_given_at": None}
    with pytest.raises(ValidationError, match="not a time zone name"):
        participant_register(**common, timezone="Mars/Olympus_Mons")
    with pytest.raises(ValidationError):
        validate_password("password12")  # the validators are on
    for number in range(5):
        registration = participant_register(**common, timezone="America/New_York", username=f"new-trainee-{number}")
        user = User.objects.get(username=f"new-trainee-{number}")
        validate_password(registration.login.password, user=user)
        assert user.check_password(registration.login.password)
