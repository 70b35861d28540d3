"""SCBench's synthetic string-retrieval tasks, generated locally over one shared context each:
key-value lookup in a JSON object (Retr.KV), prefix-suffix string matching (Retr.Prefix-Suffix) and
multi-hop variable tracing (Retr.MultiHop). Each context comes with several questions about different
parts of it, asked as the turns of one conversation or as independent requests."""

import itertools
import json
import random
import string
import uuid
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Question:
    text: str
    answer: str  # right when the reply contains it


@dataclass
class Context:
    task: str
    text: str
    questions: list[Question]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128)))


def kv_lookup(rng: random.Random, fits: Callable[[str], bool], turns: int) -> Context:
    pairs: dict[str, str] = {}
    while fits(json.dumps(pairs)):
        for _ in range(8):
            pairs[_uuid(rng)] = _uuid(rng)
    keys = rng.sample(list(pairs), turns)
    text = "Here is a JSON object of keys and values.\n\n" + json.dumps(pairs, indent=0)
    questions = [Question(f'What is the value of the key "{key}" in the JSON object? Reply with the value only.',
                          pairs[key]) for key in keys]  # fmt: skip
    return Context("kv", text, questions)


def prefix_suffix(rng: random.Random, fits: Callable[[str], bool], turns: int) -> Context:
    alphabet = string.ascii_lowercase + string.digits
    strings: list[str] = []
    while fits("\n".join(strings)):
        strings += ["".join(rng.choices(alphabet, k=16)) for _ in range(16)]
    chosen = rng.sample(strings, turns)
    text = "Here is a list of strings, one per line.\n\n" + "\n".join(strings)
    ask = 'Which string in the list starts with "{}" and ends with "{}"? Reply with the string only.'
    questions = [Question(ask.format(s[:4], s[-4:]), s) for s in chosen]
    return Context("prefix_suffix", text, questions)


def variable_tracing(rng: random.Random, fits: Callable[[str], bool], turns: int, hops: int = 2) -> Context:
    """Chains VAR A = 12345, VAR B = VAR A, … (four chains at a time, their lines randomly interleaved in
    order); each question asks for the value of a chain's last variable."""
    names = iter(rng.sample(["".join(letters) for letters in _letter_names()], 20_000))
    chains: list[tuple[list[str], str, str]] = []  # (lines, last variable, value)
    lines: list[str] = []
    while fits("\n".join(lines)):
        group = []
        for _ in range(4):
            value, chain = str(rng.randrange(10_000, 100_000)), [next(names) for _ in range(hops + 1)]
            steps = [f"VAR {chain[0]} = {value}", *(f"VAR {b} = VAR {a}" for a, b in itertools.pairwise(chain))]
            group.append(steps)
            chains.append((steps, chain[-1], value))
        lines += _interleave(rng, group)
    chosen = rng.sample(chains, turns)
    text = "Here are variable assignments, one per line. A variable assigned another variable has its value.\n\n"
    text += "\n".join(lines)
    questions = [
        Question(f"What is the value of VAR {var}? Follow the assignments. Reply with the number only.", value)
        for _, var, value in chosen
    ]
    return Context("variable_tracing", text, questions)


def _letter_names():
    letters = string.ascii_uppercase
    return ((a, b, c, d) for a in letters for b in letters for c in letters for d in letters[:2])


def _interleave(rng: random.Random, sequences: list[list[str]]) -> list[str]:
    """A random merge that keeps each sequence's own order."""
    queues = [list(sequence) for sequence in sequences]
    merged = []
    while queues:
        queue = rng.choice(queues)
        merged.append(queue.pop(0))
        if not queue:
            queues.remove(queue)
    return merged


TASKS = {"kv": kv_lookup, "prefix_suffix": prefix_suffix, "variable_tracing": variable_tracing}
