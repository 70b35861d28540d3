"""SCBench's synthetic string-retrieval tasks, generated locally over one shared context each:
key-value lookup in a JSON object (Retr.KV), prefix-suffix string matching (Retr.Prefix-Suffix) and
multi-hop variable tracing (Retr.MultiHop). Each context comes with several questions about different
parts of it, asked as the turns of one conversation or as independent requests.

Needle tasks, whose difficulty is set by length alone: `passkey` (one pass key in filler text, RULER's
and LongLLaMA's test) and `needles` (several named numbers in one filler context, one question each:
RULER's multi-key needle, asked SCBench's way, as turns or as requests over the shared context). Their
size is given in tokens through `tokens_of`, which is called a few times only (tokenizing 128K tokens
per step would dominate the benchmark)."""

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


FILLER = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. "
NAMES = ["Alice", "Bruno", "Chiara", "Dmitri", "Esther", "Farid", "Greta", "Hiroshi", "Ines", "Jonas", "Kavya",
         "Lorenzo", "Mei", "Nadia", "Oskar", "Priya", "Quentin", "Rosa", "Sven", "Tamar"]  # fmt: skip


def haystack(rng: random.Random, tokens: int, needles: list[str], tokens_of: Callable[[str], int]) -> str:
    """Filler of about `tokens` tokens with each needle sentence at its own random depth."""
    per_filler = tokens_of(FILLER * 64) / 64
    count = max(1, int((tokens - sum(tokens_of(needle) for needle in needles)) / per_filler))
    sentences = [FILLER] * count
    for needle in needles:
        sentences.insert(rng.randrange(len(sentences) + 1), needle)
    return "".join(sentences)


def passkey(rng: random.Random, tokens: int, tokens_of: Callable[[str], int]) -> Context:
    key = str(rng.randrange(10_000, 100_000))
    needle = f"The pass key is {key}. Remember it. {key} is the pass key. "
    text = "There is a pass key hidden in the following text. Find it and memorize it.\n\n"
    text += haystack(rng, tokens, [needle], tokens_of)
    return Context("passkey", text, [Question("What is the pass key? Reply with the number only.", key)])


def needles(rng: random.Random, tokens: int, tokens_of: Callable[[str], int], turns: int) -> Context:
    names = rng.sample(NAMES, turns)
    numbers = [str(rng.randrange(10_000, 100_000)) for _ in names]
    sentences = [
        f"The special magic number for {name} is {number}. " for name, number in zip(names, numbers, strict=True)
    ]
    text = "Some special magic numbers are hidden in the following text. Memorize them.\n\n"
    text += haystack(rng, tokens, sentences, tokens_of)
    ask = "What is the special magic number for {}? Reply with the number only."
    order = rng.sample(range(turns), turns)  # asked in another order than they appear
    return Context("needles", text, [Question(ask.format(names[i]), numbers[i]) for i in order])
