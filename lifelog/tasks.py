import logging

from asgiref.sync import async_to_sync
from celery import shared_task
from channels.layers import get_channel_layer
from django.db import OperationalError
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import RedisError

from .models import ImportJob
from .services import import_job_mark_crashed, import_job_run, import_jobs_requeue_stale

logger = logging.getLogger(__name__)


def import_job_group(job_id: int) -> str:
    return f"import_job_{job_id}"


def import_job_state(job: ImportJob) -> dict:
    return {
        "id": job.pk,
        "status": job.status,
        "label": job.progress_label,
        "done": job.progress_done,
        "total": job.progress_total,
        "created": job.created_count,
        "duplicates": job.duplicate_count,
        "errors": job.errors,
    }


def _broadcast(job: ImportJob) -> None:
    """Progress for open pages; best effort: a Redis outage must not fail the import."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(
            import_job_group(job.pk), {"type": "job.progress", "state": import_job_state(job)}
        )
    except (RedisError, OSError) as error:
        logger.warning("import %s: progress not broadcast (%s)", job.pk, error)


# acks_late + reject_on_worker_lost (settings): a killed worker's task goes back on the queue,
# and import_job_run is idempotent, so the retry finishes the job exactly once.
@shared_task(bind=True, retry_backoff=True, max_retries=5)
def ingest_import_job(self, job_id: int) -> str:
    try:
        return import_job_run(job_id=job_id, on_progress=_broadcast).status
    except (ConnectionError, OperationalError, BrokerError, RedisError) as exc:  # the database or broker blinked
        if self.request.retries < self.max_retries:
            raise self.retry(exc=exc) from exc
        import_job_mark_crashed(job_id=job_id, error=exc)
        raise
    except ImportJob.DoesNotExist:
        return "missing"  # deleted (with its participant) before the worker got to it
    except Exception as exc:
        import_job_mark_crashed(job_id=job_id, error=exc)
        raise


@shared_task(ignore_result=True)
def import_jobs_sweep() -> list[int]:
    """Run by Celery beat (settings.CELERY_BEAT_SCHEDULE): re-queue imports whose worker or message was lost."""
    return import_jobs_requeue_stale()
