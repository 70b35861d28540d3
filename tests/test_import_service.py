"""The import service against real PostgreSQL+pgvector and the real embedding model."""

import json
from pathlib import Path

import numpy as np
import pytest

from lifelog.importers import ImportFailed
from lifelog.models import ImportJob, LifeLogEntry
from lifelog.services import import_job_create, import_job_run
from lifelog.tasks import ingest_import_job
from tests.conftest import jpeg_with_exif

GOOD = json.dumps(
    {
        "entries": [
            {"when": "2025-05-03T14:30", "title": "Picnic in the park", "people": ["Sarah"], "place": "Parks"},
            {"when": "2025-06-01", "title": "Planted tomatoes", "description": "In the back garden"},
            {"when": "2025-07", "title": "<script>alert('x')</script>", "description": "<img src=x onerror=y>"},
        ]
    }
).encode()


def run_import(participant, data: bytes, filename: str = "log.json") -> ImportJob:
    job = import_job_create(participant=participant, filename=filename, data=data, created_by=None, enqueue=False)
    return import_job_run(job_id=job.pk)


def test_import_stores_entries_with_embeddings(world):
    job = run_import(world.participant_a, GOOD)
    assert (job.status, job.created_count, job.duplicate_count, job.attempts) == ("done", 3, 0, 1)
    assert (job.progress_done, job.progress_total) == (3, 3)
    picnic = LifeLogEntry.objects.get(title="Picnic in the park")
    assert picnic.participant == world.participant_a and picnic.people == ["Sarah"] and picnic.source == "json"
    vector = np.asarray(picnic.embedding)
    assert vector.shape == (384,) and np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-4)
    stored = LifeLogEntry.objects.get(time_precision="month")
    assert stored.title == "<script>alert('x')</script>" and stored.description == "<img src=x onerror=y>"


def test_reimport_creates_no_duplicates(world):
    run_import(world.participant_a, GOOD)
    again = run_import(world.participant_a, GOOD)
    assert (again.status, again.created_count, again.duplicate_count) == ("done", 0, 3)
    assert LifeLogEntry.objects.filter(participant=world.participant_a).count() == 3
    # the same content for another participant is theirs, not a duplicate
    assert run_import(world.participant_b, GOOD).created_count == 3


def test_overlapping_file_adds_only_new_entries(world):
    run_import(world.participant_a, GOOD)
    entries = json.loads(GOOD)["entries"] + [{"when": "2025-08-01", "title": "New one"}]
    job = run_import(world.participant_a, json.dumps(entries).encode())
    assert (job.created_count, job.duplicate_count) == (1, 3)


def test_bad_file_stores_nothing_and_reports_every_error(world):
    bad = b"date,title\n2025-05-03,Fine row\nnot-a-date,Bad row\n2025-05-05,\n"
    job = run_import(world.participant_a, bad, "log.csv")
    assert job.status == "failed"
    assert LifeLogEntry.objects.count() == 0
    assert [(e["line"], e["field"]) for e in job.errors] == [(3, "date"), (4, "title")]
    assert all(e["file"] == "log.csv" for e in job.errors)


def test_running_a_finished_job_again_changes_nothing(world):
    job = run_import(world.participant_a, GOOD)
    rerun = import_job_run(job_id=job.pk)
    assert (rerun.status, rerun.attempts) == ("done", 1)
    assert LifeLogEntry.objects.count() == 3


def test_too_large_upload_is_refused_before_storing(world, settings):
    settings.LIFELOG_MAX_UPLOAD_BYTES = 1000
    with pytest.raises(ImportFailed, match=r"log.json: the file is 0.0 MB; the limit is 0 MB"):
        import_job_create(participant=world.participant_a, filename="log.json", data=b"x" * 1001, created_by=None)
    assert ImportJob.objects.count() == 0


def test_entry_count_limit(world, settings):
    settings.LIFELOG_MAX_ENTRIES_PER_FILE = 2
    job = run_import(world.participant_a, GOOD)
    assert job.status == "failed" and "the file has 3 entries; the limit is 2" in job.errors[0]["message"]
    assert LifeLogEntry.objects.count() == 0


def test_photo_import_keeps_the_photo(world):
    job = run_import(world.participant_a, jpeg_with_exif(), "garden_party.jpg")
    entry = LifeLogEntry.objects.get(import_job=job)
    assert entry.source == "photo" and entry.photo.name.endswith("garden_party.jpg")
    assert entry.photo.read()[:2] == b"\xff\xd8"


def test_naive_times_use_the_participants_zone(world):
    run_import(world.participant_a, b'[{"when": "2025-07-01T12:00", "title": "Lunch"}]')
    assert LifeLogEntry.objects.get().occurred_at.isoformat() == "2025-07-01T11:00:00+00:00"  # BST = UTC+1


def test_task_that_crashes_marks_the_job_failed(world):
    """A job must never stay 'running' after its task gave up (here: its stored file vanished)."""
    job = import_job_create(participant=world.participant_a, filename="log.json", data=GOOD, created_by=None,
                            enqueue=False)  # fmt: skip
    job.file.storage.delete(job.file.name)
    result = ingest_import_job.apply(args=[job.pk])
    assert isinstance(result.result, FileNotFoundError)
    job.refresh_from_db()
    assert job.status == "failed" and "internal error (FileNotFoundError)" in job.errors[0]["message"]
    assert LifeLogEntry.objects.count() == 0


@pytest.mark.parametrize("name", ["../../etc/passwd.json", "my diary <b>2025</b>.txt", "...json"])
def test_odd_file_names_are_stored_safely(world, name, settings):
    job = import_job_create(participant=world.participant_a, filename=name, data=b"x", created_by=None, enqueue=False)
    stored = Path(job.file.path).resolve()
    assert stored.is_relative_to(Path(settings.MEDIA_ROOT).resolve()) and ".." not in stored.parts
    assert job.original_name == name  # shown to the researcher as uploaded (escaped in pages)


def test_a_name_without_type_is_refused_clearly(world):
    with pytest.raises(ImportFailed, match=r"\.\.: unsupported file type '\(none\)'"):
        import_job_create(participant=world.participant_a, filename="..", data=b"x", created_by=None)
