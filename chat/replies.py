"""The one service for an LLM reply: the consumer calls it once per message.

`bot_message_phrase` reads what the reply needs (the cached shared prefix, the puzzle's entries, the
recent dialogue), streams the LLM's wording through the grounding check and stores the final text.
`answer_judge` asks the optional LLM judge about a borderline free-text answer before it is stored.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.conf import settings

from inference.prompt import prefix_sha256

from . import judge, phrasing
from .judge import Verdict
from .llm import llm_client, participant_llm_url
from .selectors import judge_question_get, phrase_request_get
from .services import bot_message_complete


@dataclass(frozen=True)
class PhrasedReply:
    seq: int
    text: str
    outcome: str  # phrasing.LLM, UNGROUNDED, UNAVAILABLE or SLOW


async def bot_message_phrase(*, message_id: int, emit: Callable[[int, str], Awaitable[None]]) -> PhrasedReply | None:
    """Write a streaming bot message; `emit(seq, piece)` gets each grounded piece as it is accepted.
    None when the message was already finished (by another connection)."""
    request = await database_sync_to_async(phrase_request_get)(message_id=message_id)
    if request is None:
        return None

    async def emit_piece(piece: str) -> None:
        await emit(request.seq, piece)

    # The trainee waits for live text only if it starts within the budget; otherwise the template, silently.
    budget = settings.CHAT_LLM_FIRST_TOKEN_S
    final, outcome = await phrasing.phrase(request, emit_piece, llm_client(), first_token_s=budget)
    reworded = outcome == phrasing.LLM
    stored = await database_sync_to_async(bot_message_complete)(
        message_id=message_id,
        text=final,
        llm_prompt_hash=prefix_sha256(request.messages) if reworded else "",
        verifier_version=phrasing.CHECK_VERSION if reworded else "",
        rejection="; ".join(request.rejection) if outcome == phrasing.UNGROUNDED else "",
    )
    return PhrasedReply(seq=request.seq, text=stored.text, outcome=outcome)


async def answer_judge(*, session_id: int, answer: str) -> Verdict | None:
    """The judge's verdict on a borderline answer to the open puzzle, or None (judge off, not free recall,
    not borderline, or no clear answer from the model)."""
    if not judge.enabled() or not answer.strip():
        return None
    question = await database_sync_to_async(judge_question_get)(session_id=session_id)
    if question is None:
        return None
    if not await sync_to_async(judge.uncertain, thread_sensitive=False)(answer, question.expected):
        return None
    return await judge.ask(question, answer, client=llm_client(), base_url=participant_llm_url(question.participant_id))
