"""A database made before the `studies` app (models in `research`) migrates in place: the same rows, the
same tables, now read through `studies`."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from accounts.models import User
from chat.models import TrainingSession
from lifelog.models import LifeLogEntry
from studies.models import Participant, Study

BEFORE_STUDIES = [
    ("studies", None),
    ("research", "0002_arms_protocols_consent_audit"),
    ("lifelog", "0001_initial"),
    ("chat", "0003_trainingsession_protocol_version"),
]


def migrate(targets) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor


@pytest.mark.django_db(transaction=True)
def test_a_database_from_before_the_studies_app_migrates_without_moving_data():
    old = migrate(BEFORE_STUDIES).loader.project_state(BEFORE_STUDIES[1:]).apps
    user = User.objects.create(username="old-trainee", role="trainee")  # accounts did not change
    study = old.get_model("research", "Study").objects.create(name="Old study", slug="old-study")
    participant = old.get_model("research", "Participant").objects.create(study=study, user_id=user.pk)
    old.get_model("research", "ParticipantIdentity").objects.create(participant=participant, full_name="Ada Old")
    old.get_model("lifelog", "LifeLogEntry").objects.create(
        participant=participant, occurred_at=timezone.now(), title="Tea with Ada", content_hash="x" * 64
    )
    old.get_model("chat", "TrainingSession").objects.create(participant=participant, seed=7)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM information_schema.tables WHERE table_name LIKE 'studies_%%'")
        assert cursor.fetchone()[0] == 0

    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    migrate(latest)

    moved = Participant.objects.select_related("study", "identity").get(pk=participant.pk)
    assert (moved.study.slug, moved.identity.full_name, moved.user.username) == ("old-study", "Ada Old", "old-trainee")
    assert Participant._meta.db_table == "research_participant" and Study._meta.db_table == "research_study"
    assert list(LifeLogEntry.objects.filter(participant=moved).values_list("title", flat=True)) == ["Tea with Ada"]
    assert TrainingSession.objects.get(participant=moved).seed == 7
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM information_schema.tables WHERE table_name LIKE 'studies_%%'")
        assert cursor.fetchone()[0] == 0  # no table was created or copied
