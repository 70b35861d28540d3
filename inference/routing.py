"""Sticky routing of participants to LLM replicas, so each participant's prefix stays warm on one server.

Rendezvous (highest-random-weight) hashing: every participant goes to the replica with the highest
hash(participant, replica). Adding or removing a replica moves only the participants that must move
(about 1/n of them), unlike `hash % n`, which reshuffles nearly everyone and cools every cache.
"""

import hashlib


def _weight(key: str, replica: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{key}\0{replica}".encode()).digest()[:8], "big")


def replica_for(participant_key: str, replicas: list[str]) -> str:
    if not replicas:
        raise ValueError("no LLM replicas configured")
    return max(replicas, key=lambda replica: _weight(participant_key, replica))


def llm_base_url_for(participant_key: str, base_urls: str) -> str:
    """`LLM_BASE_URL` may list several replicas separated by commas; one stays one."""
    replicas = [url.strip() for url in base_urls.split(",") if url.strip()]
    return replica_for(participant_key, replicas)
