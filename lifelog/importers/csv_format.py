"""CSV life logs: a header row naming the documented columns, one entry per row."""

import csv
import io
from zoneinfo import ZoneInfo

from .base import ImportFailed, ImportIssue, ParsedEntry
from .collect import IssueCollector
from .fields import (
    MAX_DESCRIPTION,
    MAX_TITLE,
    clean_names,
    clean_text,
    combine_date_time,
    parse_coordinate,
    unknown_name_message,
)
from .text import decode_utf8

COLUMNS = ["date", "time", "title", "description", "place", "latitude", "longitude", "people", "tags"]
REQUIRED = {"date", "title"}
LIST_SEPARATOR = ";"
# Words other apps use for our columns: the hint for an unknown column.
ALIASES = {
    "when": "date", "day": "date", "datetime": "date", "timestamp": "date", "start": "date", "clock": "time",
    "text": "description", "body": "description", "notes": "description", "note": "description",
    "summary": "title", "name": "title", "subject": "title", "event": "title",
    "location": "place", "where": "place", "venue": "place",
    "lat": "latitude", "lon": "longitude", "lng": "longitude", "long": "longitude",
    "with": "people", "persons": "people", "attendees": "people", "who": "people",
    "labels": "tags", "categories": "tags", "keywords": "tags",
}  # fmt: skip


def parse_csv(data: bytes, *, filename: str, tz: ZoneInfo, columns: dict[str, str] | None = None) -> list[ParsedEntry]:
    text = decode_utf8(data, filename)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [name.strip().lower() for name in next(reader)]
        header = [(columns or {}).get(name, name) for name in header]
    except csv.Error as exc:
        raise ImportFailed([ImportIssue(filename, f"malformed CSV: {exc}", line=1)]) from None
    header_issues = [
        ImportIssue(filename, unknown_name_message(name, COLUMNS, ALIASES, "column"), line=1, field=name)
        for name in header
        if name not in COLUMNS
    ]
    header_issues += [
        ImportIssue(filename, "required column is missing", line=1, field=name)
        for name in sorted(REQUIRED - set(header))
    ]
    if len(set(header)) != len(header):
        header_issues.append(ImportIssue(filename, "a column name appears twice", line=1))
    if header_issues:
        raise ImportFailed(header_issues)

    entries, issues = [], []
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            collector = IssueCollector(filename, line=reader.line_num)
            if len(row) != len(header):
                collector.add(f"has {len(row)} cells; the header has {len(header)}")
            else:
                entry = _parse_row(dict(zip(header, row, strict=True)), collector, tz)
                if entry is not None and not collector.issues:
                    entries.append(entry)
            issues.extend(collector.issues)
    except csv.Error as exc:
        issues.append(ImportIssue(filename, f"malformed CSV: {exc}", line=reader.line_num))
    if issues:
        raise ImportFailed(issues)
    if not entries:
        raise ImportFailed([ImportIssue(filename, "the file has a header but no entries")])
    return entries


def _parse_row(row: dict[str, str], c: IssueCollector, tz: ZoneInfo) -> ParsedEntry | None:
    when = c.field("date", combine_date_time, row["date"], row.get("time", ""), tz)
    title = c.field("title", clean_text, row["title"], max_length=MAX_TITLE, required=True)
    description = c.field("description", clean_text, row.get("description"), max_length=MAX_DESCRIPTION)
    place = c.field("place", clean_text, row.get("place"), max_length=MAX_TITLE)
    lat = c.field("latitude", parse_coordinate, row.get("latitude"), lower=-90, upper=90)
    lon = c.field("longitude", parse_coordinate, row.get("longitude"), lower=-180, upper=180)
    people = c.field("people", clean_names, row.get("people", ""), separator=LIST_SEPARATOR)
    tags = c.field("tags", clean_names, row.get("tags", ""), separator=LIST_SEPARATOR)
    if (lat is None) != (lon is None) and not c.issues:
        c.add("give both latitude and longitude, or neither", field="latitude")
    if c.issues:
        return None
    return ParsedEntry(
        occurred_at=when[0],
        time_precision=when[1],
        title=title,
        description=description,
        place_name=place,
        latitude=lat,
        longitude=lon,
        people=people,
        tags=tags,
    )
