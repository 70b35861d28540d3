"""Reads of the chat: sessions, transcripts, puzzle groups, and what an LLM request of a participant needs."""

from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from accounts.models import User
from inference.prompt import prefix_sha256
from lifelog.models import LifeLogEntry
from studies.models import Participant, ProtocolVersion

from . import context, fixed_lines, phrasing, rows, verifier
from .judge import JudgeQuestion
from .llm import authoring_lock_key, llm_context_tokens, llm_user, participant_llm_url
from .models import (
    AuthoredPuzzle,
    ChatMessage,
    LLMContext,
    Puzzle,
    PuzzleGroup,
    RewordedLine,
    TrainingSession,
)
from .puzzles import EntryFacts, max_level


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


def trainee_participant_id(*, user: User) -> int | None:
    if not user.is_trainee:
        return None
    return Participant.objects.filter(user=user).values_list("pk", flat=True).first()


def transcript(session: TrainingSession, after_seq: int = 0) -> list[ChatMessage]:
    """Messages after `after_seq`, plus any reply still being written (a reload must see it finish)."""
    unfinished = Q(status=ChatMessage.Status.STREAMING)
    return list(session.messages.filter(Q(seq__gt=after_seq) | unfinished).order_by("seq"))


def open_puzzle(session: TrainingSession) -> Puzzle | None:
    """The puzzle awaiting an answer, with its group and (when the LLM wrote it) its authored row (read every
    turn: in fixed SQL, chat/rows.py)."""
    return rows.open_puzzle(session)


def context_state(participant: Participant) -> str | None:
    """The LLM context's preparation state, or None when no LLM is in use."""
    llm_context = LLMContext.objects.filter(participant=participant).first()
    if llm_context is None or llm_context.state == LLMContext.State.TOO_LONG:
        return None  # too long: nothing is being prepared; the trainee simply gets the templates
    return llm_context.state


CONTEXT_NOTICES = {
    LLMContext.State.STALE: "Your memory book is still being prepared for the assistant. You can start now; "
    "replies may be simpler for a little while.",
    LLMContext.State.PREPARING: "Your memory book is still being prepared for the assistant. You can start now; "
    "replies may be simpler for a little while.",
    # Preparation has stopped: saying "still being prepared" would promise something that is not coming.
    LLMContext.State.FAILED: "The assistant could not read your memory book today, so ReMe uses its own "
    "simple wording. Everything else works as usual.",
}


UNKNOWN = object()


def session_state(session: TrainingSession, current: Puzzle | None = UNKNOWN) -> dict:
    """What the page shows beside the transcript. `current`: the open puzzle when the caller knows it (None:
    none is open), which saves the queries."""
    if current is UNKNOWN:
        current = session.puzzles.filter(outcome=Puzzle.Outcome.OPEN).order_by("-index").first()
    context = context_state(session.participant) if session.model_name else None
    asked = getattr(session, "puzzles_asked", None) if current is None else None
    return {
        "status": session.status,
        "puzzle_index": current.index if current else asked if asked is not None else session.puzzles.count(),
        "puzzles_planned": session.puzzles_planned,
        "context": context,
        "context_notice": CONTEXT_NOTICES.get(context, ""),
    }


def session_summary(session: TrainingSession) -> str:
    """The closing message: how each puzzle of the session went."""
    puzzles = list(session.puzzles.select_related("group"))
    recalled = [puzzle for puzzle in puzzles if puzzle.outcome == Puzzle.Outcome.RECALLED]
    lines = [f"That's the end of today's session. You answered {len(recalled)} of {len(puzzles)} puzzles."]
    for puzzle in puzzles:
        lines.append(f"• Puzzle {puzzle.index} ({puzzle.group.title}): {_how_recalled(puzzle)}")
    lines.append("Thank you for taking part. Every session helps — see you next time!")
    return "\n".join(lines)


def _how_recalled(puzzle: Puzzle) -> str:
    if puzzle.outcome == Puzzle.Outcome.SKIPPED:
        return "skipped"
    if puzzle.outcome != Puzzle.Outcome.RECALLED:
        return "we went through it together"
    level = puzzle.recalled_at_level or 0
    if puzzle.payload.get("recognition") and level == max_level(puzzle.payload):
        return "recognised from a list"
    if level == 0:
        return "remembered without any clues"
    return f"remembered with {level} clue{'s' if level > 1 else ''}"


# -- what a new puzzle is built from ------------------------------------------------------------------


def entry_facts_list(*, participant: Participant, only_ids: set[int] | None = None) -> list[EntryFacts]:
    """The participant's entries that may be asked about, as the facts puzzles are built from; with `only_ids`,
    only those (the entries an LLM prefix holds: work written over it cites nothing it did not see)."""
    entries = rows.entries_askable(participant.pk)
    return [EntryFacts.from_entry(entry, participant.timezone) for entry in entries
            if only_ids is None or entry.id in only_ids]  # fmt: skip


def entry_ids_asked(
    *, session: TrainingSession, days: int = 0, now: datetime | None = None, this_session: bool = True
) -> set[int]:
    """Entries this session asked about (unless not `this_session`), and with `days`, any session of the
    participant in that many days."""
    asked: set[int] = set()
    if days:
        asked |= rows.entry_ids_since(session.participant_id, now - timedelta(days=days))
    if this_session:
        asked |= rows.entry_ids_of_session(session.pk)
    return asked


def entry_ids_asked_lately(*, participant_id: int, days: int) -> set[int]:
    """Entries any session of the participant asked about in the last `days` days (none for 0)."""
    return rows.entry_ids_since(participant_id, timezone.now() - timedelta(days=days)) if days else set()


def item_due_dates(*, participant_id: int) -> dict[int, datetime]:
    """When each trained entry is next due (FSRS)."""
    return rows.item_due_dates(participant_id)


def finished_puzzle_list(*, participant_id: int, group_key: str, limit: int) -> list[Puzzle]:
    """The participant's latest finished puzzles of a group, newest first (their outcome and recall level)."""
    return rows.puzzles_finished(participant_id=participant_id, group_key=group_key, limit=limit)


# -- puzzle groups -------------------------------------------------------------------------------------


def latest_groups(keys: list[str] | None = None) -> list[PuzzleGroup]:
    """The newest version of each active group: those named, else the default rotation (a group whose rules
    say `"default_rotation": false`, such as llm-authored, is offered only when named or pinned)."""
    groups = {}
    for group in rows.puzzle_groups_active():  # rows are never edited: read once per process (chat/rows.py)
        groups.setdefault(group.key, group)
    wanted = keys or sorted(key for key, group in groups.items() if group.rules.get("default_rotation", True))
    return [groups[key] for key in wanted if key in groups]


def pinned_groups(protocol: ProtocolVersion) -> list[PuzzleGroup]:
    """The exact group versions a protocol pins, in its order (a newer version never leaks in)."""
    by_pin = {(g.key, g.version): g for g in rows.puzzle_groups_of([pin["key"] for pin in protocol.puzzle_groups])}
    return [
        by_pin[(pin["key"], pin["version"])] for pin in protocol.puzzle_groups if (pin["key"], pin["version"]) in by_pin
    ]


def session_groups(session: TrainingSession) -> list[PuzzleGroup]:
    if session.protocol_version_id:
        return pinned_groups(session.protocol_version)
    return latest_groups(session.group_keys)


def puzzle_pins_unknown(*, pins: list[dict]) -> list[dict]:
    """The pins that name no puzzle group version."""
    return [
        pin for pin in pins if not PuzzleGroup.objects.filter(key=pin.get("key"), version=pin.get("version")).exists()
    ]


# -- what an LLM request needs ------------------------------------------------------------------------------


def participant_llm_model(participant_id: int) -> str:
    """The model the participant's protocol pins ("" for templates only), else the server default; "" for a
    withdrawn or deleted participant, whose life log is never sent to an LLM again."""
    participant = Participant.objects.select_related("protocol_version").filter(pk=participant_id).first()
    if participant is None or participant.status == Participant.Status.WITHDRAWN:
        return ""
    protocol = participant.protocol_version
    return protocol.model_name if protocol else settings.LLM_MODEL


def _prefix(participant_id: int, life_log_tokens: int | None = None) -> list[dict]:
    context_tokens = llm_context_tokens(participant_id)

    def build() -> list[dict]:
        entries = LifeLogEntry.objects.filter(participant_id=participant_id, excluded=False)
        return context.prefix_build(entries, context_tokens, life_log_tokens)

    return context.prefix_cached(participant_id, build, context_tokens, life_log_tokens)


def llm_prefix_get(participant_id: int) -> list[dict]:
    """[system prompt][life log] of the participant (as much as the model holds), built once per change of the
    life log."""
    return _prefix(participant_id)


def llm_prefix_recent(participant_id: int) -> list[dict] | None:
    """The short context prepared first: [system prompt][the most recent entries, LLM_WARM_CONTEXT_TOKENS of life
    log]; None when there is none (turned off, or the whole life log is no longer than that)."""
    if not settings.LLM_WARM_CONTEXT_TOKENS:
        return None
    recent = _prefix(participant_id, settings.LLM_WARM_CONTEXT_TOKENS)
    return None if recent == llm_prefix_get(participant_id) else recent


def llm_prefix_active(participant_id: int) -> list[dict]:
    """The prefix the LLM's work is asked over now: the whole life log once the server holds it; until then the
    short context of recent entries when the server holds that; else the whole one. Work done over the short
    context cites only its entries, so it stays valid after the switch."""
    whole = llm_prefix_get(participant_id)
    row = LLMContext.objects.filter(participant_id=participant_id).values("state", "prefix_sha256", "recent_sha256")
    row = row.first()
    if not row or not row["recent_sha256"]:
        return whole
    if row["state"] == LLMContext.State.READY and row["prefix_sha256"] == prefix_sha256(whole):
        return whole
    recent = llm_prefix_recent(participant_id)
    return recent if recent is not None and prefix_sha256(recent) == row["recent_sha256"] else whole


def phrase_request_get(*, message_id: int) -> phrasing.PhraseRequest | None:
    """What rewording a bot message needs, or None when it is no longer being written."""
    message = ChatMessage.objects.select_related("session", "puzzle").get(pk=message_id)
    if message.status != ChatMessage.Status.STREAMING:
        return None
    session, puzzle, puzzle_id = message.session, message.puzzle, message.puzzle_id
    # A withdrawn entry is never sent, even in the moment before its puzzle is closed.
    entries = (
        list(
            LifeLogEntry.objects.filter(participant_id=session.participant_id, id__in=puzzle.entry_ids).exclude(
                excluded=True
            )
        )
        if puzzle
        else []
    )
    recent = list(reversed(session.messages.filter(seq__lt=message.seq).order_by("-seq")[: phrasing.RECENT_TURNS]))
    others = [m.text or m.template_text for m in recent if m.role == ChatMessage.Role.BOT and m.puzzle_id != puzzle_id]
    prefix = llm_prefix_active(session.participant_id)
    request = phrasing.build_request(
        seq=message.seq,
        template_text=message.template_text,
        prefix=prefix,
        entries=entries,
        dialogue=[(m.get_role_display(), m.text) for m in recent],
        answer=puzzle.payload.get("answer", "") if puzzle else "",
        base_url=participant_llm_url(session.participant_id),
        model=session.model_name,
        zone=session.participant.timezone,
        others=others,
        user=llm_user(session.participant_id),
    )
    request.fits = not LLMContext.objects.filter(
        participant_id=session.participant_id, state=LLMContext.State.TOO_LONG, prefix_sha256=prefix_sha256(prefix)
    ).exists()
    return request


def judge_question_get(*, session_id: int) -> JudgeQuestion | None:
    """The open puzzle when it awaits a free-text recall and the session uses an LLM at all (a
    templates-only protocol is never judged by one)."""
    session = TrainingSession.objects.get(pk=session_id)
    puzzle = open_puzzle(session)
    if puzzle is None or "expected" not in puzzle.payload or puzzle.cue_level >= max_level(puzzle.payload):
        return None
    if not session.model_name:
        return None
    return JudgeQuestion(puzzle_id=puzzle.pk, cue_level=puzzle.cue_level, expected=puzzle.payload["expected"],
                         participant_id=session.participant_id, model=session.model_name)  # fmt: skip


# -- LLM-authored puzzles ------------------------------------------------------------------------------------


def authoring_wanted(*, participant_id: int) -> bool:
    """Whether the LLM should write puzzles for this participant: their protocol pins the llm-authored group
    and names a model (templates-only protocols and the default rotation never ask for them)."""
    participant = Participant.objects.select_related("protocol_version").get(pk=participant_id)
    protocol = participant.protocol_version
    if protocol is None or not protocol.model_name or not settings.LLM_BASE_URL:
        return False
    return any(pin.get("key") == "llm-authored" for pin in protocol.puzzle_groups)


def authored_group_for(*, participant_id: int) -> PuzzleGroup | None:
    """The llm-authored group version the participant's sessions show (its `rules.kinds`: the kinds they can
    show): the version their protocol pins, else the newest."""
    participant = Participant.objects.select_related("protocol_version").get(pk=participant_id)
    protocol = participant.protocol_version
    pin = next((p for p in (protocol.puzzle_groups if protocol else []) if p.get("key") == "llm-authored"), None)
    versions = PuzzleGroup.objects.filter(key="llm-authored")
    if pin is not None:
        versions = versions.filter(version=pin.get("version"))
    return versions.order_by("-version").first()


def llm_work_get(*, participant: Participant) -> dict:
    """Where the LLM's work for a participant stands, for the researcher's page: the context's state and since
    when, its size (the server's count once ready, the platform's estimate while it is read), how far the server
    has read it and when it may finish at the pace so far, whether the short context of recent entries is held
    meanwhile, and whether the LLM worker is writing the participant's puzzles and rewordings right now. A read:
    nothing is asked of the LLM."""
    row = LLMContext.objects.filter(participant=participant).first()
    state = row.state if row else LLMContext.State.STALE
    return {
        "state": state,
        "since": row.updated_at if row else None,
        "prefix_tokens": _thousands(row.prefix_tokens if row else 0),
        "context_tokens": _thousands(row.context_tokens if row else 0),
        "error": row.error if row else "",
        **(_reading(row) if state == LLMContext.State.PREPARING else {}),
        # Used by sessions until the whole life log is held (chat.selectors.llm_prefix_active).
        "recent": bool(row and row.recent_sha256) and state != LLMContext.State.READY,
        "recent_entries": row.recent_entries if row else None,
        "recent_tokens": _thousands(row.recent_tokens if row else 0),
        "writing": bool(cache.get(authoring_lock_key(participant.pk))),
        "used": bool(row) or bool(settings.LLM_BASE_URL and participant_llm_model(participant.pk)),
        "authoring": authoring_wanted(participant_id=participant.pk),
    }


def _thousands(value: int | None) -> str:
    return f"{value:,}" if value else ""


def _reading(row: LLMContext) -> dict:
    """How much of the prefix the server has read, and the minutes left at the pace so far (none until it has
    read some: the first batches say little)."""
    read, total = row.read_tokens or 0, row.prefix_tokens or 0
    if not read or not total:
        return {}
    elapsed = (timezone.now() - row.updated_at).total_seconds()
    left_s = (total - read) * elapsed / read if elapsed > 0 else 0
    return {"read_tokens": f"{read:,}", "read_percent": min(100, round(100 * read / total)),
            "minutes_left": max(1, round(left_s / 60)) if read < total else 0}  # fmt: skip


def authored_puzzle_counts(*, participant_ids: list[int]) -> dict[int, dict]:
    """Per participant: how many authored puzzles are ready, used and rejected, and the rejection reasons by
    rule (for the researcher; the caller has already scoped `participant_ids` to their studies)."""
    counts: dict[int, dict] = {pid: {"ready": 0, "used": 0, "rejected": 0, "reasons": {}} for pid in participant_ids}
    rows = AuthoredPuzzle.objects.filter(participant_id__in=participant_ids).values_list(
        "participant_id", "status", "reasons"
    )
    for participant_id, status, reasons in rows:
        row = counts[participant_id]
        row[status] += 1
        for reason in reasons:
            rule = reason.split(" '")[0].split(":")[0]
            row["reasons"][rule] = row["reasons"].get(rule, 0) + 1
    return counts


def authored_plan_keys_accepted(*, participant_id: int) -> list[str]:
    """The plan keys of the participant's accepted authored puzzles (ready or used), on any prefix: what new
    plans should not repeat (chat.authoring.plans_for)."""
    return list(AuthoredPuzzle.objects.filter(participant_id=participant_id)
                .exclude(status=AuthoredPuzzle.Status.REJECTED).values_list("plan_key", flat=True))  # fmt: skip


# -- rewordings of the fixed lines, written ahead of time ----------------------------------------------------


def reworded_line_pick(*, participant_id: int, key: str, model_name: str, turn: int) -> RewordedLine | None:
    """A ready rewording of a fixed line (chat.fixed_lines), written by the session's model for the line as it
    reads now and still passing the verifier as it is now; `turn` chooses among several (the same turn, the
    same choice). None: the session shows the line as written. A read, never a wait for the LLM."""
    if not model_name:  # a templates-only protocol never shows LLM text
        return None
    line = fixed_lines.LINES[key]
    ready = [
        row
        for row in RewordedLine.objects.filter(
            participant_id=participant_id, line_key=key, status=RewordedLine.Status.READY, model_name=model_name,
            template=line.text,
        ).order_by("id")
        if not verifier.check_fixed_line(row.text, template=line.text, keep=line.keep, forbid=line.forbid)
    ]  # fmt: skip
    return ready[turn % len(ready)] if ready else None
