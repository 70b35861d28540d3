"""Plain diary text: each paragraph starts with a date line, the text follows until the next date."""

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from lifelog.choices import TimePrecision

from .base import ImportFailed, ImportIssue, ParsedEntry
from .fields import MAX_DESCRIPTION, MAX_TITLE, clean_text
from .text import decode_utf8

# "2025-05-03", "2025-05-03 14:30", "3 May 2025", optionally followed by ":" and the first text.
_ISO_HEADER = re.compile(r"^(?P<date>\d{4}-\d{2}-\d{2})(?:[ T](?P<time>\d{1,2}:\d{2}))?\s*:?\s*(?P<rest>.*)$")
_LONG_HEADER = re.compile(r"^(?P<date>\d{1,2} [A-Za-z]+ \d{4})\s*:?\s*(?P<rest>.*)$")
TITLE_WORDS = 10


def parse_diary(data: bytes, *, filename: str, tz: ZoneInfo) -> list[ParsedEntry]:
    text = decode_utf8(data, filename)
    sections: list[tuple[int, datetime, str, list[str]]] = []
    issues: list[ImportIssue] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        header = _parse_header(line, tz)
        if isinstance(header, str):
            issues.append(ImportIssue(filename, header, line=number, field="date"))
        elif header is not None:
            when, precision, rest = header
            sections.append((number, when, precision, [rest] if rest else []))
        elif line:
            if not sections:
                issues.append(ImportIssue(filename, "text before the first date line", line=number))
            else:
                sections[-1][3].append(line)
    entries = []
    for number, when, precision, lines in sections:
        body = " ".join(lines)
        if not body:
            issues.append(ImportIssue(filename, "a date with no text after it", line=number))
            continue
        try:
            description = clean_text(body, max_length=MAX_DESCRIPTION, required=True)
        except ValueError as exc:
            issues.append(ImportIssue(filename, str(exc), line=number, field="text"))
            continue
        entries.append(
            ParsedEntry(
                occurred_at=when, time_precision=precision, title=_title_from(description), description=description
            )
        )
    if issues:
        raise ImportFailed(issues)
    if not entries:
        raise ImportFailed([ImportIssue(filename, "no dated paragraphs found (a paragraph starts with YYYY-MM-DD)")])
    return entries


def _parse_header(line: str, tz: ZoneInfo) -> tuple[datetime, str, str] | str | None:
    """A header, an error message for a date-like line that is wrong, or None for plain text."""
    if m := _ISO_HEADER.match(line):
        stamp = m["date"] + (f" {m['time']}" if m["time"] else "")
        try:
            when = datetime.fromisoformat(stamp).replace(tzinfo=tz)
        except ValueError:
            return f"'{stamp}' is not a valid date"
        return when, TimePrecision.EXACT if m["time"] else TimePrecision.DAY, m["rest"]
    if m := _LONG_HEADER.match(line):
        try:
            when = datetime.strptime(m["date"], "%d %B %Y").replace(tzinfo=tz)
        except ValueError:
            return None  # e.g. "3 apples 2025": ordinary text, not a date line
        return when, TimePrecision.DAY, m["rest"]
    return None


def _title_from(description: str) -> str:
    first_sentence = re.split(r"(?<=[.!?])\s", description, maxsplit=1)[0]
    words = first_sentence.split()
    title = " ".join(words[:TITLE_WORDS]) + ("…" if len(words) > TITLE_WORDS else "")
    return title[:MAX_TITLE]
