"""What a describe_without_naming puzzle is about, chosen by the program (chat.authoring builds its plan).

Circumlocution practice, the word-finding exercise of speech therapy: the trainee describes a thing of their
own diary without saying its name. The program picks, from a diary line, a concrete noun (a thing one can
see, hold, eat or find: WordNet's artifact, food, plant, animal, object and substance files), the sense the
line uses it in, and the words the trainee may not say: the word and its forms, the sense's common synonyms
and its broader sense's head word ("umbrella" → "canopy"), all from WordNet, never from the model. For the
recognition step it also picks two definitions of other things from the trainee's diary (WordNet's glosses)
that share no meaning with the word, so that only the model's description fits it.

spaCy (chat.grammar) tells a noun from a verb in the line ("stole" the scarf, not the theft); wordfreq keeps
the words a trainee knows (an obscure synonym is no help as a word to avoid).
"""

import random
import re
from dataclasses import dataclass

from wordfreq import zipf_frequency

from . import senses, wordnet
from .grammar import parse
from .puzzles.base import EntryFacts
from .scoring import STOPWORDS, normalize

# WordNet's lexicographer files of concrete nouns (lexnames(5WN)), with what a description of each can say:
# the cue that prompts the trainee.
CONCRETE = {
    5: "what it looks like, where it lives, or what sound it makes",  # noun.animal
    6: "what it is for, what it looks like, or where you would find it",  # noun.artifact
    13: "what it tastes like, what it is made of, or when you would have it",  # noun.food
    17: "what it looks like, where you would find it, or what it is made of",  # noun.object
    20: "what it looks like, where it grows, or what it is used for",  # noun.plant
    27: "what it looks like, what it feels like, or what it is used for",  # noun.substance
}
# How frequent in English (wordfreq's Zipf scale) a word to describe must be: one a trainee knows ("scones" 2.84,
# "daffodils" 2.73; not "ammonite" 2.26); a word to avoid, more so (an obscure synonym is no help).
WORD_ZIPF, KNOWN_ZIPF = 2.5, 3.0
MAX_AVOID = 3  # words to avoid beside the word itself: a few closely related ones, not a list to learn
MAX_LINE = 140  # characters of the diary line quoted in the question
GLOSS_WORDS = (4, 14)
# Broader senses whose head word says nothing a description would lean on ("a kind of object").
VAGUE_HEADS = frozenset(
    """object entity thing whole unit matter artifact artefact item goods composition material complex works
    structure commodity""".split()  # noqa: SIM905 -- a word list reads better as text
)


@dataclass(frozen=True)
class Describable:
    """A concrete noun of a diary line and the sense the line uses it in."""

    facts: EntryFacts
    line: str  # the diary sentence, as written
    word: str  # as the line writes it ("strawberries")
    sense: wordnet.Synset

    @property
    def prompt(self) -> str:
        return CONCRETE[self.sense.lexfile]

    def gloss(self) -> str:
        """The sense's definition as an option of a multiple choice: its first clause, a sentence."""
        text = re.sub(r"\s*\([^)]*\)", "", self.sense.definition.split(";")[0]).strip()
        return text[:1].upper() + text[1:] + "." if text else ""


def forms(word: str) -> list[str]:
    """The word as written and its dictionary forms as a noun ("strawberries", "strawberry")."""
    return list(dict.fromkeys([word, *wordnet.base_forms(word, "n")]))


def words_to_avoid(found: Describable) -> list[str]:
    """The closely related words the trainee may not say beside the word: the sense's single-word synonyms and
    its broader sense's head word ("baked goods" → "goods" is vague; "edible fruit" → "fruit"), the ones a
    trainee knows, at most MAX_AVOID."""
    own = set(forms(found.word))
    synonyms = [lemma for lemma in found.sense.lemmas if " " not in lemma and "-" not in lemma]
    broader = found.sense.linked("@", "@i")
    heads = [broader[0].lemmas[0].split()[-1]] if broader else []
    chosen = []
    for word in [*synonyms, *heads]:
        if word in own or word in chosen or not word.isalpha() or word in VAGUE_HEADS | senses.GENERIC:
            continue
        if zipf_frequency(word, "en") >= KNOWN_ZIPF and not set(forms(word)) & own:
            chosen.append(word)
    return chosen[:MAX_AVOID]


def _signature(sense: wordnet.Synset) -> set[str]:
    """The words that say what a sense is about: its synonyms and definition, its narrower senses' names and
    its broader senses' (two steps up) names and definitions ("bulb" → "stem" → "a plant axis ...")."""
    words = {w for lemma in sense.lemmas for w in lemma.split()} | set(senses.meaning_words(sense.definition))
    words |= {w for narrower in sense.linked("~") for lemma in narrower.lemmas for w in lemma.split()}
    up = sense.linked("@", "@i")
    for broader in [*up, *(above for b in up for above in b.linked("@", "@i"))]:
        words |= {w for lemma in broader.lemmas for w in lemma.split()} | set(senses.meaning_words(broader.definition))
    return {form for word in words for form in senses.forms(word)}


def diary_sense(word: str, context: str, modifiers: tuple[str, ...] = ()) -> wordnet.Synset | None:
    """The noun sense of `word` that the diary speaks of (a simplified Lesk): first a sense of the kind its
    modifiers' first senses are ("tulip bulbs": a plant, not a lamp), then the overlap of the sense's
    signature with the entry's words; ties go to the more frequent sense, WordNet's order."""
    found = wordnet.synsets(word, "n")
    if not found:
        return None
    told = {form for w in senses.meaning_words(context) if w != word for form in senses.forms(w)}
    kinds = {wordnet.synsets(modifier, "n")[0].lexfile for modifier in modifiers if wordnet.synsets(modifier, "n")}
    return max(found, key=lambda sense: (sense.lexfile in kinds, len(_signature(sense) & told), -found.index(sense)))


def _dull(word: str) -> bool:
    return word in STOPWORDS or len(word) < 3 or zipf_frequency(word, "en") < WORD_ZIPF


def describable(facts: EntryFacts) -> Describable | None:
    """The entry's first diary line with a concrete noun said once in the whole text and not in the title; of
    several, the rarest (the most particular thing: "kettle" before "house")."""
    context = f"{facts.title}. {facts.description}"
    text_words = normalize(facts.description).split()
    for line in re.split(r"(?<=[.!?])\s+", facts.description.strip()):
        if not line or len(line) > MAX_LINE or '"' in line:  # the question quotes the line
            continue
        nouns = {}
        for token in parse(line):
            if token.tag_ not in ("NN", "NNS") or token.dep_ == "compound" or not token.text.isalpha():
                continue
            before = token.nbor(-1).lower_ if token.i else ""
            # a thing the dictionary names with the word before ("sweet peas", "runner beans"): that is the thing
            if token.text.islower() and not _dull(token.text) and not wordnet.synsets(f"{before} {token.text}", "n"):
                nouns[token.text] = tuple(child.lower_ for child in token.children if child.dep_ == "compound")
        candidates = [w for w in nouns if text_words.count(w) == 1 and w not in normalize(facts.title).split()]
        for word in sorted(candidates, key=lambda w: zipf_frequency(w, "en")):
            sense = diary_sense(word, context, nouns[word])
            if sense is not None and sense.lexfile in CONCRETE:
                return Describable(facts=facts, line=line, word=word, sense=sense)
    return None


def other_glosses(found: Describable, others: list[Describable], rng: random.Random, count: int = 2) -> list[str]:
    """`count` definitions of other things of the diary that share no meaning with the word (by its dictionary
    senses, `chat.senses`) and say none of its words: wrong choices that cannot describe it too."""
    banned = {normalize(w) for w in [*forms(found.word), *words_to_avoid(found)]}
    pool = [other for other in others if other.word not in banned and other.sense != found.sense]
    rng.shuffle(pool)
    chosen: list[str] = []
    for other in pool:
        gloss = other.gloss()
        length = len(gloss.split())
        if not GLOSS_WORDS[0] <= length <= GLOSS_WORDS[1] or gloss in chosen:
            continue
        words = normalize(gloss).split()
        if set(words) & banned or min(zipf_frequency(w, "en") for w in words) < KNOWN_ZIPF:
            continue  # names the word, or a word a trainee may not know ("transpiration")
        if not _unlike(gloss, found):
            continue
        chosen.append(gloss)
        if len(chosen) == count:
            break
    return chosen


def _unlike(gloss: str, found: Describable) -> bool:
    problems = senses.unlike_its_senses(gloss, word=found.word, diary=found.line)
    return any("shares no meaning" in problem for problem in problems)


def describables(pool: list[EntryFacts], rng: random.Random, limit: int) -> list[Describable]:
    """Up to `limit` entries' describable words, the entries taken in a random order; none without WordNet."""
    if not wordnet.available():  # no dictionary (`make wordnet` not run): no words to avoid, no plans
        return []
    entries = list(pool)
    rng.shuffle(entries)
    found: list[Describable] = []
    seen: set[int] = set()  # one puzzle per sense
    for facts in entries:
        if (item := describable(facts)) and item.sense.offset not in seen:
            seen.add(item.sense.offset)
            found.append(item)
            if len(found) >= limit:
                break
    return found
