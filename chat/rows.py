"""The reads every chat turn makes (and those of its next puzzle), in hand-written SQL: the same rows as the ORM's
querysets, as model instances, without building and compiling a query each time.

A turn's ORM reads cost 0.4-0.8 ms of Python each, mostly in Django's query compiler (a locked session with its
participant, protocol and two subqueries: 1.6 ms, 0.27 ms of it in the database); the same row read with a
fixed statement and `Model.from_db` costs about a tenth (bench/results/chat-load-cpu.md). Only hot, fixed-shape
reads are here, behind the selectors and services that own them; everything else stays in the ORM. The SQL is
written from the models' metadata (tables, columns), so a new column is read without a change here.
"""

import uuid
from functools import cache

from django.db import connection
from django.db.models import Model

from lifelog.models import LifeLogEntry
from studies.models import Participant, ProtocolVersion

from .models import Attempt, AuthoredPuzzle, ChatMessage, ItemMemory, Puzzle, PuzzleGroup, TrainingSession


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


@cache
def _some(model: type[Model], attnames: tuple[str, ...], alias: str) -> tuple[tuple[str, ...], str, tuple]:
    """Some of the model's fields in its fields' order (as `Model.from_db` takes a partial row), their SELECT
    list, and (position, field) of those converted when read."""
    fields = [field for field in _fields(model) if field.attname in attnames]
    select = ", ".join(f'{alias}."{field.column}"' for field in fields)
    converters = tuple((i, field) for i, field in enumerate(fields) if field.get_db_converters(connection))
    return tuple(field.attname for field in fields), select, converters


def partial_instances(model: type[Model], attnames: tuple[str, ...], sql: str, params: list, alias: str) -> list[Model]:
    """Instances with only `attnames` loaded (as `.only()` gives them) from `sql`, whose `{columns}` is filled
    with their columns of the table `alias`."""
    names, select, converters = _some(model, attnames, alias)
    with connection.cursor() as cursor:
        cursor.execute(sql.format(columns=select), params)
        rows = cursor.fetchall()
    result = []
    for row in rows:
        values = list(row)
        for index, field in converters:
            for convert in field.get_db_converters(connection):
                values[index] = convert(values[index], None, connection)
        result.append(model.from_db(connection.alias, names, values))
    return result


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
    return puzzle_groups([(group_id, created_at)])[0]


def puzzle_groups(keys: list[tuple[int, object]]) -> list[PuzzleGroup]:
    """The groups of these (id, created_at), those the process has not read yet in one query."""
    missing = [group_id for group_id, created_at in keys if (group_id, created_at) not in _GROUPS]
    for group in PuzzleGroup.objects.filter(pk__in=missing) if missing else ():
        _GROUPS[(group.pk, group.created_at)] = group
    return [_GROUPS[key] for key in keys]


_GROUP_ROWS = f"SELECT g.id, g.created_at FROM {_table(PuzzleGroup)} g WHERE {{where}} ORDER BY g.key, g.version DESC"


def puzzle_groups_active() -> list[PuzzleGroup]:
    """Every active group, by key, newest version first (as `PuzzleGroup.objects.filter(active=True)`)."""
    with connection.cursor() as cursor:
        cursor.execute(_GROUP_ROWS.format(where="g.active"))
        return puzzle_groups(cursor.fetchall())


def puzzle_groups_of(keys: list[str]) -> list[PuzzleGroup]:
    """Every version of the groups with these keys, by key, newest first."""
    with connection.cursor() as cursor:
        cursor.execute(_GROUP_ROWS.format(where="g.key = ANY(%s)"), [list(keys)])
        return puzzle_groups(cursor.fetchall())


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


def puzzles_finished(*, participant_id: int, group_key: str, limit: int) -> list[Puzzle]:
    """The participant's latest finished puzzles of a group, newest first, with their outcome and the cue level
    of a recall."""
    sql = f"""
    SELECT {{columns}} FROM {_table(Puzzle)} p
    JOIN {_table(TrainingSession)} s ON s.id = p.session_id
    JOIN {_table(PuzzleGroup)} g ON g.id = p.group_id
    WHERE s.participant_id = %s AND g.key = %s AND NOT (p.outcome = %s)
    ORDER BY p.finished_at DESC
    LIMIT %s"""
    fields = ("id", "outcome", "recalled_at_level", "start_cue_level", "finished_at")
    return partial_instances(Puzzle, fields, sql, [participant_id, group_key, Puzzle.Outcome.OPEN, limit], "p")


def entry_ids_of_session(session_id: int) -> set[int]:
    return _entry_ids(f"SELECT p.entry_ids FROM {_table(Puzzle)} p WHERE p.session_id = %s", [session_id])


def entry_ids_since(participant_id: int, since) -> set[int]:
    """Entries asked in any of the participant's sessions since then."""
    sql = f"""SELECT p.entry_ids FROM {_table(Puzzle)} p JOIN {_table(TrainingSession)} s ON s.id = p.session_id
    WHERE s.participant_id = %s AND p.created_at >= %s"""
    return _entry_ids(sql, [participant_id, since])


def _entry_ids(sql: str, params: list) -> set[int]:
    field = Puzzle._meta.get_field("entry_ids")
    asked: set[int] = set()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for (value,) in cursor.fetchall():
            for convert in field.get_db_converters(connection):
                value = convert(value, None, connection)
            asked.update(value)
    return asked


def item_due_dates(participant_id: int) -> dict:
    """When each of the participant's trained entries is next due."""
    sql = f"""SELECT m.entry_id, m.due FROM {_table(ItemMemory)} m JOIN {_table(LifeLogEntry)} e ON e.id = m.entry_id
    WHERE e.participant_id = %s"""
    with connection.cursor() as cursor:
        cursor.execute(sql, [participant_id])
        return dict(cursor.fetchall())


ENTRY_FACT_FIELDS = ("id", "title", "description", "place_name", "people", "tags", "occurred_at", "time_precision")


def entries_askable(participant_id: int) -> list[LifeLogEntry]:
    """The participant's entries that are not withdrawn, in the model's order, with the fields puzzles use."""
    sql = f"""SELECT {{columns}} FROM {_table(LifeLogEntry)} e WHERE e.participant_id = %s AND NOT e.excluded
    ORDER BY e.occurred_at, e.id"""
    return partial_instances(LifeLogEntry, ENTRY_FACT_FIELDS, sql, [participant_id], "e")
