"""What every puzzle group shares: facts of an entry, date phrases, template filling, the level ladder."""

import random
import string
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from chat.scoring import normalize
from lifelog.choices import TimePrecision


class NotEnoughEntries(Exception):
    """This trainee's life log has too few qualifying entries for the group: another group is chosen."""


@dataclass(frozen=True)
class EntryFacts:
    """The facts of one entry a puzzle may use, with its time in the participant's own zone."""

    id: int
    title: str
    description: str
    place: str
    people: tuple[str, ...]
    tags: tuple[str, ...]
    local_time: datetime
    precision: str

    @property
    def day(self) -> date:
        return self.local_time.date()

    @classmethod
    def from_entry(cls, entry, zone: str) -> "EntryFacts":
        return cls(
            id=entry.id,
            title=entry.title,
            description=entry.description,
            place=entry.place_name,
            people=tuple(entry.people),
            tags=tuple(entry.tags),
            local_time=entry.occurred_at.astimezone(ZoneInfo(zone)),
            precision=entry.time_precision,
        )


def part_of_day(moment: datetime) -> str:
    if moment.hour < 12:
        return "morning"
    if moment.hour < 18:
        return "afternoon"
    return "evening"


def day_phrase(moment: datetime) -> str:
    return f"{moment:%A} {moment.day} {moment:%B %Y}"


def when_phrase(facts: EntryFacts) -> str:
    """ "the afternoon of Saturday 3 May 2025", "Saturday 3 May 2025" or "May 2025", as precisely as known."""
    if facts.precision == TimePrecision.EXACT:
        return f"the {part_of_day(facts.local_time)} of {day_phrase(facts.local_time)}"
    if facts.precision == TimePrecision.DAY:
        return day_phrase(facts.local_time)
    return f"{facts.local_time:%B %Y}"


def known_to_the_day(facts: EntryFacts) -> bool:
    """An entry dated only to the month ("April 2026") sits on the 1st in the database: it has no day to tell."""
    return facts.precision != TimePrecision.MONTH


def same_day_entries(anchor: EntryFacts, pool: list[EntryFacts]) -> list[EntryFacts]:
    """The other entries known to be of the anchor's exact day (never the month-only entries of its month)."""
    return [f for f in pool if f.id != anchor.id and known_to_the_day(f) and f.day == anchor.day]


def surely_before(a: EntryFacts, b: EntryFacts, min_days: int = 0) -> bool:
    """True when the log says `a` happened before `b` (at least min_days earlier where both days are known); a
    month-only entry is only surely before the next months."""
    if known_to_the_day(a) and known_to_the_day(b):
        return (b.day - a.day).days >= min_days and a.local_time < b.local_time
    return (a.local_time.year, a.local_time.month) < (b.local_time.year, b.local_time.month)


_ARTICLE_WORDS = {"the", "a", "an", "my", "our", "his", "her", "their", "your", "home", "church", "work", "school"}


def place_phrase(place: str) -> str:
    """A place as a sentence says it: "allotment" -> "the allotment"; names ("St Mary's church", "Leeds"),
    places with their own article ("the Blue Door café") and possessives ("grandma's house") stay as they are."""
    first = place.split()[0] if place.split() else ""
    if not first or first[0].isupper() or first.casefold() in _ARTICLE_WORDS or first.endswith(("'s", "’s", "s'")):
        return place
    return f"the {place}"


def year_tells(facts: EntryFacts, pool: list[EntryFacts]) -> bool:
    """A year is a clue only where the life log spans more than one year."""
    return any(other.local_time.year != facts.local_time.year for other in pool)


def telling_tag(facts: EntryFacts) -> str | None:
    """A tag to give as a "what" cue, never one that is a word of the title: that would be the answer."""
    title_words = set(normalize(facts.title).split())
    return next((tag for tag in facts.tags if not set(normalize(tag).split()) & title_words), None)


def join_names(names: list[str] | tuple[str, ...]) -> str:
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


class _Template(string.Formatter):
    """str.format that refuses attribute/index access: templates only place facts, they never run code."""

    def get_field(self, field_name, args, kwargs):
        if not field_name.isidentifier():
            raise ValueError(f"template field {field_name!r} is not a plain name")
        return kwargs[field_name], field_name


def render(template: str, **facts: str) -> str:
    return _Template().format(template, **facts)


def lettered(options: list[str]) -> str:
    return "\n".join(f"{letter}) {option}" for letter, option in zip(string.ascii_uppercase, options, strict=False))


@dataclass
class BuiltPuzzle:
    entry_id: int
    entry_ids: list[int]
    payload: dict = field(default_factory=dict)
    authored_id: int | None = None  # the stored LLM-authored puzzle it came from


def pick_distinct(rng: random.Random, values: list[str], count: int, avoid: set[str]) -> list[str]:
    """`count` different values (compared case-insensitively) not in `avoid`, or NotEnoughEntries."""
    seen = {value.casefold() for value in avoid}
    pool = []
    for value in values:
        if value and value.casefold() not in seen:
            seen.add(value.casefold())
            pool.append(value)
    if len(pool) < count:
        raise NotEnoughEntries(f"needs {count} other different entries")
    return rng.sample(pool, count)


def with_choices(rng: random.Random, answer: str, distractors: list[str]) -> tuple[list[str], int]:
    options = [answer, *distractors]
    rng.shuffle(options)
    return options, options.index(answer)


def max_level(payload: dict) -> int:
    return len(payload["cues"]) + (1 if payload.get("recognition") else 0)


def prompt_at(payload: dict, level: int) -> str:
    """What the bot asks at a cue level: 0 the question, then each cue, then recognition."""
    if level == 0:
        return payload["question"]
    if level <= len(payload["cues"]):
        return payload["cues"][level - 1]
    recognition = payload["recognition"]
    return recognition["prompt"] + "\n" + lettered(recognition["options"])


def is_recognition(payload: dict, level: int) -> bool:
    return bool(payload.get("recognition")) and level == len(payload["cues"]) + 1


def other_events(payload: dict) -> list[str]:
    """The other events of the trainee's life log that the puzzle offers as choices: naming one of them in free
    recall is naming another event."""
    recognition = payload.get("recognition") or {}
    options = recognition.get("options", [])
    return [option for index, option in enumerate(options) if index != recognition.get("answer_index")]
