"""JSON life logs: {"entries": [{"when": ..., "title": ..., ...}]} or a bare list of entries."""

import json
from zoneinfo import ZoneInfo

from .base import ImportFailed, ImportIssue, ParsedEntry
from .collect import IssueCollector
from .fields import (
    MAX_DESCRIPTION,
    MAX_TITLE,
    clean_names,
    clean_text,
    parse_coordinate,
    parse_when,
    unknown_name_message,
)
from .text import decode_utf8

ENTRY_KEYS = {"when", "title", "description", "place", "people", "tags"}
PLACE_KEYS = {"name", "lat", "lon"}
# Words other apps use for our fields: the hint for an unknown field.
ALIASES = {
    "date": "when", "time": "when", "datetime": "when", "timestamp": "when", "start": "when", "day": "when",
    "text": "description", "body": "description", "notes": "description", "note": "description",
    "summary": "title", "name": "title", "subject": "title", "event": "title",
    "location": "place", "where": "place", "venue": "place",
    "with": "people", "persons": "people", "attendees": "people", "who": "people",
    "labels": "tags", "categories": "tags", "keywords": "tags",
}  # fmt: skip


def parse_json(data: bytes, *, filename: str, tz: ZoneInfo, columns: dict[str, str] | None = None) -> list[ParsedEntry]:
    text = decode_utf8(data, filename)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFailed([ImportIssue(filename, f"not valid JSON: {exc.msg}", line=exc.lineno)]) from None
    if isinstance(document, dict):
        unknown = set(document) - {"entries"}
        if unknown or "entries" not in document:
            raise ImportFailed([ImportIssue(filename, 'expected an object with one key, "entries", holding a list')])
        document = document["entries"]
    if not isinstance(document, list):
        raise ImportFailed([ImportIssue(filename, 'expected a list of entries (or {"entries": [...]})')])
    if not document:
        raise ImportFailed([ImportIssue(filename, "the file holds no entries")])

    entries, issues = [], []
    for index, item in enumerate(document):
        collector = IssueCollector(filename, field_prefix=f"entries[{index}].")
        if columns and isinstance(item, dict):
            item = {columns.get(key.lower(), key): value for key, value in item.items()}
        entry = _parse_item(item, collector, tz)
        issues.extend(collector.issues)
        if entry is not None and not collector.issues:
            entries.append(entry)
    if issues:
        raise ImportFailed(issues)
    return entries


def _parse_item(item: object, c: IssueCollector, tz: ZoneInfo) -> ParsedEntry | None:
    if not isinstance(item, dict):
        c.add("each entry must be an object")
        return None
    for key in sorted(set(item) - ENTRY_KEYS):
        c.add(unknown_name_message(key, sorted(ENTRY_KEYS), ALIASES, "field"), field=key)
    when = c.field("when", parse_when, item.get("when"), tz)
    title = c.field("title", clean_text, item.get("title"), max_length=MAX_TITLE, required=True)
    description = c.field("description", clean_text, item.get("description"), max_length=MAX_DESCRIPTION)
    people = c.field("people", clean_names, item.get("people"))
    tags = c.field("tags", clean_names, item.get("tags"))
    place_name, lat, lon = _parse_place(item.get("place"), c)
    if c.issues:
        return None
    return ParsedEntry(
        occurred_at=when[0],
        time_precision=when[1],
        title=title,
        description=description,
        place_name=place_name,
        latitude=lat,
        longitude=lon,
        people=people,
        tags=tags,
    )


def _parse_place(place: object, c: IssueCollector) -> tuple[str, float | None, float | None]:
    if place is None or isinstance(place, str):
        return c.field("place", clean_text, place, max_length=MAX_TITLE) or "", None, None
    if not isinstance(place, dict):
        c.add('must be a name or {"name", "lat", "lon"}', field="place")
        return "", None, None
    for key in sorted(set(place) - PLACE_KEYS):
        c.add("unknown field; allowed: lat, lon, name", field=f"place.{key}")
    name = c.field("place.name", clean_text, place.get("name"), max_length=MAX_TITLE) or ""
    lat = c.field("place.lat", parse_coordinate, place.get("lat"), lower=-90, upper=90)
    lon = c.field("place.lon", parse_coordinate, place.get("lon"), lower=-180, upper=180)
    if (lat is None) != (lon is None):
        c.add("give both lat and lon, or neither", field="place")
    return name, lat, lon
