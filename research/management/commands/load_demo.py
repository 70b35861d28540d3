"""Loads the demo study: one researcher, an arm with a protocol (so the dashboard can enrol at once), one
trainee on it and a year of the trainee's life log.

The demo protocol pins the LLM-authored puzzles beside the template groups and names the configured model, so
`make run` shows what the LLM prepares ahead of time (verified puzzles and rewordings of the fixed lines); with
no LLM server (REME_LLM=off) the same protocol runs on templates alone. A demo loaded before that pin existed
gets it as the next protocol version, and the demo trainee is moved onto it (demo data only: a real study's
participants keep the version they have)."""

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import User
from accounts.services import user_create
from chat.prefill import prefill_soon
from chat.puzzle_defaults import DEFAULT_GROUPS
from lifelog.sample_data import generate_json
from lifelog.services import import_job_create, import_job_run
from research.demo import DEMO_LOGINS, DEMO_PASSWORD, DEMO_STUDY
from studies.models import Arm, Participant, ProtocolVersion, Study
from studies.services import arm_create, participant_enroll, protocol_version_create, study_create

DEMO_ENTRIES = 320
AUTHORED_PIN = {"key": "llm-authored", "version": 2}  # its newest version: every kind
# The LLM's puzzles first: a session starts with one when it is ready, else the templates fill in silently.
DEMO_PINS = [AUTHORED_PIN, *({"key": group["key"], "version": 1} for group in DEFAULT_GROUPS)]


class Command(BaseCommand):
    help = "Create the demo study, logins and life log (safe to run again)."

    def handle(self, *args, **options):
        with transaction.atomic():
            researcher = self._user(DEMO_LOGINS["researcher"], User.Role.RESEARCHER)
            trainee = self._user(DEMO_LOGINS["trainee"], User.Role.TRAINEE)
            study = Study.objects.filter(slug=DEMO_STUDY).first() or study_create(
                name="Demo: everyday memory training",
                slug=DEMO_STUDY,
                researchers=[researcher],
                description="A demonstration study with one trainee and a year of invented life log.",
            )
            arm = study.arms.first() or self._arm(study, researcher)
            participant = Participant.objects.filter(user=trainee).first() or participant_enroll(
                study=study, user=trainee, arm=arm, timezone="Europe/London", full_name="Margaret Demo"
            )
            self._pin_authored(arm, participant, researcher)
        if not participant.entries.exists():
            job = import_job_create(
                participant=participant,
                filename="demo-lifelog.json",
                data=generate_json(DEMO_ENTRIES, seed=2026),
                created_by=researcher,
                enqueue=False,
            )
            import_job_run(job_id=job.pk)
        prefill_soon(participant.pk)  # the LLM worker prepares the demo trainee's context before anyone logs in
        self.stdout.write(
            f"demo study '{study.name}': participant {participant.public_code} with "
            f"{participant.entries.count()} entries"
        )

    def _arm(self, study: Study, researcher: User) -> Arm:
        arm = arm_create(study=study, key="standard", name="Standard training", description="All shipped puzzles.")
        self._protocol(arm, researcher, notes="The demo's starting protocol.")
        return arm

    def _protocol(self, arm: Arm, researcher: User, notes: str) -> ProtocolVersion:
        return protocol_version_create(
            arm=arm, puzzle_groups=DEMO_PINS, model_name=settings.LLM_MODEL, notes=notes, created_by=researcher
        )

    def _pin_authored(self, arm: Arm, participant: Participant, researcher: User) -> None:
        """A demo loaded before the LLM-authored pin: its next protocol version has it, and the demo trainee
        (only them) moves onto it."""
        protocol = arm.current_protocol
        if AUTHORED_PIN not in protocol.puzzle_groups or not protocol.model_name:
            protocol = self._protocol(arm, researcher, notes="LLM-authored puzzles pinned beside the templates.")
        current = participant.protocol_version
        if participant.arm_id == arm.pk and (current is None or AUTHORED_PIN not in current.puzzle_groups):
            Participant.objects.filter(pk=participant.pk).update(protocol_version=protocol)

    def _user(self, username: str, role: str) -> User:
        return User.objects.filter(username=username).first() or user_create(
            username=username, password=DEMO_PASSWORD, role=role
        )
