"""How well the verifier's parser- and dictionary-based checks separate good text from bad:
`python -m bench.verifier_checks`.

On hand-labelled text (bench/data/verifier_checks.json, which says where each set comes from and which sets
shaped which rules): the grammar check (chat.grammar) on garbled and well-formed authored text, and its title-
fragment rule (`echoes`, verifier-10) alone; the key-word hint checks on right and wrong hints: verifier-8's
form rules (chat.definitions.not_a_definition), verifier-10's dictionary and voice rules
(chat.definitions.undefined, WordNet) with its split-answer rule (chat.verifier.split_answer), and both
together, as the verifier applies them. A tuning set's number is optimistic. Then every accepted sentence of
the audit files (bench/results/*audit*.md, with its evidence's titles) and the good corpus's authored
sentences (tests/data/verifier/good.json), which the grammar check should all pass but the few garbled ones
the files name: each one it flags is printed. Last line: `verifier-checks garble_heldout_caught=<n/N>
garble_heldout_good_kept=<n/N> hints_heldout_bad_rejected=<n/N> hints_heldout_good_kept=<n/N>
audit_flagged=<n/N>`.
"""

import json
import os
import re
import time
from pathlib import Path

from chat.definitions import not_a_definition, undefined
from chat.grammar import echoes, parse, ungrammatical
from chat.verifier import split_answer

ROOT = Path(__file__).resolve().parent
DATA = ROOT / "data" / "verifier_checks.json"
AUDIT_FILES = sorted((ROOT / "results").glob("*audit*.md"))
GOOD_CORPUS = ROOT.parent / "tests" / "data" / "verifier" / "good.json"
GRAMMAR_SETS = ("grammar_tune", "grammar_test", "garble_tune", "garble_heldout")
HINT_SETS = (
    "hints_audit",
    "hints_audit_more",
    "hints_guide",
    "hints_written",
    "hints_fresh",
    "hints_heldout",
    "hints_fresh43",
    "hints_fresh47",
    "hints_fresh53",
    "hints_fresh59",
    "hints_fresh61",
    "hints_fresh67",
    "hints_fresh71",
    "hints_fresh73",
)
EVIDENCE = re.compile(r"  - \[\d+\] \S+ \(\w+\) (.*?) \| (.*?) \|")


def _share(hits: int, total: int) -> str:
    return f"{hits}/{total}" if total else "–"


def _echoed(text: str, titles: list[str] = ()) -> bool:
    return any(echoes(sentence, titles) for sentence in parse(text).sents)


def grammar_rows() -> tuple[list[tuple[str, ...]], dict[str, tuple[str, str]]]:
    data, rows, summary = json.loads(DATA.read_text()), [], {}
    for name in GRAMMAR_SETS:
        garbled, good = data[name]["garbled"], data[name]["good"]
        caught = _share(sum(bool(ungrammatical(text)) for text in garbled), len(garbled))
        kept = _share(sum(not ungrammatical(text) for text in good), len(good))
        echo = _share(sum(_echoed(text) for text in garbled), len(garbled))
        echo_kept = _share(sum(not _echoed(text) for text in good), len(good))
        rows.append((name, caught, kept, echo, echo_kept))
        summary[name] = (caught, kept)
    return rows, summary


def hint_rows() -> tuple[list[tuple[str, ...]], dict[str, tuple[str, str]]]:
    data, rows, summary = json.loads(DATA.read_text()), [], {}
    for name in HINT_SETS:
        verdicts = {"bad": [], "good": []}
        for case in data[name]:
            form = bool(not_a_definition(case["hint"], word=case["word"], diary=case["diary"]))
            sense = bool(
                undefined(case["hint"], word=case["word"], diary=case["diary"], entry=case.get("entry", ""))
                or split_answer(case["hint"], answer=case["word"])
            )
            verdicts[case["label"]].append((form, sense, form or sense))
        cells = []
        for column in range(3):
            bad = [v[column] for v in verdicts["bad"]]
            good = [not v[column] for v in verdicts["good"]]
            cells += [_share(sum(bad), len(bad)), _share(sum(good), len(good))]
        rows.append((name, *cells))
        summary[name] = (cells[4], cells[5])
    return rows, summary


def sound_sentences() -> list[tuple[str, list[str], str]]:
    """(sentence, its evidence's titles and places, where from): every accepted question and cue of the audit
    files and every authored sentence of the good corpus, each once."""
    found = {}
    for path in AUDIT_FILES:
        for block in path.read_text().split("# Rejected")[0].split("\n## ")[1:]:
            lines = block.splitlines()
            titles = [part for line in lines if (match := EVIDENCE.match(line)) for part in match.groups()]
            for line in lines:
                if said := re.match(r"- (?:question|cue \d+): (.*)", line):
                    found.setdefault(said.group(1), (titles, path.name))
    for case in json.loads(GOOD_CORPUS.read_text()):
        if case["type"] == "authored":
            titles = [part for entry in case["entries"] for part in (entry["title"], entry["place"])]
            for text in [case["candidate"]["question"], *case["candidate"]["cues"]]:
                found.setdefault(text, (titles, "good.json"))
    return [(text, titles, source) for text, (titles, source) in found.items()]


def main() -> None:
    load = os.getloadavg()[0]
    started = time.perf_counter()
    grammar, grammar_summary = grammar_rows()
    hints, hint_summary = hint_rows()
    print(
        "| set | garbled caught | well-formed kept | title-fragment rule alone: caught | kept |\n|---|---|---|---|---|"
    )
    for row in grammar:
        print("| " + " | ".join(row) + " |")
    print(
        "\n| set | form rules: wrong rejected | right kept | dictionary and voice: wrong rejected | right kept "
        "| both: wrong rejected | right kept |\n|---|---|---|---|---|---|---|"
    )
    for row in hints:
        print("| " + " | ".join(row) + " |")
    sound = sound_sentences()
    flagged = [(text, source, problems) for text, titles, source in sound if (problems := ungrammatical(text, titles))]
    print(
        f"\nAccepted audit-file and good-corpus sentences: {len(sound)}, flagged by the grammar check: {len(flagged)}"
    )
    for text, source, problems in flagged:
        print(f"- {text} ({source}): {'; '.join(problems)}")
    seconds = time.perf_counter() - started
    print(f"\n{seconds:.1f} s in all (spaCy's and WordNet's load included), load average {load:.1f}")
    print(f"verifier-checks garble_heldout_caught={grammar_summary['garble_heldout'][0]} "
          f"garble_heldout_good_kept={grammar_summary['garble_heldout'][1]} "
          f"hints_heldout_bad_rejected={hint_summary['hints_heldout'][0]} "
          f"hints_heldout_good_kept={hint_summary['hints_heldout'][1]} "
          f"audit_flagged={len(flagged)}/{len(sound)}")  # fmt: skip


if __name__ == "__main__":
    main()
