"""Whether a key-word hint shares meaning with the word's dictionary senses (WordNet, `chat.wordnet`).

The small model, asked what a word means, often tells of the day instead, in words that are grounded, English
and give nothing away: "return" ← "The train was late, so you had to wait for it.", "surgery" ← "A doctor's
appointment, about my knee." The parser-based form rules (`chat.definitions`) catch a hint that tells of
something else in a sentence of its own, not these. The dictionary does: a hint that defines the word says
some of what its senses say.

The senses' words: for every sense of the word (any part of speech, and the senses of the two-word entries
it makes with its diary neighbours: "return ticket", "blood pressure"), its synonyms, the content words of its
definition and the first-sense synonyms of those ("decaying" → "rot"), the words of the senses it links to
(broader, narrower, derived, similar, part and whole) and the definitions of its broader senses. A hint word
counts when one of its dictionary forms ("talked" → "talk"), or a noun or verb derived from it ("pray" →
"prayer", meeting "house of prayer"), is among them. Three rules:

- the hint says none of them: it shares no meaning with any sense of the word;
- the hint says more words of the cited entry that are not among them than words that are: it tells of
  the day ("appointment", "knee") more than of the word ("doctor"). An entry word that the senses share is no
  sign of that ("towpath" ← "A path through the river.": "river" is in the definition);
- what the hint says the word is (the head of a noun phrase, or what "it" is like; what "a bag of …" holds)
  is such a word: a thing of the day ("surgery" ← "(It's like) a special doctor's appointment.").

The dictionary judges only what it knows: a word that it lacks in the part of speech the diary uses it in
("an apple crumble": WordNet 3.0 has "crumble" only as a verb) is left to the form rules.
"""

import re
from functools import cache, lru_cache

from . import wordnet
from .scoring import STOPWORDS

# Words that every kind of definition may say ("a kind of ...", "a place where ..."): no shared meaning.
GENERIC = frozenset(
    """thing something someone somewhere one kind type sort way part place people person make made use used go get
    have do be give take come put let see say can could would will may might must shall should very much many
    more most often usually especially such other another""".split()  # noqa: SIM905
)
# Senses linked to the word's whose words count: broader (@), instance of (@i), narrower (~, ~i), derived (+),
# similar (&), attribute (=), pertaining to (\), see also (^), wholes (#) and parts (%), entailed (*), cause (>).
LINKS = ("@", "@i", "~", "~i", "+", "&", "=", "\\", "^", "#m", "#s", "#p", "%m", "%s", "%p", "*", ">")
TAG_POS = {"N": "n", "V": "v", "J": "a", "R": "r"}  # spaCy's fine tags by their first letter


def meaning_words(text: str) -> list[str]:
    """The words that carry meaning (not the stopwords nor GENERIC's), accents folded as WordNet spells them."""
    words = re.findall(r"[a-z]+", re.sub(r"['’]s\b", "", wordnet.fold(text)))
    return [word for word in words if word not in STOPWORDS and word not in GENERIC and len(word) > 1]


@cache
def forms(word: str) -> frozenset[str]:
    """The word and its dictionary forms as any part of speech ("talked" → "talk", "leaves" → "leaf", "leave")."""
    return frozenset({word, *(form for pos in wordnet.FILES for form in wordnet.base_forms(word, pos))})


@cache
def family(word: str) -> frozenset[str]:
    """The word's forms and the nouns and verbs derived from or to it (noun or verb) that begin as it does
    ("pray" → "prayer"): a hint may say the verb of a sense's noun."""
    derived = {
        lemma
        for pos in ("n", "v")
        for form in wordnet.base_forms(word, pos)
        for sense in wordnet.synsets(form, pos)
        for linked in sense.linked("+")
        if linked.pos in ("n", "v")
        for lemma in linked.lemmas
        if " " not in lemma and lemma[:4] == form[:4]
    }
    return forms(word) | {f for lemma in derived for f in forms(lemma)}


@cache
def _first_synonyms(word: str) -> frozenset[str]:
    """The words of the most frequent sense of `word` in each part of speech ("decaying" → "decay", "rot" ...)."""
    found = set()
    for pos in wordnet.FILES:
        for form in wordnet.base_forms(word, pos):
            found.update(*(lemma.split() for lemma in wordnet.synsets(form, pos)[0].lemmas))
    return frozenset(found)


def _senses(word: str, diary_words: list[str]) -> list[wordnet.Synset]:
    found = wordnet.synsets(word)
    for at in (i for i, diary_word in enumerate(diary_words) if diary_word == word):
        for pair in (diary_words[at - 1 : at + 1] if at else [], diary_words[at : at + 2]):
            if len(pair) == 2:
                found += wordnet.synsets(" ".join(pair))
    return list(dict.fromkeys(found))


@lru_cache(maxsize=32)  # one hint's rules ask twice; bounded: the keys hold a participant's diary text
def sense_words(word: str, diary: str) -> frozenset[str]:
    """Every word that the senses of `word` (as used in `diary`) say, in all its dictionary forms."""
    words: set[str] = set()
    for sense in _senses(wordnet.fold(word), re.findall(r"[a-z]+", wordnet.fold(diary))):
        defined = meaning_words(sense.definition)
        words.update(*(lemma.split() for lemma in sense.lemmas), defined, *map(_first_synonyms, defined))
        for symbol, pos, offset in sense.pointers:
            if symbol in LINKS:
                linked = wordnet.synset(pos, offset)
                words.update(*(lemma.split() for lemma in linked.lemmas))
                if symbol in ("@", "@i"):
                    words.update(meaning_words(linked.definition))
    return frozenset(form for word in words for form in forms(word))


def knows(word: str, tag: str) -> bool:
    """The dictionary has `word` in the part of speech of the diary's fine tag (`tag`, spaCy's: "NN", "VBD"); a
    proper noun ("Reading", the town) is no common noun's sense."""
    pos = TAG_POS.get(tag[:1])
    return bool(pos and tag not in ("NNP", "NNPS") and wordnet.synsets(word, pos))


def unlike_its_senses(hint: str, *, word: str, diary: str, entry: str = "") -> list[str]:
    """Reasons `hint` does not define `word`, by the word's dictionary senses. `diary`: the cited entry's text
    (the word is one of its words); `entry`: its other words (title, place, people)."""
    meaning, told = sense_words(word, diary), _told(diary, entry)
    hint_words = dict.fromkeys(meaning_words(hint))
    shared = [w for w in hint_words if family(w) & meaning]
    of_the_day = [w for w in hint_words if forms(w) & told and w not in shared]  # a word counts on one side
    if not shared:
        return [f"the hint shares no meaning with the dictionary senses of {word!r}"]
    if len(of_the_day) > len(shared):
        return [f"the hint tells of the day ({', '.join(of_the_day)}) more than of {word!r} ({', '.join(shared)})"]
    return []


def a_thing_of_the_day(head: str, *, word: str, diary: str, entry: str = "") -> list[str]:
    """A hint that is a noun phrase says what the word is: its head noun (`head`, "A special doctor's
    appointment.") may not be a word of the cited entry that the word's senses lack (the event, not the word)."""
    if forms(head) & _told(diary, entry) and not family(head) & sense_words(word, diary):
        return [f"the hint is a thing of the day ({head!r}), not {word!r}"]
    return []


@lru_cache(maxsize=32)
def _told(diary: str, entry: str) -> frozenset[str]:
    """The cited entry's words (its text, and its title, place and people), in all their dictionary forms."""
    return frozenset(form for text_word in meaning_words(f"{diary} {entry}") for form in forms(text_word))
