"""Loads the demo study: one researcher, one trainee and a year of the trainee's life log."""

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import User
from accounts.services import user_create
from lifelog.sample_data import generate_json
from lifelog.services import import_job_create, import_job_run
from research.demo import DEMO_LOGINS, DEMO_PASSWORD, DEMO_STUDY
from studies.models import Participant, Study
from studies.services import participant_enroll, study_create

DEMO_ENTRIES = 320


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
            participant = Participant.objects.filter(user=trainee).first() or participant_enroll(
                study=study, user=trainee, timezone="Europe/London", full_name="Margaret Demo"
            )
        if not participant.entries.exists():
            job = import_job_create(
                participant=participant,
                filename="demo-lifelog.json",
                data=generate_json(DEMO_ENTRIES, seed=2026),
                created_by=researcher,
                enqueue=False,
            )
            import_job_run(job_id=job.pk)
        self.stdout.write(
            f"demo study '{study.name}': participant {participant.public_code} with "
            f"{participant.entries.count()} entries"
        )

    def _user(self, username: str, role: str) -> User:
        return User.objects.filter(username=username).first() or user_create(
            username=username, password=DEMO_PASSWORD, role=role
        )
