"""Sticky participant → replica routing."""

from collections import Counter

import pytest

from inference.routing import llm_base_url_for, replica_for

REPLICAS = [f"http://llm-{n}:8000/v1" for n in range(4)]
PARTICIPANTS = [f"P-{n:08d}" for n in range(4000)]


def test_same_participant_same_replica_and_balanced():
    first = {p: replica_for(p, REPLICAS) for p in PARTICIPANTS}
    assert first == {p: replica_for(p, list(reversed(REPLICAS))) for p in PARTICIPANTS}  # order does not matter
    counts = Counter(first.values())
    assert set(counts) == set(REPLICAS) and max(counts.values()) < 1.15 * len(PARTICIPANTS) / len(REPLICAS)


def test_adding_a_replica_moves_only_its_share():
    before = {p: replica_for(p, REPLICAS) for p in PARTICIPANTS}
    after = {p: replica_for(p, [*REPLICAS, "http://llm-4:8000/v1"]) for p in PARTICIPANTS}
    moved = [p for p in PARTICIPANTS if before[p] != after[p]]
    assert all(after[p] == "http://llm-4:8000/v1" for p in moved)
    assert 0.15 < len(moved) / len(PARTICIPANTS) < 0.25  # about 1/5


def test_removing_a_replica_moves_only_its_participants():
    before = {p: replica_for(p, REPLICAS) for p in PARTICIPANTS}
    after = {p: replica_for(p, REPLICAS[1:]) for p in PARTICIPANTS}
    assert all(before[p] == after[p] for p in PARTICIPANTS if before[p] != REPLICAS[0])


def test_setting_with_one_or_several_urls():
    assert llm_base_url_for("P-1", "http://only:8080/v1") == "http://only:8080/v1"
    assert llm_base_url_for("P-1", " , ".join(REPLICAS)) in REPLICAS
    with pytest.raises(ValueError):
        llm_base_url_for("P-1", " , ")
