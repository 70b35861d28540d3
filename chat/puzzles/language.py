"""Open-ended language puzzles from the trainee's own words: a missing word, or an event from three clues."""

import random
import re

from chat.scoring import (
    STOPWORDS,
    Score,
    content_words,
    match_choice,
    match_free_text,
    match_month,
    match_term,
    normalize,
)
from studies.scoring_policy import STANDARD, ScoringPolicy

from .base import (
    BuiltPuzzle,
    EntryFacts,
    NotEnoughEntries,
    is_recognition,
    join_names,
    other_events,
    pick_distinct,
    place_phrase,
    prompt_at,
    render,
    telling_tag,
    when_phrase,
    with_choices,
    year_tells,
)

BLANK = "_____"


def _sentences(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"(?<=[.!?])\s+", text) if len(part.split()) >= 6]


def _blankable_words(sentence: str, facts: EntryFacts) -> list[str]:
    words = re.findall(r"[A-Za-z][A-Za-z'-]+", sentence)
    names = {part for name in (*facts.people, facts.place) for part in name.split()}
    named = [word for word in words if word in names and word.casefold() not in STOPWORDS and len(word) >= 3]
    plain = [word for word in words if len(word) >= 5 and word.casefold() not in STOPWORDS]
    return named or plain


def _missing_word(templates, facts: EntryFacts, pool: list[EntryFacts], rng: random.Random) -> dict | None:
    for sentence in _sentences(facts.description):
        candidates = _blankable_words(sentence, facts)
        if not candidates:
            continue
        word = rng.choice(candidates)
        in_sentence = set(normalize(sentence).split())  # once, not once per word of the pool
        others = [
            other_word
            for other in pool
            if other.id != facts.id
            for other_word in re.findall(r"[A-Za-z]{4,}", other.description)
            if other_word.casefold() not in STOPWORDS and normalize(other_word) not in in_sentence
        ]
        distractors = pick_distinct(rng, others, 3, avoid={word})
        options, answer_index = with_choices(rng, word, distractors)
        blanked = re.sub(rf"\b{re.escape(word)}\b", BLANK, sentence, count=1)
        return {
            "variant": "missing_word",
            "question": render(templates["missing_word"], when=when_phrase(facts), sentence=blanked),
            "cues": [
                render(templates["cue_first_letter"], letter=word[0]),
                render(templates["cue_length"], count=str(len(word))),
            ],
            "recognition": {"prompt": templates["recognition_word"], "options": options, "answer_index": answer_index},
            "answer": word,
            "correct": render(templates["correct"], answer=word),
            "reveal": render(templates["reveal"], answer=word),
        }
    return None


def _three_clues(templates, facts: EntryFacts, pool: list[EntryFacts], rng: random.Random) -> dict | None:
    if not (facts.people and facts.place):
        return None
    others = [other.title for other in pool if other.id != facts.id]
    options, answer_index = with_choices(rng, facts.title, pick_distinct(rng, others, 3, avoid={facts.title}))
    cues = []
    if tag := telling_tag(facts):
        cues.append(render(templates["cue_tag"], tag=tag))
    first_word = facts.title.split()[0]
    if len(facts.title.split()) > 1 and first_word.casefold() not in STOPWORDS:
        cues.append(render(templates["cue_first_letter_event"], letter=first_word[0].upper()))
    return {
        "variant": "three_clues",
        "question": render(
            templates["three_clues"],
            people=join_names(facts.people),
            place=place_phrase(facts.place),
            month=f"{facts.local_time:%B %Y}",
        ),
        "cues": cues,
        "recognition": {"prompt": templates["recognition_event"], "options": options, "answer_index": answer_index},
        "answer": facts.title,
        "expected": f"{facts.title}. {facts.description}".strip(),
        "place": facts.place,  # where the entry was, for contradictions its text may not name
        "keywords": content_words(facts.title),
        "correct": render(templates["correct"], answer=facts.title),
        "reveal": render(templates["reveal"], answer=facts.title),
    }


def _when_was_it(templates, facts: EntryFacts, pool: list[EntryFacts], rng: random.Random) -> dict | None:
    same_title = [other for other in pool if other.title.casefold() == facts.title.casefold()]
    if len(same_title) > 1:
        return None  # "when did you ...?" must have one answer
    month = f"{facts.local_time:%B %Y}"
    others = [f"{other.local_time:%B %Y}" for other in pool]
    options, answer_index = with_choices(rng, month, pick_distinct(rng, others, 3, avoid={month}))
    where = f" at {place_phrase(facts.place)}" if facts.place else ""
    cues = [render(templates["cue_month_letter"], letter=month[0])]
    if year_tells(facts, pool):  # "it was in 2026" tells nothing when every entry is from 2026
        cues.insert(0, render(templates["cue_year"], year=str(facts.local_time.year)))
    return {
        "variant": "when_was_it",
        "question": render(templates["when_was_it"], title=facts.title, where=where),
        "cues": cues,
        "recognition": {"prompt": templates["recognition_month"], "options": options, "answer_index": answer_index},
        "answer": month,
        "month": facts.local_time.month,
        "year": facts.local_time.year,
        "correct": render(templates["correct"], answer=month),
        "reveal": render(templates["reveal"], answer=month),
    }


VARIANTS = {"missing_word": _missing_word, "three_clues": _three_clues, "when_was_it": _when_was_it}


def build(templates: dict, rules: dict, candidates: list[EntryFacts], pool: list[EntryFacts], rng: random.Random):
    variants = list(rules.get("variants", VARIANTS))
    rng.shuffle(variants)
    for facts in candidates:
        for variant in variants:
            try:
                payload = VARIANTS[variant](templates, facts, pool, rng)
            except NotEnoughEntries:
                continue
            if payload:
                return BuiltPuzzle(entry_id=facts.id, entry_ids=[facts.id], payload=payload)
    raise NotEnoughEntries("no diary sentence to complete and no event with both people and a place")


def evaluate(payload: dict, level: int, answer: str, policy: ScoringPolicy = STANDARD) -> Score:
    if is_recognition(payload, level):
        recognition = payload["recognition"]
        return match_choice(answer, recognition["options"], recognition["answer_index"])
    if payload["variant"] == "missing_word":
        return match_term(answer, payload["answer"], context=payload["question"], policy=policy)
    if payload["variant"] == "when_was_it":
        return match_month(answer, payload["month"], payload["year"])
    given = " ".join(prompt_at(payload, shown) for shown in range(level + 1))
    return match_free_text(
        answer,
        payload["expected"],
        keywords=payload["keywords"],
        already_given=given,
        place=payload.get("place", ""),
        others=other_events(payload),
        policy=policy,
    )
