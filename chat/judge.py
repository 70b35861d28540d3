"""The optional LLM judge for free-text answers whose semantic score is too close to call.

Off by default. Enabled with CHAT_LLM_JUDGE=1 when a capable model is behind LLM_BASE_URL and its measured
agreement with the labelled set (CHAT_LLM_JUDGE_KAPPA, from `python -m chat.tune_scoring --judge`) is at least
the rule scorer's (RULE_KAPPA): the packaged 0.5B model says yes to almost everything. It is asked before the
answer is stored (async, so a slow judge never holds the process's database thread); the service uses
the verdict only for the puzzle and cue level it was asked about, and only inside the uncertain band.
"""

from dataclasses import dataclass

from django.conf import settings

from inference.client import LLMClient, LLMUnavailable

from .scoring import RULE_KAPPA, SEMANTIC_MIN, semantic_similarity

UNCERTAIN_BAND = 0.12  # semantic scores within this distance of SEMANTIC_MIN go to the judge
PROMPT = (
    "You mark a memory exercise. The trainee was asked about an event of their own life.\n"
    "What really happened: {expected}\nThe trainee answered: {answer}\n"
    "Does the answer describe the same event, even in other words or only in part? Reply with one word: yes or no."
)


@dataclass(frozen=True)
class JudgeQuestion:
    """An open free-recall puzzle of a session that uses an LLM: what the judge would be asked about."""

    puzzle_id: int
    cue_level: int
    expected: str
    participant_id: int
    model: str


@dataclass(frozen=True)
class Verdict:
    puzzle_id: int
    cue_level: int
    correct: bool


def enabled() -> bool:
    measured_well = settings.CHAT_LLM_JUDGE_KAPPA >= RULE_KAPPA
    return bool(settings.CHAT_LLM_JUDGE and settings.LLM_BASE_URL and measured_well)


def uncertain(answer: str, expected: str) -> bool:
    return abs(semantic_similarity(answer, expected) - SEMANTIC_MIN) <= UNCERTAIN_BAND


async def ask(question: JudgeQuestion, answer: str, *, client: LLMClient, base_url: str) -> Verdict | None:
    """The judge's yes/no, or None when it is unavailable or says something else."""
    messages = [{"role": "user", "content": PROMPT.format(expected=question.expected, answer=answer)}]
    try:
        pieces = client.stream_chat(messages, max_tokens=3, temperature=0.0, base_url=base_url, model=question.model)
        reply = "".join([piece async for piece in pieces])
    except LLMUnavailable:
        return None
    word = reply.strip().strip(".!").lower()
    if word not in {"yes", "no"}:
        return None
    return Verdict(puzzle_id=question.puzzle_id, cue_level=question.cue_level, correct=word == "yes")
