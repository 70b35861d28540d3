"""Puzzles written by the LLM ahead of time, split as Parrot splits an application into calls with known
variables: the program picks the facts from the structured entries and fixes the answer, the evidence and the
choices; the model only writes the language around them (the question and the cue wording), as JSON that a
schema constrains (the evidence ids and the answer are constants in it). Every candidate then passes
`chat.verifier`. No database here: the task in `chat.services` reads and stores.

Plans, by kind (the puzzle families the templates cannot do well):
- shared_person: two events on different days with exactly one person in common: who was at both?
- which_first: which came first? Two similar events done once each (same place or tag, different months), or
  two occurrences of one recurring event months apart, each named by facts only it has in the whole life log
  (`chat.authoring_order`: "the reading group with 'Rebecca' and Maggie, or the one with Elsie?"). The
  program fixes the choices and how the question names them; the model writes its opening and the cues.
- season_repeat: something done two or more times in one season: what was it?
- common_ground: two events of different kinds that had one thing in common, and only it (`chat.authoring_common`:
  the plums bought at the market and eaten at the picnic): what was it? The program fixes the thing (the answer)
  and the wrong choices (what other days had in the same spot); the model writes the question and one cue.
- guess_event: one of the trainee's days described in new words: which was it? The program picks the day and
  two or three decoys (titles of like entries) and the facts that tell the day from every entry of theirs
  (`chat.authoring_event`), fixes the question around the description and the cues (the month, the first
  letter); the model writes only the description, never a word of the title nor a decoy's fact.
- key_word: a word of the trainee's own diary, described in new words: which word is it? The program fixes the
  diary line, the blanked word (the answer) and the question around the description; the model writes only the
  description (`hint`), in words of at most 15 letters, never the word or its stem.
- describe_without_naming: a thing of the trainee's own diary, described in their own words without naming it
  (circumlocution practice). The program fixes the line, the word and the words to avoid (WordNet's, in
  `chat.authoring_describe`) and the recognition choices; the model writes only an example description, shown
  as the right choice and in the feedback. The trainee's answer is scored by rule (`chat.scoring_describe`).

Each request is the participant's shared, cached prefix (`GUIDE`, then the life log) and a suffix of its own:
its kind's worked examples as request/reply exchanges, then the request, which carries a plain task line.

`naive_*`: the comparison design, which asks the model for a whole puzzle (facts, answer, evidence) at once.
"""

import functools
import hashlib
import itertools
import json
import random
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from . import authoring_common as common
from . import authoring_describe as describing
from . import authoring_event as event
from . import authoring_order as order
from .authoring_grammar import quote, text_pattern
from .puzzles.base import EntryFacts, join_names
from .scoring import STOPWORDS, content_words, normalize
from .verifier import ORDER_WORDS, REPEAT_DAYS_APART, SEASONS, Candidate, Source
from .word_match import says_word

RECOGNITION = "Which of these was it? You can answer with the letter."
KINDS = (
    "shared_person",
    "which_first",
    "season_repeat",
    "key_word",
    "common_ground",
    "guess_event",
    "describe_without_naming",
)
REQUEST_MARK = "WRITE A PUZZLE"
MIN_DAYS_APART = 14

# The shared prefix keeps only what every request shares (the LIFE LOG after it is ~30K tokens at 1,000
# entries); each request carries its own kind's worked examples and a plain task line in its suffix, right
# beside it (measured: with the examples above the life log the 0.5B copied them and lost the request).
GUIDE = f"""When a message starts with {REQUEST_MARK}, you write one memory puzzle about the LIFE LOG as JSON.
The program has chosen the facts and the answer; you write only the words, in plain warm English, to the
trainee as "you". Use only the facts in that message: no other names, places, dates or numbers. The question
never says the answer; a cue says its one fact in new words and never the answer. Each request comes after
worked examples of its kind, about another person's life: follow their form, never their facts."""

# What to write, one plain line per kind, beside the request. Worded so that no good puzzle repeats four of
# its words in a row (the verifier rejects a puzzle that copies its instructions).
HINT_REQUEST = "Write a hint: what the word means, in other words, never the word itself."
ASKS = {
    "shared_person": "Task: ask Who, and name both events in the question; cue1 tells the cue1 fact in new words.",
    "which_first": "Task: ask Which came first, and name both events in the question; cue1 and cue2 tell their "
    "facts in new words.",
    "season_repeat": "Task: the question names the season and the place and asks What (the answer); cue1 tells "
    "the cue1 fact in new words, not used in the question.",
    "key_word": HINT_REQUEST,
    "common_ground": "Task: the question names both events and asks What they share (the answer); cue1 tells the "
    "cue1 fact in new words, never the answer.",
    "guess_event": "Task: describe that time in new words, with one or two of its own facts; never a word of "
    "the answer.",
    "describe_without_naming": "Task: describe the thing in other words (its use, its look or its place), never "
    "the word nor a word to avoid.",
}


@dataclass(frozen=True)
class Example:
    """A worked example of a kind, shown as one user/assistant exchange before the request."""

    facts: str
    reply: dict[str, str]


EXAMPLES: dict[str, tuple[Example, ...]] = {
    "shared_person": (
        Example(
            'Event 1: "Bowls match", May 2019, at the Green.\nEvent 2: "Quiz night", July 2019, at the Red Lion.\n'
            "Answer, never to be written: Agnes.\ncue1 fact: Cyril also came to Quiz night.",
            {"question": "Who was with you both at the Bowls match in May 2019 and at the Quiz night in July 2019?",
             "cue1": "Cyril was at the quiz night as well."},
        ),
        Example(
            'Event 1: "Boat race", June 2018, at the river.\nEvent 2: "Tea dance", October 2018, at the Corn '
            "Exchange.\nAnswer, never to be written: Cyril.\ncue1 fact: Cheered the rowers from the bank.",
            {"question": "Who came with you to the Boat race in June 2018 and also to the Tea dance in October 2018?",
             "cue1": "At the boat race you cheered the rowers from the bank."},
        ),
    ),
    "which_first": (
        Example(
            'Event A: "Trip to the zoo". Event B: "Boat race".\ncue1 fact: "Boat race" was in June 2018.\n'
            'cue2 fact: "Trip to the zoo" was in March 2018.',
            {"question": "Which of these came first: Trip to the zoo or Boat race?",
             "cue1": "Boat race was in June 2018.", "cue2": "Trip to the zoo was in March 2018, a sunny day."},
        ),
        # a recurring event: each occurrence named by its own facts, the second time as "the one with ..."
        Example(
            "Event A: \"Tea dance with 'Moonlight Serenade' and Agnes\". Event B: \"Tea dance with Cyril\".\n"
            "cue1 fact: \"The Tea dance with 'Moonlight Serenade' and Agnes\" was in July 2019.\n"
            'cue2 fact: "The Tea dance with Cyril" was in April 2019.',
            {"question": "Which of these came first: the Tea dance with 'Moonlight Serenade' and Agnes, or the one "
                         "with Cyril?",
             "cue1": "The Tea dance with 'Moonlight Serenade' and Agnes was in July 2019.",
             "cue2": "The Tea dance with Cyril was in April 2019."},
        ),
    ),
    "season_repeat": (
        Example(
            'Season: autumn 2017. Place: the Corn Exchange. Done there more than once: "Tea dance" (the answer, '
            "never to be written).\ncue1 fact: Waltzed with Cyril all afternoon.",
            {"question": "In autumn 2017 you went to the Corn Exchange more than once. What did you do there?",
             "cue1": "You waltzed with Cyril all afternoon."},
        ),
        Example(
            'Season: spring 2019. Place: the Red Lion. Done there more than once: "Quiz night" (the answer, never '
            "to be written).\ncue1 fact: Our team won the picture round.",
            {"question": "In spring 2019, what did you keep going back to the Red Lion for?",
             "cue1": "Your team won the round with the pictures."},
        ),
    ),
    # the day in new words: its own facts, never the title's words; no date (the program's cue says the month)
    "guess_event": (
        Example('Answer, never to be written: "Bowls match".\nDiary: "Played on the Green against the Riverside '
                'club. Agnes bowled the winning wood and we had scones after."\nIts own facts: Agnes; the Green; '
                "Riverside; scones.",
                {"description": "Agnes won it for your team with the last throw against Riverside, and then you all "
                                "had scones."}),
        Example('Answer, never to be written: "Choir concert".\nDiary: "Sang \'Danny Boy\' at the Corn Exchange. '
                'Cyril forgot his music and had to share mine."\nIts own facts: Cyril; the Corn Exchange; '
                "'Danny Boy'; music.",
                {"description": "At the Corn Exchange you all sang 'Danny Boy', and Cyril had no music of his own."}),
        Example('Answer, never to be written: "Flower show".\nDiary: "Entered my dahlias at the village hall; they '
                'won a red rosette. Cream teas after."\nIts own facts: dahlias; rosette; teas.',
                {"description": "Your dahlias came home with a red rosette, and there were cream teas afterwards."}),
    ),
    "key_word": (
        Example('Word: "marmalade". Diary line: "Made _____ with the Seville oranges."',
                {"hint": "Something sweet you spread on toast, made from fruit."}),
        Example('Word: "umbrella". Diary line: "Forgot my _____ and got soaked."',
                {"hint": "You hold it over your head to keep dry in the rain."}),
        Example('Word: "whispered". Diary line: "We _____ all through the film."',
                {"hint": "Spoke very softly, so that nobody else could hear."}),
    ),
    "common_ground": (
        Example(
            'Event 1: "Bowls match", May 2019, at the Green.\nEvent 2: "Tea dance", July 2019, at the Corn '
            "Exchange.\nIn both, never to be written: seed cake.\ncue1 fact: at \"Bowls match\": Shared something "
            "with Cyril after the game.",
            {"question": "What did the Bowls match in May 2019 and the Tea dance in July 2019 have in common?",
             "cue1": "After the bowls match you shared it with Cyril."},
        ),
        Example(
            'Event 1: "Boat race", June 2018, at the river.\nEvent 2: "Quiz night", October 2018, at the Red '
            'Lion.\nIn both, never to be written: red scarf.\ncue1 fact: at "Quiz night": Wore something for luck.',
            {"question": "What was there both at the Boat race in June 2018 and at the Quiz night in October 2018?",
             "cue1": "At the quiz night you wore it for luck."},
        ),
    ),
    "describe_without_naming": (
        Example('Word: "wheelbarrow". Diary line: "Pushed the wheelbarrow of leaves down to the bonfire."\n'
                "Words to avoid: wheelbarrow, barrow, handcart.",
                {"description": "You push it along on one wheel to carry heavy loads in the garden."}),
        Example('Word: "thermos". Diary line: "Took a thermos up to the Green for Agnes."\n'
                "Words to avoid: thermos, flask, bottle.",
                {"description": "It keeps your tea hot for hours when you are out for the day."}),
        Example('Word: "harmonica". Diary line: "Cyril played the harmonica all evening."\n'
                "Words to avoid: harmonica, instrument.",
                {"description": "A little metal thing you hold to your lips and blow into to play a tune."}),
    ),
}  # fmt: skip


# The examples' own facts: a model that copies them writes about another life (seen: "you waltzed with cyril").
# The grammar does not let them be written unless the cited entries say them, and the verifier rejects them.
_EXAMPLE_FACTS = (
    "agnes cyril bowls green quiz lion zoo boat race corn exchange waltzed dance marmalade seville oranges "
    "umbrella soaked whispered rowers moonlight serenade seed scarf luck riverside scones danny dahlias rosette "
    "wheelbarrow bonfire thermos harmonica"
)
EXAMPLE_WORDS = frozenset(f"{_EXAMPLE_FACTS} spread toast".split())


# The requests' own words, which a candidate must not copy (seen: "The answer, never to be written, is ...").
REQUEST_WORDS = "(the answer, never to be written)"
# How a definition may begin (the grammar's sentence openers have no article).
HINT_OPENING = "(A|An|The|Something|Someone|Somewhere|It|You|What|Where|When|This|Things|People|Part|Used)"


@dataclass
class Plan:
    """What the program fixed: the facts the model may use, the answer, the evidence and the choices, and
    what the model writes (`fields`: JSON key -> schema, in the order it writes them)."""

    kind: str
    evidence_ids: list[int]
    answer: str
    facts: str  # the request's fact lines
    fields: dict[str, dict]
    cue_facts: list[str] = field(default_factory=list)  # one fact per cue the model writes
    options: list[str] = field(default_factory=list)
    correct: list[str] = field(default_factory=list)
    answer_in_question: bool = False
    extra_cues: list[str] = field(default_factory=list)  # written by the program, after the model's
    scoring: dict = field(default_factory=dict)  # what the scorer needs beyond the answer
    question: str = ""  # the program's question around what the model writes ("{hint}"); empty: the model's
    subject: str = ""  # what the puzzle is about that a participant's other puzzles of its kind should not repeat
    ending: str = ""  # what the model's question ends with, fixed by its grammar (which_first: the two choices)

    @property
    def task(self) -> str:
        """What to write: the keys (the examples before the request show the form)."""
        return f"JSON keys: {', '.join(self.fields)}."

    @property
    def instructions(self) -> str:
        """The request's own words, which the model must not copy into the puzzle."""
        return f"{self.task} {REQUEST_WORDS} {HINT_REQUEST} {ASKS[self.kind]}"

    def key(self) -> str:
        return f"{self.kind}:{','.join(map(str, sorted(self.evidence_ids)))}:{self.answer}"


def _month(facts: EntryFacts) -> str:
    return f"{facts.local_time:%B %Y}"


def _describe(facts: EntryFacts) -> str:
    place = f", at {facts.place}" if facts.place else ""
    return f'"{facts.title}", {_month(facts)}{place}'


def _first_sentence(text: str) -> str:
    return re.split(r"(?<=[.!?])\s+", text.strip())[0] if text.strip() else ""


def _others(pool: list[EntryFacts], values, avoid: set[str], rng: random.Random, count: int) -> list[str]:
    seen, chosen = {normalize(v) for v in avoid}, []
    values = list(values)
    rng.shuffle(values)
    for value in values:
        if value and normalize(value) not in seen:
            seen.add(normalize(value))
            chosen.append(value)
        if len(chosen) == count:
            break
    return chosen


def _with_answer(rng: random.Random, answer: str, distractors: list[str]) -> list[str]:
    options = [answer, *distractors]
    rng.shuffle(options)
    return options


def _text(entries: list[EntryFacts], **rules) -> dict:
    """A string the model writes about `entries`, held by the grammar to their words (chat.authoring_grammar)."""
    sources = [Source.from_facts(e) for e in entries]
    return {"type": "string", "pattern": text_pattern(sources, foreign=EXAMPLE_WORDS, **rules)}


QUESTION_WORDS, CUE_WORDS, HINT_WORDS = (4, 30), (2, 24), (3, 16)


def _shared_person(pool: list[EntryFacts], rng: random.Random) -> list[Plan]:
    plans = []
    by_person: dict[str, list[EntryFacts]] = {}
    for facts in pool:
        for person in facts.people:
            by_person.setdefault(person, []).append(facts)
    everyone = sorted(by_person)
    for person, entries in by_person.items():
        secret = set(normalize(person).split())
        entries = [e for e in entries if not secret & set(normalize(e.title).split())]  # the title would tell
        rng.shuffle(entries)
        for a in entries:
            b = next((e for e in entries if abs((e.day - a.day).days) >= MIN_DAYS_APART
                      and set(e.people) & set(a.people) == {person} and e.title != a.title), None)  # fmt: skip
            if b is None:
                continue
            first, second = sorted([a, b], key=lambda e: e.local_time)
            clue = _clue(first, avoid=person) or _clue(second, avoid=person)
            if not clue:
                continue
            at_either = set(a.people) | set(b.people)
            distractors = _others(pool, [p for p in everyone if p not in at_either], {person}, rng, 3)
            if len(distractors) < 2:
                continue
            both = [first, second]
            # the question names the events, never the cue's facts nor another person of the events
            bystanders = sorted(at_either - {person})
            unsaid = _cue_only("shared_person", [clue, *bystanders], named=[_describe(first), _describe(second)])
            naming = [_naming_words(event.title, event.place) for event in both]  # the question names both
            plans.append(Plan(
                kind="shared_person", evidence_ids=[first.id, second.id], answer=person,
                facts=f"Event 1: {_describe(first)}.\nEvent 2: {_describe(second)}.\n"
                      f"Answer, never to be written: {person}.\ncue1 fact: {clue}.",
                fields={"question": _text(both, hide=[person, *unsaid], opening="Who", end="\\?",
                                          words=QUESTION_WORDS, anchors=naming),
                        "cue1": _text(both, hide=[person], words=CUE_WORDS)},
                cue_facts=[clue], extra_cues=[f'Their name begins with "{person[0]}".'],
                options=_with_answer(rng, person, distractors), correct=[person],
            ))  # fmt: skip
            break
    return plans


def _naming_words(*names: str) -> list[str]:
    """The words that name an event, a place or a season (of its title, place ...), one of which a question
    must say (an anchor of its grammar)."""
    words = re.findall(r"[A-Za-z]+", " ".join(names))
    return sorted({w.lower() for w in words if w.lower() not in STOPWORDS and len(w) > 1})


def _cue_only(kind: str, cue_facts: list[str], *, named: list[str]) -> list[str]:
    """The words of the cue facts that the question may not say (else the cue adds nothing; seen at 30K tokens:
    the question "...what did you do to check up at the Banbury Road surgery about your hearing?" beside the cue
    "Check up at the Banbury Road surgery about my hearing."): all but what the question names and the words
    the kind's example questions frame a question with ("went", "more", "once")."""
    framing = {w for example in EXAMPLES[kind] for w in content_words(example.reply["question"])}
    keep = framing | set(content_words(" ".join(named)))
    return sorted({w for fact in cue_facts for w in content_words(fact)} - keep)


def _clue(facts: EntryFacts, avoid: str) -> str:
    """A fact of the entry that does not name `avoid`: another person there, or a sentence of its text."""
    others = [p for p in facts.people if p != avoid]
    if others:
        return f"{join_names(others)} also came to {facts.title}"
    sentence = _first_sentence(facts.description).rstrip(".!?")
    if sentence and normalize(avoid) not in normalize(sentence).split() and len(sentence) <= 140:
        return sentence
    return ""


def _which_first(pool: list[EntryFacts], rng: random.Random, known: list[EntryFacts] | None = None) -> list[Plan]:
    """Two similar events, the earlier the answer: two done once each (the same place or tag, different months),
    or two occurrences of one recurring event, months apart, each named by facts of its own (`authoring_order`).
    `known`: the trainee's whole life log, against which "once" and "its own" are judged (the pool is only
    what the prefix holds)."""
    known = pool if known is None else known
    plans: list[Plan] = []
    used: set[int] = set()
    title_count = Counter(normalize(facts.title) for facts in known)
    # events done once: "which came first, gardening or baking?" has no answer if they did both often
    ordered = sorted((e for e in pool if title_count[normalize(e.title)] == 1), key=lambda e: e.local_time)
    for index, a in enumerate(ordered):
        for b in ordered[index + 1 :]:
            similar = (a.place and a.place == b.place) or set(a.tags) & set(b.tags)
            if not similar or normalize(a.title) == normalize(b.title) or _month(a) == _month(b):
                continue
            if a.id in used or b.id in used or '"' in a.title + b.title:
                continue
            used |= {a.id, b.id}
            plans.append(_order_plan(a, b, (a.title, b.title), (a.title, b.title), rng))
            break
    by_title: dict[str, list[EntryFacts]] = {}
    for facts in sorted(pool, key=lambda e: e.local_time):
        if title_count[normalize(facts.title)] > 1 and '"' not in facts.title:
            by_title.setdefault(normalize(facts.title), []).append(facts)
    for occurrences in by_title.values():
        marked = [(facts, found) for facts in occurrences if (found := order.marker(facts, known))]
        for (a, mark_a), (b, mark_b) in itertools.combinations(marked, 2):
            if a.id in used or b.id in used or (b.local_time - a.local_time).days < REPEAT_DAYS_APART:
                continue
            used |= {a.id, b.id}
            # said in a sentence: "the Library reading group with 'Rebecca' and Maggie, or the one with Elsie"
            said = (f"the {order.in_a_sentence(a)} with {order.detail(mark_a)}",
                    f"the {order.in_a_sentence(b)} with {order.detail(mark_b)}")  # fmt: skip
            plans.append(_order_plan(a, b, (order.option(a, mark_a), order.option(b, mark_b)), said, rng,
                                     again=("the one with " + order.detail(mark_a),
                                            "the one with " + order.detail(mark_b))))  # fmt: skip
    return plans


def _order_plan(a: EntryFacts, b: EntryFacts, names: tuple[str, str], said: tuple[str, str], rng: random.Random,
                again: tuple[str, str] | None = None) -> Plan:  # fmt: skip
    """Which came first, `a` or `b` (a the earlier), each a choice by its name (`names`) and said in the question
    as `said`, the second one said as `again` when given ("…, or the one with Elsie")."""
    options = _with_answer(rng, names[0], [names[1]])
    spoken = dict(zip(names, said, strict=True))
    second = dict(zip(names, again or said, strict=True))
    openings = [_capital(said[1]), _capital(said[0])]  # each cue starts by naming its event, the later first
    cue_facts = [f'"{openings[0]}" was in {_month(b)}', f'"{openings[1]}" was in {_month(a)}']
    # the question names both events (fixed by the grammar) and no month, year, number or word of order: those
    # tell it; cue 1 (about the later event) may not name the earlier one's own words
    joiner = ", or " if again else " or "
    ending = f": {spoken[options[0]]}{joiner}{second[options[1]]}"
    own = set(normalize(names[0]).split()) - set(normalize(names[1]).split())
    return Plan(
        kind="which_first", evidence_ids=[a.id, b.id], answer=names[0],
        facts=f'Event A: "{options[0]}". Event B: "{options[1]}".\n'
              f"cue1 fact: {cue_facts[0]}.\ncue2 fact: {cue_facts[1]}.",
        fields={"question": _text([a, b], hide=sorted(ORDER_WORDS), opening="Which", suffix=quote(ending),
                                  end="\\?", words=(1, 8), numbers=False, dates=False, breaks=False),
                "cue1": _text([a, b], hide=own, opening=quote(openings[0]), words=CUE_WORDS, breaks=False),
                "cue2": _text([a, b], opening=quote(openings[1]), words=CUE_WORDS, breaks=False)},
        cue_facts=cue_facts, options=options, answer_in_question=True, ending=ending,
        scoring={"choice_in_question": True},
    )  # fmt: skip


def _capital(text: str) -> str:
    """A cue's opening: "the reading group with …" starts its sentence; a title stays as written ("eBay sale")."""
    return "The" + text[3:] if text.startswith("the ") else text


def _season(facts: EntryFacts) -> str:
    month, year = facts.local_time.month, facts.local_time.year
    if month == 12:
        year += 1  # December opens the next year's winter
    return f"{SEASONS[month]} {year}"


def _season_repeat(pool: list[EntryFacts], rng: random.Random) -> list[Plan]:
    """Something done more than once at one place in one season, and the only thing done there more than once
    then (else the question would have several right answers). One plan per season and place: `plans_for`
    keeps a participant's puzzles to one place each (`Plan.subject`)."""
    at: dict[tuple[str, str], list[EntryFacts]] = {}
    for facts in pool:
        if facts.place:
            at.setdefault((_season(facts), facts.place), []).append(facts)
    plans = []
    for (season, place), entries in sorted(at.items()):
        by_title: dict[str, list[EntryFacts]] = {}
        for facts in entries:
            by_title.setdefault(normalize(facts.title), []).append(facts)
        repeated = [group for group in by_title.values() if len(group) >= 2]
        if len(repeated) != 1:
            continue
        chosen = sorted(repeated[0], key=lambda e: e.local_time)[:3]
        title = chosen[0].title
        if set(content_words(title)) & set(content_words(place)):
            continue  # naming the place would name the answer
        done_again = {normalize(e.title) for e in pool if e.place == place and _season(e) == season}
        others = [e.title for e in pool if normalize(e.title) not in done_again]
        distractors = _others(pool, others, {title}, rng, 3)
        clues = [c for c in (_clue(e, avoid="") for e in chosen)
                 if c and not set(content_words(title)) & set(content_words(c))]  # fmt: skip
        if len(distractors) < 2 or not clues:
            continue
        unsaid = _cue_only("season_repeat", clues[:1], named=[season, place])  # the cue must add something
        plans.append(Plan(
            kind="season_repeat", evidence_ids=[e.id for e in chosen], answer=title, subject=_subject(chosen),
            facts=f"Season: {season}. Place: {place}. Done there more than once: \"{title}\" (the answer, never "
                  f"to be written).\ncue1 fact: {clues[0]}.",
            # the question says its season, then its place: else it has other answers (other seasons, places)
            fields={"question": _text(chosen, hide=[title, *unsaid], end="\\?", words=QUESTION_WORDS,
                                      anchors=[_naming_words(season.split()[0]), _naming_words(place)]),
                    "cue1": _text(chosen, hide=[title], words=CUE_WORDS)},
            cue_facts=[clues[0]], extra_cues=[f'Its first word begins with "{title[0].upper()}".'],
            options=_with_answer(rng, title, distractors), correct=[title],
        ))  # fmt: skip
    return plans


def _subject(evidence: list[EntryFacts]) -> str:
    """A season_repeat puzzle's place: a routine (the surgery every season) would otherwise fill every plan
    (seen: four of a run's five season_repeat candidates at the Banbury Road surgery)."""
    return normalize(evidence[0].place)


def _key_word(pool: list[EntryFacts], rng: random.Random) -> list[Plan]:
    """A word of a diary line, guessed from a description in new words. The program fixes the line, the word
    (the answer), the question and the later cues (the line with the word blanked, its first letter); the model
    writes only the description, which the grammar and the verifier keep from saying the word or its stem."""
    plans = []
    entries = list(pool)
    rng.shuffle(entries)
    for facts in entries:
        for sentence in re.split(r"(?<=[.!?])\s+", facts.description):
            words = [w for w in re.findall(r"\b[a-z]{5,12}\b", sentence)
                     if w not in STOPWORDS | DULL_WORDS and not w.endswith("ly")]  # fmt: skip
            candidates = [w for w in words if normalize(facts.description).split().count(w) == 1
                          and w not in normalize(facts.title).split()]  # fmt: skip
            if not candidates or len(sentence) > 160:
                continue
            # a thing is easier to describe than a deed: words ending like verbs ("weighed", "seeing") last
            word = max(candidates, key=lambda w: (not w.endswith(("ed", "ing")), len(w)))
            blanked = re.sub(rf"\b{word}\b", "_____", sentence, count=1)
            plans.append(Plan(
                kind="key_word", evidence_ids=[facts.id], answer=word,
                facts=f'Word: "{word}". Diary line: "{blanked}"',
                fields={"hint": _text([facts], hide=[word], opening=HINT_OPENING, end="[.]", words=HINT_WORDS,
                                      numbers=False, dates=False, breaks=False)},
                question=f"A word from your diary for {_month(facts)}: {{hint}} Which word is it?",
                extra_cues=[f'Your diary for {_month(facts)} says: "{blanked}"', f'It begins with "{word[0]}".'],
                scoring={"variant": "key_word"},
            ))  # fmt: skip
            break
        if len(plans) >= 12:
            break
    return plans


def _guess_event(pool: list[EntryFacts], rng: random.Random, known: list[EntryFacts] | None = None) -> list[Plan]:
    """A day of the pool described in new words, its title the answer among two or three decoy titles whose
    entries in the whole life log (`known`) it can be told from (`chat.authoring_event`). One plan per activity."""
    by_title: dict[str, list[EntryFacts]] = {}
    for facts in pool if known is None else known:
        by_title.setdefault(normalize(facts.title), []).append(facts)
    plans, entries = [], list(pool)
    rng.shuffle(entries)
    framing = set(content_words(event.QUESTION))
    for facts in entries:
        if set(content_words(facts.title)) & framing or any(p.subject == event.subject(facts) for p in plans):
            continue  # the question would say a word of the answer; an activity once
        if not (chosen := event.choose(facts, by_title, rng)):
            continue
        decoys, own = chosen
        plans.append(Plan(
            kind="guess_event", evidence_ids=[facts.id], answer=facts.title, subject=event.subject(facts),
            facts=f'Answer, never to be written: "{facts.title}".\nDiary: "{facts.description}"\n'
                  f"Its own facts: {'; '.join(own)}.",
            fields={"description": _text([facts], hide=event.hidden(facts, decoys, by_title), words=(6, 28),
                                         dates=False)},
            question=event.QUESTION,
            extra_cues=[f"It was in {_month(facts)}.", f'Its first word begins with "{facts.title[0].upper()}".'],
            options=_with_answer(rng, facts.title, decoys), correct=[facts.title],
        ))  # fmt: skip
        if len(plans) >= 12:
            break
    return plans


def _describe_without_naming(pool: list[EntryFacts], rng: random.Random) -> list[Plan]:
    """A thing of a diary line, described without naming it. The program fixes the line, the word, the words
    to avoid, the cue and the recognition choices (`chat.authoring_describe`); the model writes one example
    description, which the grammar keeps from saying the word or its stem, or a word to avoid."""
    found = describing.describables(pool, rng, limit=14)  # a few spare: the others' definitions are the choices
    plans = []
    for item in found[:12]:
        others = describing.other_glosses(item, [other for other in found if other is not item], rng)
        if len(others) < 2:
            continue
        word, facts, avoid = item.word, item.facts, describing.words_to_avoid(item)
        forms = {w: describing.forms(w) for w in [word, *avoid]}  # stored: the scorer has no dictionary
        related = [form for w in avoid for form in forms[w]]  # their stems stay free: "boil" for "boiler"
        without = " or ".join(["without saying it", *(f'"{w}"' for w in avoid)])
        plans.append(Plan(
            kind="describe_without_naming", evidence_ids=[facts.id], answer=word,
            facts=f'Word: "{word}". Diary line: "{item.line}"\nWords to avoid: {", ".join([word, *avoid])}.',
            fields={"description": _text([facts], hide=forms[word], unsaid=related, opening=HINT_OPENING, end="[.]",
                                         words=HINT_WORDS, numbers=False, dates=False, breaks=False)},
            question=f'Your diary for {_month(facts)} says: "{item.line}" Can you describe "{word}" in your own '
                     f"words, {without}?",
            extra_cues=[f"Think of {item.prompt}."],
            options=_with_answer(rng, "{description}", others),
            scoring={"variant": "describe_without_naming", "avoid": forms},
        ))  # fmt: skip
    return plans


# Words a diary uses for time and manner rather than things: no puzzle in guessing them.
DULL_WORDS = frozenset(
    [
        "afternoon", "morning", "evening", "weekend", "yesterday", "today", "tonight", "tomorrow", "again", "later",
        "after", "before", "still", "quite", "about", "really", "would", "could", "should", "there", "their",
        "where", "which", "while", "being", "going", "great", "little", "lovely",
    ]
)  # fmt: skip


def _common_ground(pool: list[EntryFacts], rng: random.Random) -> list[Plan]:
    """Two events of different kinds that share one thing and nothing else (`authoring_common`): what was it?
    The question names both events; the cue says where the thing was at the earlier one, the thing unsaid; the
    wrong choices are what other days of those kinds had in its place (other foods, other cakes)."""
    plans = []
    for a, b, thing in common.pairs(pool):
        answer = common.as_written(thing, a)
        elsewhere = dict.fromkeys(common.in_place_of(thing, a, pool) + common.in_place_of(thing, b, pool))
        distractors = [other for other in elsewhere
                       if not common.said_in(normalize(other), f"{a.description} {b.description}")]  # fmt: skip
        rng.shuffle(distractors)
        fact = common.blanked_sentence(thing, a)
        if len(distractors) < 2 or not fact:
            continue
        both, clue = [a, b], f'at "{a.title}": {fact}'
        unsaid = _cue_only("common_ground", [fact], named=[_describe(a), _describe(b)])
        # the cue tells of the first event only: the words naming the other one are not to be written there (seen
        # in tuning: "At the picnic you bought tomatoes and something at the Saturday market ...")
        # nor any of its own words by their stem: hiding "gardening" hid "garden", and the model wrote "Millets Farm
        # garrison centre" for the garden centre in 4 of 12 replies (seed 109)
        own = set(normalize(f"{a.title} {a.place} {a.description}").split())
        elsewhere_named = [word for word in _naming_words(b.title, b.place)
                           if not any(says_word(mine, word) for mine in own)]  # fmt: skip
        plans.append(Plan(
            kind="common_ground", evidence_ids=[a.id, b.id], answer=answer,
            facts=f"Event 1: {_describe(a)}.\nEvent 2: {_describe(b)}.\nIn both, never to be written: {answer}.\n"
                  f"cue1 fact: {clue}.",
            fields={"question": _text(both, hide=[answer, *unsaid], opening="What", end="\\?", words=QUESTION_WORDS,
                                      anchors=[_naming_words(facts.title, facts.place) for facts in both]),
                    "cue1": _text(both, hide=[answer, *elsewhere_named], words=CUE_WORDS)},
            cue_facts=[clue], extra_cues=[f'It begins with "{answer[0].upper()}".'],
            options=_with_answer(rng, answer, distractors[:3]), correct=[answer], scoring={"variant": "thing"},
        ))  # fmt: skip
        if len(plans) >= 12:
            break
    return plans


PLANNERS = {"shared_person": _shared_person, "which_first": _which_first, "season_repeat": _season_repeat,
            "key_word": _key_word, "common_ground": _common_ground, "guess_event": _guess_event,
            "describe_without_naming": _describe_without_naming}  # fmt: skip


def plans_for(pool: list[EntryFacts], *, rng: random.Random, limit: int, skip: set[str] = frozenset(),
              used: Iterable[str] = (), known: list[EntryFacts] | None = None,
              kinds: Iterable[str] = KINDS) -> list[Plan]:  # fmt: skip
    """Up to `limit` plans of `kinds`, taken in turn so one kind does not crowd out the rest; `skip`: plan
    keys already authored; `used`: keys of the participant's accepted plans, whose subjects (a season_repeat's
    place) the new plans do not repeat, and neither do two new ones; `known`: the whole life log (default: the
    pool), against which which_first tells an event done once and an occurrence's own facts."""
    kinds = tuple(kinds)
    if unknown := set(kinds) - set(KINDS):
        raise ValueError(f"unknown puzzle kinds {sorted(unknown)}: the kinds are {', '.join(KINDS)}")
    planners = {**PLANNERS, "which_first": functools.partial(_which_first, known=known),
                "guess_event": functools.partial(_guess_event, known=known)}  # fmt: skip
    by_kind = {kind: [p for p in planners[kind](pool, rng) if p.key() not in skip] for kind in kinds}
    for plans in by_kind.values():
        rng.shuffle(plans)
    taken = _subjects(used, {facts.id: facts for facts in pool})
    chosen: list[Plan] = []
    while len(chosen) < limit and any(by_kind.values()):
        for kind in kinds:
            while by_kind[kind] and len(chosen) < limit:
                plan = by_kind[kind].pop()
                if plan.subject and (kind, plan.subject) in taken:
                    continue
                taken.add((kind, plan.subject))
                chosen.append(plan)
                break
    return chosen


def _subjects(keys: Iterable[str], by_id: dict[int, EntryFacts]) -> set[tuple[str, str]]:
    """(kind, subject) of stored plans, from their keys (`Plan.key`: kind, evidence ids, answer)."""
    subjects = set()
    for key in keys:
        kind, ids, _ = key.split(":", 2)
        evidence = [by_id[int(i)] for i in ids.split(",") if i.isdigit() and int(i) in by_id]
        if kind == "season_repeat" and evidence:
            subjects.add((kind, _subject(evidence)))
        elif kind == "guess_event" and evidence:  # an activity once: "Sunday service" every time would be dull
            subjects.add((kind, event.subject(evidence[0])))
    return subjects


def schema(plan: Plan) -> dict:
    """The reply's JSON schema: only what the model writes, in the order it writes it (question first, or the
    key word's hint alone); each
    string held by a pattern to the cited entries' words. The ids, answer and choices are the program's."""
    return {"type": "object", "properties": plan.fields, "required": list(plan.fields)}


def _request_text(kind: str, facts: str, keys) -> str:
    return f"{REQUEST_MARK} ({kind})\n{facts}\n{ASKS[kind]}\nJSON keys: {', '.join(keys)}."


def suffix(plan: Plan) -> list[dict]:
    """What follows the shared cached prefix: the plan's kind's worked examples, each as a request and its
    reply, then the request itself, in the same form."""
    turns = []
    for example in EXAMPLES[plan.kind]:
        turns += [{"role": "user", "content": _request_text(plan.kind, example.facts, example.reply)},
                  {"role": "assistant", "content": json.dumps(example.reply)}]  # fmt: skip
    return [*turns, {"role": "user", "content": _request_text(plan.kind, plan.facts, plan.fields)}]


def prompt_sha256(messages: list[dict], json_schema: dict) -> str:
    return hashlib.sha256(json.dumps([messages, json_schema], sort_keys=True).encode()).hexdigest()


class BadReply(Exception):
    """The reply is not the JSON asked for (only a server without structured output lets this happen)."""


def candidate(plan: Plan, reply: str) -> Candidate:
    try:
        data = json.loads(reply)
        written = {key: str(data[key]).strip() for key in plan.fields}
        question, options = plan.question or written["question"], list(plan.options)
        for key, text in written.items():  # the program's text around what the model wrote ("{hint}")
            question = question.replace(f"{{{key}}}", text) if plan.question else question
            options = [option.replace(f"{{{key}}}", text) for option in options]
        cues = [written[key] for key in plan.fields if key.startswith("cue")]
    except (ValueError, KeyError, TypeError) as error:
        raise BadReply(f"not the JSON asked for: {error}") from None
    definition = written.get("hint", written.get("description", ""))
    return Candidate(kind=plan.kind, question=question, cues=cues + plan.extra_cues, answer=plan.answer,
                     evidence_ids=plan.evidence_ids, options=options, answer_in_question=plan.answer_in_question,
                     correct=plan.correct, definition=definition,
                     avoid=[form for forms in plan.scoring.get("avoid", {}).values() for form in forms])  # fmt: skip


def distractor_pool(plan: Plan, pool: list[EntryFacts]) -> set[str]:
    """The values a distractor of this plan may take: people or titles of the trainee's entries; for which_first
    also its own choices, which may name an occurrence of a title by its facts (the verifier's
    `order_problems` holds each to one entry of the life log)."""
    if plan.kind == "shared_person":
        return {person for facts in pool for person in facts.people}
    if plan.kind == "common_ground":  # things said in the trainee's entries
        texts = [facts.description for facts in pool]
        return {option for option in plan.options if any(common.said_in(normalize(option), t) for t in texts)}
    titles = {facts.title for facts in pool}
    return titles | set(plan.options) if plan.kind == "which_first" else titles


def sources(pool: list[EntryFacts]) -> dict[int, Source]:
    return {facts.id: Source.from_facts(facts) for facts in pool}


def payload(plan: Plan, accepted: Candidate, by_id: dict[int, EntryFacts]) -> dict:
    """The stored puzzle, in the shape every puzzle has (question, cues, recognition, answer)."""
    if plan.kind == "describe_without_naming":
        return _description_payload(plan, accepted)
    evidence = [by_id[i] for i in plan.evidence_ids if i in by_id]
    recognition = None
    if accepted.options:
        index = [normalize(o) for o in accepted.options].index(normalize(plan.answer))
        recognition = {"prompt": RECOGNITION, "options": accepted.options, "answer_index": index}
    expected = plan.answer
    if plan.kind == "which_first":  # the earlier event: its choice may name it by its facts, not its title
        match = min(evidence, key=lambda e: e.local_time)
        expected = f"{match.title}. {match.description}".strip()
    elif plan.kind in ("season_repeat", "guess_event"):
        match = next(e for e in evidence if normalize(e.title) == normalize(plan.answer))
        expected = f"{match.title}. {match.description}".strip()
    return {
        "kind": plan.kind,
        "question": accepted.question,
        "cues": accepted.cues,
        "recognition": recognition,
        "answer": plan.answer,
        "expected": expected,
        "keywords": content_words(plan.answer),
        "correct": f"That's right: {plan.answer}.",
        "reveal": f"That's all right. The answer was: {plan.answer}.",
        **plan.scoring,
    }


def _description_payload(plan: Plan, accepted: Candidate) -> dict:
    """A describe_without_naming puzzle: no answer to reveal, so the feedback shows the model's verified
    description as one way to put it; the recognition choice is that description among other things'
    definitions. No "expected" text: a description is scored by rule, never by a live judge."""
    word, description = plan.answer, accepted.definition
    return {
        "kind": plan.kind,
        "question": accepted.question,
        "cues": accepted.cues,
        "recognition": {"prompt": f'Which of these describes "{word}" without naming it? You can answer with the '
                                  "letter.",
                        "options": accepted.options, "answer_index": accepted.options.index(description)},
        "answer": word,
        "description": description,
        "correct": f'Yes, that describes "{word}" without naming it. Another way to put it: "{description}"',
        "correct_choice": f'Yes, that one describes "{word}" without naming it.',
        "reveal": f'That\'s all right. One way to describe "{word}" without naming it: "{description}"',
        **plan.scoring,
    }  # fmt: skip


# -- the naive design, for the benchmark's comparison --------------------------------------------------------

NAIVE_SCHEMA = {
    "type": "object",
    "properties": {
        "question": {"type": "string", "maxLength": 200},
        "answer": {"type": "string", "maxLength": 80},
        "cues": {"type": "array", "items": {"type": "string", "maxLength": 160}, "minItems": 2, "maxItems": 2},
        "distractors": {"type": "array", "items": {"type": "string", "maxLength": 80}, "minItems": 2, "maxItems": 3},
        "evidence": {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 3},
    },
    "required": ["question", "answer", "cues", "distractors", "evidence"],
}
NAIVE_REQUEST = {
    "role": "user",
    "content": f"{REQUEST_MARK} (any kind). Choose the facts yourself from the LIFE LOG: a question about the "
    "trainee's own life, its answer, 2 cues, 2 or 3 wrong choices that are titles of other entries, and the ids "
    "of the entries that support it. Reply with JSON.",
}


def naive_candidate(reply: str) -> Candidate:
    try:
        data = json.loads(reply)
        answer = str(data["answer"]).strip()
        return Candidate(kind="naive", question=str(data["question"]).strip(),
                         cues=[str(c).strip() for c in data["cues"]], answer=answer,
                         evidence_ids=[int(i) for i in data["evidence"]],
                         options=[answer, *[str(d).strip() for d in data["distractors"]]])  # fmt: skip
    except (ValueError, KeyError, TypeError) as error:
        raise BadReply(f"not the JSON asked for: {error}") from None
