"""Whether a key-word hint defines the word rather than telling of something else.

The small model, asked for "what the word means, in other words", often writes about the day instead:
"towpath" ← "The river is the main route for Joan.", "return" ← "You forgot to give your ticket to Sarah.",
"tickets" ← "A bus with a bus stop.", "green" ← "A cozy, quiet place with a garden." Read with spaCy's tagger
and parser (chat.grammar), two shapes give such a hint away:

- a statement about something else: a sentence with its own subject that never refers to the word ("it",
  "they", "the word", "something" ...): "The river is ...", "You forgot to give your ticket to Sarah." (a
  definition by use still passes: "You hold it over your head to keep dry in the rain.");
- the wrong kind of word: a hint that names one thing ("A bus ...") for a word that is several things
  ("tickets") or a quality ("green"), or names a thing for a deed ("discussed" ← "Something interesting ...").

Tried and dropped: rejecting hints that reuse the cited entry's nouns ("... phone call" for a line about a
phone call). It caught two more wrong hints of the audit files but rejected a right one ("towpath" ← "A path
through the river.") and 4 of 21 hand-written right definitions ("garden" ← "Land by a house where you grow
flowers and vegetables."). Numbers in bench/results/verifier-8.md; a definition is judged, not proven.
"""

from . import senses, wordnet
from .grammar import parse
from .scoring import normalize

# Words by which a statement refers to the word it defines ("You hold it over your head", "The word means ...")
REFERS = frozenset(
    "it its they them their this these that word something someone somewhere one".split()  # noqa: SIM905
)


def not_a_definition(hint: str, *, word: str, diary: str) -> list[str]:
    """Reasons `hint` is no definition of `word`, a word of the cited entry's `diary` text."""
    problems = []
    doc = parse(hint)
    root = next(token for token in doc if token.dep_ == "ROOT")
    subjects = [child for child in root.children if child.dep_ in ("nsubj", "nsubjpass")]
    if root.pos_ in ("VERB", "AUX") and subjects and not {normalize(t.text) for t in doc} & REFERS:
        problems.append(f"the hint tells of {subjects[0].text!r}, not what the word means")
    tag = diary_tag(word, diary)
    one_thing = root.tag_ == "NN" and any(child.lower_ in ("a", "an") for child in root.children)
    if tag == "NNS" and one_thing:
        problems.append(f"the hint is one thing ({root.text!r}), the word several")
    elif tag.startswith("JJ") and one_thing:
        problems.append(f"the hint is a thing ({root.text!r}), the word a quality")
    elif tag.startswith("VB") and root.tag_ in ("NN", "NNS"):
        problems.append(f"the hint is a thing ({root.text!r}), the word a deed")
    return problems


def diary_tag(word: str, diary: str) -> str:
    """spaCy's fine tag of `word` where `diary` says it ("NNS" for "tickets"), empty when it does not."""
    return next((token.tag_ for token in parse(diary) if token.text.casefold() == word.casefold()), "")


# The diarist's own voice: a hint speaks to the trainee about the word, never as the diary ("about my knee").
FIRST_PERSON = frozenset({"i", "im", "ive", "me", "my", "mine", "myself"})  # normalized: "I'm" is "im"


def undefined(hint: str, *, word: str, diary: str, entry: str = "") -> list[str]:
    """Reasons `hint` does not define `word` by its meaning: it speaks in the diary's voice, or by the word's
    dictionary senses (`chat.senses`), where the dictionary knows the word as the diary uses it."""
    problems = [f"the hint speaks as the diary ({w!r})" for w in dict.fromkeys(normalize(hint).split())
                if w in FIRST_PERSON]  # fmt: skip
    if not wordnet.available():  # fail closed: a hint that no dictionary checked is not shown
        return [*problems, "no dictionary to check the hint against (make wordnet)"]
    if senses.knows(word, diary_tag(word, diary)):
        problems += senses.unlike_its_senses(hint, word=word, diary=diary, entry=entry)
        if head := _what_it_is(hint):
            problems += senses.a_thing_of_the_day(head.lower_, word=word, diary=diary, entry=entry)
    return problems


def _what_it_is(hint: str):
    """The noun a hint says the word is: the head of a noun phrase ("A special doctor's appointment."), or what
    "it" is or is like ("It's like a special doctor's appointment."); None for any other hint."""
    root = next(token for token in parse(hint) if token.dep_ == "ROOT")
    if root.tag_ in ("NN", "NNS"):
        return _of_what(root)
    children = list(root.children)
    says_what_it_is = root.lower_ in ("is", "'s", "’s", "was", "are", "were") and any(
        c.dep_ == "nsubj" and c.lower_ in REFERS for c in children
    )
    like = [grandchild for c in children if c.dep_ == "prep" and c.lower_ == "like" for grandchild in c.children]
    nouns = [c for c in [*children, *like] if c.dep_ in ("attr", "pobj") and c.tag_ in ("NN", "NNS")]
    return _of_what(nouns[0]) if says_what_it_is and nouns else None


def _of_what(noun):
    """What "a bag of …" or "a slice of …" holds: the noun after "of" (seen: "compost" <- "A bag of plant
    matter.", the diary's "bag of compost" lending the model its "bag")."""
    of = [c for c in noun.children if c.dep_ == "prep" and c.lower_ == "of"]
    return next((c for o in of for c in o.children if c.dep_ == "pobj" and c.tag_ in ("NN", "NNS")), noun)
