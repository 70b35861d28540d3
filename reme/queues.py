"""Celery queues: which work runs on which queue, each consumed by a worker of its own.

Work that takes minutes (the LLM's: prefilling a life log's prefix, authoring puzzles) must never hold the
worker that small, urgent jobs (life-log imports) wait for, so it gets its own queue and worker. Settings
(CELERY_TASK_ROUTES) and `make run` (reme/runstack.py: one worker per queue) both read this table; add a
line to give more work a queue of its own.

Queue names derive from CELERY_QUEUE (the default queue), so several checkouts sharing one Redis never
consume each other's tasks; CELERY_<WORK>_QUEUE, e.g. CELERY_LLM_QUEUE or CELERY_IMPORTS_QUEUE, names one
explicitly.
Environment only, no Django: the launcher reads it before any settings exist.
"""

import os

# work -> the task names (Celery's glob patterns) routed to its queue
WORK_TASKS: dict[str, list[str]] = {
    "llm": ["chat.tasks.*"],  # chat's tasks are the LLM's work: prefill, authoring
    "imports": ["lifelog.tasks.ingest_import_job"],  # a researcher waits for an upload's verdict
}


def default_queue() -> str:
    return os.environ.get("CELERY_QUEUE", "reme")


def queue_for(work: str) -> str:
    return os.environ.get(f"CELERY_{work.upper()}_QUEUE") or f"{default_queue()}-{work}"


def task_routes() -> dict[str, dict[str, str]]:
    return {pattern: {"queue": queue_for(work)} for work, patterns in WORK_TASKS.items() for pattern in patterns}


def worker_queues() -> list[str]:
    """Every queue a worker must consume: the default one, then one per kind of work."""
    return [default_queue(), *(queue_for(work) for work in WORK_TASKS)]
