"""Training-session writes. Every trainee action is applied once (keyed by the browser's id), inside one
transaction that stores the message, the trial record and the bot's reply before anything is sent."""

import hashlib
import random
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from lifelog.models import LifeLogEntry
from studies.models import CuePolicy, Participant, ProtocolVersion
from studies.scoring_policy import STANDARD, ScoringPolicy

from . import fixed_lines, rows, scheduling, verifier
from .authored_store import authored_puzzle_mark_used, authored_puzzle_take
from .models import (
    Attempt,
    AuthoredPuzzle,
    ChatMessage,
    LLMContext,
    Puzzle,
    PuzzleGroup,
    PuzzleKind,
    PuzzleSource,
    RewordedLine,
    TextSource,
    TrainingSession,
)
from .not_knowing import says_not_knowing
from .prefill import prefill_soon
from .puzzle_defaults import SHIPPED_GROUPS
from .puzzles import KINDS, BuiltPuzzle, EntryFacts, NotEnoughEntries, max_level, prompt_at
from .puzzles.authored import NoneReady
from .puzzles.base import is_recognition
from .scoring import Score
from .scoring_describe import feedback as describe_feedback
from .selectors import (
    entry_facts_list,
    entry_ids_asked,
    finished_puzzle_list,
    item_due_dates,
    latest_groups,
    open_puzzle,
    pinned_groups,
    reworded_line_pick,
    session_groups,
    session_state,
    session_summary,
)

MAX_ANSWER_CHARS = 1000
MAX_REPLAYED_MESSAGES = 20  # a resend gets back at most this many bot messages


class ActionRefused(Exception):
    """A trainee action that cannot apply now; the message is shown to the trainee as is."""


@dataclass
class ActionResult:
    duplicate: bool
    trainee_message: ChatMessage | None
    bot_messages: list[ChatMessage] = field(default_factory=list)
    state: dict = field(default_factory=dict)


def puzzle_groups_install_defaults() -> None:
    """The shipped groups (the data migrations store them too; a flushed database needs them back)."""
    for group in SHIPPED_GROUPS:
        version = group.get("version", 1)
        PuzzleGroup.objects.get_or_create(key=group["key"], version=version, defaults={**group, "version": version})


def llm_model_name(protocol: ProtocolVersion | None = None) -> str:
    """The model that phrases this session: the protocol's pin (blank = templates), else the server default."""
    if not settings.LLM_BASE_URL:
        return ""
    return protocol.model_name if protocol is not None else settings.LLM_MODEL


def training_session_start(
    *, participant: Participant, puzzles: int | None = None, group_keys: list[str] | None = None, now=None
) -> TrainingSession:
    """The trainee's open session if there is one, else a new one with its first puzzle asked."""
    now = now or timezone.now()
    with transaction.atomic():
        Participant.objects.select_for_update().get(pk=participant.pk)
        open_session = participant.training_sessions.exclude(status=TrainingSession.Status.ENDED).first()
        if open_session:
            return open_session
        if participant.status != Participant.Status.ACTIVE:
            raise ActionRefused("This participation has ended.")
        protocol = participant.protocol_version
        groups = pinned_groups(protocol) if protocol else latest_groups(group_keys)
        default_puzzles = protocol.puzzles_per_session if protocol else settings.CHAT_PUZZLES_PER_SESSION
        session = TrainingSession.objects.create(
            participant=participant,
            protocol_version=protocol,
            puzzles_planned=puzzles or default_puzzles,
            group_keys=[group.key for group in groups],
            model_name=llm_model_name(protocol),
            seed=secrets.randbits(48),
        )
        _bot_say(session, fixed_lines.GREETING.text, now=now, line=fixed_lines.GREETING.key)
        _next_puzzle(session, now=now)
        prefill_soon(participant.pk)  # a no-op when the context is already ready for this prefix
    return session


def _next_seq(session: TrainingSession) -> int:
    """Next message number. Callers hold the session row's lock, so the counter is read once per action."""
    if not hasattr(session, "_last_seq"):
        known = getattr(session, "last_seq", None)  # annotated by _session_locked
        session._last_seq = known if known is not None else session.messages.aggregate(top=Max("seq"))["top"] or 0
    session._last_seq += 1
    return session._last_seq


def _bot_say(
    session: TrainingSession,
    text: str,
    *,
    now: datetime,
    puzzle: Puzzle | None = None,
    phrase: bool = False,
    line: str = "",
) -> ChatMessage:
    """A bot message. With an LLM configured, `phrase` messages are reworded (and grounding-checked) while
    streaming; the template text is what the trainee sees otherwise. `line`: the key of the fixed line that
    `text` starts with (chat.fixed_lines); a verified rewording of it written ahead of time for the session's
    model is shown in its place at once (the rest of `text` as is), and nothing streams."""
    reworded = _reworded_line(session, line, puzzle) if line else None
    if reworded is not None:
        message = ChatMessage.objects.create(
            session=session, seq=_next_seq(session), role=ChatMessage.Role.BOT, puzzle=puzzle,
            text=reworded.text + text.removeprefix(reworded.template), template_text=text,
            status=ChatMessage.Status.COMPLETE, completed_at=now, text_source=TextSource.LLM_REWORDED,
            llm_prompt_hash=reworded.prompt_sha256, verifier_version=verifier.VERSION,
        )  # fmt: skip
        if hasattr(session, "said"):
            session.said.append(message)
        return message
    streaming = phrase and bool(session.model_name)
    message = ChatMessage.objects.create(
        session=session,
        seq=_next_seq(session),
        role=ChatMessage.Role.BOT,
        puzzle=puzzle,
        text="" if streaming else text,
        template_text=text,
        status=ChatMessage.Status.STREAMING if streaming else ChatMessage.Status.COMPLETE,
        completed_at=None if streaming else now,
    )
    if hasattr(session, "said"):
        session.said.append(message)
    return message


def _reworded_line(session: TrainingSession, key: str, puzzle: Puzzle | None) -> RewordedLine | None:
    turn = session.seed + (puzzle.index * 7 + puzzle.cue_level if puzzle else 0)  # varies along the session
    return reworded_line_pick(participant_id=session.participant_id, key=key, model_name=session.model_name,
                              turn=turn)  # fmt: skip


def _build_puzzle(session: TrainingSession, group: PuzzleGroup, pool: list[EntryFacts], rng: random.Random, now,
                  due_by_entry: dict, in_session: set[int]):  # fmt: skip
    days = group.rules.get("min_gap_days", 0)
    asked = in_session | (entry_ids_asked(session=session, days=days, now=now, this_session=False) if days else set())
    eligible = [
        facts
        for facts in pool
        if scheduling.qualifies(facts, group.rules, now)
        and (facts.id not in asked or (facts.id in due_by_entry and due_by_entry[facts.id] <= now))
    ]
    if group.kind == PuzzleKind.LLM_AUTHORED:
        return _take_authored(session, group, avoid=in_session | asked)
    eligible = [facts for facts in eligible if facts.id not in in_session]
    candidates = scheduling.rank_candidates(eligible, due_by_entry, now, rng)
    return KINDS[group.kind].build(group.templates, group.rules, candidates, pool, rng)


def _take_authored(session: TrainingSession, group: PuzzleGroup, avoid: set[int]) -> BuiltPuzzle:
    """A verified puzzle the LLM wrote ahead of time, of a kind the session's group version shows; none ready:
    the session fills in with a template group."""
    authored = authored_puzzle_take(participant_id=session.participant_id, avoid_entry_ids=avoid,
                                    kinds=group.rules.get("kinds"))  # fmt: skip
    if authored is None:
        raise NoneReady("no verified LLM-authored puzzle is ready")
    provenance = {
        "model": authored.model_name,
        "prompt_hash": authored.prompt_sha256,
        "verifier_version": authored.verifier_version,
    }  # read back by the trial record
    return BuiltPuzzle(entry_id=authored.evidence_ids[0], entry_ids=list(authored.evidence_ids),
                       payload={**authored.payload, "authored": provenance}, authored_id=authored.pk)  # fmt: skip


def _next_puzzle(session: TrainingSession, *, now: datetime, after: Puzzle | None = None) -> Puzzle | None:
    """The next puzzle asked (`after`: the session's latest puzzle, just finished), or the session's end."""
    latest = after.index if after is not None else session.puzzles.aggregate(top=Max("index"))["top"]
    index = (latest or 0) + 1
    if index > session.puzzles_planned:
        _end_session(session, now=now, puzzles=index - 1)
        return None
    groups = session_groups(session)
    rng = random.Random(session.seed * 1000 + index)
    pool = entry_facts_list(participant=session.participant)
    due_by_entry = item_due_dates(participant_id=session.participant_id)
    in_session = entry_ids_asked(session=session) if index > 1 else set()
    first = (index - 1) % max(len(groups), 1)
    order = groups[first:] + groups[:first]
    if _authored_turn_missed(session, groups, index):  # one is tried first; none ready: the rotation as usual
        order.sort(key=lambda group: group.kind != PuzzleKind.LLM_AUTHORED)
    skipped: list[PuzzleGroup] = []
    for group in order:
        try:
            built = _build_puzzle(session, group, pool, rng, now, due_by_entry, in_session)
        except NoneReady:
            continue  # not the trainee's doing: nothing to tell them
        except NotEnoughEntries:
            skipped.append(group)
            continue
        recent = finished_puzzle_list(
            participant_id=session.participant_id, group_key=group.key, limit=scheduling.STRUGGLING_WINDOW
        )
        adaptive = session.protocol_version is None or session.protocol_version.cue_policy == CuePolicy.ADAPTIVE
        level = scheduling.start_cue_level(recent, built.payload) if adaptive else 0
        puzzle = Puzzle.objects.create(
            session=session,
            index=index,
            group=group,
            entry_id=built.entry_id,
            entry_ids=built.entry_ids,
            payload=built.payload,
            start_cue_level=level,
            cue_level=level,
        )
        session.open_puzzle = puzzle
        rows.puzzle_group_keep(group)
        if built.authored_id is not None:
            authored_puzzle_mark_used(authored_id=built.authored_id, puzzle=puzzle)
        if skipped:
            names = ", ".join(f"“{group.title}”" for group in skipped)
            _bot_say(
                session,
                f"Your memory book doesn't have enough entries yet for {names}, so here is another kind of puzzle.",
                now=now,
            )
        # An authored puzzle's words are the LLM's already, verified: not reworded again.
        _bot_say(session, _opening(puzzle), now=now, puzzle=puzzle, phrase=built.authored_id is None)
        return puzzle
    _bot_say(
        session,
        "Your memory book doesn't have enough entries for a puzzle yet. Once more memories are added, "
        "we can start. Thank you!",
        now=now,
    )
    _end_session(session, now=now, summary=False, puzzles=index - 1)
    return None


def _authored_turn_missed(session: TrainingSession, groups: list[PuzzleGroup], index: int) -> bool:
    """Whether an llm-authored turn earlier in this session was filled in by a template group (no verified
    puzzle was ready then, e.g. a first session that started while the LLM was still writing): the next puzzle
    makes it up as soon as one is ready, so a session shows the LLM's puzzles once they exist."""
    turns = sum(groups[(i - 1) % len(groups)].kind == PuzzleKind.LLM_AUTHORED for i in range(1, index)) if groups else 0
    return bool(turns) and session.puzzles.filter(group__kind=PuzzleKind.LLM_AUTHORED).count() < turns


def _opening(puzzle: Puzzle) -> str:
    text = f"Puzzle {puzzle.index} of {puzzle.session.puzzles_planned}. " + prompt_at(puzzle.payload, 0)
    for level in range(1, puzzle.cue_level + 1):
        text += "\n" + prompt_at(puzzle.payload, level)
    return text


def _end_session(session: TrainingSession, *, now: datetime, summary: bool = True, puzzles: int | None = None) -> None:
    session.status = TrainingSession.Status.ENDED
    session.ended_at = now
    session.open_puzzle, session.puzzles_asked = None, puzzles
    session.save(update_fields=["status", "ended_at"])
    if summary:
        _bot_say(session, session_summary(session), now=now)


def _finish_puzzle(puzzle: Puzzle, outcome: str, *, score: float, now: datetime) -> None:
    puzzle.outcome = outcome
    puzzle.recalled_at_level = puzzle.cue_level if outcome == Puzzle.Outcome.RECALLED else None
    puzzle.finished_at = now
    puzzle.save(update_fields=["outcome", "recalled_at_level", "finished_at"])
    if getattr(puzzle.session, "open_puzzle", None) == puzzle:
        puzzle.session.open_puzzle = None
    scheduling.item_memory_review(entry_id=puzzle.entry_id, rating=scheduling.rating_for(puzzle, score), now=now)


def _last_prompt(session: TrainingSession, puzzle: Puzzle) -> ChatMessage | None:
    return rows.last_prompt_and_attempts(session, puzzle)[0]


def prompt_hash(text: str, model_name: str) -> str:
    return hashlib.sha256(f"{model_name}\n{text}".encode()).hexdigest()


def scoring_policy(session: TrainingSession) -> ScoringPolicy:
    """The near-miss policy for names and numbers frozen in the session's protocol version, else the
    standard policy the labelled set was marked against."""
    stored = session.protocol_version.scoring_policy if session.protocol_version_id else None
    return ScoringPolicy.from_dict(stored) if stored else STANDARD


def _record_answer(session, puzzle, message: ChatMessage, text: str, now: datetime, verdict=None) -> Attempt:
    policy = scoring_policy(session)
    if says_not_knowing(text):  # an omission, not a wrong answer (chat/not_knowing.py)
        score = Score(correct=False, score=0.0, scorer=Attempt.Scorer.DONT_KNOW)
    else:
        score = KINDS[puzzle.group.kind].evaluate(puzzle.payload, puzzle.cue_level, text, policy=policy)
    if (
        score.scorer == "semantic"
        and verdict
        and (verdict.puzzle_id, verdict.cue_level) == (puzzle.pk, puzzle.cue_level)
    ):
        score = Score(correct=verdict.correct, score=score.score, scorer="judge")
    return _attempt_create(session, puzzle, message, now=now, text=text, score=score)


def _attempt_create(session, puzzle: Puzzle, message: ChatMessage | None, *, now: datetime, text: str = "",
                    score: Score | None = None, outcome: str = Attempt.Outcome.ANSWERED) -> Attempt:  # fmt: skip
    """The trial row: an answer with its score, or a skip or an end (no score) with its outcome."""
    prompt, attempts = rows.last_prompt_and_attempts(session, puzzle)
    shown_text = prompt.text or prompt.template_text
    shown_at = prompt.completed_at or prompt.created_at
    provenance = _provenance(session, puzzle, prompt)
    return Attempt.objects.create(
        puzzle=puzzle,
        message=message,
        outcome=outcome,
        attempt_number=attempts + 1,
        cue_level=puzzle.cue_level,
        hints_used=puzzle.hints_used,
        prompt_shown=shown_text,
        prompt_hash=prompt_hash(shown_text, provenance["model_name"]),
        response_text=text,
        response_time_ms=max(0, int((now - shown_at).total_seconds() * 1000)),
        correct=score.correct if score else False,
        score=score.score if score else 0.0,
        scorer=score.scorer if score else "",
        shown_at=shown_at,
        answered_at=now,
        **provenance,
    )


def _provenance(session: TrainingSession, puzzle: Puzzle, prompt: ChatMessage) -> dict:
    """Where the words of a trial came from. The prompt shown is the LLM's when its rewording passed the
    check (else the template); the puzzle is the LLM's when it was authored ahead of time (the authored
    puzzle's row, linked to the puzzle it became, holds the model, prompt hash and verifier version). The
    model is named only when the LLM's text was shown."""
    authored = getattr(puzzle, "authored", None)  # the reverse one-to-one; absent for a template puzzle
    reworded = prompt.text_source == TextSource.LLM_REWORDED and prompt.status == ChatMessage.Status.COMPLETE
    if reworded:
        model, prompt_sha, version = session.model_name, prompt.llm_prompt_hash, prompt.verifier_version
    elif authored is not None:
        model, prompt_sha, version = authored.model_name, authored.prompt_sha256, authored.verifier_version
    else:
        model, prompt_sha, version = "", "", ""
    return {
        "puzzle_source": PuzzleSource.LLM_AUTHORED if authored is not None else PuzzleSource.TEMPLATE,
        "text_source": TextSource.LLM_REWORDED if reworded else TextSource.TEMPLATE,
        "model_name": model,
        "llm_prompt_hash": prompt_sha,
        "verifier_version": version,
    }


def _rewordable(puzzle: Puzzle) -> bool:
    """Whether the LLM rewords the puzzle's question and cues live: not an authored puzzle's, which are the LLM's
    words already, verified ahead of time (rewording them again could only lose what the verifier checked)."""
    return puzzle.group.kind != PuzzleKind.LLM_AUTHORED


def _reply_to_answer(session, puzzle: Puzzle, attempt: Attempt, now: datetime) -> None:
    payload = puzzle.payload
    if attempt.correct:
        _finish_puzzle(puzzle, Puzzle.Outcome.RECALLED, score=attempt.score, now=now)
        # a right choice among descriptions is not "another way to put it" of itself
        chose = is_recognition(payload, puzzle.cue_level) and "correct_choice" in payload
        _bot_say(session, payload["correct_choice" if chose else "correct"], now=now, puzzle=puzzle, phrase=True)
        _next_puzzle(session, now=now, after=puzzle)
    elif puzzle.cue_level < max_level(payload):
        puzzle.cue_level += 1
        puzzle.save(update_fields=["cue_level"])
        line = fixed_lines.NOT_KNOWING if attempt.scorer == Attempt.Scorer.DONT_KNOW else fixed_lines.NOT_QUITE
        if line is fixed_lines.NOT_QUITE and payload.get("variant") == "describe_without_naming":  # say what to change
            note = describe_feedback(attempt.response_text, payload["avoid"])
            _bot_say(session, f"{note} {prompt_at(payload, puzzle.cue_level)}", now=now, puzzle=puzzle)
            return
        text = f"{line.text} {prompt_at(payload, puzzle.cue_level)}"
        _bot_say(session, text, now=now, puzzle=puzzle, phrase=_rewordable(puzzle), line=line.key)
    else:
        _finish_puzzle(puzzle, Puzzle.Outcome.MISSED, score=attempt.score, now=now)
        _bot_say(session, payload["reveal"], now=now, puzzle=puzzle, phrase=True)
        _next_puzzle(session, now=now, after=puzzle)


def _apply(session: TrainingSession, message: ChatMessage, puzzle: Puzzle | None, now: datetime, verdict) -> None:
    kind = message.kind
    if kind == ChatMessage.Kind.PAUSE:
        session.status = TrainingSession.Status.PAUSED
        session.save(update_fields=["status"])
        _bot_say(session, fixed_lines.PAUSE.text, now=now, line=fixed_lines.PAUSE.key)
        return
    if kind == ChatMessage.Kind.RESUME:
        session.status = TrainingSession.Status.ACTIVE
        session.save(update_fields=["status"])
        # The whole open question with the clues given so far: a clue alone means nothing after a break.
        again = "\n".join(prompt_at(puzzle.payload, level) for level in range(puzzle.cue_level + 1)) if puzzle else ""
        text = f"{fixed_lines.WELCOME_BACK.text} {again}".strip()
        _bot_say(session, text, now=now, puzzle=puzzle, line=fixed_lines.WELCOME_BACK.key)
        return
    if puzzle is None:
        raise ActionRefused("There is no puzzle waiting for an answer.")
    if kind == ChatMessage.Kind.TEXT:
        attempt = _record_answer(session, puzzle, message, message.text, now, verdict)
        _reply_to_answer(session, puzzle, attempt, now)
    elif kind == ChatMessage.Kind.HINT:
        if puzzle.cue_level >= max_level(puzzle.payload):
            line = fixed_lines.NO_MORE_CLUES
            _bot_say(session, line.text, now=now, puzzle=puzzle, line=line.key)
            return
        puzzle.cue_level += 1
        puzzle.hints_used += 1
        puzzle.save(update_fields=["cue_level", "hints_used"])
        _bot_say(
            session, prompt_at(puzzle.payload, puzzle.cue_level), now=now, puzzle=puzzle, phrase=_rewordable(puzzle)
        )
    elif kind == ChatMessage.Kind.SKIP:
        _attempt_create(session, puzzle, message, now=now, outcome=Attempt.Outcome.SKIPPED)
        _finish_puzzle(puzzle, Puzzle.Outcome.SKIPPED, score=0.0, now=now)
        _bot_say(session, puzzle.payload["reveal"], now=now, puzzle=puzzle)
        _next_puzzle(session, now=now, after=puzzle)


ALLOWED_WHEN = {
    TrainingSession.Status.ACTIVE: set(ChatMessage.Kind) - {ChatMessage.Kind.RESUME},
    TrainingSession.Status.PAUSED: {ChatMessage.Kind.RESUME},
    TrainingSession.Status.ENDED: set(),
}
LABELS = {
    ChatMessage.Kind.HINT: "(asked for a clue)",
    ChatMessage.Kind.SKIP: "(skipped this one)",
    ChatMessage.Kind.PAUSE: "(paused)",
    ChatMessage.Kind.RESUME: "(resumed)",
}


def trainee_action(
    *, session_id: int, client_id: uuid.UUID, kind: str, text: str = "", now: datetime | None = None, verdict=None
) -> ActionResult:
    """Apply an answer, a clue request, a skip, a pause or a resume exactly once.

    `verdict` is the LLM judge's opinion of this answer (chat.judge), used only for the puzzle and cue level
    it was asked about and only where the semantic score decides.

    A resend of the same client_id (after a reload or a dropped connection) changes nothing and returns
    what was stored the first time, so the browser can show it.
    """
    now = now or timezone.now()
    kind = ChatMessage.Kind(kind)
    text = text.strip() if kind == ChatMessage.Kind.TEXT else LABELS[kind]
    if kind == ChatMessage.Kind.TEXT and not text:
        raise ActionRefused("Please type an answer first. If you're not sure, press “Give me a clue”.")
    if len(text) > MAX_ANSWER_CHARS:
        raise ActionRefused(f"That answer is very long. Please keep it under {MAX_ANSWER_CHARS} characters.")
    with transaction.atomic():
        session = _session_locked(session_id, client_id)
        existing = session.messages.get(pk=session.resent_id) if session.resent_id else None
        if existing:
            # Only this action's own reply (up to the next trainee message): a replayed early client_id of a
            # long session must not send the whole history back.
            later = session.messages.filter(seq__gt=existing.seq, role=ChatMessage.Role.BOT)
            following = session.messages.filter(seq__gt=existing.seq, role=ChatMessage.Role.TRAINEE).order_by("seq")
            if next_seq := following.values_list("seq", flat=True).first():
                later = later.filter(seq__lt=next_seq)
            later = later.order_by("seq")[:MAX_REPLAYED_MESSAGES]
            return ActionResult(
                duplicate=True, trainee_message=existing, bot_messages=list(later), state=session_state(session)
            )
        if kind not in ALLOWED_WHEN[session.status]:
            raise ActionRefused(
                "This session has finished." if session.status == TrainingSession.Status.ENDED
                else "The session is paused. Press “Resume” to carry on."
            )  # fmt: skip
        if session.model_name:  # only LLM-worded replies stream
            bot_messages_finish_stale(session_id=session.pk, now=now)
        puzzle = open_puzzle(session)
        session.open_puzzle = puzzle  # kept up to date by _next_puzzle and _finish_puzzle: no query for the state
        message = ChatMessage.objects.create(
            session=session, seq=_next_seq(session), role=ChatMessage.Role.TRAINEE, kind=kind, client_id=client_id,
            text=text, puzzle=puzzle, completed_at=now,
        )  # fmt: skip
        session.said = []  # the bot messages _bot_say stores for this action, in order
        _apply(session, message, puzzle, now, verdict)
    return ActionResult(
        duplicate=False, trainee_message=message, bot_messages=session.said,
        state=session_state(session, current=session.open_puzzle),
    )  # fmt: skip


def _session_locked(session_id: int, client_id: uuid.UUID) -> TrainingSession:
    """The session row locked (with its participant's), its protocol, its last message number and the number
    of a stored message with this client_id (a resend), in one query (fixed SQL: chat/rows.py)."""
    return rows.training_session_locked(session_id, client_id)


def bot_message_complete(
    *,
    message_id: int,
    text: str,
    llm_prompt_hash: str = "",
    verifier_version: str = "",
    rejection: str = "",
    now: datetime | None = None,
) -> ChatMessage:
    """Store the final text of a streamed reply: the LLM's (with the hash of its request and the check it
    passed), or the template (no hash) after the verifier refused the LLM's wording (`rejection` says why), a
    slow start or a down server. A reply already finished meanwhile (`bot_messages_finish_stale`) keeps its
    text: the stored one is returned."""
    ChatMessage.objects.filter(pk=message_id, status=ChatMessage.Status.STREAMING).update(
        text=text,
        rejection=rejection[:2000],
        status=ChatMessage.Status.COMPLETE,
        completed_at=now or timezone.now(),
        text_source=TextSource.LLM_REWORDED if llm_prompt_hash else TextSource.TEMPLATE,
        llm_prompt_hash=llm_prompt_hash,
        verifier_version=verifier_version,
    )
    return ChatMessage.objects.get(pk=message_id)


# Longer than a reply takes to stream (LLM_TIMEOUT_S, 20 s, bounds the wait for its first token).
STREAMING_STALE_S = 30


def bot_messages_finish_stale(*, session_id: int, now: datetime | None = None) -> int:
    """A reply whose phrasing connection closed stays 'streaming' with no text until someone writes it: at the
    next page load or action, one older than STREAMING_STALE_S is finished with its template text."""
    now = now or timezone.now()
    return ChatMessage.objects.filter(
        session_id=session_id, status=ChatMessage.Status.STREAMING,
        created_at__lt=now - timedelta(seconds=STREAMING_STALE_S),
    ).update(text=F("template_text"), status=ChatMessage.Status.COMPLETE, completed_at=now)  # fmt: skip


WITHDRAWN_ENTRY_TEXT = "That memory has been taken out of your memory book, so let's leave this puzzle and move on."


def puzzles_close_withdrawn(*, participant_id: int, now: datetime | None = None) -> int:
    """An open puzzle built on an entry withdrawn meanwhile is closed (skipped, with no trial record and no
    review of the withdrawn item) and the next one is asked, so the entry is neither offered as an option
    again nor sent to an LLM. Returns how many were closed."""
    now = now or timezone.now()
    withdrawn = set(
        LifeLogEntry.objects.filter(participant_id=participant_id, excluded=True).values_list("id", flat=True)
    )
    if not withdrawn:
        return 0
    closed = 0
    for session_id in (
        TrainingSession.objects.filter(participant_id=participant_id)
        .exclude(status=TrainingSession.Status.ENDED)
        .values_list("id", flat=True)
    ):
        with transaction.atomic():
            session = TrainingSession.objects.select_for_update().select_related("participant").get(pk=session_id)
            puzzle = open_puzzle(session)
            if puzzle is None or not withdrawn & set(puzzle.entry_ids):
                continue
            puzzle.outcome, puzzle.finished_at = Puzzle.Outcome.SKIPPED, now
            puzzle.save(update_fields=["outcome", "finished_at"])
            # The streaming rewording of its prompt is abandoned: its template already went to the page.
            session.messages.filter(puzzle=puzzle, status=ChatMessage.Status.STREAMING).update(
                status=ChatMessage.Status.COMPLETE, text=F("template_text"), completed_at=now
            )
            _bot_say(session, WITHDRAWN_ENTRY_TEXT, now=now)
            _next_puzzle(session, now=now, after=puzzle)  # a paused session shows it again on resume
            closed += 1
    return closed


def participant_chat_end(*, participant_id: int, now: datetime) -> None:
    """A withdrawn participant's open sessions end where they are; a puzzle left open gets its trial row."""
    open_sessions = TrainingSession.objects.filter(participant_id=participant_id).exclude(
        status=TrainingSession.Status.ENDED
    )
    with transaction.atomic():
        for session in open_sessions.select_for_update():
            puzzle = open_puzzle(session)
            if puzzle is not None and _last_prompt(session, puzzle) is not None:
                _attempt_create(session, puzzle, None, now=now, outcome=Attempt.Outcome.ENDED)
        open_sessions.update(status=TrainingSession.Status.ENDED, ended_at=now)


def participant_chat_erase(*, participant_id: int) -> None:
    """Sessions with their puzzles, transcript and trial records, and the LLM context's state."""
    TrainingSession.objects.filter(participant_id=participant_id).delete()
    LLMContext.objects.filter(participant_id=participant_id).delete()
    AuthoredPuzzle.objects.filter(participant_id=participant_id).delete()  # they quote the entries
    RewordedLine.objects.filter(participant_id=participant_id).delete()
