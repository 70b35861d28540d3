"""Life-log importers: bytes of one file in, parsed entries or located errors out."""

from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

from lifelog.choices import EntrySource

from .base import ImportFailed, ImportIssue, ParsedEntry
from .csv_format import parse_csv
from .diary_format import parse_diary
from .ics_format import parse_ics
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


def parse_file(data: bytes, *, filename: str, file_format: str, tz: ZoneInfo) -> list[ParsedEntry]:
    return PARSERS[file_format](data, filename=filename, tz=tz)


__all__ = ["IMPORT_FORMATS", "ImportFailed", "ImportIssue", "ParsedEntry", "detect_format", "parse_file"]
