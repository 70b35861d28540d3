from collections.abc import Callable
from typing import TypeVar

from .base import ImportIssue

T = TypeVar("T")


class IssueCollector:
    """Runs field parsers for one record and keeps every problem instead of stopping at the first."""

    def __init__(self, filename: str, line: int | None = None, field_prefix: str = ""):
        self.filename = filename
        self.line = line
        self.field_prefix = field_prefix
        self.issues: list[ImportIssue] = []

    def field(self, name: str, parse: Callable[..., T], *args, **kwargs) -> T | None:
        try:
            return parse(*args, **kwargs)
        except ValueError as exc:
            self.add(str(exc), field=name)
            return None

    def add(self, message: str, field: str | None = None) -> None:
        full_field = f"{self.field_prefix}{field}" if field else (self.field_prefix.rstrip(".") or None)
        self.issues.append(ImportIssue(self.filename, message, line=self.line, field=full_field))
