"""How well verifier-8's two parser-based checks separate good text from bad: `python -m bench.verifier_checks`.

On hand-labelled text (bench/data/verifier_checks.json, which says where each set comes from): the grammar check
(chat.grammar) on garbled and well-formed authored text, the tuning set (what the rules were shaped on) and a
test set written before the rules; and the key-word definition check (chat.definitions) on the audit files'
hints (the tuning set: the rules were shaped on them), the prompt's examples and right definitions written by
hand before the check ran on them, and every hint of a fresh benchmark run (both held out). A tuning set's
number is optimistic. Last line: `verifier-checks grammar_test_caught=<n/N> grammar_test_good_kept=<n/N>
hints_bad_rejected=<n/N> hints_good_kept=<n/N> hints_written_kept=<n/N> hints_fresh_rejected=<n/N>`.
"""

import json
import os
import time
from pathlib import Path

from chat.definitions import not_a_definition
from chat.grammar import ungrammatical

DATA = Path(__file__).resolve().parent / "data" / "verifier_checks.json"


def _share(hits: int, total: int) -> str:
    return f"{hits}/{total}"


def main() -> None:
    data = json.loads(DATA.read_text())
    load = os.getloadavg()[0]
    started = time.perf_counter()
    rows, summary = [], {}
    for name in ("grammar_tune", "grammar_test"):
        garbled, good = data[name]["garbled"], data[name]["good"]
        caught = sum(bool(ungrammatical(text)) for text in garbled)
        kept = sum(not ungrammatical(text) for text in good)
        rows.append((name, f"garbled caught {_share(caught, len(garbled))}", f"good kept {_share(kept, len(good))}"))
        summary[name] = (_share(caught, len(garbled)), _share(kept, len(good)))
    for name in ("hints_audit", "hints_guide", "hints_written", "hints_fresh"):
        cases = data[name]
        verdicts = [(case["label"], bool(not_a_definition(case["hint"], word=case["word"], diary=case["diary"])))
                    for case in cases]  # fmt: skip
        bad = [rejected for label, rejected in verdicts if label == "bad"]
        good = [not rejected for label, rejected in verdicts if label == "good"]
        rows.append((name, f"bad rejected {_share(sum(bad), len(bad))}", f"good kept {_share(sum(good), len(good))}"))
        summary[name] = (_share(sum(bad), len(bad)), _share(sum(good), len(good)))
    seconds = time.perf_counter() - started
    print("| set | bad | good |\n|---|---|---|")
    for name, bad, good in rows:
        print(f"| {name} | {bad} | {good} |")
    print(f"\n{seconds:.1f} s in all (spaCy's load included), load average {load:.1f}")
    print(f"verifier-checks grammar_test_caught={summary['grammar_test'][0]} "
          f"grammar_test_good_kept={summary['grammar_test'][1]} hints_bad_rejected={summary['hints_audit'][0]} "
          f"hints_good_kept={summary['hints_audit'][1]} hints_written_kept={summary['hints_written'][1]} "
          f"hints_fresh_rejected={summary['hints_fresh'][0]}")  # fmt: skip


if __name__ == "__main__":
    main()
