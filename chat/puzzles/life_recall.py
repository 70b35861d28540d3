"""Life recall with progressive cues: free recall of a dated event, then who / where / what, then recognition."""

import random

from chat.scoring import Score, content_words, match_choice, match_free_text
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
    same_day_entries,
    telling_tag,
    when_phrase,
    with_choices,
)


def build(templates: dict, rules: dict, candidates: list[EntryFacts], pool: list[EntryFacts], rng: random.Random):
    for facts in candidates:
        if rules.get("alone_on_day", True) and same_day_entries(facts, pool):
            continue  # "what did you do that day?" must have one right answer
        others = [other.title for other in pool if other.id != facts.id]
        try:
            distractors = pick_distinct(rng, others, rules.get("distractors", 3), avoid={facts.title})
        except NotEnoughEntries:
            break
        when = when_phrase(facts)
        cues = []
        if facts.people:
            cues.append(render(templates["cue_who"], people=join_names(facts.people)))
        if facts.place:
            cues.append(render(templates["cue_where"], place=place_phrase(facts.place)))
        if tag := telling_tag(facts):
            cues.append(render(templates["cue_what"], tag=tag))
        options, answer_index = with_choices(rng, facts.title, distractors)
        payload = {
            "question": render(templates["question"], when=when),
            "cues": cues,
            "recognition": {
                "prompt": render(templates["recognition"], when=when),
                "options": options,
                "answer_index": answer_index,
            },
            "answer": facts.title,
            "expected": f"{facts.title}. {facts.description}".strip(),
            "place": facts.place,  # where the entry was, for contradictions its text may not name
            "keywords": content_words(facts.title),
            "correct": render(templates["correct"], answer=facts.title),
            "reveal": render(templates["reveal"], answer=facts.title),
        }
        return BuiltPuzzle(entry_id=facts.id, entry_ids=[facts.id], payload=payload)
    raise NotEnoughEntries("no dated event that is alone on its day, with three other events to choose from")


def evaluate(payload: dict, level: int, answer: str, policy: ScoringPolicy = STANDARD) -> Score:
    if is_recognition(payload, level):
        recognition = payload["recognition"]
        return match_choice(answer, recognition["options"], recognition["answer_index"])
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
