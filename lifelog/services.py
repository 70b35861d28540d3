"""Writes to the life log: imports (create, run) and withdrawing single entries."""

import hashlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import get_valid_filename

from accounts.models import User
from studies.models import AuditEvent, Participant
from studies.services import audit_record

from .embeddings import embed_texts
from .importers import ImportFailed, ImportIssue, ParsedEntry, detect_format, parse_column_map, parse_file
from .models import ImportJob, LifeLogEntry
from .signals import life_log_changed

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[ImportJob], None]


class ParticipantWithdrawn(Exception):
    """Nothing is added to, or sent for, a participant who has withdrawn."""

    def __init__(self, public_code: str) -> None:
        super().__init__(f"{public_code} has withdrawn from the study: nothing more can be imported for them.")


def _require_active(participant_id: int, *, lock: bool = False) -> None:
    """Raises ParticipantWithdrawn. With `lock` (inside a transaction) the participant's row stays locked, so a
    withdrawal (which locks it too) waits for the caller's transaction or comes wholly before it."""
    rows = Participant.objects.filter(pk=participant_id)
    if lock:
        rows = rows.select_for_update()
    status, code = rows.values_list("status", "public_code").get()
    if status == Participant.Status.WITHDRAWN:
        raise ParticipantWithdrawn(code)


def import_job_create(
    *,
    participant: Participant,
    filename: str,
    data: bytes,
    created_by: User | None,
    file_format: str | None = None,
    column_map: dict[str, str] | None = None,
    enqueue: bool = True,
) -> ImportJob:
    """Checks what can be checked at once (size, type, emptiness), stores the file and, unless the
    caller runs it itself, queues the import for a Celery worker."""
    if len(data) > settings.LIFELOG_MAX_UPLOAD_BYTES:
        raise file_too_large(filename, len(data))
    if not data.strip():
        raise ImportFailed([ImportIssue(filename, "the file is empty")])
    _require_active(participant.pk)
    file_format = file_format or detect_format(filename)
    job = ImportJob(
        participant=participant,
        created_by=created_by,
        original_name=filename[:255],
        format=file_format,
        sha256=hashlib.sha256(data).hexdigest(),
        column_map=column_map or {},
        heartbeat_at=timezone.now(),
    )
    stored_name = get_valid_filename(Path(filename).name)[-100:] or "upload"
    job.file.save(f"{job.sha256[:16]}-{stored_name}", ContentFile(data), save=False)
    try:
        with transaction.atomic():
            _require_active(participant.pk, lock=True)
            job.save()
            if enqueue:
                transaction.on_commit(lambda: _enqueue(job.pk))
    except ParticipantWithdrawn:
        job.file.delete(save=False)  # withdrawn while the file was being stored
        raise
    return job


def import_job_create_from_upload(
    *,
    participant: Participant,
    upload: UploadedFile,
    created_by: User | None,
    file_format: str | None = None,
    columns: str = "",
) -> ImportJob:
    """An uploaded file over the limit is refused by its size, before it is read into memory. A file small
    enough to parse at once is parsed here (no embedding: milliseconds), so a bad one is refused with its
    reasons in the response instead of minutes later behind queued work."""
    _require_active(participant.pk)
    if upload.size > settings.LIFELOG_MAX_UPLOAD_BYTES:
        raise file_too_large(upload.name, upload.size)
    data = upload.read()
    file_format = file_format or detect_format(upload.name)
    try:
        column_map = parse_column_map(columns, file_format=file_format)
    except ValueError as error:
        raise ImportFailed([ImportIssue(upload.name, f"column mapping: {error}")]) from None
    if data.strip() and len(data) <= settings.LIFELOG_VALIDATE_ON_UPLOAD_BYTES:
        try:
            parsed = parse_file(
                data, filename=upload.name, file_format=file_format, tz=ZoneInfo(participant.timezone),
                columns=column_map,
            )  # fmt: skip
        except ImportFailed:
            raise
        except Exception:  # a parser bug must not turn an upload into a server error: the job reports it
            logger.exception("checking %s on upload failed; leaving it to the worker", upload.name)
            parsed = []
        if len(parsed) > settings.LIFELOG_MAX_ENTRIES_PER_FILE:
            raise too_many_entries(upload.name, len(parsed))
    return import_job_create(
        participant=participant,
        filename=upload.name,
        data=data,
        created_by=created_by,
        file_format=file_format,
        column_map=column_map,
    )


def too_many_entries(filename: str, count: int) -> ImportFailed:
    limit = settings.LIFELOG_MAX_ENTRIES_PER_FILE
    return ImportFailed([ImportIssue(filename, f"the file has {count} entries; the limit is {limit}")])


def file_too_large(filename: str, size: int) -> ImportFailed:
    limit_mb = settings.LIFELOG_MAX_UPLOAD_BYTES / 2**20
    return ImportFailed([ImportIssue(filename, f"the file is {size / 2**20:.1f} MB; the limit is {limit_mb:.0f} MB")])


def _enqueue(job_id: int) -> None:
    from .tasks import ingest_import_job  # tasks import this module: resolved at call time

    ingest_import_job.delay(job_id)


def import_job_run(*, job_id: int, on_progress: ProgressCallback | None = None) -> ImportJob:
    """Parses, embeds and stores one file. Safe to run again after a crash: the entries are
    written in one transaction with the job's final state, and content hashes skip what exists."""
    job = ImportJob.objects.select_related("participant").get(pk=job_id)
    if job.status in (ImportJob.Status.DONE, ImportJob.Status.FAILED):
        return job
    notify = on_progress or (lambda _job: None)
    try:
        _require_active(job.participant_id)  # queued before the withdrawal: never runs after it
    except ParticipantWithdrawn as refused:
        return _job_fail(job, [ImportIssue(job.original_name, str(refused)).as_dict()], notify)
    job.status = ImportJob.Status.RUNNING
    job.attempts += 1
    job.progress_done = 0
    job.heartbeat_at = timezone.now()
    job.save(update_fields=["status", "attempts", "progress_done", "heartbeat_at"])
    notify(job)
    try:
        with job.file.open("rb") as handle:
            data = handle.read()
        parsed = parse_file(
            data, filename=job.original_name, file_format=job.format, tz=ZoneInfo(job.participant.timezone),
            columns=job.column_map,
        )  # fmt: skip
        if len(parsed) > settings.LIFELOG_MAX_ENTRIES_PER_FILE:
            raise too_many_entries(job.original_name, len(parsed))
    except ImportFailed as failure:
        return _job_fail(job, [issue.as_dict() for issue in failure.issues], notify)

    new_entries, duplicates = _split_new(job.participant, parsed)
    # Batches of similar length pad little: in file order, padding every batch to its longest text
    # cost about half the embedding throughput on 2 cores (bench/results/ingest-cpu.md).
    new_entries.sort(key=lambda item: len(item[1].embedding_text()))
    job.progress_total = len(new_entries)
    job.save(update_fields=["progress_total"])
    vectors = []
    batch = settings.LIFELOG_EMBED_BATCH
    for start in range(0, len(new_entries), batch):
        chunk = new_entries[start : start + batch]
        vectors.extend(embed_texts([entry.embedding_text() for _, entry in chunk], batch_size=batch))
        job.progress_done = start + len(chunk)
        ImportJob.objects.filter(pk=job.pk).update(progress_done=job.progress_done, heartbeat_at=timezone.now())
        notify(job)
    return _job_commit(job, new_entries, vectors, duplicates, notify)


def _split_new(participant: Participant, parsed: list[ParsedEntry]) -> tuple[list[tuple[str, ParsedEntry]], int]:
    """Entries whose content is not stored yet (nor repeated earlier in the same file)."""
    by_hash: dict[str, ParsedEntry] = {}
    for entry in parsed:
        by_hash.setdefault(entry.content_hash(), entry)
    existing = set(
        LifeLogEntry.objects.filter(participant=participant, content_hash__in=list(by_hash)).values_list(
            "content_hash", flat=True
        )
    )
    new = [(digest, entry) for digest, entry in by_hash.items() if digest not in existing]
    return new, len(parsed) - len(new)


def _job_commit(job, new_entries, vectors, duplicates: int, notify: ProgressCallback) -> ImportJob:
    with transaction.atomic():
        try:
            # The participant's row first, as the withdrawal locks it: withdrawn meanwhile, nothing is stored.
            _require_active(job.participant_id, lock=True)
        except ParticipantWithdrawn as refused:
            return _job_fail(job, [ImportIssue(job.original_name, str(refused)).as_dict()], notify)
        locked = ImportJob.objects.select_for_update().get(pk=job.pk)
        if locked.status == ImportJob.Status.DONE:  # a redelivered copy finished first
            return locked
        rows = [
            _entry_model(job, digest, entry, vector)
            for (digest, entry), vector in zip(new_entries, vectors, strict=False)
        ]
        LifeLogEntry.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)
        # A concurrent import of overlapping content may have won some rows: count what is ours.
        job.created_count = LifeLogEntry.objects.filter(import_job=job).count()
        job.duplicate_count = duplicates + len(rows) - job.created_count
        job.status = ImportJob.Status.DONE
        job.finished_at = timezone.now()
        job.errors = []
        job.save(update_fields=["status", "created_count", "duplicate_count", "finished_at", "errors"])
        if job.created_count:
            transaction.on_commit(lambda: _announce_change(job.participant_id))
    notify(job)
    logger.info("import %s: %s created, %s duplicates", job.pk, job.created_count, duplicates)
    return job


def _entry_model(job: ImportJob, digest: str, entry: ParsedEntry, vector) -> LifeLogEntry:
    row = LifeLogEntry(
        participant_id=job.participant_id,
        occurred_at=entry.occurred_at,
        time_precision=entry.time_precision,
        title=entry.title,
        description=entry.description,
        place_name=entry.place_name,
        latitude=entry.latitude,
        longitude=entry.longitude,
        people=entry.people,
        tags=entry.tags,
        source=job.format,
        import_job=job,
        content_hash=digest,
        embedding=vector,
    )
    if entry.photo_bytes:
        # Stored under its content hash: a retried import overwrites nothing and orphans at most one file.
        row.photo.save(f"{digest[:16]}-{entry.photo_name}", ContentFile(entry.photo_bytes), save=False)
    return row


def _job_fail(job: ImportJob, errors: list[dict], notify: ProgressCallback) -> ImportJob:
    job.status = ImportJob.Status.FAILED
    job.errors = errors
    job.finished_at = timezone.now()
    # An update, not save(): the job may be gone with its withdrawn participant meanwhile.
    ImportJob.objects.filter(pk=job.pk).update(status=job.status, errors=errors, finished_at=job.finished_at)
    notify(job)
    return job


def import_jobs_requeue_stale(*, now: datetime | None = None) -> list[int]:
    """Queues again the jobs whose worker died (running, no heartbeat for the lease) and those whose message
    was lost (queued, unclaimed for the lease). Row locks (skip locked) make two sweepers take each job once;
    a job run twice still stores its entries once (`_job_commit`)."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.LIFELOG_IMPORT_LEASE_S)
    with transaction.atomic():
        stale = list(
            ImportJob.objects.select_for_update(skip_locked=True)
            .filter(status__in=[ImportJob.Status.QUEUED, ImportJob.Status.RUNNING])
            .filter(Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff))
            .values_list("pk", flat=True)
        )
        ImportJob.objects.filter(pk__in=stale).update(status=ImportJob.Status.QUEUED, heartbeat_at=now)
        transaction.on_commit(lambda: [_enqueue(job_id) for job_id in stale])
    if stale:
        logger.warning("requeued stale or orphaned imports %s", stale)
    return stale


def import_job_mark_crashed(*, job_id: int, error: Exception) -> None:
    """A job whose task gave up on an unexpected error says so instead of staying 'running'."""
    job = ImportJob.objects.get(pk=job_id)
    if job.status not in (ImportJob.Status.DONE, ImportJob.Status.FAILED):
        message = f"internal error ({type(error).__name__}); nothing was stored, please upload the file again"
        _job_fail(job, [ImportIssue(job.original_name, message).as_dict()], lambda _job: None)


def participant_imports_stop(*, participant_id: int) -> int:
    """On withdrawal (the participant's row is locked): the jobs not finished yet fail. A worker already
    running one checks again before it stores anything."""
    message = "the participant withdrew from the study before this import ran; nothing was stored"
    pending = ImportJob.objects.filter(
        participant_id=participant_id, status__in=[ImportJob.Status.QUEUED, ImportJob.Status.RUNNING]
    )
    for job in pending:
        _job_fail(job, [ImportIssue(job.original_name, message).as_dict()], lambda _job: None)
    return len(pending)


class EntryChangeRefused(Exception):
    """A change of an entry the caller may see but not make; the message says why."""


def entry_set_excluded(*, entry: LifeLogEntry, excluded: bool, by: User | None = None) -> LifeLogEntry:
    """Withdraws or restores one entry, in the audit log. What a trainee withdrew only that trainee restores:
    a researcher cannot undo the participant's decision."""
    with transaction.atomic():
        entry = LifeLogEntry.objects.select_for_update().select_related("participant__study").get(pk=entry.pk)
        if entry.excluded == excluded:
            return entry
        withdrawer = entry.excluded_by
        if not excluded and withdrawer is not None and withdrawer.is_trainee and by is not None and by != withdrawer:
            raise EntryChangeRefused("The participant withdrew this entry; only they can restore it.")
        entry.excluded = excluded
        entry.excluded_at = timezone.now() if excluded else None
        entry.excluded_by = by if excluded else None
        entry.save(update_fields=["excluded", "excluded_at", "excluded_by"])
        if by is not None:
            audit_record(
                actor=by, action=AuditEvent.Action.CHANGE, target=f"life-log entry {entry.pk}",
                study=entry.participant.study, participant_code=entry.participant.public_code,
                detail={"entry": "withdrawn" if excluded else "restored"},
            )  # fmt: skip
        if excluded:
            _import_file_purge(entry.import_job_id)
        transaction.on_commit(lambda: _announce_change(entry.participant_id, withdrawn=excluded))
    return entry


def _import_file_purge(job_id: int | None) -> None:
    """The uploaded file behind a withdrawn entry goes (a finished job never reads it again); the job's record
    and the other entries it created stay."""
    job = ImportJob.objects.filter(pk=job_id, status__in=[ImportJob.Status.DONE, ImportJob.Status.FAILED]).first()
    if job is None or not job.file:
        return
    stored = job.file
    ImportJob.objects.filter(pk=job.pk).update(file="")
    transaction.on_commit(lambda: stored.delete(save=False))


def _announce_change(participant_id: int, withdrawn: bool = False) -> None:
    life_log_changed.send(sender=LifeLogEntry, participant_id=participant_id, withdrawn=withdrawn)
