"""Names as people say them: "Bill" for William, "Maggie" for Margaret, and back, from the `nicknames` dataset.

One step only: a nickname of the name, or a name the word is a nickname of. Two nicknames of one name are
two different people ("Rita" and "Maggie" are both Margaret's; "Peggy" is not Maggie). A word close in
spelling to a name is a misspelling of it only when it is not another name ("Ellie" is not Elsie; "Emilie"
may be Emily): see `another_name`. Nicknames that are
also everyday words ("day" for David, "will", "bill", "may") count only when written with a capital, so
"the bill came to" never names William.
"""

import re
from functools import cache

COMMON_WORDS = frozenset(
    {"day", "will", "bill", "may", "pat", "rose", "sandy", "art", "mark", "grace", "hope", "joy", "ray", "don",
     "sue", "dot", "jack", "bob", "chip", "sunny", "bud", "ginger", "mel", "em", "di", "al", "ed", "jo", "sal"}
)  # fmt: skip


@cache
def _namer():
    from nicknames import NickNamer

    return NickNamer()


@cache
def variants(name: str) -> frozenset[str]:
    """Casefolded names one step from `name` in the dataset, both directions; empty for an unknown name."""
    namer = _namer()
    key = name.casefold()
    return frozenset(namer.nicknames_of(key) | namer.canonicals_of(key)) - {key}


def names_in(answer: str) -> list[tuple[str, bool]]:
    """(casefolded word, written with a capital) for every word of the answer."""
    return [(word.casefold(), word[0].isupper()) for word in re.findall(r"[A-Za-z][A-Za-z'-]*", answer)]


def nickname_found(answer: str, name: str) -> bool:
    """Whether the answer calls the person `name` by a nickname of theirs (or their full name for a nickname)."""
    wanted = variants(name)
    if not wanted:
        return False
    for word, capital in names_in(answer):
        word = word.removesuffix("'s")
        if word in wanted and (capital or word not in COMMON_WORDS):
            return True
    return False


def is_first_name(word: str) -> bool:
    """Whether the dataset knows the word as a name (it lists names that have nicknames, or are one)."""
    return bool(variants(word))


SPELLING_VARIANTS_SHARE = 2  # nicknames two names must share to be spellings of one ("Catherine", "Katherine")


def another_name(word: str, name: str) -> bool:
    """Whether a word that looks like a misspelling of `name` is instead another person's name: a name the
    dataset knows, neither `name` nor one of its nicknames, nor another spelling of it (two names sharing
    nicknames, as Catherine and Katherine do)."""
    word, name = word.casefold(), name.casefold()
    if word == name or not is_first_name(word) or word in variants(name):
        return False
    return len(variants(word) & variants(name)) < SPELLING_VARIANTS_SHARE
