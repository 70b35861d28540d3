from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from studies.selectors import trainee_participant

from .selectors import open_training_session, session_state, training_session_get, training_session_list, transcript
from .services import bot_messages_finish_stale, training_session_start


@login_required
def train_home_view(request: HttpRequest) -> HttpResponse:
    participant = trainee_participant(user=request.user)
    sessions = training_session_list(participant=participant).prefetch_related("puzzles")[:20]
    context = {"open_session": open_training_session(participant=participant), "sessions": sessions}
    return render(request, "chat/home.html", context)


@login_required
@require_POST
def train_start_view(request: HttpRequest) -> HttpResponse:
    session = training_session_start(participant=trainee_participant(user=request.user))
    return redirect("chat:session", session_id=session.pk)


@login_required
def train_session_view(request: HttpRequest, session_id: int) -> HttpResponse:
    session = training_session_get(user=request.user, session_id=session_id)
    bot_messages_finish_stale(session_id=session.pk)  # a reply whose writer went away shows its template
    context = {"session": session, "transcript": transcript(session), "state": session_state(session)}
    return render(request, "chat/session.html", context)
