"""Reads of the research side, scoped to the researcher's studies."""

from collections import Counter

from django.apps import apps
from django.db.models import QuerySet

from accounts.models import User
from chat.models import Attempt, RewordedLine, TrainingSession
from studies.models import Participant
from studies.selectors import study_list


def training_session_list(*, user: User) -> QuerySet[TrainingSession]:
    return TrainingSession.objects.filter(participant__study__in=study_list(user=user)).select_related(
        "participant__study", "participant__arm", "protocol_version"
    )


def attempt_list(*, user: User) -> QuerySet[Attempt]:
    return Attempt.objects.filter(puzzle__session__participant__study__in=study_list(user=user)).select_related(
        "puzzle__session__participant__study", "puzzle__session__participant__arm", "puzzle__group", "puzzle__entry"
    )


def authored_puzzle_summary(*, participant: Participant) -> dict | None:
    """How many LLM-authored puzzles of a participant (whom the caller may see) are ready, accepted and
    rejected, with the rejections' reasons, most frequent first; None where puzzles are not authored at all
    (no AuthoredPuzzle model in this installation)."""
    try:
        authored = apps.get_model("chat", "AuthoredPuzzle")
    except LookupError:
        return None
    rows = list(authored.objects.filter(participant=participant).values_list("status", "reasons"))
    statuses = Counter(status for status, _ in rows)
    reasons = Counter(reason for status, found in rows if status == "rejected" for reason in found or ["(none given)"])
    return {
        "ready": statuses["ready"],
        "accepted": statuses["ready"] + statuses["used"],
        "rejected": statuses["rejected"],
        "reasons": reasons.most_common(8),
    }


def reworded_line_summary(*, participant: Participant) -> dict:
    """How many rewordings of the chat's fixed lines the LLM wrote ahead of time for a participant (whom the
    caller may see) were accepted and rejected, with the rejections' reasons, most frequent first."""
    rows = list(RewordedLine.objects.filter(participant=participant).values_list("status", "reasons"))
    statuses = Counter(status for status, _ in rows)
    reasons = Counter(reason.split(" /")[0] for status, found in rows if status == "rejected" for reason in found)
    return {"ready": statuses["ready"], "rejected": statuses["rejected"], "reasons": reasons.most_common(8)}
