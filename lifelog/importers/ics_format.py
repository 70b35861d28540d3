"""iCalendar (.ics) files: each VEVENT becomes an entry."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import icalendar

from lifelog.choices import TimePrecision

from .base import ImportFailed, ImportIssue, ParsedEntry
from .collect import IssueCollector
from .fields import MAX_DESCRIPTION, MAX_TITLE, clean_names, clean_text
from .text import decode_utf8


def parse_ics(data: bytes, *, filename: str, tz: ZoneInfo) -> list[ParsedEntry]:
    text = decode_utf8(data, filename)
    if not text.lstrip().upper().startswith("BEGIN:VCALENDAR"):
        raise ImportFailed([ImportIssue(filename, "not a calendar: an .ics file starts with BEGIN:VCALENDAR")])
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except ValueError as exc:  # the library's own words ("Found no components where...") help nobody
        line, message = _why_unreadable(text, str(exc))
        raise ImportFailed([ImportIssue(filename, message, line=line)]) from None

    entries, issues = [], []
    for index, event in enumerate(calendar.walk("VEVENT")):
        uid = str(event.get("UID", "")).strip()
        label = f"VEVENT {index + 1}" + (f" (UID {uid})" if uid else "")
        collector = IssueCollector(filename, field_prefix=f"{label}.")
        entry = _parse_event(event, collector, tz)
        issues.extend(collector.issues)
        if entry is not None and not collector.issues:
            entries.append(entry)
    if issues:
        raise ImportFailed(issues)
    if not entries:
        raise ImportFailed([ImportIssue(filename, "the calendar holds no events")])
    return entries


def _why_unreadable(text: str, error: str) -> tuple[int | None, str]:
    """Plain words for a calendar the library could not read, with the line to look at."""
    if "multiple components" in error:
        return None, "the file holds more than one calendar (BEGIN:VCALENDAR appears twice): export one per file"
    open_blocks: list[tuple[str, int]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        name, _, value = line.strip().partition(":")
        if name.upper() == "BEGIN":
            open_blocks.append((value.strip().upper(), number))
        elif name.upper() == "END":
            if not open_blocks or open_blocks[-1][0] != value.strip().upper():
                return number, f"END:{value.strip()} does not close the block that is open here"
            open_blocks.pop()
    if open_blocks:
        block, number = open_blocks[-1]
        return number, f"BEGIN:{block} is never closed (END:{block} is missing): the file may be cut off"
    return None, "the file does not follow the iCalendar format; export it again from the calendar app"


def _line_problems(event: icalendar.Event, c: IssueCollector) -> None:
    for prop, message in getattr(event, "errors", []):
        if message.startswith("Wrong date format"):
            value = message.removeprefix("Wrong date format").strip()
            c.add(f"'{value}' is not a date (iCalendar dates look like 20250603 or 20250603T143000)", field=prop)
        else:
            line = message.rsplit(": ", 1)[-1]
            c.add(f"a line could not be read: '{line[:80]}' (each line is NAME:value)", field=prop)


def _parse_event(event: icalendar.Event, c: IssueCollector, tz: ZoneInfo) -> ParsedEntry | None:
    _line_problems(event, c)
    if c.issues:
        return None
    start = event.get("DTSTART")
    if start is None:
        c.add("an event needs a start", field="DTSTART")
        return None
    value = start.dt
    if isinstance(value, datetime):
        when = value if value.tzinfo else value.replace(tzinfo=tz)
        precision = TimePrecision.EXACT
    elif isinstance(value, date):
        when = datetime(value.year, value.month, value.day, tzinfo=tz)
        precision = TimePrecision.DAY
    else:
        c.add("unreadable start", field="DTSTART")
        return None
    title = c.field("SUMMARY", clean_text, str(event.get("SUMMARY", "")), max_length=MAX_TITLE, required=True)
    description = c.field("DESCRIPTION", clean_text, str(event.get("DESCRIPTION", "")), max_length=MAX_DESCRIPTION)
    place = c.field("LOCATION", clean_text, str(event.get("LOCATION", "")), max_length=MAX_TITLE)
    people = c.field("ATTENDEE", clean_names, _attendee_names(event))
    tags = c.field("CATEGORIES", clean_names, _categories(event))
    lat = lon = None
    if (geo := event.get("GEO")) is not None:
        lat, lon = float(geo.latitude), float(geo.longitude)
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            c.add("coordinates out of range", field="GEO")
    if c.issues:
        return None
    return ParsedEntry(
        occurred_at=when,
        time_precision=precision,
        title=title,
        description=description,
        place_name=place,
        latitude=lat,
        longitude=lon,
        people=people,
        tags=tags,
    )


def _attendee_names(event: icalendar.Event) -> list[str]:
    attendees = event.get("ATTENDEE") or []
    if not isinstance(attendees, list):
        attendees = [attendees]
    names = []
    for attendee in attendees:
        name = attendee.params.get("CN") or str(attendee).removeprefix("mailto:").split("@")[0]
        names.append(str(name))
    return names


def _categories(event: icalendar.Event) -> list[str]:
    found = event.get("CATEGORIES")
    if found is None:
        return []
    groups = found if isinstance(found, list) else [found]
    return [str(cat) for group in groups for cat in group.cats]
