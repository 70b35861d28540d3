"""Same-meaning words of a few closed classes, for short answers: "navy" / "dark blue", "mum" / "mother".

Covered classes: colours, family relations, days of the week, months, seasons, and common household and
everyday objects. Each group is one meaning; a word in two groups of one class would make them one meaning,
so groups are kept narrow (British usage first; "fall" for autumn and "mom" for mum are here for visitors).
A more general word is not a synonym: "blue" is not "navy", "bird" is not "heron" (details.py may still
accept the general word for a thing of the day). Everything is compared after chat.scoring.normalize.
"""

import re
from functools import cache

CLASSES: dict[str, list[tuple[str, ...]]] = {
    "colour": [
        ("navy", "navy blue", "dark blue"),
        ("light blue", "pale blue", "sky blue", "baby blue"),
        ("blue",),
        ("red", "scarlet"),
        ("maroon", "burgundy", "dark red", "wine red", "claret"),
        ("pink", "rose pink"),
        ("green",),
        ("dark green", "bottle green", "forest green"),
        ("yellow", "lemon yellow"),
        ("cream", "off white", "ivory"),
        ("white",),
        ("grey", "gray"),
        ("black",),
        ("brown",),
        ("beige", "fawn", "oatmeal"),
        ("orange",),
        ("purple", "violet"),
        ("lilac", "mauve", "lavender"),
        ("turquoise", "aquamarine", "aqua"),
        ("gold", "golden"),
        ("silver",),
    ],
    "relation": [
        ("mother", "mum", "mom", "mam", "mummy", "ma"),
        ("father", "dad", "daddy", "pa"),
        ("grandmother", "gran", "granny", "grandma", "nan", "nana", "nanna"),
        ("grandfather", "grandad", "granddad", "grandpa", "grandpop"),
        ("daughter",),
        ("son",),
        ("grandson", "grand son"),
        ("granddaughter", "grand daughter"),
        ("grandchild", "grandchildren", "grandkids", "grandkid", "grand children", "grand kids"),
        ("sister", "sis"),
        ("brother",),
        ("husband", "hubby"),
        ("wife",),
        ("aunt", "auntie", "aunty"),
        ("uncle",),
        ("niece",),
        ("nephew",),
        ("cousin",),
        ("son in law",),
        ("daughter in law",),
    ],
    "day": [
        ("monday", "mon"),
        ("tuesday", "tue", "tues"),
        ("wednesday", "wed", "weds"),
        ("thursday", "thu", "thur", "thurs"),
        ("friday", "fri"),
        ("saturday", "sat"),
        ("sunday", "sun"),
    ],
    "month": [
        ("january", "jan"),
        ("february", "feb"),
        ("march", "mar"),
        ("april", "apr"),
        ("may",),
        ("june", "jun"),
        ("july", "jul"),
        ("august", "aug"),
        ("september", "sep", "sept"),
        ("october", "oct"),
        ("november", "nov"),
        ("december", "dec"),
    ],
    "season": [
        ("spring", "springtime"),
        ("summer", "summertime"),
        ("autumn", "fall"),
        ("winter", "wintertime"),
    ],
    "object": [
        ("flat", "apartment"),
        ("house", "home"),
        ("sofa", "settee", "couch"),
        ("television", "telly", "tv"),
        ("radio", "wireless"),
        ("bicycle", "bike", "cycle"),
        ("car", "motor"),
        ("lorry", "truck"),
        ("pram", "pushchair", "buggy"),
        ("jumper", "sweater", "pullover", "jersey"),
        ("trousers", "slacks", "pants"),
        ("glasses", "spectacles", "specs"),
        ("mobile", "mobile phone", "cell phone", "cellphone"),
        ("telephone", "phone"),
        ("fridge", "refrigerator"),
        ("biscuit", "cookie"),
        ("chips", "fries"),
        ("rug", "blanket"),
        ("bowl", "basin"),
        ("road", "rd"),
        ("street", "st"),
        ("avenue", "ave"),
        ("railway", "railroad"),
        ("train",),
        ("shop", "store"),
        ("holiday", "vacation"),
        ("handbag", "bag"),
        ("tablet", "pill"),
        ("doctor", "gp", "doc"),
    ],
}


@cache
def _index() -> dict[str, tuple[str, int]]:
    """Every phrase -> (class, group number)."""
    return {phrase: (name, number) for name, groups in CLASSES.items() for number, group in enumerate(groups)
            for phrase in group}  # fmt: skip


def _singular(word: str) -> str:
    return word[:-1] if word.endswith("s") and not word.endswith("ss") and word[:-1] in _index() else word


def meaning_of(phrase: str) -> tuple[str, int] | None:
    """(class, group) of a normalized word or phrase, with a plural or possessive "s" taken off."""
    index = _index()
    return index.get(phrase) or index.get(_singular(phrase))


def meanings_in(normalized_text: str) -> list[tuple[str, int]]:
    """Meanings named in a normalized text, longest phrases first ("dark blue" before "blue")."""
    words = normalized_text.split()
    found: list[tuple[str, int]] = []
    position = 0
    while position < len(words):
        for length in (3, 2, 1):
            phrase = " ".join(words[position : position + length])
            if length <= len(words) - position and (meaning := meaning_of(phrase)):
                found.append(meaning)
                position += length
                break
        else:
            position += 1
    return found


def same_meaning(normalized_answer: str, normalized_expected: str) -> bool | None:
    """True when the answer names the expected word's meaning; False when it names another meaning of the same
    class ("grey" for "green"); None when the expected word is in no class, or the answer names none of it."""
    expected = meaning_of(normalized_expected)
    if expected is None:
        return None
    named = [meaning for meaning in meanings_in(normalized_answer) if meaning[0] == expected[0]]
    if expected in named:
        return True
    return False if named else None


# A general relation word covers the particular ones: "the grandkids" may be the granddaughter.
_COVERS = {"grandchild": {"grandson", "granddaughter"}}


def other_relations(answer: str, text: str) -> list[str]:
    """Family relations the answer names (normalized) that the text (as written) does not give the person it
    names: "phoned my grandson" for "a long phone call with my granddaughter Emily". Only a relation written
    with the person's name ("my granddaughter Emily", "Emily, my granddaughter") says who was there: "my
    mother's old recipe" does not, and "Phone call with Tom" says nothing of who Tom is, so any relation is left
    alone there."""
    groups = CLASSES["relation"]
    there = set()
    for found in re.finditer(r"\bmy ((?:[a-z]+ ?){1,3}?)(?: [A-Z][a-z]+|, [A-Z][a-z]+)|[A-Z][a-z]+, my ([a-z]+)", text):
        meaning = meaning_of(found.group(1) or found.group(2))
        if meaning and meaning[0] == "relation":
            there.add(groups[meaning[1]][0])
    if not there:
        return []
    wrong = []
    for kind, number in meanings_in(answer):
        word = groups[number][0]
        if kind == "relation" and word not in there and not _COVERS.get(word, set()) & there:
            wrong.append(word)
    return wrong
