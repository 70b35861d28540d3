"""Replaces the people and places of a participant's life log in free text with stable placeholders.

A placeholder is a keyed hash of the name as written (the study's redaction key), so "Tom" reads as
the same placeholder in every export of the study, whatever else the life log holds, and nobody
without the key can reverse it. A person's single names ("Tom" of "Tom Baker") get their own. Only
names the life log knows are found: a name that appears nowhere in it passes through unchanged.
"""

import hashlib
import hmac
import re
from collections.abc import Iterable

from lifelog.models import LifeLogEntry
from studies.models import ParticipantIdentity

HONORIFICS = {"mr", "mrs", "ms", "miss", "dr", "aunt", "uncle", "auntie", "grandma", "grandpa", "nan", "the"}
MIN_TOKEN_CHARS = 3


class Redactor:
    def __init__(self, *, key: str, people: Iterable[str], places: Iterable[str]):
        self._key = key.encode()
        names: dict[str, str] = {}
        for person in people:
            for variant in _variants(person, split_words=True):
                names.setdefault(variant.casefold(), self._placeholder("PERSON", variant))
        for place in places:
            for variant in _variants(place, split_words=False):
                names.setdefault(variant.casefold(), self._placeholder("PLACE", variant))
        self._names = names
        # Longest first, so "Tom Baker" is replaced whole before "Tom" could match inside it.
        alternatives = sorted(names, key=len, reverse=True)
        self._pattern = (
            re.compile(r"(?<!\w)(" + "|".join(re.escape(n) for n in alternatives) + r")(?!\w)", re.IGNORECASE)
            if alternatives
            else None
        )

    def _placeholder(self, kind: str, name: str) -> str:
        digest = hmac.new(self._key, f"{kind}:{name.casefold().strip()}".encode(), hashlib.sha256).hexdigest()
        return f"[{kind}-{digest[:8]}]"

    def __call__(self, text: str) -> str:
        if not text or self._pattern is None:
            return text
        return self._pattern.sub(lambda match: self._names[match.group(0).casefold()], text)


def _variants(name: str, *, split_words: bool) -> list[str]:
    """The full name, and its parts: words of a person's name, comma-separated parts of a place."""
    name = " ".join(name.split())
    if not name:
        return []
    parts = name.split() if split_words else [part.strip() for part in name.split(",")]
    found = [name]
    if len(parts) > 1:
        found += [p for p in parts if len(p) >= MIN_TOKEN_CHARS and p.casefold().strip(".") not in HONORIFICS]
    return found


def participant_redactor(*, participant_id: int, key: str) -> Redactor:
    """Everyone and everywhere in the participant's life log (withdrawn entries too), and their own name."""
    people: set[str] = set()
    places: set[str] = set()
    rows = LifeLogEntry.objects.filter(participant_id=participant_id).values_list("people", "place_name")
    for entry_people, place in rows:
        people.update(entry_people)
        if place:
            places.add(place)
    identity = ParticipantIdentity.objects.filter(participant_id=participant_id).values_list("full_name", flat=True)
    people.update(name for name in identity if name)
    return Redactor(key=key, people=sorted(people), places=sorted(places))
