from django.db.models import Q, QuerySet
from django.http import Http404

from accounts.models import User
from research.models import Participant

from .models import ChatMessage, LLMContext, Puzzle, TrainingSession


def trainee_participant(*, user: User) -> Participant:
    participant = (
        Participant.objects.filter(user=user, status=Participant.Status.ACTIVE).first()
        if user.is_authenticated
        else None
    )
    if participant is None or not user.is_trainee:
        raise Http404("No trainee profile")
    return participant


def training_session_get(*, user: User, session_id: int) -> TrainingSession:
    """Only the trainee whose session it is may see or use it."""
    session = (
        TrainingSession.objects.filter(pk=session_id, participant__user=user).select_related("participant").first()
    )
    if session is None or not user.is_trainee:
        raise Http404("No such session")
    return session


def training_session_list(*, participant: Participant) -> QuerySet[TrainingSession]:
    return participant.training_sessions.all()


def open_training_session(*, participant: Participant) -> TrainingSession | None:
    return participant.training_sessions.exclude(status=TrainingSession.Status.ENDED).first()


def transcript(session: TrainingSession, after_seq: int = 0) -> list[ChatMessage]:
    """Messages after `after_seq`, plus any reply still being written (a reload must see it finish)."""
    unfinished = Q(status=ChatMessage.Status.STREAMING)
    return list(session.messages.filter(Q(seq__gt=after_seq) | unfinished).order_by("seq"))


def context_state(participant: Participant) -> str | None:
    """The LLM context's preparation state, or None when no LLM is in use."""
    context = LLMContext.objects.filter(participant=participant).first()
    return context.state if context else None


def session_state(session: TrainingSession) -> dict:
    current = session.puzzles.filter(outcome=Puzzle.Outcome.OPEN).order_by("-index").first()
    return {
        "status": session.status,
        "puzzle_index": current.index if current else session.puzzles.count(),
        "puzzles_planned": session.puzzles_planned,
        "context": context_state(session.participant) if session.model_name else None,
    }
