"""Life-log importers: bytes of one file in, parsed entries or located errors out."""

from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

from lifelog.choices import EntrySource

from .base import ImportFailed, ImportIssue, ParsedEntry
from .csv_format import COLUMNS as CSV_COLUMNS
from .csv_format import parse_csv
from .diary_format import parse_diary
from .ics_format import parse_ics
from .json_format import ENTRY_KEYS as JSON_KEYS
from .json_format import parse_json
from .photo_format import parse_photo

Parser = Callable[..., list[ParsedEntry]]

PARSERS: dict[str, Parser] = {
    EntrySource.JSON: parse_json,
    EntrySource.CSV: parse_csv,
    EntrySource.ICS: parse_ics,
    EntrySource.DIARY: parse_diary,
    EntrySource.PHOTO: parse_photo,
}
IMPORT_FORMATS = list(PARSERS)
EXTENSIONS = {
    ".json": EntrySource.JSON,
    ".csv": EntrySource.CSV,
    ".ics": EntrySource.ICS,
    ".txt": EntrySource.DIARY,
    ".md": EntrySource.DIARY,
    ".jpg": EntrySource.PHOTO,
    ".jpeg": EntrySource.PHOTO,
}


def detect_format(filename: str) -> str:
    suffix = Path(filename).suffix.lower()
    if suffix not in EXTENSIONS:
        raise ImportFailed(
            [ImportIssue(filename, f"unsupported file type '{suffix or '(none)'}'; use {', '.join(EXTENSIONS)}")]
        )
    return EXTENSIONS[suffix]


# The names a column mapping may point at, per format that has named columns or fields.
MAPPABLE = {EntrySource.CSV: CSV_COLUMNS, EntrySource.JSON: sorted(JSON_KEYS)}


def parse_column_map(text: str, *, file_format: str) -> dict[str, str]:
    """'Datum=date, Notiz=description' → {"datum": "date", "notiz": "description"}: the file's own names
    (compared without case) renamed to ours before parsing. Raises ValueError with a message for a person."""
    if not text.strip():
        return {}
    if file_format not in MAPPABLE:
        raise ValueError("a column mapping applies to CSV and JSON files only")
    allowed = MAPPABLE[file_format]
    mapping: dict[str, str] = {}
    for pair in text.split(","):
        theirs, sep, ours = (part.strip() for part in pair.partition("="))
        if not sep or not theirs or not ours:
            raise ValueError(f"'{pair.strip()}' is not of the form their_name=our_name")
        if ours.lower() not in allowed:
            raise ValueError(f"'{ours}' is not one of ours: {', '.join(allowed)}")
        mapping[theirs.lower()] = ours.lower()
    return mapping


def parse_file(
    data: bytes, *, filename: str, file_format: str, tz: ZoneInfo, columns: dict[str, str] | None = None
) -> list[ParsedEntry]:
    if columns and file_format in MAPPABLE:
        return PARSERS[file_format](data, filename=filename, tz=tz, columns=columns)
    return PARSERS[file_format](data, filename=filename, tz=tz)


__all__ = [
    "IMPORT_FORMATS",
    "ImportFailed",
    "ImportIssue",
    "ParsedEntry",
    "detect_format",
    "parse_column_map",
    "parse_file",
]
