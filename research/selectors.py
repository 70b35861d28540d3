"""Reads of the research side, scoped to the researcher's studies."""

from django.db.models import QuerySet

from accounts.models import User
from chat.models import Attempt, TrainingSession
from studies.selectors import study_list


def training_session_list(*, user: User) -> QuerySet[TrainingSession]:
    return TrainingSession.objects.filter(participant__study__in=study_list(user=user)).select_related(
        "participant__study", "participant__arm", "protocol_version"
    )


def attempt_list(*, user: User) -> QuerySet[Attempt]:
    return Attempt.objects.filter(puzzle__session__participant__study__in=study_list(user=user)).select_related(
        "puzzle__session__participant__study", "puzzle__session__participant__arm", "puzzle__group", "puzzle__entry"
    )
