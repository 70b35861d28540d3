"""What the model may write in an authored puzzle, as JSON-schema string patterns the server turns into a
grammar (llama.cpp's JSON-schema sampling): the words the verifier would reject cannot be sampled at all.

A piece of text is words joined by spaces, commas, hyphens and sentence breaks. Capitalized words are either
a sentence opener (``OPENERS``, only first in a sentence) or a capitalized word of the cited entries (names,
places, titles, months); digits only as the entries' own numbers; lowercase words are anything except the
`forbidden` ones: number and calendar words the entries do not support, and the answer's words where the
text must not give it away. So the verifier's grounding and give-away rules hold by construction, and it
still checks everything (the grammar is a help to the model, never a reason to trust it).

Only the pattern syntax llama.cpp converts is used: groups without `?:`, alternation, classes, `*`, `{m,n}`.
"""

import re
from collections.abc import Iterable

from .scoring import WEEKDAYS, normalize
from .verifier import CALENDAR_WORDS, NUMBER_WORDS, SEASONS, STARTERS, Source, stem_of

LETTERS = "abcdefghijklmnopqrstuvwxyzé"
WORD = "[a-zé]"
# Sentence openers the model may use: words the verifier exempts as a sentence's first word (verifier.STARTERS)
# and states no number or date; the grammar allows them only there.
OPENERS = sorted(
    word.capitalize()
    for word in """about after and another at before both can describe did do does during each for from had
    has have here how if imagine in it its just look maybe now on once one perhaps picture remember some
    something that the their then there these they think this those together try was we were what when where
    which who whose why with you your""".split()  # noqa: SIM905 -- a word list reads better as text
    if word in STARTERS and word not in NUMBER_WORDS and word not in CALENDAR_WORDS
)
SEASON_WORDS = set(SEASONS.values())
MAX_LETTERS = 15  # a lowercase word no longer than this: a model can run words together ("youmadeinthe...")
ENDINGS = ("s", "re", "ve", "ll", "t", "d", "m")
SUFFIXES = "'(" + "|".join(ENDINGS) + ")"  # "Helen's", "you're": an apostrophe only before a short ending


def _alternatives(words: Iterable[str]) -> str:
    """`(a|b|c)`, longest first; the words are plain letters or digits (nothing to escape)."""
    unique = sorted(set(words), key=lambda w: (-len(w), w))
    assert all(re.fullmatch(r"[A-Za-z0-9]+", w) for w in unique), unique
    return "(" + "|".join(unique) + ")"


def not_words(forbidden: Iterable[str], stems: Iterable[str] = (), longest: int = MAX_LETTERS) -> str:
    """A pattern for one lowercase word (`[a-z]{1,longest}`) that is none of `forbidden` and starts with none of
    `stems`, walking their trie: at each node, end (unless the prefix is forbidden), go on with a letter that
    leaves the trie, or follow a child (never into a stem); no word longer than `longest` letters."""
    trie: dict = {}
    for marks, words in (("$", forbidden), ("*", stems)):
        for word in {w for w in words if re.fullmatch(r"[a-z]+", w)}:
            node = trie
            for letter in word:
                node = node.setdefault(letter, {})
            node[marks] = True

    def walk(node: dict, depth: int) -> str:
        if depth >= longest:
            return ""  # as long as a word may be: it ends here (its parent left out a forbidden word this long)
        children = sorted(key for key in node if key not in "$*")
        leave = "".join(letter for letter in LETTERS if letter not in children)
        last = depth + 1 >= longest
        children = [letter for letter in children if not node[letter].get("*") and not (last and node[letter].get("$"))]
        rest = longest - depth - 1
        branches = [f"[{leave}]" + (f"{WORD}{{0,{rest}}}" if rest else "")] if leave else []
        branches += [letter + walk(node[letter], depth + 1) for letter in children]
        body = "(" + "|".join(branches) + ")"
        may_end = depth > 0 and not node.get("$")
        return body + "?" if may_end else body

    return walk(trie, 0) if trie else f"{WORD}{{1,{longest}}}"


def grounded_words(sources: list[Source]) -> tuple[set[str], set[str], set[str]]:
    """(capitalized words, numbers, lowercase calendar and number words) the cited entries support."""
    text = " ".join(source.grounded() for source in sources)
    capitals = set(re.findall(r"\b[A-Z][a-z]+\b", text)) | set(re.findall(r"\b[A-Z]+\b", text))
    numbers = set(re.findall(r"\d+(?:[.,:]\d+)?", text))
    lowercase = set(normalize(text).split())
    supported = {w for w in lowercase if w in CALENDAR_WORDS or w in NUMBER_WORDS}
    return capitals, numbers, supported


def text_pattern(sources: list[Source], *, hide: Iterable[str] = (), end: str = "[.!]", opening: str = "",
                 suffix: str = "", words: tuple[int, int] = (3, 30), numbers: bool = True, dates: bool = True,
                 breaks: bool = True, foreign: Iterable[str] = (), unsaid: Iterable[str] = (),
                 anchors: Iterable[Iterable[str]] = ()) -> str:  # fmt: skip
    """A pattern for one piece of text about the cited entries. `hide`: words it must not say (the answer);
    `opening`/`suffix`: literal text it starts/ends with (already quoted), `end` after it; `numbers`/`dates`:
    whether it may state the entries' numbers and months (a which-came-first question may not: that gives the
    order away); `breaks`: whether it may be more than one sentence; `foreign`: lowercase words it may not
    write unless the entries do (the few-shot examples' facts); `unsaid`: words it may not write, as they are or
    with an "s" ("pot", "pots"), though words of their stem stay free ("boil" for the word to avoid "boiler");
    `anchors`: groups of words, one word of each
    group said in turn (a shared_person question names both its events, seen missing at 30K tokens)."""
    capitals, digits, supported = grounded_words(sources)
    hidden = {w for h in hide for w in normalize(h).split()}
    calendar = {w for w in CALENDAR_WORDS if w not in supported or not dates}
    if sources and all(source.month_only for source in sources):  # no weekday, even a place's ("Saturday market")
        calendar |= set(WEEKDAYS)
    grounded = set(normalize(" ".join(source.grounded() for source in sources)).split())
    forbidden = hidden | calendar | {w for w in NUMBER_WORDS if w not in supported or not numbers}
    forbidden |= set(foreign) - grounded
    forbidden |= {form for word in unsaid for form in (normalize(word), normalize(word) + "s")}
    # "Doctor" + "'s" reads as "doctors" (normalize drops the apostrophe): a stem that an ending completes; not
    # an entry's own word ("bowl" of a mixing bowl, though the examples' "bowls match" is foreign)
    forbidden |= {w[: -len(e)] for w in forbidden for e in ENDINGS if w.endswith(e) and len(w) > len(e) + 1} - (
        grounded - hidden
    )
    stems = {stem_of(w) for w in hidden if len(w) >= 4}  # "discuss" would give "discussed" away
    # a season the entries do not support, glued to a word, is said still (seen: "in the summermonth" of April)
    stems |= calendar & SEASON_WORDS
    # the examples' words glued to others are the examples still (seen: "spreadon toastmate")
    stems |= {w for w in set(foreign) - grounded if len(w) >= 4}
    capitals = {c for c in capitals if normalize(c) not in forbidden and not normalize(c).startswith(tuple(stems))}
    if not numbers:
        digits = set()
    openers = [o for o in OPENERS if o.lower() not in forbidden and not o.lower().startswith(tuple(stems))]
    names = _alternatives(capitals) if capitals else ""
    lower = not_words(forbidden, stems)
    amounts = "£?(" + "|".join(quote(d) for d in sorted(digits, key=lambda d: (-len(d), d))) + ")" if digits else ""
    item = "|".join(filter(None, [lower, names, amounts]))
    start = "|".join(filter(None, [_alternatives(openers), names]))
    step = f"(( |, | - )({item})({SUFFIXES})?" + (f"|[.!?] ({start})({SUFFIXES})?)" if breaks else ")")
    low, high = words
    groups = [_both_cases(w for w in group if w not in forbidden) for group in anchors]
    musts = [_alternatives(group) for group in groups if group]  # a group all forbidden cannot be asked for
    if not musts:
        return f"^({opening or start})({SUFFIXES})?{step}{{{low},{high}}}{suffix}{end}$"
    share = (high - len(musts)) // 2  # room for a long title before the next anchor (the bound is looser)
    middle = "".join(f"{step}{{0,{share}}}( |, )({must})({SUFFIXES})?" for must in musts)
    return f"^({opening or start})({SUFFIXES})?{middle}{step}{{0,{share}}}{suffix}{end}$"


def _both_cases(words: Iterable[str]) -> set[str]:
    return {form for word in words for form in (word, word.capitalize())}


def quote(text: str) -> str:
    """A literal for a pattern: each regex special inside a class (`[.]`: llama.cpp's converter keeps a
    backslash escape in its literal, which the grammar parser refuses); quotes are left out (they would end the
    JSON string) and so are backslashes and brackets."""
    text = re.sub(r"[\"\\\[\]^$]", "", text)
    return re.sub(r"([.^$|?*+(){}])", r"[\1]", text)
