from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0010_reworded_lines"),
    ]

    operations = [
        migrations.AddField(
            model_name="llmcontext",
            name="read_tokens",
            field=models.PositiveIntegerField(
                blank=True, help_text="While being prepared: prompt tokens the server has read so far.", null=True
            ),
        ),
        migrations.AddField(
            model_name="llmcontext",
            name="recent_sha256",
            field=models.CharField(blank=True, help_text="The short context the server holds.", max_length=64),
        ),
        migrations.AddField(
            model_name="llmcontext",
            name="recent_tokens",
            field=models.PositiveIntegerField(blank=True, help_text="Its size, as the server counted.", null=True),
        ),
        migrations.AddField(
            model_name="llmcontext",
            name="recent_entries",
            field=models.PositiveIntegerField(blank=True, help_text="How many entries it holds.", null=True),
        ),
    ]
