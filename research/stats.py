"""Numbers behind the researcher dashboard. Each function returns plain rows (lists of dicts), so the
same numbers feed the plots and the CSV downloads."""

import math
from collections import defaultdict
from datetime import datetime, timedelta
from statistics import median

from django.db.models import Count, Max, Q, Sum
from django.utils import timezone

from chat.models import Attempt, ItemMemory, LLMContext, Puzzle, TrainingSession
from chat.scheduling import retrievability
from lifelog.models import LifeLogEntry
from studies.models import Participant, Study

FINISHED = [Puzzle.Outcome.RECALLED, Puzzle.Outcome.MISSED, Puzzle.Outcome.SKIPPED]


def week_start(now: datetime) -> datetime:
    local = timezone.localtime(now)
    return (local - timedelta(days=local.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)


def expected_sessions(participant: Participant, now: datetime) -> int:
    """Sessions the schedule asks for since enrolment (until withdrawal), counting the current week in full."""
    if participant.protocol_version is None:
        return 0
    until = participant.withdrawn_at or now
    weeks = max(0.0, (until - participant.created_at).total_seconds() / (7 * 86400))
    return math.ceil(weeks) * participant.protocol_version.sessions_per_week if weeks else 0


def study_overview(*, study: Study, now: datetime | None = None) -> list[dict]:
    """One row per participant: arm, protocol, enrolment, adherence, this week's sessions, context state."""
    now = now or timezone.now()
    this_week = week_start(now)
    participants = (
        study.participants.select_related("arm", "protocol_version")
        .annotate(
            sessions=Count(
                "training_sessions", filter=Q(training_sessions__puzzles__attempts__isnull=False), distinct=True
            ),
            sessions_this_week=Count(
                "training_sessions",
                filter=Q(
                    training_sessions__started_at__gte=this_week, training_sessions__puzzles__attempts__isnull=False
                ),
                distinct=True,
            ),
            last_session=Max("training_sessions__started_at"),
        )
        .order_by("public_code")
    )
    contexts = {
        participant_id: error if state == LLMContext.State.TOO_LONG else state  # "too long …: N of M tokens"
        for participant_id, state, error in LLMContext.objects.filter(participant__study=study).values_list(
            "participant_id", "state", "error"
        )
    }
    rows = []
    for p in participants:
        expected = expected_sessions(p, now)
        rows.append({
            "participant": p.public_code,
            "arm": p.arm.key if p.arm else "",
            "protocol_version": p.protocol_version.version if p.protocol_version else "",
            "status": p.status,
            "enrolled": timezone.localdate(p.created_at).isoformat(),
            "sessions": p.sessions,
            "expected_sessions": expected,
            "adherence": round(p.sessions / expected, 3) if expected else "",
            "sessions_this_week": p.sessions_this_week,
            "last_session": p.last_session.isoformat() if p.last_session else "",
            "context": contexts.get(p.pk, LLMContext.State.STALE),
        })  # fmt: skip
    return rows


def enrolment_by_arm(rows: list[dict]) -> list[dict]:
    counts: dict[str, dict] = defaultdict(lambda: {"active": 0, "withdrawn": 0})
    for row in rows:
        counts[row["arm"] or "(no arm)"][row["status"]] += 1
    return [{"arm": arm, **counts[arm]} for arm in sorted(counts)]


def accuracy_by_session(*, participant: Participant) -> list[dict]:
    """Per session and puzzle group: puzzles, share recalled, mean cue level reached."""
    rows = []
    puzzles = (
        Puzzle.objects.filter(session__participant=participant, outcome__in=FINISHED)
        .values("session_id", "session__started_at", "group__key")
        .annotate(
            puzzles=Count("id"),
            recalled=Count("id", filter=Q(outcome=Puzzle.Outcome.RECALLED)),
            cue_level_sum=Sum("cue_level"),
        )
        .order_by("session__started_at", "group__key")
    )
    numbers = {sid: n for n, sid in enumerate(_session_ids(participant), start=1)}
    for row in puzzles:
        rows.append({
            "session": numbers.get(row["session_id"], 0),
            "session_started_at": row["session__started_at"].isoformat(),
            "puzzle_group": row["group__key"],
            "puzzles": row["puzzles"],
            "accuracy": round(row["recalled"] / row["puzzles"], 3),
            "mean_cue_level": round(row["cue_level_sum"] / row["puzzles"], 3),
        })  # fmt: skip
    return rows


def _session_ids(participant: Participant) -> list[int]:
    return list(
        TrainingSession.objects.filter(participant=participant).order_by("started_at").values_list("id", flat=True)
    )


def response_times(*, participant: Participant) -> list[dict]:
    """Per session and puzzle group: attempts and the median response time."""
    by_key: dict[tuple[int, str], list[int]] = defaultdict(list)
    answered = Attempt.objects.filter(puzzle__session__participant=participant, outcome=Attempt.Outcome.ANSWERED)
    attempts = answered.values_list("puzzle__session_id", "puzzle__group__key", "response_time_ms")
    for session_id, group, ms in attempts:
        by_key[(session_id, group)].append(ms)
    numbers = {sid: n for n, sid in enumerate(_session_ids(participant), start=1)}
    return [
        {"session": numbers[sid], "puzzle_group": group, "attempts": len(times), "median_response_ms": median(times)}
        for (sid, group), times in sorted(by_key.items(), key=lambda item: (numbers[item[0][0]], item[0][1]))
    ]


def retention(*, participant: Participant, now: datetime | None = None) -> list[dict]:
    """FSRS state of each trained item: reviews, stability, due date and current retrievability."""
    now = now or timezone.now()
    memories = ItemMemory.objects.filter(entry__participant=participant).select_related("entry").order_by("entry_id")
    return [
        {
            "entry_id": memory.entry_id,
            "reviews": memory.reviews,
            "stability_days": round(memory.card.get("stability") or 0.0, 2),
            "due": memory.due.isoformat(),
            "retrievability": round(retrievability(memory, now), 3),
        }
        for memory in memories
    ]


def coverage(*, participant: Participant) -> list[dict]:
    """Per year of the life log: entries, and how many have been trained at least once."""
    trained = set(Puzzle.objects.filter(session__participant=participant).values_list("entry_id", flat=True))
    by_year: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for entry_id, occurred_at in LifeLogEntry.objects.filter(participant=participant, excluded=False).values_list(
        "id", "occurred_at"
    ):
        counts = by_year[occurred_at.year]
        counts[0] += 1
        counts[1] += entry_id in trained
    return [{"year": year, "entries": n, "trained": t} for year, (n, t) in sorted(by_year.items())]


PARTICIPANT_STATS = {
    "accuracy": accuracy_by_session,
    "response-times": response_times,
    "retention": retention,
    "coverage": coverage,
}
