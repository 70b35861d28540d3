"""The labelled answers the scorer is tuned and measured on, and the puzzles they answer.

tests/data/scoring_puzzles.json holds real puzzles: built by the shipped puzzle groups from life logs of
lifelog.sample_data (`python -m chat.scoring_cases` rebuilds it; the same seeds give the same file). Each
keeps the entries it was built from. tests/data/scoring_cases.json holds answers to them, at a cue level,
marked by hand, each with its error class, by the engineer who wrote the rules; tests/data/
scoring_cases_independent.json holds other answers to the same puzzles, written and marked by an independent
marker who never saw the scorer. Round 2 split those two by puzzle (see `assign_splits`); since round 3 every
part of them is tuning data.

The fresh set (tests/data/scoring_{puzzles,cases}_fresh.json, seeds FRESH_SEEDS, a second independent marker)
was all held out in round 3 and measured twice then; **since round 4 it is tuning data too**: its puzzles,
cases and misses are read to correct the rules (`python -m chat.tune_scoring` lists its misses).

The third set (tests/data/scoring_{puzzles,cases}_third.json, seeds THIRD_SEEDS, `python -m chat.scoring_cases
--third` builds its puzzles) is answered and marked by a third independent marker who never saw the scorer or
the other sets. It is all held out: tuning never reads a case of it, only aggregate figures over it are ever
printed (chat.tune_scoring), and round 4 measured it exactly twice (the round-3 scorer, then round 4's rules).
"""

import hashlib
import json
import os
import random
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reme.settings.local")
django.setup()  # the puzzle groups import chat.models; a command-line run has no Django set up yet

from chat.puzzle_defaults import SHIPPED_GROUPS  # noqa: E402
from chat.puzzles import detail_probe, language, life_recall, number_recall, temporal_order  # noqa: E402
from chat.puzzles.base import EntryFacts, NotEnoughEntries  # noqa: E402
from lifelog.sample_data import generate_entries  # noqa: E402

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
PUZZLES_FILE = DATA / "scoring_puzzles.json"
CASES_FILE = DATA / "scoring_cases.json"
# Answers to the same puzzles written and marked by an independent marker who never saw the scorer, its lists
# or the set above; they take their puzzle's split too, and their held-out part is the headline measurement.
INDEPENDENT_FILE = DATA / "scoring_cases_independent.json"
# The fresh set: puzzles from FRESH_SEEDS and a second independent marker's answers, all held out.
FRESH_PUZZLES_FILE = DATA / "scoring_puzzles_fresh.json"
FRESH_CASES_FILE = DATA / "scoring_cases_fresh.json"
# The third set: puzzles from THIRD_SEEDS and a third independent marker's answers, all held out (round 4).
THIRD_PUZZLES_FILE = DATA / "scoring_puzzles_third.json"
THIRD_CASES_FILE = DATA / "scoring_cases_third.json"
HELDOUT_SHARE = 0.4

MODULES: dict[str, ModuleType] = {
    "life_recall": life_recall,
    "language": language,
    "temporal_order": temporal_order,
    "detail_probe": detail_probe,
    "number_recall": number_recall,
}
# (kind, rules override, how many) built from each seed's life log.
PLAN = [
    ("life_recall", {}, 3),
    ("language", {"variants": ["missing_word"]}, 4),
    ("language", {"variants": ["three_clues"]}, 2),
    ("language", {"variants": ["when_was_it"]}, 2),
    ("temporal_order", {}, 2),
    ("detail_probe", {}, 3),
    ("number_recall", {}, 3),
]
SEEDS = [101, 202, 303]
# A third set, built after the rules of round 2 were fixed: new life logs (seeds none of the sets above used),
# answered and marked by a second independent marker; every one of its puzzles is held out.
FRESH_SEEDS = [404, 505, 606]
# A fourth batch of life logs for round 4's held-out set, answered by a third independent marker.
THIRD_SEEDS = [707, 808, 909]
# Missing words of the closed classes the synonym table covers are rare among a diary's blanks (names come
# first), so each seed also gets a few missing-word puzzles whose blank is one: built by the same code, with
# the generator's seed tried until one comes up.
CLOSED_CLASS_WORDS = {
    "navy", "red", "green", "yellow", "cream", "grey", "maroon", "turquoise", "spring", "summer", "autumn",
    "mother's", "daughter", "grandson", "granddaughter", "son", "bicycle", "train", "guitar",
}  # fmt: skip
CLOSED_PER_SEED = 3


def assign_splits(puzzles: list[dict]) -> None:
    """A fixed split by puzzle, stratified by kind and variant: within each, puzzles are ordered by a SHA-256
    of their id and the first 40% (rounded) are held out. No answer text or label enters it."""
    strata: dict[str, list[dict]] = {}
    for puzzle in puzzles:
        closed = "-closed" if "-closed-" in puzzle["id"] else ""
        strata.setdefault(f"{puzzle['kind']}-{puzzle['payload'].get('variant', '')}{closed}", []).append(puzzle)
    for members in strata.values():
        members.sort(key=lambda puzzle: hashlib.sha256(puzzle["id"].encode()).hexdigest())
        held = round(len(members) * HELDOUT_SHARE)
        for position, puzzle in enumerate(members):
            puzzle["split"] = "heldout" if position < held else "tune"


def _facts(index: int, entry: dict) -> EntryFacts:
    when = entry["when"]
    precision = "exact" if "T" in when else "day" if len(when) == 10 else "month"
    moment = datetime.fromisoformat(when if precision != "month" else when + "-01").replace(tzinfo=UTC)
    return EntryFacts(
        index,
        entry["title"],
        entry["description"],
        entry["place"]["name"],
        tuple(entry["people"]),
        tuple(entry["tags"]),
        moment,
        precision,
    )


def facts_to_json(facts: EntryFacts) -> dict:
    return {
        "id": facts.id,
        "title": facts.title,
        "description": facts.description,
        "place": facts.place,
        "people": list(facts.people),
        "tags": list(facts.tags),
        "local_time": facts.local_time.isoformat(),
        "precision": facts.precision,
    }


def facts_from_json(data: dict) -> EntryFacts:
    return EntryFacts(
        data["id"],
        data["title"],
        data["description"],
        data["place"],
        tuple(data["people"]),
        tuple(data["tags"]),
        datetime.fromisoformat(data["local_time"]),
        data["precision"],
    )


def build_puzzles(seeds: list[int] = SEEDS) -> list[dict]:
    groups = {group["kind"]: group for group in SHIPPED_GROUPS}
    puzzles = []
    for seed in seeds:
        pool = [_facts(index, entry) for index, entry in enumerate(generate_entries(60, seed, version=1), start=1)]
        by_id = {facts.id: facts for facts in pool}
        used: set[int] = set()
        for kind, overrides, count in PLAN:
            group = groups[kind]
            rules = {**group["rules"], **overrides}
            rng = random.Random(f"{seed}-{kind}-{overrides}")
            made = 0
            while made < count:
                candidates = [facts for facts in pool if facts.id not in used]
                rng.shuffle(candidates)
                try:
                    built = MODULES[kind].build(group["templates"], rules, candidates, pool, rng)
                except NotEnoughEntries:
                    break
                used.update(built.entry_ids)
                made += 1
                extra = {"relations": detail_probe.relations(pool)} if kind == "detail_probe" else {}
                variant = built.payload.get("variant", "")
                puzzle_id = f"s{seed}-{kind}{'-' + variant if variant else ''}-{made}"
                puzzles.append(
                    {
                        "id": puzzle_id,
                        "kind": kind,
                        "entries": [facts_to_json(by_id[entry_id]) for entry_id in built.entry_ids],
                        "payload": built.payload,
                        **extra,
                    }
                )
        puzzles.extend(_closed_class_blanks(seed, pool, by_id, groups["language"], used))
    assign_splits(puzzles)
    return puzzles


def _closed_class_blanks(seed: int, pool: list[EntryFacts], by_id: dict, group: dict, used: set[int]) -> list[dict]:
    made: list[dict] = []
    rules = {**group["rules"], "variants": ["missing_word"]}
    for attempt in range(2000):
        if len(made) == CLOSED_PER_SEED:
            break
        rng = random.Random(f"{seed}-closed-{attempt}")
        candidates = [facts for facts in pool if facts.id not in used]
        rng.shuffle(candidates)
        try:
            built = language.build(group["templates"], rules, candidates[:1], pool, rng)
        except NotEnoughEntries:
            continue
        if built.payload["answer"] not in CLOSED_CLASS_WORDS:
            continue
        used.update(built.entry_ids)
        made.append(
            {
                "id": f"s{seed}-language-missing_word-closed-{len(made) + 1}",
                "kind": "language",
                "entries": [facts_to_json(by_id[entry_id]) for entry_id in built.entry_ids],
                "payload": built.payload,
            }
        )
    return made


def load_puzzles(path: Path = PUZZLES_FILE) -> dict[str, dict]:
    return {puzzle["id"]: puzzle for puzzle in json.loads(path.read_text())["puzzles"]}


def load_cases(path: Path = CASES_FILE) -> list[dict]:
    return json.loads(path.read_text())["cases"]


def load_independent(path: Path = INDEPENDENT_FILE) -> list[dict]:
    return json.loads(path.read_text())["cases"]


def load_fresh_puzzles(path: Path = FRESH_PUZZLES_FILE) -> dict[str, dict]:
    return load_puzzles(path)


def load_fresh(path: Path = FRESH_CASES_FILE) -> list[dict]:
    """The second independent marker's answers to the fresh puzzles: held out in round 3, tuning data since
    round 4 (their cases and misses may be read)."""
    return json.loads(path.read_text())["cases"]


def load_third_puzzles(path: Path = THIRD_PUZZLES_FILE) -> dict[str, dict]:
    """The third set's puzzles ({} before the file exists)."""
    return load_puzzles(path) if path.exists() else {}


def load_third(path: Path = THIRD_CASES_FILE) -> list[dict]:
    """The third independent marker's answers: all held out. Only aggregate figures over them may be printed
    (chat.tune_scoring), never a case or a miss, or they would turn into tuning data. [] before the file exists."""
    return json.loads(path.read_text())["cases"] if path.exists() else []


def load_legacy(path: Path = CASES_FILE) -> list[dict]:
    """The earlier hand-labelled set (a rule named per case, no puzzle); it is tuning data only."""
    return json.loads(path.read_text())["legacy"]


def main() -> None:
    which = "third" if "--third" in sys.argv else "fresh" if "--fresh" in sys.argv else ""
    path = {"third": THIRD_PUZZLES_FILE, "fresh": FRESH_PUZZLES_FILE}.get(which, PUZZLES_FILE)
    if path.exists() and "--force" not in sys.argv:
        sys.exit(f"{path} exists and its puzzles are labelled: rebuild with --force, then re-check every case")
    puzzles = build_puzzles({"third": THIRD_SEEDS, "fresh": FRESH_SEEDS}.get(which, SEEDS))
    if which:
        for puzzle in puzzles:
            puzzle["split"] = "heldout"
    about = "Puzzles built by the shipped groups from lifelog.sample_data life logs; see chat/scoring_cases.py."
    path.write_text(json.dumps({"about": about, "puzzles": puzzles}, ensure_ascii=False, indent=1) + "\n")
    splits = [puzzle["split"] for puzzle in puzzles]
    print(f"{len(puzzles)} puzzles, {splits.count('heldout')} held out -> {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
