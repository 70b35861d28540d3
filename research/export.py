"""Long-format export of trial records: one row per attempt (an answer, a skip, or a session that ended
with the puzzle open: the `outcome` column), as CSV or JSON, in constant memory.

The plain CSV export is PostgreSQL's own `COPY (SELECT ...) TO STDOUT WITH CSV`, every cell (formula
escaping included) computed in SQL and streamed on in blocks: building the rows in Python ran at ~0.2x the
rate of COPY. Redacted CSV and JSON need Python per row; their rows are read in keyset batches (attempt
id > last id, a few thousand at a time), so an export of millions of rows holds one batch at once.
"""

import csv
import io
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from asgiref.sync import sync_to_async
from django.db import connection
from django.db.models import Case, CharField, F, Func, QuerySet, TextField, Value, When

from chat.models import Attempt
from studies.models import AuditEvent, Study

from .redaction import Redactor, participant_redactor

BATCH_ROWS = 5000

# (column, ORM path). The order is the CSV's column order and the JSON objects' key order.
COLUMNS: list[tuple[str, str]] = [
    ("attempt_id", "id"),
    ("participant", "puzzle__session__participant__public_code"),
    ("arm", "puzzle__session__participant__arm__key"),
    ("protocol_version", "puzzle__session__protocol_version__version"),
    ("session_id", "puzzle__session_id"),
    ("session_started_at", "puzzle__session__started_at"),
    ("trial_index", "puzzle__index"),
    ("attempt_number", "attempt_number"),
    ("outcome", "outcome"),
    ("puzzle_group", "puzzle__group__key"),
    ("puzzle_group_version", "puzzle__group__version"),
    ("entry_id", "puzzle__entry_id"),
    ("cue_level", "cue_level"),
    ("hints_used", "hints_used"),
    ("prompt_shown", "prompt_shown"),
    ("response_text", "response_text"),
    ("response_time_ms", "response_time_ms"),
    ("correct", "correct"),
    ("score", "score"),
    ("scorer", "scorer"),
    ("model_name", "model_name"),
    ("prompt_hash", "prompt_hash"),
    ("puzzle_source", "puzzle_source"),
    ("text_source", "text_source"),
    ("llm_prompt_hash", "llm_prompt_hash"),
    ("verifier_version", "verifier_version"),
    ("shown_at", "shown_at"),
    ("answered_at", "answered_at"),
]
HEADER = ["study", *(name for name, _ in COLUMNS)]
FREE_TEXT = ("prompt_shown", "response_text")
_PARTICIPANT_ID = "puzzle__session__participant_id"  # read for redaction, not exported
_TEXT_POSITIONS = [index for index, (name, _) in enumerate(COLUMNS) if name in FREE_TEXT]
WITHDRAWN_TEXT = "[withdrawn entry]"  # what an export shows of a trial about an entry the participant withdrew
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# model_name too: an LLM endpoint's name is configuration text that a spreadsheet would run all the same.
FORMULA_ESCAPED = (*FREE_TEXT, "model_name")
_FORMULA_POSITIONS = [index for index, (name, _) in enumerate(COLUMNS) if name in FORMULA_ESCAPED]
# Text cells of the COPY path: empty text becomes NULL there, so that COPY writes an empty cell as csv.writer
# does (COPY quotes an empty string as "" to tell it from NULL).
_TEXT_COLUMNS = {
    "participant",
    "arm",
    "puzzle_group",
    "scorer",
    "prompt_hash",
    "outcome",
    "puzzle_source",
    "text_source",
    "llm_prompt_hash",
    "verifier_version",
}
COPY_CHUNK_BYTES = 256 * 1024


class IsoTimestamp(Func):
    """The time as ISO 8601 text in UTC, formatted by PostgreSQL: converting a million timestamps to
    Python datetimes and back to text took 40% of the export's time."""

    template = "to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"')"
    output_field = CharField()


class FormulaSafe(Func):
    """SQL twin of `_formula_safe` (NULLIF: see _TEXT_COLUMNS)."""

    template = (
        "CASE WHEN left(%(expressions)s, 1) IN ('=', '+', '-', '@', chr(9), chr(13)) "
        "THEN chr(39) || %(expressions)s ELSE NULLIF(%(expressions)s, '') END"
    )
    output_field = CharField()


class PythonBool(Func):
    """True/False as csv.writer writes Python booleans (COPY would write t/f)."""

    template = "CASE %(expressions)s WHEN true THEN 'True' WHEN false THEN 'False' END"
    output_field = CharField()


class PythonFloat(Func):
    """A float as Python writes it: PostgreSQL writes the shortest text too, but 0 and 1 where Python has 0.0."""

    template = (
        "CASE WHEN %(expressions)s = trunc(%(expressions)s) AND abs(%(expressions)s) < 1e16 "
        "THEN %(expressions)s::text || '.0' ELSE %(expressions)s::text END"
    )
    output_field = CharField()


@dataclass
class ExportFilters:
    arm: str = ""
    participant: str = ""
    date_from: datetime | None = None
    date_to: datetime | None = None

    def as_dict(self) -> dict:
        return {
            "arm": self.arm,
            "participant": self.participant,
            "date_from": self.date_from.isoformat() if self.date_from else "",
            "date_to": self.date_to.isoformat() if self.date_to else "",
        }


def attempt_export_queryset(*, study: Study, filters: ExportFilters) -> QuerySet[Attempt]:
    qs = Attempt.objects.filter(puzzle__session__participant__study=study)
    if filters.arm:
        qs = qs.filter(puzzle__session__participant__arm__key=filters.arm)
    if filters.participant:
        qs = qs.filter(puzzle__session__participant__public_code=filters.participant)
    if filters.date_from:
        qs = qs.filter(answered_at__gte=filters.date_from)
    if filters.date_to:
        qs = qs.filter(answered_at__lt=filters.date_to)
    return qs


def _unless_withdrawn(path: str) -> Case:
    """The text, or WITHDRAWN_TEXT for a trial about an entry the participant withdrew."""
    withdrawn = When(puzzle__entry__excluded=True, then=Value(WITHDRAWN_TEXT))
    return Case(withdrawn, default=F(path), output_field=TextField())


def attempt_export_csv_select(*, study: Study, filters: ExportFilters) -> tuple[str, tuple]:
    """The SELECT (SQL, parameters) whose rows are the CSV export's rows, cell for cell, in HEADER order."""
    cells = {"c_study": Value(study.slug, output_field=CharField())}
    for name, path in COLUMNS:
        if name.endswith("_at"):
            cells[f"c_{name}"] = IsoTimestamp(F(path))
        elif name in FREE_TEXT:  # FormulaSafe repeats its expression: the tombstone wraps it, not the reverse
            withdrawn = When(puzzle__entry__excluded=True, then=Value(WITHDRAWN_TEXT))
            cells[f"c_{name}"] = Case(withdrawn, default=FormulaSafe(F(path)), output_field=CharField())
        elif name in FORMULA_ESCAPED:
            cells[f"c_{name}"] = FormulaSafe(F(path))
        elif name in _TEXT_COLUMNS:
            cells[f"c_{name}"] = Func(F(path), Value(""), function="NULLIF", output_field=CharField())
        elif name == "correct":
            cells[f"c_{name}"] = PythonBool(F(path))
        elif name == "score":
            cells[f"c_{name}"] = PythonFloat(F(path))
        else:
            cells[f"c_{name}"] = F(path)
    qs = attempt_export_queryset(study=study, filters=filters).annotate(**cells).order_by("id")
    return qs.values_list(*cells).query.sql_with_params()


@dataclass
class AttemptExport:
    """One export: its rows as encoded chunks, counted, and written to the audit log when done."""

    study: Study
    filters: ExportFilters
    file_format: str  # "csv" | "json"
    redact: bool
    audit: AuditEvent | None = None
    rows: int = 0
    _redactors: dict[int, Redactor] = field(default_factory=dict)

    def row_batches(self) -> Iterator[list[list]]:
        times = {f"{name}_text": IsoTimestamp(F(path)) for name, path in COLUMNS if name.endswith("_at")}
        texts = {f"{name}_text": _unless_withdrawn(name) for name in FREE_TEXT}
        qs = attempt_export_queryset(study=self.study, filters=self.filters).annotate(**times, **texts).order_by("id")
        paths = [f"{name}_text" if name.endswith("_at") or name in FREE_TEXT else path for name, path in COLUMNS] + [
            _PARTICIPANT_ID
        ]
        last_id = 0
        while True:
            batch = list(qs.filter(id__gt=last_id).values_list(*paths)[:BATCH_ROWS])
            if not batch:
                return
            last_id = batch[-1][0]
            yield [self._row(values) for values in batch]

    def _row(self, values: tuple) -> list:
        row = list(values[:-1])
        if self.redact:
            redactor = self._redactor(values[-1])
            for index in _TEXT_POSITIONS:
                row[index] = redactor(row[index])
        return row

    def _redactor(self, participant_id: int) -> Redactor:
        if participant_id not in self._redactors:
            self._redactors[participant_id] = participant_redactor(
                participant_id=participant_id, key=self.study.redaction_key
            )
        return self._redactors[participant_id]

    def chunks(self) -> Iterator[bytes]:
        if self.file_format == "csv" and not self.redact:
            yield from self._copy_chunks()
            return
        encode = self._csv_chunk if self.file_format == "csv" else self._json_chunk
        if self.file_format == "csv":
            yield self._csv_chunk([HEADER], header=True)
        else:
            yield b"["
        for batch in self.row_batches():
            yield encode(batch)
            self.rows += len(batch)
        if self.file_format == "json":
            yield b"\n]\n"
        self._finish()

    def _copy_chunks(self) -> Iterator[bytes]:
        sql, params = attempt_export_csv_select(study=self.study, filters=self.filters)
        yield self._csv_chunk([HEADER], header=True)
        pending: list = []
        size = rows = 0
        with (
            connection.cursor() as wrapper,
            wrapper.cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv)", params) as copy,
        ):
            for row in copy:  # libpq hands COPY data over a row (one CopyData message) at a time
                pending.append(row)
                rows += 1
                size += len(row)
                if size >= COPY_CHUNK_BYTES:
                    yield b"".join(pending)
                    pending, size = [], 0
        if pending:
            yield b"".join(pending)
        self.rows = rows
        self._finish()

    def _csv_chunk(self, rows: list[list], header: bool = False) -> bytes:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")  # as COPY writes its rows
        if header:
            writer.writerows(rows)
        else:
            slug = self.study.slug
            for row in rows:
                for index in _FORMULA_POSITIONS:
                    row[index] = _formula_safe(row[index])
                writer.writerow([slug, *row])
        return buffer.getvalue().encode()

    def _json_chunk(self, rows: list[list]) -> bytes:
        slug = self.study.slug
        separator = "," if self.rows else ""
        objects = [json.dumps(dict(zip(HEADER, [slug, *row], strict=True)), ensure_ascii=False) for row in rows]
        return (separator + "\n" + ",\n".join(objects)).encode()

    def _finish(self) -> None:
        if self.audit is not None:
            self.audit.detail = {**self.audit.detail, "rows": self.rows, "complete": True}
            self.audit.save(update_fields=["detail"])

    async def achunks(self) -> AsyncIterator[bytes]:
        """The same chunks for an ASGI server: each batch is read on Django's sync thread."""
        iterator = self.chunks()
        read = sync_to_async(lambda: next(iterator, None))
        while (chunk := await read()) is not None:
            yield chunk


def _formula_safe(text: str) -> str:
    """Spreadsheets run cells that start like a formula; trainee text is shown as text instead."""
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text
