"""The reads every chat turn makes, in hand-written SQL: the same rows as the ORM's querysets, as model instances,
without building and compiling a query each time.

A turn's ORM reads cost 0.4-0.8 ms of Python each, mostly in Django's query compiler (a locked session with its
participant, protocol and two subqueries: 1.6 ms, 0.27 ms of it in the database); the same row read with a
fixed statement and `Model.from_db` costs about a tenth (bench/results/chat-load-cpu.md). Only a few hot,
fixed-shape reads are here; everything else stays in the ORM (chat/selectors.py).
"""

import uuid
from functools import cache

from django.db import connection
from django.db.models import Model

from studies.models import Participant, ProtocolVersion

from .models import Attempt, AuthoredPuzzle, ChatMessage, Puzzle, PuzzleGroup, TrainingSession


@cache
def _fields(model: type[Model]) -> tuple:
    return tuple(model._meta.concrete_fields)


@cache
def _attnames(model: type[Model]) -> tuple[str, ...]:
    return tuple(field.attname for field in _fields(model))


@cache
def columns(model: type[Model], alias: str) -> str:
    """The model's columns, in its fields' order, for a SELECT list."""
    return ", ".join(f'{alias}."{field.column}"' for field in _fields(model))


@cache
def _converters(model: type[Model]) -> tuple:
    """(position, field) of the fields whose database value is converted when read (JSON columns, ...)."""
    return tuple((index, field) for index, field in enumerate(_fields(model)) if field.get_db_converters(connection))


def instance(model: type[Model], row: tuple, start: int = 0) -> Model:
    """The model instance of `row[start:]`'s first columns (as `columns` listed them), as the ORM builds it."""
    values = list(row[start : start + len(_fields(model))])
    for index, field in _converters(model):
        for convert in field.get_db_converters(connection):
            values[index] = convert(values[index], None, connection)
    return model.from_db(connection.alias, _attnames(model), values)


def _fetchone(sql: str, params: list) -> tuple | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def _table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


_SESSION_LOCKED = f"""
SELECT {columns(TrainingSession, "s")}, {columns(Participant, "p")}, {columns(ProtocolVersion, "v")},
       (SELECT m.seq FROM {_table(ChatMessage)} m WHERE m.session_id = s.id ORDER BY m.seq DESC LIMIT 1),
       (SELECT m.id FROM {_table(ChatMessage)} m WHERE m.session_id = s.id AND m.client_id = %s LIMIT 1)
FROM {_table(TrainingSession)} s
JOIN {_table(Participant)} p ON p.id = s.participant_id
LEFT JOIN {_table(ProtocolVersion)} v ON v.id = s.protocol_version_id
WHERE s.id = %s
FOR UPDATE OF s, p
"""


def training_session_locked(session_id: int, client_id: uuid.UUID) -> TrainingSession:
    """The session row locked with its participant's, with its protocol, its last message number (`last_seq`)
    and the id of a stored message with this client_id (`resent_id`, a resend), in one query. Call inside a
    transaction."""
    row = _fetchone(_SESSION_LOCKED, [client_id, session_id])
    if row is None:
        raise TrainingSession.DoesNotExist(f"no training session {session_id}")
    session = instance(TrainingSession, row)
    start = len(_fields(TrainingSession))
    participant = instance(Participant, row, start)
    start += len(_fields(Participant))
    protocol = instance(ProtocolVersion, row, start) if session.protocol_version_id is not None else None
    TrainingSession.participant.field.set_cached_value(session, participant)
    TrainingSession.protocol_version.field.set_cached_value(session, protocol)
    session.last_seq, session.resent_id = row[-2], row[-1]
    return session


_OPEN_PUZZLE = f"""
SELECT {columns(Puzzle, "p")}, {columns(AuthoredPuzzle, "a")}, g.created_at
FROM {_table(Puzzle)} p
JOIN {_table(PuzzleGroup)} g ON g.id = p.group_id
LEFT JOIN {_table(AuthoredPuzzle)} a ON a.puzzle_id = p.id
WHERE p.session_id = %s AND p.outcome = %s
ORDER BY p.index DESC
LIMIT 1
"""

# Puzzle groups are never edited (a change is a new version): a process keeps the rows it has read, by id and
# creation time (a test database flushed and refilled may give another group the same id).
_GROUPS: dict[tuple[int, object], PuzzleGroup] = {}


def puzzle_group(group_id: int, created_at) -> PuzzleGroup:
    key = (group_id, created_at)
    group = _GROUPS.get(key)
    if group is None:
        group = _GROUPS[key] = PuzzleGroup.objects.get(pk=group_id)
    return group


def puzzle_group_keep(group: PuzzleGroup) -> None:
    """Remember a group read elsewhere (a new puzzle's): its puzzle's next turns read no group row."""
    _GROUPS.setdefault((group.pk, group.created_at), group)


def open_puzzle(session: TrainingSession) -> Puzzle | None:
    """The puzzle awaiting an answer, with its session, its group and (when the LLM wrote it) its authored row."""
    row = _fetchone(_OPEN_PUZZLE, [session.pk, Puzzle.Outcome.OPEN])
    if row is None:
        return None
    puzzle = instance(Puzzle, row)
    start = len(_fields(Puzzle))
    authored = instance(AuthoredPuzzle, row, start) if row[start] is not None else None
    Puzzle.session.field.set_cached_value(puzzle, session)
    Puzzle.group.field.set_cached_value(puzzle, puzzle_group(puzzle.group_id, row[-1]))
    Puzzle._meta.get_field("authored").set_cached_value(puzzle, authored)
    if authored is not None:
        AuthoredPuzzle.puzzle.field.set_cached_value(authored, puzzle)
    return puzzle


_LAST_PROMPT = f"""
SELECT {columns(ChatMessage, "m")}, (SELECT count(*) FROM {_table(Attempt)} a WHERE a.puzzle_id = %s)
FROM (SELECT 1) one
LEFT JOIN LATERAL (
    SELECT * FROM {_table(ChatMessage)} m WHERE m.session_id = %s AND m.role = %s AND m.puzzle_id = %s
    ORDER BY m.seq DESC LIMIT 1
) m ON true
"""


def last_prompt_and_attempts(session: TrainingSession, puzzle: Puzzle) -> tuple[ChatMessage | None, int]:
    """The bot's latest message about the puzzle (what the trainee was answering) and how many trial rows the
    puzzle has, in one query."""
    row = _fetchone(_LAST_PROMPT, [puzzle.pk, session.pk, ChatMessage.Role.BOT, puzzle.pk])
    if row[0] is None:
        return None, row[-1]
    message = instance(ChatMessage, row)
    ChatMessage.session.field.set_cached_value(message, session)
    ChatMessage.puzzle.field.set_cached_value(message, puzzle)
    return message, row[-1]
