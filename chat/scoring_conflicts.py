"""Contradictions: a free-recall answer that puts the trainee somewhere else, or doing something else.

"I was at home all evening" for "Dinner at the Italian restaurant" is close in meaning (an evening, a meal,
a place) and a sentence model scores it high. Here both texts are read into two slots, where and what,
each a set of tags from a small lexicon. When the answer fills a slot that the entry fills too and none of
its tags is among the entry's, the answer contradicts the entry and is wrong, whatever its similarity.
An answer that leaves a slot empty contradicts nothing there: "we had a lovely time" is left to meaning.
Tags overlap on purpose where one thing implies another: a picnic is a meal, a garden is at home.
"""

import re
from functools import cache

# phrase -> tags. Longer phrases are matched first, so "garden centre" never reads as "garden".
_PLACE_GROUPS: list[tuple[frozenset[str], list[str]]] = [
    (frozenset({"home"}), ["home", "house", "at mine", "to mine", "my place", "indoors", "stayed in", "in all day",
                     "garden", "back garden", "kitchen", "sitting room", "lounge"]),
    (frozenset({"their home"}), ["flat", "apartment", "her place", "his place", "their place"]),
    (frozenset({"cafe"}), ["cafe", "coffee shop", "tea room", "tearoom", "tea shop"]),
    (frozenset({"restaurant"}), ["restaurant", "pub", "bistro", "inn", "pizzeria", "carvery", "trattoria"]),
    (frozenset({"church"}), ["church", "chapel", "cathedral", "abbey"]),
    (frozenset({"park"}), ["park", "parks"]),
    (frozenset({"river"}), ["river", "towpath", "canal", "riverside", "riverbank", "lock"]),
    (frozenset({"seaside"}), ["beach", "seaside", "sea", "coast", "seafront", "lyme regis"]),
    (frozenset({"market"}), ["market", "market stall"]),
    (frozenset({"shops"}), ["supermarket", "shopping centre", "tesco", "sainsburys", "high street", "shops"]),
    (frozenset({"library"}), ["library"]),
    (frozenset({"surgery"}), ["surgery", "gp", "doctors", "health centre", "clinic"]),
    (frozenset({"hospital"}), ["hospital", "a and e", "ward"]),
    (frozenset({"dentist"}), ["dentist", "dentists"]),
    (frozenset({"chemist"}), ["chemist", "pharmacy", "chemists"]),
    (frozenset({"theatre"}), ["theatre", "playhouse"]),
    (frozenset({"cinema"}), ["cinema", "pictures"]),
    (frozenset({"garden centre"}), ["garden centre", "nursery"]),
    (frozenset({"hairdresser"}), ["hairdresser", "hairdressers", "barber", "salon"]),
]  # fmt: skip
_ACTIVITY_GROUPS: list[tuple[frozenset[str], list[str]]] = [
    (frozenset({"walk"}), ["walk", "walked", "walking", "stroll", "strolled", "ramble", "hike", "hiked"]),
    (frozenset({"picnic", "meal"}), ["picnic"]),
    (frozenset({"meal"}), ["dinner", "lunch", "supper", "meal", "breakfast", "ate", "eat", "eating",
                     "takeaway"]),
    (frozenset({"drink"}), ["coffee", "tea", "cuppa", "cup of tea"]),
    (frozenset({"shopping"}), ["shopping", "bought", "buy", "buying", "shopped"]),
    (frozenset({"service"}), ["service", "mass", "worship", "choir", "hymn", "hymns", "sang", "evensong"]),
    (frozenset({"ceremony"}), ["wedding", "funeral", "christening", "baptism"]),
    (frozenset({"gardening"}), ["gardening", "planting", "planted", "weeding", "digging", "pruning"]),
    (frozenset({"baking", "cooking"}), ["baked", "baking", "bake"]),
    (frozenset({"cooking"}), ["cooked", "cooking", "cook", "made dinner"]),
    (frozenset({"reading group"}), ["reading group", "book club", "book group", "discussed"]),
    (frozenset({"show"}), ["play", "show", "performance", "panto", "pantomime", "concert"]),
    (frozenset({"film"}), ["film", "movie"]),
    (frozenset({"phone"}), ["phone", "phoned", "rang", "ring", "called", "phone call", "call", "telephoned"]),
    (frozenset({"visited"}), ["came round", "came over", "came to visit", "popped round", "drove over", "visited me"]),
    (frozenset({"medical"}), ["check up", "appointment", "doctor", "nurse", "blood pressure", "weighed"]),
    (frozenset({"prescription"}), ["prescription"]),
    (frozenset({"hair"}), ["hair done", "haircut"]),
    (frozenset({"football"}), ["football"]),
    (frozenset({"golf"}), ["golf"]),
    (frozenset({"bowls"}), ["bowls", "bowling"]),
    (frozenset({"swimming"}), ["swim", "swimming", "swam"]),
    (frozenset({"cycling"}), ["bike ride", "cycling", "cycled", "bike"]),
    (frozenset({"fishing"}), ["fishing"]),
    (frozenset({"television"}), ["television", "telly", "tv"]),
    (frozenset({"rest"}), ["bed", "nap", "lie in"]),
]  # fmt: skip
PLACES = {phrase: tags for tags, phrases in _PLACE_GROUPS for phrase in phrases}
ACTIVITIES = {phrase: tags for tags, phrases in _ACTIVITY_GROUPS for phrase in phrases}
SLOTS = {"place": PLACES, "activity": ACTIVITIES}


@cache
def _pattern(slot: str) -> re.Pattern:
    phrases = sorted(SLOTS[slot], key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(re.escape(phrase) for phrase in phrases) + r")\b")


def slots(normalized_text: str) -> dict[str, set[str]]:
    """{"place": tags, "activity": tags} named in a text already passed through chat.scoring.normalize."""
    return {
        slot: {tag for found in _pattern(slot).findall(normalized_text) for tag in SLOTS[slot][found]} for slot in SLOTS
    }


def conflicting_slot(normalized_answer: str, normalized_entry: str) -> str | None:
    """The slot ("place" or "activity") in which the answer contradicts the entry, or None."""
    answer, entry = slots(normalized_answer), slots(normalized_entry)
    for slot in SLOTS:
        if answer[slot] and entry[slot] and not answer[slot] & entry[slot]:
            return slot
    return None
