"""Semantic search over one participant's entries, with filters, never across participants."""

import json
from datetime import UTC, datetime

import pytest

from lifelog.selectors import SearchFilters, entry_search
from lifelog.services import entry_set_excluded
from tests.test_import_service import run_import

ENTRIES_A = [
    {"when": "2025-03-02", "title": "Found an ammonite on the beach", "place": "Lyme Regis", "people": ["Tom"]},
    {"when": "2025-04-10", "title": "Choir practice at St Mary's church", "people": ["Joan"]},
    {"when": "2025-05-20", "title": "Planted runner beans in the garden", "people": ["Sarah"]},
    {"when": "2025-06-15", "title": "Fish and chips by the sea", "place": "Lyme Regis", "people": ["Sarah", "Tom"]},
    {"when": "2025-09-01", "title": "Blood pressure check at the surgery", "place": "Banbury Road surgery"},
]


@pytest.fixture
def logs(world):
    run_import(world.participant_a, json.dumps(ENTRIES_A).encode())
    # Participant B's log holds a near-copy of A's best match: it must never leak into A's results.
    run_import(
        world.participant_b,
        json.dumps([{"when": "2025-03-02", "title": "Found an ammonite fossil on the beach"}]).encode(),
    )
    return world


def titles(hits) -> list[str]:
    return [hit.title for hit in hits]


def test_meaning_not_words(logs):
    hits = entry_search(participant=logs.participant_a, query="fossil hunting at the seaside", k=2)
    assert titles(hits)[0] == "Found an ammonite on the beach"
    assert hits[0].distance < hits[1].distance


def test_results_are_ordered_and_capped(logs):
    hits = entry_search(participant=logs.participant_a, query="a day out", k=3)
    assert len(hits) == 3
    assert [h.distance for h in hits] == sorted(h.distance for h in hits)


def test_never_returns_another_participants_entries(logs):
    for participant in (logs.participant_a, logs.participant_b):
        hits = entry_search(participant=participant, query="ammonite fossil on the beach", k=100)
        assert {hit.participant_id for hit in hits} == {participant.pk}
    assert len(entry_search(participant=logs.participant_b, query="church", k=100)) == 1


def test_date_range_filter(logs):
    filters = SearchFilters(date_from=datetime(2025, 5, 1, tzinfo=UTC), date_to=datetime(2025, 7, 1, tzinfo=UTC))
    hits = entry_search(participant=logs.participant_a, query="anything", k=10, filters=filters)
    assert sorted(titles(hits)) == ["Fish and chips by the sea", "Planted runner beans in the garden"]


def test_person_filter_is_case_insensitive(logs):
    hits = entry_search(participant=logs.participant_a, query="anything", k=10, filters=SearchFilters(person="tom"))
    assert sorted(titles(hits)) == ["Fish and chips by the sea", "Found an ammonite on the beach"]


def test_place_filter_matches_part_of_the_name(logs):
    hits = entry_search(participant=logs.participant_a, query="x", k=10, filters=SearchFilters(place="surgery"))
    assert titles(hits) == ["Blood pressure check at the surgery"]
    wildcard = entry_search(participant=logs.participant_a, query="x", k=10, filters=SearchFilters(place="%"))
    assert wildcard == []  # % is a literal character, not a wildcard


def test_withdrawn_entries_are_left_out(logs):
    beach = logs.participant_a.entries.get(title="Found an ammonite on the beach")
    entry_set_excluded(entry=beach, excluded=True)
    hits = entry_search(participant=logs.participant_a, query="fossil at the seaside", k=10)
    assert beach.title not in titles(hits) and len(hits) == 4
    with_withdrawn = entry_search(
        participant=logs.participant_a, query="fossil", k=10, filters=SearchFilters(include_excluded=True)
    )
    assert beach.title in titles(with_withdrawn)
