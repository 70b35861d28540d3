"""Management commands: import_lifelog and load_demo."""

import pytest
from django.core.management import CommandError, call_command

from accounts.models import User
from lifelog.models import LifeLogEntry
from research.demo import DEMO_LOGINS, DEMO_PASSWORD
from studies.models import Participant


def test_import_lifelog_command(world, tmp_path, capsys):
    path = tmp_path / "diary.txt"
    path.write_text("2025-05-03 Went to the market.\n\n2025-05-04 Rain all day.\n")
    call_command("import_lifelog", world.participant_a.public_code, str(path))
    assert "imported 2 entries (0 already present)" in capsys.readouterr().out
    call_command("import_lifelog", world.participant_a.public_code, str(path))
    assert "imported 0 entries (2 already present)" in capsys.readouterr().out


def test_import_lifelog_command_reports_located_errors(world, tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("date,title\n2025-05-03,Good\n2025-05-32,Bad\n")
    with pytest.raises(CommandError, match=r"log.csv, line 3, field 'date': '2025-05-32' does not exist"):
        call_command("import_lifelog", world.participant_a.public_code, str(path))
    assert LifeLogEntry.objects.count() == 0
    with pytest.raises(CommandError, match="no participant with public code P-NOPE"):
        call_command("import_lifelog", "P-NOPE", str(path))


def test_load_demo_is_idempotent(db):
    call_command("load_demo")
    call_command("load_demo")
    participant = Participant.objects.get(user__username=DEMO_LOGINS["trainee"])
    assert participant.entries.count() == 320
    researcher = User.objects.get(username=DEMO_LOGINS["researcher"])
    assert researcher.is_researcher and researcher.check_password(DEMO_PASSWORD)
    assert participant.study.researchers.filter(pk=researcher.pk).exists()
    # `make run` is ready to enrol: the demo study has an arm with a protocol, the demo trainee is on it.
    (arm,) = participant.study.arms.all()
    assert participant.arm == arm and arm.current_protocol.version == 1 == participant.protocol_version.version
    span = participant.entries.order_by("occurred_at")
    assert (span.last().occurred_at - span.first().occurred_at).days > 300


def test_the_demo_protocol_pins_the_llm_authored_puzzles_beside_the_templates_and_names_the_model(db, settings):
    call_command("load_demo")
    participant = Participant.objects.get(user__username=DEMO_LOGINS["trainee"])
    protocol = participant.protocol_version
    keys = [pin["key"] for pin in protocol.puzzle_groups]
    assert keys[0] == "llm-authored" and {"life-recall", "language", "temporal-order", "detail-probe"} <= set(keys)
    assert protocol.model_name == settings.LLM_MODEL  # so the demo's sessions may show the LLM's verified text


def test_a_demo_loaded_before_the_pin_gets_it_as_its_next_protocol_version(db):
    from studies.services import protocol_version_create

    call_command("load_demo")
    participant = Participant.objects.get(user__username=DEMO_LOGINS["trainee"])
    old = protocol_version_create(arm=participant.arm, puzzle_groups=[{"key": "life-recall", "version": 1}])
    Participant.objects.filter(pk=participant.pk).update(protocol_version=old)
    call_command("load_demo")
    participant.refresh_from_db()
    assert participant.protocol_version.version == old.version + 1 == participant.arm.current_protocol.version
    assert participant.protocol_version.puzzle_groups[0] == {"key": "llm-authored", "version": 2}
    call_command("load_demo")  # and no further version after that
    assert participant.arm.current_protocol.version == old.version + 1
