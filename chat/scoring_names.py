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
def _genders():
    """gender-guesser's table of ~40,000 first names (with their spelling variants), loaded once (~0.6 s)."""
    from gender_guesser.detector import Detector

    return Detector(case_sensitive=False)


def gender(name: str) -> str | None:
    """ "male" or "female" when the name is mostly one, else None (unisex or unknown)."""
    found = _genders().get_gender(name.casefold())
    return {"male": "male", "mostly_male": "male", "female": "female", "mostly_female": "female"}.get(found)


def known_name(word: str) -> bool:
    """Whether the word is a first name in either dataset (gender-guesser also lists spelling variants)."""
    return is_first_name(word) or _genders().get_gender(word.casefold()) != "unknown"


# Links of the nicknames dataset between two names that British speakers use as different names in their own
# right, not as a pet form of each other: "Emma" is not Emily, "Joanna" is not Joan.
NOT_NICKNAMES = frozenset(
    frozenset(pair)
    for pair in [("emily", "emma"), ("emily", "amelia"), ("joan", "joanna"), ("joan", "johannah"),
                 ("joanna", "hannah"), ("maggie", "madeline"), ("maggie", "magdalena"), ("meg", "megan"),
                 ("harold", "harrison"), ("peter", "patrick")]
)  # fmt: skip
# British diminutives the dataset lacks (both directions, like its own links).
MORE_NICKNAMES = {"sarah": {"sal"}, "bernard": {"bern"}}


@cache
def variants(name: str) -> frozenset[str]:
    """Casefolded names one step from `name` in the dataset, both directions, without links between names of
    the other gender ("Bill" is no Wilma) or between two names in their own right (NOT_NICKNAMES); empty for
    an unknown name."""
    namer = _namer()
    key = name.casefold()
    more = MORE_NICKNAMES.get(key, set()) | {name for name, short in MORE_NICKNAMES.items() if key in short}
    linked = frozenset(namer.nicknames_of(key) | namer.canonicals_of(key)) - {key}
    genders = _genders()
    mine = genders.get_gender(key)
    opposite = {"male": "female", "female": "male"}.get(mine)  # only names the table gives one gender
    kept = {
        other
        for other in linked
        if frozenset({key, other}) not in NOT_NICKNAMES and genders.get_gender(other) != opposite
    }
    return frozenset(kept | more)


def names_in(answer: str) -> list[tuple[str, bool]]:
    """(casefolded word, written with a capital) for every word of the answer."""
    return [(word.casefold(), word[0].isupper()) for word in re.findall(r"[A-Za-z][A-Za-z'-]*", answer)]


def nickname_found(answer: str, name: str) -> bool:
    """Whether the answer calls the person `name` by a nickname of theirs (or their full name for a nickname),
    or by the name with a pet ending ("Joanie", "Davy")."""
    wanted = variants(name)
    if not wanted:
        return False
    for word, capital in names_in(answer):
        word = word.removesuffix("'s")
        if (word in wanted or pet_of(word, name)) and (capital or word not in COMMON_WORDS):
            return True
    return False


def is_first_name(word: str) -> bool:
    """Whether the nicknames dataset knows the word as a name (it lists names that have nicknames, or are one)."""
    namer = _namer()
    key = word.casefold()
    return bool(namer.nicknames_of(key) | namer.canonicals_of(key))


# Words the two datasets list as first names that are also everyday words, so that typed in lowercase they are
# not read as a person: "a christmas carol", "honey", "the vet", "summer".
EVERYDAY_WORDS = frozenset({
    "amber", "april", "august", "bell", "belle", "berry", "bill", "candy", "carol", "chan", "charm", "chat", "chick",
    "cliff", "court", "crate", "dawn", "dean", "dell", "duty", "fall", "fate", "field", "ford", "gene", "ginger",
    "glory", "grace", "green", "hazel", "heather", "holly", "honey", "honor", "hope", "iris", "jack", "jean",
    "jewel", "joy", "june", "kill", "king", "laurel", "left", "life", "lily", "link", "mark", "mercy", "melody",
    "mock", "moss", "nick", "olive", "patience", "pearl", "penny", "pink", "pokey", "prudence", "rich", "robin",
    "rose", "rosemary", "ruby", "rusty", "salmon", "sandy", "sherry", "smith", "summer", "tick", "vest", "violet",
    "wash", "west", "will", "wood", "daisy", "crystal", "charity", "earnest", "valentine", "faith"
})  # fmt: skip


def lowercase_name(word: str) -> bool:
    """Whether a word typed in lowercase is still clearly a first name ("emma came too", "we discussed jane
    eyre"): both datasets know it, gender-guesser gives it one gender, and it is no everyday word."""
    key = word.casefold()
    if len(key) < 4 or key in COMMON_WORDS or key in EVERYDAY_WORDS or not is_first_name(key):
        return False
    return _genders().get_gender(key) in {"male", "female"}


def sound_skeleton(name: str) -> str:
    """How a name sounds, roughly: "h" and doubled letters dropped, "ck"/"c" before a, o, u as "k", "ph" as
    "f", each run of vowels (y counted) as one "V". Spellings of one name share it (Sahra, Sarah; Emilie,
    Emily; Maggy, Maggie; Harald, Harold); two names do not (Elise, Elsie)."""
    key = name.casefold().replace("ph", "f").replace("ck", "k")
    key = re.sub(r"c(?=[aou])", "k", key).replace("h", "")
    key = re.sub(r"(.)\1+", r"\1", key)
    return re.sub(r"[aeiouy]+", "V", key)


SPELLING_VARIANTS_SHARE = 2  # nicknames two names must share to be spellings of one ("Catherine", "Katherine")


PET_ENDINGS = ("ie", "y", "ey", "s")


def pet_form(word: str, name: str) -> bool:
    """Whether the word is the name with a pet ending: "Joanie" (Joan), "Franky" (Frank), "Tommy" (Tom),
    "Maggy" and "Mags" (Maggie), "Elsy" (Elsie), "Emilie" (Emily)."""
    word, name = word.casefold(), name.casefold()
    stem = name.rstrip("aeiouy") if len(name) > 3 else name
    stems = {name, stem, stem + stem[-1:]}
    if len(stem) > 3 and stem[-1] == stem[-2]:  # "magg" of Maggie: "Mags"
        stems.add(stem[:-1])
    return any(word == base + ending for base in stems if len(base) >= 3 for ending in PET_ENDINGS)


def pet_of(word: str, name: str) -> bool:
    """Whether the word is the name, or one of its nicknames, with a pet ending: "Davy" (Dave, David's),
    "Normie" (Norm, Norman's), "Emmie" (Em, Emily's)."""
    return pet_form(word, name) or any(pet_form(word, nickname) for nickname in variants(name) if len(nickname) <= 4)


def another_name(word: str, name: str) -> bool:
    """Whether a word that looks like a misspelling of `name` is instead another person's name: a first name
    (either dataset), neither `name` nor one of its nicknames, and of the other gender ("Norma" for Norman,
    "Johan" for Joan) or not another spelling of it. Spellings of one name sound alike ("Sahra" for Sarah;
    `sound_skeleton`) or share nicknames (Catherine, Katherine); "Elise" for Elsie is another woman."""
    word, name = word.casefold(), name.casefold()
    if word == name or not known_name(word) or word in variants(name) or pet_of(word, name):
        return False
    genders = {gender(word), gender(name)}
    if genders == {"male", "female"}:
        return True
    if sound_skeleton(word) == sound_skeleton(name):
        return False
    return len(variants(word) & variants(name)) < SPELLING_VARIANTS_SHARE


def _sentence_starts(answer: str) -> set[int]:
    """Offsets of the words that begin the answer or a sentence of it (their capital says nothing)."""
    return {match.start(1) for match in re.finditer(r"(?:^|[.!?;]\s*)\s*([A-Za-z])", answer)}


def names_a_person(word: str, capital: bool, sentence_start: bool) -> bool:
    """Whether a word of an answer is a first name of the nicknames dataset used as one: written with a capital
    ("Jean", "Howard"; at a sentence's start only when it is no everyday word: "Will", "Grace"), or clearly a
    name typed in lowercase ("maisie"; `lowercase_name`). Relation words ("Nan", "Mum") are not names."""
    from .synonyms import meaning_of

    key = word.casefold()
    if len(key) < 3 or meaning_of(key) or not is_first_name(key):
        return False
    if not capital:
        return lowercase_name(key)
    return not (sentence_start and (key in COMMON_WORDS or key in EVERYDAY_WORDS))


# Words gender-guesser lists as first names that are everyday words or places, even with a capital.
NOT_NAMES = frozenset({
    "are", "ate", "bac", "cat", "christmas", "done", "door", "easter", "else", "fair", "fine", "five", "france",
    "here", "his", "ice", "job", "just", "lane", "line", "long", "made", "mar", "mile", "miles", "mine", "nine",
    "pie", "rain", "ran", "regis", "river", "said", "stole", "tan", "tea", "the", "wander", "paris", "park", "city",
})  # fmt: skip


def named_inside_a_sentence(word: str) -> bool:
    """A capitalised word inside a sentence that gender-guesser's ~40,000 first names give one gender and that
    is no everyday word: "Ruth", "Norma", "Elise", names the nicknames dataset lacks (it lists only names that
    have nicknames). Words of the closed classes ("March", "Autumn", "Son") are not names."""
    from .synonyms import meaning_of

    key = word.casefold()
    if len(key) < 3 or key in NOT_NAMES or key in EVERYDAY_WORDS or key in COMMON_WORDS or meaning_of(key):
        return False
    return gender(key) is not None


_IN_COMPANY = re.compile(r"\b(?:with|and|met|saw|visited|phoned|rang)\s+$", re.IGNORECASE)
# Names that are also things one has "with" something: "tea with honey", "a cake with ginger".
THINGS_WITH = frozenset({
    "honey", "ginger", "candy", "olive", "rosemary", "sherry", "berry", "salmon", "pearl", "crystal", "smith", "king",
    "wood", "field", "ford", "green", "pink", "cherry", "brandy",
})  # fmt: skip


def person_in_company(word: str) -> bool:
    """A lowercase word after "with", "and", "met" that is a first name of one gender and no thing one has with
    something: "coffee with jean" names Jean, "tea with honey" names nobody."""
    key = word.casefold()
    if len(key) < 3 or key in COMMON_WORDS or key in THINGS_WITH or not is_first_name(key):
        return False
    from .synonyms import meaning_of

    return not meaning_of(key) and gender(key) is not None


def same_person(word: str, name: str, spelling_min: float | None, nicknames: bool = True) -> bool:
    """Whether `word` may be `name` as a trainee writes it: the name, a nickname or pet form of it (with
    `nicknames`), or a misspelling at the policy's ratio that is no other name ("Elise" is not Elsie)."""
    from rapidfuzz import fuzz

    word, name = word.casefold(), name.casefold()
    if word == name:
        return True
    if nicknames and (word in variants(name) or pet_of(word, name)):
        return True
    if spelling_min is None or another_name(word, name) or min(len(word), len(name)) < 4:
        return False
    return fuzz.ratio(word, name) >= spelling_min


def strangers(answer: str, text: str, spelling_min: float | None = 80.0, nicknames: bool = True) -> list[str]:
    """People the answer names who are not in the text (an entry, with its place and the clues shown): "coffee
    with Jean" for the coffee with Joan, "reading group with Howard" for Harold's. A word of the text is never a
    stranger ("Victoria" of the Victoria sponge), and a name is no stranger when it may be one of the text's
    people by nickname or spelling (`same_person`). Relations are left to the caller."""
    # a closing quote is no part of its word: "with 'Rebecca' and Maggie" (a which_first choice) has Rebecca
    words = re.findall(r"[A-Za-z][A-Za-z'’-]*", text)
    text_words = {word.casefold().rstrip("'’").removesuffix("'s") for word in words}
    people = sorted(word for word in text_words if is_first_name(word) or gender(word) is not None)
    starts = _sentence_starts(answer)
    found = []
    for match in re.finditer(r"[A-Za-z][A-Za-z'-]*", answer):
        raw = match.group().removesuffix("'s").removesuffix("'")
        key, capital = raw.casefold(), raw[0].isupper()
        if key in text_words:
            continue
        inside = match.start() not in starts
        company = _IN_COMPANY.search(answer[: match.start()]) and person_in_company(raw)
        named = names_a_person(raw, capital, not inside) or company
        if not named and not (capital and inside and named_inside_a_sentence(raw)):
            continue
        if not any(same_person(key, person, spelling_min, nicknames) for person in people):
            found.append(key)
    return found
