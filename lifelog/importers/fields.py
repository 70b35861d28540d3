"""Field parsers shared by the importers. Each raises ValueError with a message for a person."""

import calendar
import difflib
import re
from datetime import datetime, time
from zoneinfo import ZoneInfo

from lifelog.choices import TimePrecision

MAX_TITLE = 300
MAX_DESCRIPTION = 20_000
MAX_NAME = 200
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DAY_PREFIX = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:$|[T ])")
# Control characters other than tab and newline would corrupt exports and screen readers.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def parse_when(value: object, tz: ZoneInfo) -> tuple[datetime, str]:
    """ISO 8601 month, day or date-time; a time without a zone is the participant's local time."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("a date is required (e.g. 2025-05-03, 2025-05-03T14:30 or 2025-05)")
    text = value.strip()
    if m := _MONTH.match(text):
        year, month = int(m[1]), int(m[2])
        if not 1 <= month <= 12:
            raise ValueError(f"'{text}' is not a valid month")
        return datetime(year, month, 1, tzinfo=tz), TimePrecision.MONTH
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(_why_not_a_date(text)) from None
    precision = TimePrecision.DAY if _DAY.match(text) else TimePrecision.EXACT
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    if not 1900 <= parsed.year <= 2100:
        raise ValueError(f"'{text}' is outside the years 1900-2100")
    return parsed, precision


def _why_not_a_date(text: str) -> str:
    """A date in the right form that does not exist (2026-02-30) is told apart from one in another form."""
    if m := _DAY_PREFIX.match(text):
        year, month, day = int(m[1]), int(m[2]), int(m[3])
        if not 1 <= month <= 12:
            return f"'{text}' has month {month:02d}; months go from 01 to 12"
        days = calendar.monthrange(year, month)[1]
        if not 1 <= day <= days:
            month_name = calendar.month_name[month]
            return f"'{text}' does not exist: {month_name} {year} has {days} days"
        return f"'{text}' has a date that exists, but the time after it is not in the form HH:MM"
    return f"'{text}' is not a date in the form YYYY-MM-DD, YYYY-MM-DDTHH:MM or YYYY-MM"


def unknown_name_message(name: str, allowed: list[str], aliases: dict[str, str], kind: str) -> str:
    """'unknown column' with a hint when the name looks like an allowed one (a typo, or another app's word)."""
    guess = aliases.get(name.lower()) or next(iter(difflib.get_close_matches(name.lower(), allowed, n=1)), None)
    hint = f" Did you mean '{guess}'?" if guess else ""
    return f"unknown {kind}.{hint} Allowed: {', '.join(allowed)}"


def combine_date_time(day: str, clock: str, tz: ZoneInfo) -> tuple[datetime, str]:
    when, precision = parse_when(day, tz)
    if not clock.strip():
        return when, precision
    if precision != TimePrecision.DAY:
        raise ValueError("a separate time needs a date of the form YYYY-MM-DD")
    try:
        parsed_time = time.fromisoformat(clock.strip())
    except ValueError:
        raise ValueError(f"'{clock.strip()}' is not a time in the form HH:MM") from None
    return datetime.combine(when.date(), parsed_time, tzinfo=when.tzinfo), TimePrecision.EXACT


def clean_text(value: object, *, max_length: int, required: bool = False) -> str:
    """Text is kept as text, HTML included: templates escape it when shown."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValueError("must be text")
    text = _CONTROL.sub("", value).strip()
    if required and not text:
        raise ValueError("must not be empty")
    if len(text) > max_length:
        raise ValueError(f"is {len(text)} characters long; the limit is {max_length}")
    return text


def clean_names(value: object, *, separator: str | None = None) -> list[str]:
    """A list of names (people, tags): from a list, or a string split on the separator."""
    if value is None or value == "":
        return []
    if isinstance(value, str) and separator:
        items = value.split(separator)
    elif isinstance(value, list):
        items = value
    else:
        raise ValueError("must be a list of names")
    names: list[str] = []
    for item in items:
        name = " ".join(clean_text(item, max_length=MAX_NAME).split())
        if name and name not in names:
            names.append(name)
    return names


def parse_coordinate(value: object, *, lower: float, upper: float) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"'{value}' is not a number") from None
    if not lower <= number <= upper:
        raise ValueError(f"{number} is outside {lower}..{upper}")
    return number
