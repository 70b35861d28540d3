"""Version 1 of the shipped puzzle groups, stored by a data migration.

Once released, a version never changes: a new wording or rule is a version-2 row added by a new migration,
so the puzzles and trial records of running studies keep pointing at what was really shown.
"""

DEFAULT_GROUPS = [
    {
        "key": "life-recall",
        "kind": "life_recall",
        "title": "Life recall with progressive cues",
        "rules": {
            "min_age_days": 7,
            "min_precision": "day",
            "alone_on_day": True,
            "min_gap_days": 14,
            "distractors": 3,
        },
        "templates": {
            "question": "Let's think back to {when}. What did you do then?",
            "cue_who": "Here is a clue: you were with {people}.",
            "cue_where": "Another clue: it was at {place}.",
            "cue_what": "One more clue: it had to do with {tag}.",
            "recognition": "Which of these happened on {when}? You can answer with the letter.",
            "correct": "Yes, well remembered: {answer}.",
            "reveal": "That's all right. It was: {answer}.",
        },
    },
    {
        "key": "language",
        "kind": "language",
        "title": "Language puzzles from your own words",
        "rules": {
            "min_age_days": 3,
            "min_gap_days": 14,
            "variants": ["missing_word", "three_clues", "when_was_it"],
        },
        "templates": {
            "missing_word": 'Here is a line from your diary for {when}:\n"{sentence}"\nWhich word is missing?',
            "three_clues": "Here are three clues about something you did.\n1. You were with {people}.\n"
            "2. It was at {place}.\n3. It was in {month}.\nWhat was it?",
            "cue_first_letter": 'A clue: the word begins with "{letter}".',
            "cue_length": "Another clue: it has {count} letters.",
            "cue_tag": "A clue: it had to do with {tag}.",
            "cue_first_letter_event": 'Another clue: its first word begins with "{letter}".',
            "when_was_it": "When did this happen: “{title}”{where}? The month is enough.",
            "cue_year": "A clue: it was in {year}.",
            "cue_month_letter": 'Another clue: the month begins with "{letter}".',
            "recognition_month": "Which month was it? You can answer with the letter.",
            "recognition_word": "Which of these words is missing? You can answer with the letter.",
            "recognition_event": "Which of these was it? You can answer with the letter.",
            "correct": "That's right: {answer}.",
            "reveal": "That's all right. The answer was: {answer}.",
        },
    },
    {
        "key": "temporal-order",
        "kind": "temporal_order",
        "title": "Put your events in order",
        "rules": {"min_age_days": 7, "min_gap_days": 7, "items": 3, "min_days_apart": 7},
        "templates": {
            "question": "Can you put these {count} events in the order they happened, earliest first? "
            "For example: B, A, C.",
            "cue_first": "A clue: {letter}) {title} came first.",
            "cue_last": "Another clue: {letter}) {title} came last.",
            "correct": "Well done, that's the right order: {answer}.",
            "reveal": "That's all right. The order was: {answer}.",
        },
    },
    {
        "key": "detail-probe",
        "kind": "detail_probe",
        "title": "What else happened that day?",
        "rules": {"min_age_days": 3, "min_gap_days": 14, "min_details": 2},
        "templates": {
            "question": "On {day} your diary says: {title}. What else can you remember about that day? "
            "Who was there, where were you, what else happened?",
            "cue_person": 'A clue: someone was there whose name begins with "{initial}".',
            "cue_place": "Another clue: think about {place}.",
            "correct": "Lovely, you remembered some of it. The day had: {answer}.",
            "reveal": "That's all right. The day had: {answer}.",
        },
    },
]

# Version 1 of the number puzzles, stored by migration 0005 (a frozen copy there); 0002 stored the four above.
NUMBER_GROUP = {
    "key": "numbers",
    "kind": "number_recall",
    "title": "Numbers from your diary",
    "rules": {"min_age_days": 3, "min_gap_days": 14},
    "templates": {
        "question": 'Here is a line from your diary for {when}:\n"{sentence}"\n{ask}',
        "ask_price": "How much was it? Pounds and pence, or roughly, is fine.",
        "ask_distance": "How far was it?",
        "ask_weight": "What was the weight?",
        "ask_amount": "How much was it?",
        "ask_time": "How long was it?",
        "ask_age": "How old?",
        "cue_range": "A clue: it was between {low} and {high}.",
        "cue_below": "A clue: it was less than {high}.",
        "recognition": "Which of these was it? You can answer with the letter.",
        "correct": "That's right: {answer}.",
        "reveal": "That's all right. It was {answer}.",
    },
}

SHIPPED_GROUPS = [*DEFAULT_GROUPS, NUMBER_GROUP]

# Version 1 of the LLM-authored group, stored by migration 0006. Its puzzles come from the participant's store
# (`AuthoredPuzzle`), written ahead of time and verified; the templates here are only the bot's fixed lines.
AUTHORED_GROUP = {
    "key": "llm-authored",
    "kind": "llm_authored",
    "title": "Puzzles written for you ahead of time",
    "rules": {
        "min_gap_days": 14,
        "default_rotation": False,  # offered when a protocol pins it (or a session names it)
        "kinds": ["shared_person", "which_first", "season_repeat", "key_word"],
    },
    "templates": {"recognition": "Which of these was it? You can answer with the letter."},
}

# Version 2 (migration 0012) adds the kinds written since; a protocol that pins version 1 keeps showing only
# version 1's kinds (a session takes a stored puzzle only of its group version's `kinds`).
AUTHORED_GROUP_V2 = {
    **AUTHORED_GROUP,
    "version": 2,
    "rules": {
        **AUTHORED_GROUP["rules"],
        "kinds": [*AUTHORED_GROUP["rules"]["kinds"], "common_ground", "guess_event", "describe_without_naming"],
    },
}

SHIPPED_GROUPS = [*SHIPPED_GROUPS, AUTHORED_GROUP, AUTHORED_GROUP_V2]
