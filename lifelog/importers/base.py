"""What every importer produces, and how it reports a bad file."""

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime

MAX_REPORTED_ISSUES = 50


@dataclass(frozen=True)
class ImportIssue:
    """One problem, located so that a person can find and fix it in the file."""

    file: str
    message: str
    line: int | None = None  # 1-based line or row number, where the format has lines
    field: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f", line {self.line}"
        if self.field:
            where += f", field '{self.field}'"
        return f"{where}: {self.message}"

    def as_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "field": self.field, "message": self.message}


class ImportFailed(Exception):
    def __init__(self, issues: list[ImportIssue]):
        self.issues = issues[:MAX_REPORTED_ISSUES]
        more = len(issues) - len(self.issues)
        if more > 0:  # a list that just stops at 50 reads as if the 50th were the last
            self.issues.append(
                ImportIssue(issues[0].file, f"and {more} more problems not listed: fix these and upload again")
            )
        summary = "; ".join(str(i) for i in self.issues[:3])
        if len(issues) > 3:
            summary += f"; and {len(issues) - 3} more"
        if more > 0:
            summary += f" ({more} not listed)"
        super().__init__(summary)


@dataclass
class ParsedEntry:
    occurred_at: datetime
    time_precision: str
    title: str
    description: str = ""
    place_name: str = ""
    latitude: float | None = None
    longitude: float | None = None
    people: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    photo_bytes: bytes | None = None
    photo_name: str = ""

    def content_hash(self) -> str:
        """Stable identity of the entry's content: re-importing the same data creates nothing new."""
        payload = {
            "at": self.occurred_at.isoformat(),
            "precision": self.time_precision,
            "title": self.title,
            "description": self.description,
            "place": self.place_name,
            "lat": self.latitude,
            "lon": self.longitude,
            "people": self.people,
            "tags": self.tags,
            "photo": hashlib.sha256(self.photo_bytes).hexdigest() if self.photo_bytes else None,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    def embedding_text(self) -> str:
        """What the embedding model reads: the what, where, who and the story."""
        parts = [self.title]
        if self.place_name:
            parts.append(f"at {self.place_name}")
        if self.people:
            parts.append("with " + ", ".join(self.people))
        text = " ".join(parts)
        if self.description:
            text += ". " + self.description
        return text
