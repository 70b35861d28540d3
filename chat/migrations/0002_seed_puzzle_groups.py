from django.db import migrations

from chat.puzzle_defaults import DEFAULT_GROUPS


def seed(apps, schema_editor):
    PuzzleGroup = apps.get_model("chat", "PuzzleGroup")
    for group in DEFAULT_GROUPS:
        PuzzleGroup.objects.get_or_create(key=group["key"], version=1, defaults={**group, "version": 1})


class Migration(migrations.Migration):
    dependencies = [("chat", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
