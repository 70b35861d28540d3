"""The optional LLM judge for free-text answers whose semantic score is too close to call.

Enabled with CHAT_LLM_JUDGE=1 when a capable model is behind LLM_BASE_URL. The consumer asks it before
the answer is stored (async, so a slow judge never holds the process's database thread); the service uses
the verdict only for the puzzle and cue level it was asked about, and only inside the uncertain band.
"""

from dataclasses import dataclass

from django.conf import settings

from inference.client import LLMUnavailable, stream_chat

from .scoring import SEMANTIC_MIN, semantic_similarity

UNCERTAIN_BAND = 0.12  # semantic scores within this distance of SEMANTIC_MIN go to the judge
PROMPT = (
    "You mark a memory exercise. The trainee was asked about an event of their own life.\n"
    "What really happened: {expected}\nThe trainee answered: {answer}\n"
    "Does the answer describe the same event, even in other words or only in part? Reply with one word: yes or no."
)


@dataclass(frozen=True)
class Verdict:
    puzzle_id: int
    cue_level: int
    correct: bool


def enabled() -> bool:
    return bool(settings.CHAT_LLM_JUDGE and settings.LLM_BASE_URL)


def uncertain(answer: str, expected: str) -> bool:
    return abs(semantic_similarity(answer, expected) - SEMANTIC_MIN) <= UNCERTAIN_BAND


async def ask(
    *, puzzle_id: int, cue_level: int, expected: str, answer: str, base_url: str, model: str
) -> Verdict | None:
    """The judge's yes/no, or None when it is unavailable or says something else."""
    messages = [{"role": "user", "content": PROMPT.format(expected=expected, answer=answer)}]
    try:
        pieces = stream_chat(messages, max_tokens=3, temperature=0.0, base_url=base_url, model=model)
        reply = "".join([piece async for piece in pieces])
    except LLMUnavailable:
        return None
    word = reply.strip().strip(".!").lower()
    if word not in {"yes", "no"}:
        return None
    return Verdict(puzzle_id=puzzle_id, cue_level=cue_level, correct=word == "yes")
