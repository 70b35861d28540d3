from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from lifelog.importers import IMPORT_FORMATS, ImportFailed
from lifelog.models import ImportJob
from lifelog.services import ParticipantWithdrawn, import_job_create, import_job_run
from studies.models import Participant


class Command(BaseCommand):
    help = "Import a life-log file (JSON, CSV, .ics, diary .txt, JPEG) for one participant."

    def add_arguments(self, parser):
        parser.add_argument("public_code", help="the participant's public code, e.g. P-ABCD2345")
        parser.add_argument("path", type=Path)
        parser.add_argument("--format", choices=IMPORT_FORMATS)
        parser.add_argument("--queue", action="store_true", help="leave it to a Celery worker instead of importing now")

    def handle(self, *args, public_code: str, path: Path, format: str | None, queue: bool, **options):
        try:
            participant = Participant.objects.get(public_code=public_code)
        except Participant.DoesNotExist:
            raise CommandError(f"no participant with public code {public_code}") from None
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        try:
            job = import_job_create(
                participant=participant,
                filename=path.name,
                data=path.read_bytes(),
                created_by=None,
                file_format=format,
                enqueue=queue,
            )
        except ImportFailed as failure:
            raise CommandError("\n".join(str(issue) for issue in failure.issues)) from None
        except ParticipantWithdrawn as refused:
            raise CommandError(str(refused)) from None
        if queue:
            self.stdout.write(f"queued import {job.pk}")
            return
        job = import_job_run(job_id=job.pk)
        if job.status == ImportJob.Status.FAILED:
            raise CommandError("import failed; nothing was stored:\n" + "\n".join(job.error_lines))
        self.stdout.write(f"imported {job.created_count} entries ({job.duplicate_count} already present)")
