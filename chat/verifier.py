"""The one verifier for everything the LLM writes: rewordings of template lines and authored puzzles.

Pure functions, no database. Every check returns a list of reasons (empty: accepted); a reason names the rule
and the offending words, so a rejection can be stored and counted.

- Grounding: every person, place, number, date, month, weekday and season must occur in the cited entries
  (for a rewording: in the template and the puzzle's entries). Capitalized words count as names wherever they
  stand: inside a sentence, at its start, after ':' or ';', inside quotes. At a sentence start only the words
  the bot itself begins sentences with (``STARTERS``) are exempt, so "Biscuit came too." is checked.
  An entry known only by its month never gets a day or a weekday. A rare word the cited text writes only as a
  name ("Ulysses") is not written in lower case; a rewording names no person of the entries that its template
  does not (neither a hint nor a wrong lead); the product's own words ("ReMe", "Life Log") are no names.
- Answerability (authored puzzles): the cited entries contain the answer; the question and the first cue do
  not give it away; every cue adds words not said before; the distractors are real facts of other entries and
  none of them is also correct.
- Words: a word of an authored puzzle that its cited entries lack must be an English word (wordfreq's English
  list, British spellings included): a grammar-constrained model can split and glue words ("Visit toars",
  "tovisit") into text that passes every other rule.
- Grammar (authored puzzles, written ahead of time): every sentence is put together as English
  (`chat.grammar`, spaCy's parser): a grounded, answerable "Who was reading group at the Central Library
  discussed …" is not. Not for rewordings: the live chat would load spaCy, and on fixed lines the parser's
  rules both missed garbles and flagged a sound sentence.
- The question asks the puzzle's question (authored puzzles, by kind): shared_person asks who (once), naming
  both events; which_first asks which came first or earlier; season_repeat asks what was done (or how often);
  key_word asks for the word, and describes it in new words (no run of the diary line); guess_event asks which
  memory it is; describe_without_naming asks for a description. A grounded, answerable text that asks something
  else ("…you were discharged?") is not the puzzle.
- In common (common_ground): the answer is in every cited entry's text and no wrong choice is; the events
  share no person; the question names both events and asks what they had in common.
- Descriptions (describe_without_naming, verifier-11): the model's example description says neither the word
  (nor its stem) nor a word to avoid (in any of its forms), copies no run of the diary line, and defines the
  thing as key_word's hint must; it is one of the recognition choices, and no other choice shares meaning with
  the word's dictionary senses (a second right choice).
- Order (which_first): each choice's words are one cited entry's facts and no other entry's of that title in
  the life log (two reading groups told apart by the book and who came); the answer's entry came first; two
  occurrences of one event are months apart; the question says no month, season, year or word of order. A cue
  that names one event by its facts says only that event's facts (its month, not the other's).
- Decoys (guess_event): the description of a day, in new words (no clause of its diary, not in its voice), singles
  it out against every entry of every decoy title: each such entry lacks one of the facts it says of the day, and
  it says no fact that only a decoy's entries have ("the hymns" for a reading group beside "Sunday service").
- Structure: a rewording keeps the request (the question mark, the blank, the lettered options, the quoted
  diary line), has no role prefix ("Trainee:") and no text of another puzzle, and stays within length bounds;
  it gives no instruction about the screen that the template does not ("Press 'Skip' to have a guess").
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise

from wordfreq import zipf_frequency

from . import wordnet
from .definitions import FIRST_PERSON, not_a_definition, undefined
from .grammar import ungrammatical
from .scoring import STOPWORDS, WEEKDAYS, normalize
from .scoring_dates import MONTHS
from .scoring_describe import says
from .senses import unlike_its_senses
from .word_match import says_word
from .word_match import stem_of as stem_of  # re-exported: chat.authoring_grammar

VERSION = "verifier-11"

# "one", "first" and "once" are left out: "which one", "came first", "once more" state no count.
NUMBER_WORDS = {
    "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8",
    "nine": "9", "ten": "10", "eleven": "11", "twelve": "12", "twenty": "20", "thirty": "30", "hundred": "100",
    "thousand": "1000", "second": "2", "third": "3", "twice": "2",
}  # fmt: skip
SEASONS = {12: "winter", 1: "winter", 2: "winter", 3: "spring", 4: "spring", 5: "spring", 6: "summer", 7: "summer",
           8: "summer", 9: "autumn", 10: "autumn", 11: "autumn"}  # fmt: skip
CALENDAR_WORDS = set(MONTHS) | set(WEEKDAYS) | set(SEASONS.values()) | {"fall"}
OWN_WORDS = {"reme", "i", "ok", "okay"}
# The product's own names for itself and for the trainee's record ("your Life Log", the prompt's "LIFE LOG"), in
# any case or spelling: no names of the life log's, so never checked as such.
PRODUCT_WORDS = re.compile(r"\b(re ?me|life[ -]?logs?)\b", re.I)
# A rare word (Zipf frequency below this) that the cited text only ever writes capitalized is a name: written in
# lower case it is garbled ("made in ulysses"). Set between the sample life logs' names ("Ulysses" 3.18, "Lyme"
# 3.2, "Banbury" 2.64) and the common words in their names ("library" 4.86, "castle" 4.45, "parks" 4.33): names
# that are common words ("Frank") stay out of reach, and a rare common word inside a name ("the Playhouse
# theatre", 3.21) is held to its capital too ("the playhouse" is rejected: the template is shown instead).
RARE_ZIPF = 3.5
# Words that may open a sentence without being a name: what the bot and a rewording begin sentences with.
# Deliberately a closed list: an unknown capitalized opener ("Biscuit came too.") is checked like a name.
STARTERS = frozenset(
    normalize(word)
    for word in """
    about after again all also among and another answer any anyway are as at be because before between both
    brilliant but by can can't cast clue could could've describe did do does don't done during each earlier
    either even every everything excellent fine first for from good great guess had has have he her here
    here's hers hint his how how's i if imagine in is isn't it it's its just last later let let's like look
    lovely many maybe more most much my name never next nice no none not now of often oh ok okay on once
    one only or other our perhaps picture please puzzle question quite really recall remember right same
    say see she since so some something sometimes super take tell thank thanks that that's the their them
    then there there's these they think this those time to today together try two usually was wasn't we
    well were what what's when where where's which while who who's whom whose why will with wonderful would
    yes yesterday you you're you've your
    """.split()  # noqa: SIM905 -- a word list reads better as text
)
ROLE_PREFIX = re.compile(r"(?:^|[\n.!?]\s*)[\"“']?\s*(trainee|reme|assistant|user|system|bot|ai|draft)\s*:", re.I)
BLANK = re.compile(r"_{3,}")
OPTION_LINE = re.compile(r"^\s*[A-H]\)\s.+$", re.M)
QUOTED = re.compile(r"[\"“]([^\"”]{8,})[\"”]")
# An item an entry's text names in single quotes: the book discussed, the play seen ("Saw 'The Mousetrap'"); not
# an apostrophe ("Tom's", "mother's old recipe"); one inside the item is its own ('Don't Stop Me Now').
QUOTED_ITEM = re.compile(r"(?<![\w'‘])['‘]((?:[^'‘’\n]|(?<=\w)['’](?=\w)){2,40}?)['’](?!\w)")
SEGMENT_BREAK = re.compile(r"(?<=[.!?:;\n])\s*|[\"“”‘(]\s*|\s[-–—]\s")
SHINGLE = 4  # words in a row that mark text copied from another puzzle


@dataclass(frozen=True)
class Source:
    """One cited life-log entry, as far as the verifier needs it."""

    id: int
    title: str
    text: str = ""
    place: str = ""
    people: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    when: datetime | None = None
    precision: str = "day"  # "exact", "day" or "month": how well the entry's time is known

    @classmethod
    def from_facts(cls, facts) -> "Source":
        """From a `chat.puzzles.EntryFacts` (local time) or anything with the same fields."""
        return cls(id=facts.id, title=facts.title, text=facts.description, place=facts.place,
                   people=tuple(facts.people), tags=tuple(facts.tags), when=facts.local_time,
                   precision=facts.precision)  # fmt: skip

    @property
    def month_only(self) -> bool:
        return self.precision not in ("exact", "day")

    def date_words(self) -> str:
        """The calendar facts the entry supports: month, season and year; day and weekday only when known."""
        if self.when is None:
            return ""
        words = f"{self.when:%B %Y} {SEASONS[self.when.month]}"
        if not self.month_only:
            words += f" {self.when:%A} {self.when.day}"
        return words

    def grounded(self) -> str:
        """The entry's facts in three lines: the title and the text start theirs as sentences do (a capital there
        is no name: "Allotment day"), then "with <people> at <place>", whose capitals are names."""
        facts = " ".join(["with", *self.people, "at", self.place, *self.tags, self.date_words()])
        return "\n".join([self.title, self.text, facts])


def grounded_text(sources: Iterable[Source], *extra: str) -> str:
    return "\n".join([*extra, *(source.grounded() for source in sources)])


# -- grounding ---------------------------------------------------------------------------------------------


def _segments(text: str) -> list[str]:
    """Sentences, and the pieces after ':' ';' a dash or an opening quote: each starts like a sentence."""
    return [part for part in SEGMENT_BREAK.split(text) if part and part.strip()]


def _word_key(word: str) -> str:
    return normalize(re.sub(r"['’]s$", "", word))


def names(text: str) -> set[str]:
    """Capitalized words that may be names. A segment's first word is exempt only when it is a usual opener."""
    found = set()
    for segment in _segments(PRODUCT_WORDS.sub(lambda match: match.group(0).lower(), text)):
        words = re.findall(r"[^\W\d_][\w'’]*", segment)
        for position, word in enumerate(words):
            key = _word_key(word)
            if not word[:1].isupper() or len(word) == 1 or not key or key in OWN_WORDS | CALENDAR_WORDS:
                continue
            if key in NUMBER_WORDS:
                continue  # checked as a number
            if position == 0 and (key in STARTERS or key in STOPWORDS):
                continue
            found.add(key)
    return found


def lowercased_names(text: str, *, grounded: str) -> list[str]:
    """Rare words that `grounded` writes only with a capital, not at a segment's start (names: "Coffee at
    Ulysses"), which `text` writes in lower case: a name used as a word, the text garbled."""
    capitalized, lowercase = set(), set()
    for segment in _segments(grounded):
        for position, word in enumerate(re.findall(r"[^\W\d_][\w'’]*", segment)):
            key = _word_key(word)
            if word[:1].islower():
                lowercase.add(key)
            elif position:
                capitalized.add(key)
    rare = {key for key in capitalized - lowercase if " " not in key and zipf_frequency(key, "en") < RARE_ZIPF}
    written = {_word_key(word) for word in re.findall(r"\b[a-z][\w'’]*", text)}
    return [f"name in lower case {key!r}" for key in sorted(rare & written)]


def added_people(text: str, *, sources: Iterable[Source], said: str) -> list[str]:
    """People of the cited entries whom `text` names and `said` (the template and its context) does not: a
    rewording adds no one, neither a hint nor a wrong lead ("Think of Sarah" where David is the answer)."""
    named, said_words = names(text), set(normalize(said).split())
    people = sorted({person for source in sources for person in source.people})
    return [f"names {person!r}, whom the template does not" for person in people
            if (words := set(normalize(person).split()) - STOPWORDS) & named and not words <= said_words]  # fmt: skip


def numbers(text: str) -> set[str]:
    normalized = normalize(text)
    found = {str(int(number)) for number in re.findall(r"\d+", normalized)}
    for word in normalized.split():
        if word in NUMBER_WORDS:
            found.add(NUMBER_WORDS[word])
    return found


def calendar_words(text: str) -> set[str]:
    words = {word for word in normalize(text).split() if word in CALENDAR_WORDS}
    return {"autumn" if word == "fall" else word for word in words}


def ungrounded(text: str, *, grounded: str, answer: str = "", draft: str = "") -> list[str]:
    """What `text` says that `grounded` does not support, and answer words that `draft` does not reveal."""
    vocabulary = set(normalize(grounded).split())
    vocabulary |= {word[:-1] for word in vocabulary if word.endswith("s")}  # "St Mary's" (normalized "marys")
    problems = [f"name {name!r}" for name in sorted(names(text)) if not set(name.split()) <= vocabulary]
    problems += [f"number {n}" for n in sorted(numbers(text) - numbers(grounded))]
    problems += [f"date word {w!r}" for w in sorted(calendar_words(text) - calendar_words(grounded))]
    problems += lowercased_names(text, grounded=grounded)
    return problems + leaked(text, answer=answer, allowed=draft)


def leaked(text: str, *, answer: str, allowed: str = "") -> list[str]:
    """Words of the answer that `text` says (the word itself, inside another word, or of the same stem) and
    `allowed` (what the template already says) does not."""
    allowed_words = set(normalize(allowed).split())
    secret = {word for word in normalize(answer).split() if word not in STOPWORDS and len(word) > 2} - allowed_words
    words = set(normalize(text).split()) - allowed_words
    return [f"answer word {word!r}" for word in sorted(secret) if any(says_word(w, word) for w in words)]


def split_answer(text: str, *, answer: str) -> list[str]:
    """An answer word written as two ("The tow path is ..." for "towpath"): given away in pieces, which
    `leaked` does not see (neither piece is the word, nor of its stem)."""
    words = normalize(text).split()
    secret = {word for word in normalize(answer).split() if len(word) > 3}
    return [f"gives the answer away in two words {a!r} {b!r}" for a, b in pairwise(words) if a + b in secret]


def non_words(text: str, *, vocabulary: set[str]) -> list[str]:
    """Words that neither the cited entries (`vocabulary`, normalized) nor English know: mangled text."""
    unknown = {
        word for word in normalize(text).split()
        if word.isalpha() and word not in vocabulary and zipf_frequency(word, "en") == 0
    }  # fmt: skip
    return [f"not a word {word!r}" for word in sorted(unknown)]


def month_only_problems(text: str, sources: list[Source]) -> list[str]:
    """When every cited entry is known only by its month, no day of the month and no weekday."""
    if not sources or not all(source.month_only for source in sources):
        return []
    normalized = normalize(text)
    problems = [f"weekday {day!r} for an entry known only by month" for day in WEEKDAYS if day in normalized.split()]
    months = "|".join(MONTHS)
    if re.search(rf"\b\d{{1,2}}(st|nd|rd|th)?( of)? ({months})\b|\b({months}) \d{{1,2}}(st|nd|rd|th)?\b", normalized):
        problems.append("day of the month for an entry known only by month")
    return problems


# -- structure ---------------------------------------------------------------------------------------------


def role_prefixes(text: str) -> list[str]:
    return [f"role prefix {match.group(1)!r}" for match in ROLE_PREFIX.finditer(text)]


def _shingles(text: str, size: int = SHINGLE) -> set[tuple[str, ...]]:
    words = normalize(text).split()
    return {tuple(words[i : i + size]) for i in range(len(words) - size + 1)}


def _repeated(text: str) -> set[tuple[str, ...]]:
    """Runs of words said three times in one line ("the grandfather of the grandfather of ..."): a model looping."""
    words = normalize(text).split()
    runs = [tuple(words[i : i + SHINGLE - 1]) for i in range(len(words) - SHINGLE + 2)]
    return {run for run in runs if runs.count(run) > 2}


def foreign_text(text: str, *, own: str, others: Iterable[str]) -> list[str]:
    """Runs of words copied from another puzzle's messages that this one's template does not contain."""
    other = set().union(*(_shingles(line) for line in others)) if others else set()
    copied = (_shingles(text) & other) - _shingles(own)
    return [f"text of another puzzle {' '.join(min(copied))!r}"] if copied else []


# The screen's controls are the UI's to name, not the model's: a rewording tells the trainee to press nothing the
# template does not, and says nothing of what a button does ("Press 'Skip' to have a guess": Skip skips).
# pressing a named control ("press “Skip”", "click Resume") or any "button"; not "no pressure", "tap dancing"
UI_ACTION = re.compile(r"\b(?i:press|click|tap)\s+(?:(?i:on)\s+)?(?:(?i:the)\s+)?[“\"'‘A-Z]|\b(?i:buttons?)\b")
# what follows the pressed thing (a quoted name or one word, "button" or not): "to ...", "so ...", "and ..."
BUTTON_PURPOSE = re.compile(
    r"\b(?:press|click|tap)\s+(?:on\s+)?(?:the\s+)?(?:[“\"'‘][^”\"'’]{1,30}[”\"'’]|\w+)(?:\s+button)?\s+(to|so|and|for)\b",
    re.I,
)


def ui_instructions(text: str, *, template: str) -> list[str]:
    """Instructions about the screen that `template` does not give: pressing something where it says nothing of
    the kind, or a purpose for a button ("to", "so", "and", "for" after it) that its own instruction lacks."""
    if not (action := UI_ACTION.search(text)):
        return []
    if not UI_ACTION.search(template):
        verb = action.group(0).split()[0].lower()
        return [f"an instruction about the screen {verb!r} that the template does not give"]
    given = {word.lower() for word in BUTTON_PURPOSE.findall(template)}
    added = {word.lower() for word in BUTTON_PURPOSE.findall(text)} - given
    return [f"says what a button is for ({word!r}), which the template does not" for word in sorted(added)]


def structure_problems(text: str, *, template: str) -> list[str]:
    """A rewording must still make the template's request."""
    problems = role_prefixes(text) + ui_instructions(text, template=template)
    if "?" in template and "?" not in text:
        problems.append("no longer asks the question")
    if BLANK.search(template) and not BLANK.search(text):
        problems.append("lost the blank")
    problems += [f"lost option {line.strip()!r}" for line in OPTION_LINE.findall(template) if line.strip() not in text]
    problems += [f"lost quoted line {quote!r}" for quote in QUOTED.findall(template) if quote not in text]
    if len(text) > max(2 * len(template), len(template) + 120):
        problems.append(f"too long ({len(text)} characters for a {len(template)}-character template)")
    if len(text.strip()) < min(12, len(template.strip())):
        problems.append("too short")
    return problems


# -- rewordings --------------------------------------------------------------------------------------------


def check_rewording_part(text: str, *, template: str, sources: list[Source], answer: str = "",
                         others: Iterable[str] = (), context: str = "") -> list[str]:  # fmt: skip
    """What can be checked on a prefix of a streamed rewording: facts, leaks, role prefixes, foreign text.
    `context`: the rest of the message, kept verbatim (the options and quoted lines after the reworded line)."""
    grounded = grounded_text(sources, template, context)
    problems = ungrounded(text, grounded=grounded, answer=answer, draft=template)
    problems += month_only_problems(text, sources)
    problems += role_prefixes(text)
    problems += added_people(text, sources=sources, said=f"{template}\n{context}")
    return problems + foreign_text(text, own=grounded, others=others)


def check_rewording(text: str, *, template: str, sources: list[Source], answer: str = "",
                    others: Iterable[str] = (), context: str = "") -> list[str]:  # fmt: skip
    """Every rule for a finished rewording of `template` (the line the LLM was asked to rewrite)."""
    others = list(others)
    problems = check_rewording_part(text, template=template, sources=sources, answer=answer, others=others,
                                    context=context)  # fmt: skip
    return _unique(problems + structure_problems(text, template=template))


# -- authored puzzles --------------------------------------------------------------------------------------


@dataclass
class Candidate:
    """An authored puzzle as the verifier sees it. The answer, evidence and options may come from the program
    (the split design) or from the model (the naive design); the verifier trusts neither."""

    kind: str
    question: str
    cues: list[str]
    answer: str
    evidence_ids: list[int]
    options: list[str] = field(default_factory=list)  # recognition choices, the answer among them
    answer_in_question: bool = False  # a choice between named events ("which came first, A or B?")
    correct: list[str] = field(default_factory=list)  # every value that would also be right
    # the model's description, which the program's question is around: of the word (key_word,
    # describe_without_naming), of the day (guess_event)
    definition: str = ""
    avoid: list[str] = field(default_factory=list)  # describe_without_naming: the words (all forms) it may not say


QUESTION_CHARS = (12, 300)
CUE_CHARS = (6, 220)


def _content(text: str) -> set[str]:
    return {word for word in normalize(text).split() if word not in STOPWORDS and len(word) > 1}


def quoted_items(text: str) -> list[str]:
    """What a text names in single quotes ("discussed 'Rebecca'"), once each, in order."""
    return list(dict.fromkeys(QUOTED_ITEM.findall(text)))


def _marks(source: Source) -> set[str]:
    """The words that name an event: its title and place, and what tells two occurrences of one title apart
    (its people, the items its text quotes: "the reading group with 'Rebecca' and Maggie")."""
    return _content(" ".join([source.title, source.place, *source.people, *quoted_items(source.text)]))


def misattributed(cue: str, cited: list[Source]) -> list[str]:
    """A cue that names one of a puzzle's events may say only that event's facts: each fact is grounded in some
    cited entry, yet put at the wrong event it is false (seen: "At the evening at the theatre you bought fresh
    bread and plums for £9.40.", the market's shopping put at the theatre). The facts checked are the cue's
    numbers, calendar words and the words only another cited entry has. A cue that names two of the events
    says facts that cannot be placed (seen: "At the picnic Sarah came to the beach at Lyme Regis.", Sarah at the
    picnic only; "David came to the picnic in the park as well to the gardening ...", David at one of them): a
    cue tells one fact of one event. A word written in two pieces names it still ("At the pic nic ...")."""
    if len(cited) < 2:
        return []
    words = normalize(cue).split()
    said = _content(cue) | {a + b for a, b in pairwise(words)}
    marks = [_marks(source) for source in cited]
    named = [source for index, (source, mark) in enumerate(zip(cited, marks, strict=True))
             if said & (mark - set().union(*(m for other, m in enumerate(marks) if other != index)))]  # fmt: skip
    if len(named) > 1:
        return [f"names {len(named)} of the events ({', '.join(repr(s.title) for s in named)}): its facts cannot "
                "be placed"]  # fmt: skip
    if not named:
        return []
    event = named[0]
    own = event.grounded()
    others = set().union(*(_content(source.grounded()) for source in cited if source is not event))
    wrong = sorted((numbers(cue) - numbers(own)) | (calendar_words(cue) - calendar_words(own))
                   | {word for word in said & others - _content(own) if len(word) > 3})  # fmt: skip
    return [f"puts {', '.join(wrong)!s} at {event.title!r}"] if wrong else []


def garbled_names(text: str, cited: list[Source]) -> list[str]:
    """A name of the cited entries (a place or a quoted item, of three words or more) written with one of its
    content words swapped for another English word (seen: "Millets Farm garrison centre" for Millets Farm garden
    centre): grounded word by word and English, yet no longer the place. Not titles: "walk along the towpath"
    is no garble of "Walk along the river"."""
    names = {name for source in cited for name in (source.place, *quoted_items(source.text))}
    written = normalize(text)
    problems = []
    for name in sorted(names):
        words = normalize(name).split()
        if len(words) < 3:
            continue
        for slot in [i for i, word in enumerate(words) if word not in STOPWORDS]:
            near = r"\b" + r" ".join(r"([a-z]+)" if i == slot else re.escape(w) for i, w in enumerate(words)) + r"\b"
            problems += [f"garbles the name {name!r} ({match.group(1)!r})" for match in re.finditer(near, written)
                         if match.group(1) != words[slot]]  # fmt: skip
    return problems


def check_authored(candidate: Candidate, *, entries: dict[int, Source], distractor_pool: Iterable[str],
                   instructions: str = "", example_words: Iterable[str] = ()) -> list[str]:  # fmt: skip
    """Every rule for an authored puzzle. `entries`: the trainee's entries by id; `distractor_pool`: the
    values a distractor may take (titles, people or places of the trainee's entries); `example_words`: the
    facts of the few-shot examples (names, places, things), never to be seen unless the cited entries say
    them; `instructions`: what the
    model was told to do, which it must not copy into the puzzle."""
    problems: list[str] = []
    unknown = [i for i in candidate.evidence_ids if i not in entries]
    if not candidate.evidence_ids or unknown:
        return [f"evidence {unknown or 'missing'}: not entries of this trainee"]
    cited = [entries[i] for i in candidate.evidence_ids]
    grounded = grounded_text(cited)
    vocabulary = set(normalize(grounded).split())
    # content words: a which_first choice joins its entry's facts with "with" and "and"
    if not candidate.answer.strip() or not _content(candidate.answer) <= vocabulary:
        problems.append(f"answer {candidate.answer!r} is not in the cited entries")
    describing = candidate.kind == "describe_without_naming"
    # a description is shown as a choice and in the feedback, not in the question: checked as the model's text
    lines = [candidate.question, *candidate.cues, *([candidate.definition] if describing else [])]
    written = "\n".join(lines)
    problems += ungrounded(written, grounded=grounded)  # the options are checked against the trainee's entries
    # a description's question quotes the diary line as the trainee wrote it ("the Saturday market" of an entry
    # known only by month, seen at seed 89): the rule holds the model's words, not the trainee's
    problems += month_only_problems("\n".join(lines[1:]) if describing else written, cited)
    problems += role_prefixes(written)
    problems += non_words(written, vocabulary=vocabulary)
    titles = [part for source in cited for part in (source.title, source.place)]
    problems += [problem for line in lines for problem in ungrammatical(line, titles)]
    problems += [f"repeats itself {' '.join(min(r))!r}" for r in map(_repeated, lines) if r]
    problems += garbled_names(written, cited)
    # the few-shot examples' own facts, in any case ("you waltzed with cyril"): copied, not grounded
    copied = {normalize(w) for w in example_words} & set(normalize(written).split()) - vocabulary
    problems += [f"copies the examples {word!r}" for word in sorted(copied)]
    if instructions and _shingles(written) & _shingles(instructions):
        problems.append(f"copies the instructions {' '.join(min(_shingles(written) & _shingles(instructions)))!r}")
    # structure
    if "?" not in candidate.question:
        problems.append("the question asks nothing")
    both = candidate.kind in ("shared_person", "common_ground")  # the question names both events
    events = [f"{source.title} {source.place}" for source in cited] if both else []
    people = {person for source in cited for person in source.people} - {candidate.answer}
    bystanders = sorted(people) if candidate.kind == "shared_person" else []
    problems += question_problems(candidate.kind, candidate.question, titles=events, people=bystanders)
    if candidate.kind in ("key_word", "describe_without_naming"):  # in new words, not the diary line
        diary = set().union(*(_shingles(source.text) for source in cited))
        if copied_line := _shingles(candidate.definition if describing else candidate.question) & diary:
            problems.append(f"copies the diary line {' '.join(min(copied_line))!r}")
    elif candidate.kind == "guess_event":  # a clause of the diary copied, not a thing it names ("95 miles each way")
        names = [name for source in cited for name in (source.place, *source.people, *quoted_items(source.text))]
        diary = {run for s in cited for run in _shingles(_named(s.text, names), COPIED_CLAUSE) if NAME not in run}
        if copied_line := _shingles(_named(candidate.definition, names), COPIED_CLAUSE) & diary:
            problems.append(f"copies the diary line {' '.join(min(copied_line))!r}")
        problems += [f"speaks as the diary ({w!r})" for w in dict.fromkeys(normalize(candidate.definition).split())
                     if w in DIARY_VOICE]  # fmt: skip
        problems += decoy_problems(candidate.definition, cited[0], candidate.options, entries)
    if candidate.kind in ("key_word", "describe_without_naming") and candidate.definition:  # the word's meaning
        problems += not_a_definition(candidate.definition, word=candidate.answer, diary=cited[0].text)
        problems += undefined(
            candidate.definition,
            word=candidate.answer,
            diary=cited[0].text,
            entry=" ".join([cited[0].title, cited[0].place, *cited[0].people]),
        )
    if not QUESTION_CHARS[0] <= len(candidate.question) <= QUESTION_CHARS[1]:
        problems.append(f"question length {len(candidate.question)}")
    if not 1 <= len(candidate.cues) <= 4:
        problems.append(f"{len(candidate.cues)} cues")
    for cue in candidate.cues:
        if not CUE_CHARS[0] <= len(cue) <= CUE_CHARS[1]:
            problems.append(f"cue length {len(cue)}")
    # answerability: no give-away, every cue adds something
    if describing:  # the question names the word on purpose: the description is what must not
        problems += description_problems(candidate, cited[0])
    elif candidate.answer_in_question:  # a choice between named events: the question names them all, cue 1 none
        others = [o for o in candidate.options if normalize(o) != normalize(candidate.answer)]
        problems += [f"the question does not name {o!r}" for o in candidate.options
                     if not _content(o) <= _content(candidate.question)]  # fmt: skip
        first_cue = candidate.cues[0] if candidate.cues else ""
        problems += [f"gives the answer away: {p.split(' ', 2)[-1]}"
                     for p in leaked(first_cue, answer=candidate.answer, allowed=" ".join(others))]  # fmt: skip
    else:
        early = " ".join(lines[:2])
        problems += [f"gives the answer away: {p.split(' ', 2)[-1]}" for p in leaked(early, answer=candidate.answer)]
        problems += split_answer(written, answer=candidate.answer)
    said = _content(candidate.question)
    for index, cue in enumerate(candidate.cues, start=1):
        new = _content(cue) - said
        if not new:
            problems.append(f"cue {index} adds nothing")
        said |= _content(cue)
        problems += [f"cue {index} {problem}" for problem in misattributed(cue, cited)]
    if not describing:  # a description's choices are definitions, not the trainee's titles or people
        problems += _choice_problems(candidate, distractor_pool)
    if candidate.kind == "which_first":
        problems += order_problems(candidate, cited, entries)
    if candidate.kind == "common_ground":
        problems += common_problems(candidate, cited)
        problems += people_outside_titles(candidate.question, cited)
    return _unique(problems)


def _says(text: str, thing: str) -> bool:
    """Whether `text` says `thing` as whole words ("plums", not "plumstead")."""
    return bool(normalize(thing)) and re.search(rf"\b{re.escape(normalize(thing))}\b", normalize(text)) is not None


def people_outside_titles(question: str, cited: list[Source]) -> list[str]:
    """A person of the events named outside an event's title is said to be at both (seen: "What did Frank have
    both at the Coffee with Frank event … and at the baking day event …?", Frank at the coffee only)."""
    rest = normalize(question)
    for title in sorted({normalize(source.title) for source in cited}, key=len, reverse=True):
        rest = re.sub(rf"\b{re.escape(title)}\b", " ", rest)
    left = set(rest.split())
    people = sorted({person for source in cited for person in source.people})
    return [f"the question names {person!r} outside the events' titles" for person in people
            if set(normalize(person).split()) - STOPWORDS <= left]  # fmt: skip


def common_problems(candidate: Candidate, cited: list[Source]) -> list[str]:
    """common_ground: the answer is said in every cited entry's text, no wrong choice is (it would be right
    too), and the events share no person (who was there would be a second thing in common)."""
    problems = [f"the answer {candidate.answer!r} is not in {source.title!r}" for source in cited
                if not _says(source.text, candidate.answer)]  # fmt: skip
    wrong = [option for option in candidate.options if normalize(option) != normalize(candidate.answer)]
    problems += [f"the choice {option!r} is in every event too" for option in wrong
                 if all(_says(source.text, option) for source in cited)]  # fmt: skip
    shared = set.intersection(*(set(source.people) for source in cited)) if cited else set()
    problems += [f"{person!r} was at every event too" for person in sorted(shared)]
    return problems


# -- guess_event: a day described so that no decoy fits ------------------------------------------------------

# Words of a day's text that name no fact of it: every day has a time of day, a way and things
PLAIN_WORDS = frozenset(["day", "days", "morning", "afternoon", "evening", "night", "time", "week", "weekend", "way",
                         "round", "lot", "lots", "thing", "things", "bit", "everyone", "usual"])  # fmt: skip


def is_thing(word: str) -> bool:
    """Whether `word`, as written, names a thing (a noun: "heron", "cake", "eggs"), not a deed or a quality
    ("talked", "saw", "planting", "old"): a deed two days share is no fact of either ("talked" of a coffee and of
    a reading group). By WordNet: at least as many noun senses as verb and adjective senses together, and no
    irregular verb form of another word ("saw" of "see", "sang" of "sing"). Without the dictionary every word
    counts (stricter)."""
    if not wordnet.available():
        return True
    if len(word) < 3 or any(form not in word for form in wordnet.base_forms(word, "v")):
        return False
    nouns = len(wordnet.synsets(word, "n"))
    return nouns > 0 and nouns >= len(wordnet.synsets(word, "v")) + len(wordnet.synsets(word, "a"))


POSSESSIVE = re.compile(r"['’]s\b")
NAME = "qxname"  # a name of the entry in `_named` text: no English word
# A guess_event description copies a clause when it repeats this many of the diary's own words in a row; fewer
# are the names of things ("a slice of carrot cake", "95 miles each way": seed 83 of bench.authoring, where a
# run of four rejected 11 of 12 replies). Names of the day do not count (`_named`).
COPIED_CLAUSE = 6
# The diarist's voice ("they told me about a promotion"): the description speaks to the trainee, as "you"
DIARY_VOICE = FIRST_PERSON | {"we", "us", "our", "ours"}


def _named(text: str, names: Iterable[str]) -> str:
    """`text` normalized, each of `names` one `NAME`: a copied run is of the diary's own words, not its names."""
    text = f" {normalize(POSSESSIVE.sub('', text))} "
    for name in sorted({normalize(POSSESSIVE.sub("", n)) for n in names if normalize(n)}, key=len, reverse=True):
        text = text.replace(f" {name} ", f" {NAME} ")
    return text


def plain_words(text: str) -> set[str]:
    """Content words without the possessive ("St Mary's" -> st, mary): a fact is one word however it is owned."""
    return _content(POSSESSIVE.sub("", text))


def fact_words(source: Source) -> set[str]:
    """The words of an entry's facts: its title, place, people, tags and quoted items, its numbers and the things
    its text names; no calendar word (a guess_event description says no date: its cue does)."""
    names = plain_words(" ".join([source.title, source.place, *source.people, *source.tags,
                                  *quoted_items(source.text)]))  # fmt: skip
    things = {word for word in plain_words(source.text) if word.isdigit() or is_thing(word)}
    return (names | things) - CALENDAR_WORDS - PLAIN_WORDS


def decoy_problems(description: str, answer: Source, options: Iterable[str], entries: dict[int, Source]) -> list[str]:
    """guess_event: whether `description` (of the day `answer`) singles it out against every entry of every other
    option's title in the life log (`entries`): each such entry must lack a fact the description says of the day
    (else it fits as well: the trainee did that too), and the description says no fact of such an entry that the
    day lacks (a fact of a decoy: a wrong lead)."""
    said = plain_words(description)
    own, day = said & fact_words(answer), plain_words(answer.grounded())
    problems = []
    for option in options:
        if normalize(option) == normalize(answer.title):
            continue
        holders = [e for e in entries.values() if normalize(e.title) == normalize(option) and e.id != answer.id]
        if fits := [e.id for e in holders if not own - plain_words(e.grounded())]:
            problems.append(f"the description fits the decoy {option!r} as well (entries {fits[:3]})")
        if wrong := sorted(said & set().union(*map(fact_words, holders)) - day):
            problems.append(f"the description says {', '.join(wrong)} of the decoy {option!r}")
    return problems


def description_problems(candidate: Candidate, source: Source) -> list[str]:
    """describe_without_naming: the model's description says neither the word (nor its stem: `leaked`) nor a
    word to avoid (`candidate.avoid`, every form, with an everyday ending; "boil" is no "boiler"), whole or in
    two pieces; it is one of the choices, and no other choice describes the word too
    (shares meaning with its dictionary senses, `chat.senses`)."""
    text = candidate.definition
    if not text:
        return ["no description"]
    words = normalize(text).split()
    problems = [f"gives the answer away: {p.split(' ', 2)[-1]}" for p in leaked(text, answer=candidate.answer)]
    problems += [f"says a word to avoid {form!r}" for form in candidate.avoid if any(says(w, form) for w in words)]
    problems += split_answer(text, answer=" ".join(candidate.avoid))
    if [normalize(option) for option in candidate.options].count(normalize(text)) != 1:
        problems.append("the description is not one of the choices")
    for option in candidate.options:
        if option != text and not any("shares no meaning" in p for p in unlike_its_senses(
                option, word=candidate.answer, diary=source.text)):  # fmt: skip
            problems.append(f"the choice {option!r} describes {candidate.answer!r} too")
    return problems


# The trainee may find the order by recall only: a which-came-first question says no month, season, year or
# word of order beside its choices ("the later one with Elsie").
ORDER_WORDS = frozenset(
    ["later", "latest", "last", "recent", "recently", "previous", "previously", "newer", "older", "ago", "afterwards"]
)
REPEAT_DAYS_APART = 56  # two occurrences of one event this far apart at least: months, not a week or two


def choice_fits(option: str, source: Source) -> bool:
    """A which_first choice ("Library reading group with 'Rebecca' and Maggie") fits an entry when every content
    word of it is among the entry's facts (its text, title, people, place), quoted or not."""
    distinct = _content(option)
    return bool(distinct) and distinct <= _content(source.grounded())


def order_problems(candidate: Candidate, cited: list[Source], entries: dict[int, Source]) -> list[str]:
    """which_first: each choice names one cited entry (its words are that entry's facts, and not all of them
    another cited entry's) and no other entry of that title in the trainee's life log (`entries`: a fact
    shared with an occurrence not asked about makes the choice ambiguous); the answer's entry came first, as
    far as the entries' time is known; two occurrences of one title are months apart; and the question tells
    no order."""
    problems, matched = [], {}
    for option in candidate.options:
        fits = [source for source in cited if choice_fits(option, source)]
        if len(fits) != 1:
            problems.append(f"the choice {option!r} fits {len(fits)} of the cited entries")
            continue
        matched[normalize(option)] = entry = fits[0]
        twins = sorted(other.id for other in entries.values() if other.id != entry.id
                       and normalize(other.title) == normalize(entry.title) and choice_fits(option, other))  # fmt: skip
        if twins:
            problems.append(f"the choice {option!r} also fits the {entry.title!r} of entries {twins[:3]}")
    if len({entry.id for entry in matched.values()}) < len(matched):
        problems.append("two choices name one entry")
    elif len(matched) == len(candidate.options) and (first := matched.get(normalize(candidate.answer))):
        for entry in matched.values():
            if entry is not first and not _known_before(first, entry):
                problems.append(f"the answer {candidate.answer!r} did not come first ({entry.title!r})")
            apart = abs((entry.when - first.when).days) if entry.when and first.when else 0
            if entry is not first and normalize(entry.title) == normalize(first.title) and apart < REPEAT_DAYS_APART:
                problems.append(f"two occurrences of {entry.title!r} {apart} days apart: too close to tell apart")
    said = set(normalize(candidate.question).split()) - set(normalize(" ".join(candidate.options)).split())
    told = calendar_words(" ".join(said)) | {w for w in said if re.fullmatch(r"(19|20)\d\d", w)} | said & ORDER_WORDS
    if told:
        problems.append(f"the question tells the order ({', '.join(sorted(told))})")
    return problems


def _known_before(first: Source, second: Source) -> bool:
    """Whether `first` is known to come before `second`: by month where either is known only by its month."""
    if first.when is None or second.when is None:
        return False
    if first.month_only or second.month_only:
        return (first.when.year, first.when.month) < (second.when.year, second.when.month)
    return first.when < second.when


# What the asking sentence (the one ending in '?') must say, by kind: (rule, pattern) pairs, each one a must.
# fmt: off
ASKS = {
    "shared_person": [("ask who", r"\b(who|whom|whose|which (person|friend|one of them))\b")],
    "which_first": [("ask which", r"\b(which|what)\b"),
                    ("ask which came first", r"\b(first|earlier|earliest|before|sooner)\b")],
    "season_repeat": [("ask what was done", r"\b(what|which|how (often|many))\b")],
    "common_ground": [("ask what", r"\b(what|which)\b"),
                      ("ask what they had in common", r"\b(in common|both|same|share|shared|each)\b")],
    # the word itself ("which word is missing"), or the thing it names ("which flowers were they?")
    "key_word": [("ask for the word", r"\b(which|what) word (is|was|fits|goes|completes|means|did you|do you)\b"
                  r"|\bmissing\b|\bthe word (for|that|is|was)\b|\bname the word\b"
                  r"|\b(which|what)( \w+){0,2} (is|was|are|were) (it|they|this|that|these|those)\b")],
    "guess_event": [("ask which memory it is", r"\bwhich (of your )?(memor(y|ies)|days?|events?|times?)\b"
                     r"|\bwhat (is|was) (it|this|that)\b|\bwhat did you do\b")],
    "describe_without_naming": [("ask for a description", r"\bdescribe\b")],
}
# fmt: on
ASKING = re.compile(r"[^.!?]*\?")


def asking_sentences(question: str) -> str:
    """The sentences of `question` that end in '?' (lowercase): what it asks, without the statements before."""
    return " ".join(match.group(0).strip() for match in ASKING.finditer(question.lower()))


def question_problems(kind: str, question: str, *, titles: Iterable[str] = (), people: Iterable[str] = ()) -> list[str]:
    """Whether the question asks the puzzle's question for its kind. `titles`: what the question must name
    (the two events of a shared_person or common_ground puzzle, each by a word of its title or place);
    `people`: the events' people other than the answer, whom the question may not name. Unknown kinds (the
    naive design) are not checked here."""
    asking = asking_sentences(question)
    problems = [f"the question does not {rule} ({kind})" for rule, pattern in ASKS.get(kind, [])
                if not re.search(pattern, asking)]  # fmt: skip
    said = _content(question)
    problems += [f"the question does not name the event {title!r}" for title in titles
                 if not _content(title) & said]  # fmt: skip
    if kind == "shared_person":
        if len(re.findall(r"\bwho\b", asking)) > 1 and not re.search(r"\b(both|each|twice)\b", asking):
            problems.append("the question asks who twice (two people, not one at both)")
        # another person of the events, named outside a title, is at one of them only: a wrong lead (seen: "Who
        # was with Sarah both at the beach … and at University Parks?", Sarah at the beach only)
        in_titles = _content(" ".join(titles))
        problems += [f"the question names {person!r}, who was not at both" for person in people
                     if _content(person) <= said - in_titles]  # fmt: skip
    return problems


def _choice_problems(candidate: Candidate, distractor_pool: Iterable[str]) -> list[str]:
    if not candidate.options:
        return []
    key = normalize
    if key(candidate.answer) not in {key(option) for option in candidate.options}:
        return ["the answer is not among the options"]
    pool = {key(value) for value in distractor_pool}
    correct = {key(value) for value in [candidate.answer, *candidate.correct]}
    problems = []
    distractors = list(candidate.options)
    distractors.pop([key(option) for option in distractors].index(key(candidate.answer)))
    if len({key(option) for option in distractors}) != len(distractors):
        problems.append("repeated options")
    for option in distractors:
        if key(option) in correct:
            problems.append(f"distractor {option!r} is also correct")
        elif key(option) not in pool:
            problems.append(f"distractor {option!r} is not from the trainee's entries")
    return problems


def _unique(problems: list[str]) -> list[str]:
    return list(dict.fromkeys(problems))


# -- fixed lines (chat.fixed_lines) ------------------------------------------------------------------------

# A fixed line is about no entry: its rewording may name only what the line says, plus these friendly words.
FRIENDLY_WORDS = "hi hello hey welcome lovely wonderful good great nice alright ready dear shall im ill ive id"
BUTTON = re.compile(r"“([^”]{2,30})”")


def check_fixed_line(text: str, *, template: str, keep: Iterable[str] = (), forbid: Iterable[str] = ()) -> list[str]:
    """Every rule for a rewording of a fixed line of the chat (the greeting, "Not quite.", the pause ...),
    written ahead of time: grounding and structure as for any rewording, with no entry to cite (so no name,
    number or date that the line does not say); the buttons the line names (“Skip”) kept word for word; and
    the line's meaning: each `keep` pattern still matches and no `forbid` pattern does (case-insensitive)."""
    problems = check_rewording(text, template=template, sources=[], context=FRIENDLY_WORDS)
    problems += [f"lost the button name {name!r}" for name in BUTTON.findall(template) if name not in text]
    problems += [
        f"names the button {name!r} {text.count(name)} times"
        for name in BUTTON.findall(template)
        if text.count(name) > template.count(name)
    ]  # fmt: skip  ("press Skip to have a guess")
    problems += [f"lost the meaning /{pattern}/" for pattern in keep if not re.search(pattern, text, re.I)]
    problems += [f"changes the meaning /{pattern}/" for pattern in forbid if re.search(pattern, text, re.I)]
    if "\n" in text.strip():
        problems.append("more than one line")
    if not re.search(r"[.!?][\"'”’)]*$", text.strip()):
        problems.append("cut off: does not end a sentence")
    if normalize(text) == normalize(template):
        problems.append("not reworded: the line's own words")  # shown as the LLM's, it would misstate the source
    return _unique(problems)
