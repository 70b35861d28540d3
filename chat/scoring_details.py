"""What a day's entries name besides people and places: animals and things, from a small lexicon.

A detail probe counts these too ("we walked the dog along the canal"). Each phrase has the words a trainee
may use for it: its own words, and for a specific thing the general word ("a fossil" for a belemnite,
"a bird" for a heron), never a sibling ("an ammonite" is not the belemnite that was found).
Activities come from chat.scoring_conflicts' lexicon, so a detail and a contradiction read the same words.
"""

import re
from functools import cache

ANIMALS: dict[str, tuple[str, ...]] = {
    "dog": ("dog", "dogs", "doggy"),
    "puppy": ("puppy", "pup"),
    "cat": ("cat", "kitten", "kitty"),
    "heron": ("heron", "bird"),
    "swans": ("swan", "swans", "bird", "birds"),
    "ducks": ("duck", "ducks", "ducklings", "bird", "birds"),
    "kingfisher": ("kingfisher", "bird"),
    "cormorant": ("cormorant", "bird"),
    "horse": ("horse", "horses", "pony"),
    "cows": ("cow", "cows", "cattle"),
    "sheep": ("sheep", "lambs"),
    "squirrel": ("squirrel", "squirrels"),
}
THINGS: dict[str, tuple[str, ...]] = {
    "ammonite": ("ammonite", "fossil"),
    "belemnite": ("belemnite", "fossil"),
    "shell fossil": ("shell", "fossil"),
    "lemon drizzle cake": ("lemon drizzle", "drizzle cake"),
    "carrot cake": ("carrot cake", "cake"),
    "victoria sponge": ("victoria sponge", "sponge", "cake"),
    "fruit cake": ("fruit cake", "cake"),
    "apple crumble": ("crumble", "pudding"),
    "strawberries": ("strawberries", "strawberry", "fruit"),
    "plums": ("plums", "plum", "fruit"),
    "tomatoes": ("tomatoes", "tomato"),
    "cheddar": ("cheddar", "cheese"),
    "bread": ("bread", "loaf"),
    "eggs": ("eggs", "egg"),
    "ham": ("ham",),
    "honey": ("honey",),
    "sandwiches": ("sandwiches", "sandwich", "sarnies"),
    "fish and chips": ("fish and chips", "chips", "fish supper"),
    "roast chicken": ("chicken", "roast"),
    "lasagne": ("lasagne", "lasagna"),
    "shepherds pie": ("shepherds pie", "cottage pie", "pie"),
    "fish pie": ("fish pie", "pie"),
    "compost": ("compost",),
    "tulip bulbs": ("tulips", "tulip", "bulbs"),
    "sweet peas": ("sweet peas",),
    "runner beans": ("runner beans", "beans"),
    "rose bush": ("rose", "roses", "rose bush"),
    "lavender": ("lavender",),
    "tomato plants": ("tomato plants", "tomatoes"),
    "model railway": ("model railway", "train set", "trains", "railway"),
    "bicycle": ("bicycle", "bike"),
    "guitar": ("guitar",),
    "trophies": ("trophies", "trophy", "cups"),
    "drawings": ("drawings", "pictures", "drawing"),
    "rug": ("rug", "blanket"),
    "mixing bowl": ("mixing bowl", "bowl"),
    "recipe": ("recipe",),
    "train": ("train",),
    "ticket": ("ticket", "tickets", "fare"),
    "bill": ("bill",),
    "actor": ("actor", "actors"),
    "knee": ("knee",),
    "blood pressure": ("blood pressure",),
    "hearing": ("hearing", "ears"),
    "eyesight": ("eyesight", "eyes", "eye test"),
    "new job": ("new job", "job"),
    "promotion": ("promotion",),
    "holiday": ("holiday", "vacation"),
    "leaking roof": ("roof", "leak"),
    "wedding": ("wedding",),
}


@cache
def _pattern() -> re.Pattern:
    phrases = sorted([*ANIMALS, *THINGS], key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(re.escape(phrase) for phrase in phrases) + r")\b")


def named_in(normalized_text: str) -> list[tuple[str, str]]:
    """(kind, phrase) for each animal or thing the text names, in order, once each."""
    seen: list[tuple[str, str]] = []
    for phrase in _pattern().findall(normalized_text):
        item = ("animal" if phrase in ANIMALS else "thing", phrase)
        if item not in seen:
            seen.append(item)
    return seen


def words_for(phrase: str) -> tuple[str, ...]:
    return ANIMALS.get(phrase) or THINGS.get(phrase) or (phrase,)


def mentioned(normalized_answer: str, phrase: str) -> bool:
    """Whether the answer names the animal or thing by one of its words (whole words only)."""
    padded = f" {normalized_answer} "
    return any(f" {word} " in padded for word in words_for(phrase))
