"""Version 2 of the LLM-authored group: the kinds written since version 1 (common_ground, guess_event,
describe_without_naming). Version 1 stays as it was: a protocol that pins it keeps showing its four kinds only."""

from django.db import migrations

# Frozen here: a released version never changes (chat/puzzle_defaults.py holds the same).
AUTHORED_GROUP_V2 = {
    "key": "llm-authored",
    "kind": "llm_authored",
    "title": "Puzzles written for you ahead of time",
    "rules": {
        "min_gap_days": 14,
        "default_rotation": False,  # offered when a protocol pins it (or a session names it)
        "kinds": [
            "shared_person",
            "which_first",
            "season_repeat",
            "key_word",
            "common_ground",
            "guess_event",
            "describe_without_naming",
        ],
    },
    "templates": {"recognition": "Which of these was it? You can answer with the letter."},
}


def seed(apps, schema_editor):
    PuzzleGroup = apps.get_model("chat", "PuzzleGroup")
    PuzzleGroup.objects.get_or_create(key=AUTHORED_GROUP_V2["key"], version=2,
                                      defaults={**AUTHORED_GROUP_V2, "version": 2})  # fmt: skip


def unseed(apps, schema_editor):
    apps.get_model("chat", "PuzzleGroup").objects.filter(
        key=AUTHORED_GROUP_V2["key"], version=2, puzzles=None, authored_puzzles=None
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0011_llm_context_recent_and_progress"),
    ]

    operations = [migrations.RunPython(seed, unseed)]
