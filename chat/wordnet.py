"""Princeton WordNet 3.0, read from the files of Debian's `wordnet-base` package (`make wordnet` installs it):
the senses of an English word, each with its synonyms, its gloss and its links to other senses.

Why these files: the verifier asks whether a key-word hint shares meaning with the word's dictionary senses,
and that needs a real dictionary on a machine that reaches nothing but the package registries. Debian's
package is Princeton's release, signed by Debian's archive; the PyPI dictionaries are either loaders that
download their data at run time (`wn`, nltk's corpora) or data re-uploaded by third parties. The file format
(wndb(5WN)) is small enough to read here: an index line per word gives the byte offsets of its senses in the
data file of its part of speech.

No Django here: plain functions over files, read on first use and cached for the process.
"""

import os
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(os.environ.get("WORDNET_DIR", "/usr/share/wordnet"))
FILES = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
# morphy's detachment rules (wndb's morphy(7WN)): an ending and what replaces it, by part of speech
ENDINGS = {
    "n": [("s", ""), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"), ("men", "man"),
          ("ies", "y")],
    "v": [("s", ""), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""), ("ing", "e"), ("ing", "")],
    "a": [("er", ""), ("est", ""), ("er", "e"), ("est", "e")],
    "r": [],
}  # fmt: skip
GLOSS_EXAMPLE = re.compile(r'"[^"]*"')


class MissingDictionary(RuntimeError):
    """The WordNet files are not installed: `make wordnet` (Debian's wordnet-base)."""


@dataclass(frozen=True)
class Synset:
    """One sense: its part of speech, its words ("round-trip ticket", "return ticket"), its definition (the
    gloss without its quoted examples), its links, as (pointer symbol, part of speech, offset), and its
    lexicographer file (wndb's lex_filenum: 6 is noun.artifact, 13 noun.food ...; lexnames(5WN))."""

    pos: str
    offset: int
    lemmas: tuple[str, ...]
    definition: str
    pointers: tuple[tuple[str, str, int], ...]
    lexfile: int = 0

    def linked(self, *symbols: str) -> list["Synset"]:
        """The senses this one points to by any of `symbols` ("@" hypernym, "~" hyponym, "+" derived ...)."""
        return [synset(pos, offset) for symbol, pos, offset in self.pointers if symbol in symbols]


def available() -> bool:
    return all((ROOT / f"{kind}.{name}").is_file() for kind in ("index", "data") for name in FILES.values())


def fold(text: str) -> str:
    """Lower case without accents, as WordNet spells ("café" -> "cafe", "crème brûlée" -> "creme brulee")."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _path(kind: str, pos: str) -> Path:
    path = ROOT / f"{kind}.{FILES[pos]}"
    if not path.is_file():
        raise MissingDictionary(f"{path} is missing: run `make wordnet` (Debian's wordnet-base)")
    return path


@cache
def _index(pos: str) -> dict[str, tuple[int, ...]]:
    """Word -> offsets of its senses in the data file, most frequent sense first."""
    index = {}
    with _path("index", pos).open(encoding="latin-1") as lines:
        for line in lines:
            if line.startswith(" "):  # the licence at the top of every file
                continue
            fields = line.split()
            sense_count = int(fields[2])
            index[fields[0]] = tuple(int(offset) for offset in fields[-sense_count:])
    return index


@cache
def _exceptions(pos: str) -> dict[str, tuple[str, ...]]:
    path = ROOT / f"{FILES[pos]}.exc"
    if not path.is_file():
        return {}
    with path.open(encoding="latin-1") as lines:
        return {fields[0]: tuple(fields[1:]) for fields in map(str.split, lines) if len(fields) > 1}


@cache
def synset(pos: str, offset: int) -> Synset:
    """The sense at `offset` of the data file of `pos` ("s", a satellite adjective, lives in the adjectives')."""
    pos = "a" if pos == "s" else pos
    with _path("data", pos).open("rb") as data:
        data.seek(offset)
        line = data.readline().decode("latin-1")
    head, _, gloss = line.partition(" | ")
    fields = head.split()
    word_count = int(fields[3], 16)
    # "round-trip_ticket", "blue(a)": spaces for underscores, no adjective position markers
    lemmas = tuple(re.sub(r"\(\w+\)$", "", fields[4 + 2 * i].lower()).replace("_", " ") for i in range(word_count))
    at = 4 + 2 * word_count
    pointers = tuple(
        (fields[at + 1 + 4 * i], fields[at + 3 + 4 * i], int(fields[at + 2 + 4 * i])) for i in range(int(fields[at]))
    )
    definition = re.sub(r"[;\s]+$", "", GLOSS_EXAMPLE.sub("", gloss))
    return Synset(pos=pos, offset=offset, lemmas=lemmas, definition=definition, pointers=pointers,
                  lexfile=int(fields[1]))  # fmt: skip


def base_forms(word: str, pos: str) -> list[str]:
    """The dictionary forms of `word` as a `pos` word (morphy: the exception lists, then the regular endings),
    only those the dictionary has: "discussed" -> ["discuss"], "geese" -> ["goose"]."""
    word = fold(word).replace(" ", "_")
    index = _index(pos)
    forms = [word] if word in index else []
    forms += [form for form in _exceptions(pos).get(word, ()) if form in index]
    for ending, replacement in ENDINGS[pos]:
        if word.endswith(ending) and len(word) > len(ending):
            form = word[: len(word) - len(ending)] + replacement
            if form in index:
                forms.append(form)
    return list(dict.fromkeys(forms))


def synsets(word: str, pos: str | None = None) -> list[Synset]:
    """Every sense of `word` (any inflected form) as a `pos` word, or as any part of speech."""
    found = []
    for part in [pos] if pos else list(FILES):
        for form in base_forms(word, part):
            found += [synset(part, offset) for offset in _index(part)[form]]
    return list(dict.fromkeys(found))
