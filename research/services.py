from django.db import transaction

from accounts.models import User

from .models import Participant, ParticipantIdentity, Study


@transaction.atomic
def study_create(*, name: str, slug: str, researchers: list[User], description: str = "") -> Study:
    study = Study(name=name, slug=slug, description=description)
    study.full_clean()
    study.save()
    study.researchers.set(researchers)
    return study


@transaction.atomic
def participant_enroll(
    *,
    study: Study,
    user: User | None = None,
    timezone: str = "UTC",
    full_name: str = "",
    email: str = "",
) -> Participant:
    participant = Participant(study=study, user=user, timezone=timezone)
    participant.full_clean()
    participant.save()
    ParticipantIdentity.objects.create(participant=participant, full_name=full_name, email=email)
    return participant
