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
    "lemon drizzle cake": ("lemon drizzle", "drizzle cake", "cake"),
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
    "tulip bulbs": ("tulips", "tulip", "bulbs", "flowers"),
    "sweet peas": ("sweet peas", "flowers"),
    "runner beans": ("runner beans", "beans"),
    "rose bush": ("rose", "roses", "rose bush", "flowers"),
    "lavender": ("lavender", "flowers"),
    "tomato plants": ("tomato plants", "tomatoes"),
    "model railway": ("model railway", "train set", "trains", "railway"),
    "bicycle": ("bicycle", "bike"),
    "guitar": ("guitar",),
    "trophies": ("trophies", "trophy"),
    "drawings": ("drawings", "drawing"),
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
    # Things that are in no diary of the sample logs but in trainees' answers: named, they are intrusions.
    "sausages": ("sausages", "sausage", "sausage rolls"),
    "scones": ("scones", "scone"),
    "biscuits": ("biscuits", "biscuit"),
    "soup": ("soup",),
    "pasties": ("pasties", "pasty"),
    "pork pie": ("pork pie", "pie"),
    "cheese": ("cheese",),
    "apples": ("apples", "apple", "fruit"),
    "pears": ("pears", "pear", "fruit"),
    "piano": ("piano",),
    "violin": ("violin",),
    "ice cream": ("ice cream", "ice lolly", "cornet"),
    "rhubarb": ("rhubarb",),
    "potatoes": ("potatoes", "potato", "spuds"),
    "carrots": ("carrots", "carrot"),
    "onions": ("onions", "onion"),
    "lettuce": ("lettuce", "lettuces"),
    "cucumbers": ("cucumbers", "cucumber"),
    "daffodils": ("daffodils", "daffodil", "flowers"),
}


@cache
def _pattern() -> re.Pattern:
    phrases = sorted([*ANIMALS, *THINGS], key=len, reverse=True)
    return re.compile(r"\b(" + "|".join(re.escape(phrase) for phrase in phrases) + r")(?:s|es)?\b")


def named_in(normalized_text: str) -> list[tuple[str, str]]:
    """(kind, phrase) for each animal or thing the text names (a plural too: "tickets"), in order, once each."""
    seen: list[tuple[str, str]] = []
    for phrase in _pattern().findall(normalized_text):
        item = ("animal" if phrase in ANIMALS else "thing", phrase)
        if item not in seen:
            seen.append(item)
    return seen


def words_for(phrase: str) -> tuple[str, ...]:
    return ANIMALS.get(phrase) or THINGS.get(phrase) or (phrase,)


def mentioned(normalized_answer: str, phrase: str) -> bool:
    """Whether the answer names the animal or thing by one of its words (whole words only). A general word
    inside a sibling's name does not count: "carrot cake" does not name the fruit cake by "cake"."""
    own = words_for(phrase)
    siblings = [other for _, other in named_in(normalized_answer) if other != phrase and other not in own]
    padded = f" {normalized_answer} "
    for sibling in siblings:
        padded = re.sub(rf" {re.escape(sibling)}(?:s|es)? ", "  ", padded)
    return any(f" {word} " in padded for word in own)


@cache
def _word_index() -> dict[str, frozenset[str]]:
    """Every word of the lexicon -> the animals and things it can name ("fossil" -> the three fossils)."""
    index: dict[str, set[str]] = {}
    for phrase in [*ANIMALS, *THINGS]:
        for word in words_for(phrase):
            index.setdefault(word, set()).add(phrase)
    return {word: frozenset(phrases) for word, phrases in index.items()}


@cache
def _word_pattern() -> re.Pattern:
    words = sorted(_word_index(), key=len, reverse=True)
    return re.compile(r"\b(" + "|".join(re.escape(word) for word in words) + r")\b")


def stray_things(normalized_answer: str, normalized_text: str, skip: frozenset[str] = frozenset()) -> list[str]:
    """Animals and things the answer names that the text does not have under any of their words: "his model
    railway" for the day Tom showed me his guitar, "carrot cake" for the fruit cake, "roses" for tulips.
    A general word alone ("the birds were singing") is no thing of its own.
    Words in `skip` are not read (names that are also words: "Bill", "Rose")."""
    named = [phrase for _, phrase in named_in(normalized_text)]  # and what the text names by another word:
    named += sorted({phrase for word in _word_pattern().findall(normalized_text) for phrase in _word_index()[word]})
    stray = [
        phrase
        for _, phrase in named_in(normalized_answer)
        if phrase not in skip and phrase not in named and not any(mentioned(phrase, other) for other in named)
    ]
    rest = _pattern().sub(" ", normalized_answer)  # what the phrases above did not already read
    for word in _word_pattern().findall(rest):
        things = _word_index()[word]
        # A general word ("bird", "cake", "fruit") may be of the day's background: only a word for one thing
        # ("roses", "trains") puts that thing in the day.
        if word not in skip and len(things) == 1 and not things & set(named):
            stray.append(word)
    return stray
