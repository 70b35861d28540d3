"""LLM phrasing of the bot's grounded template text, streamed sentence by sentence.

The LLM only rewords the first line of a reply (lettered options and quoted diary lines after it are
kept verbatim). Each sentence is grounding-checked before the trainee sees it; on the first ungrounded
sentence, a slow or failing server, the template text is used instead.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from inference.client import LLMUnavailable, stream_chat
from inference.prompt import entry_record
from lifelog.models import LifeLogEntry

from .context import participant_llm_url, participant_prefix
from .grounding import ungrounded
from .models import ChatMessage

RECENT_TURNS = 6


@dataclass
class PhraseRequest:
    messages: list[dict]
    lead: str
    tail: str
    grounded: str
    answer: str
    base_url: str
    model: str

    @property
    def template(self) -> str:
        return f"{self.lead}\n{self.tail}" if self.tail else self.lead


def build_request(message: ChatMessage) -> PhraseRequest:
    """The shared prefix (system + whole life log), then this puzzle's entries and the recent dialogue."""
    session = message.session
    lead, _, tail = message.template_text.partition("\n")
    puzzle = message.puzzle
    relevant = (
        list(LifeLogEntry.objects.filter(participant_id=session.participant_id, id__in=puzzle.entry_ids))
        if puzzle
        else []
    )
    recent = session.messages.filter(seq__lt=message.seq).order_by("-seq")[:RECENT_TURNS]
    dialogue = "\n".join(f"{m.get_role_display()}: {m.text}" for m in reversed(recent))
    relevant_text = "\n".join(str(entry_record(entry)) for entry in relevant)
    suffix = (
        f"Entries this puzzle is about:\n{relevant_text or '(none)'}\n\nRecent conversation:\n{dialogue}\n\n"
        f"DRAFT:\n{lead}\n\nRewrite the DRAFT."
    )
    grounded_parts = [message.template_text] + [
        " ".join([e.title, e.description, e.place_name, *e.people, *e.tags]) for e in relevant
    ]
    return PhraseRequest(
        messages=[*participant_prefix(session.participant_id), {"role": "user", "content": suffix}],
        lead=lead,
        tail=tail,
        grounded="\n".join(grounded_parts),
        answer=(puzzle.payload.get("answer", "") if puzzle else ""),
        base_url=participant_llm_url(session.participant_id),
        model=session.model_name,
    )


def _sentence_end(buffer: str) -> int:
    """Index just past the last complete sentence in the buffer, or 0."""
    end = 0
    for index, char in enumerate(buffer[:-1]):
        if char in ".!?" and buffer[index + 1].isspace():
            end = index + 1
    return end


LLM = "llm"  # the LLM's wording was shown
UNGROUNDED = "ungrounded"  # it said something the entries don't support: the template was shown
UNAVAILABLE = "unavailable"  # the server failed or was too slow: the template was shown


async def phrase(request: PhraseRequest, emit: Callable[[str], Awaitable[None]]) -> tuple[str, str]:
    """Stream the LLM's wording through `emit`; return the final text and which of the outcomes above."""
    shown, buffer = "", ""

    def acceptable(text: str) -> bool:
        return not ungrounded(text, grounded=request.grounded, answer=request.answer, draft=request.lead)

    try:
        async for piece in stream_chat(request.messages, base_url=request.base_url, model=request.model):
            buffer += piece
            end = _sentence_end(buffer)
            if end:
                sentence, buffer = buffer[:end], buffer[end:]
                if not acceptable(shown + sentence):
                    return request.template, UNGROUNDED
                shown += sentence
                await emit(sentence)
        if buffer.strip():
            if not acceptable(shown + buffer):
                return request.template, UNGROUNDED
            shown += buffer
            await emit(buffer)
    except LLMUnavailable:
        return request.template, UNAVAILABLE
    if not shown.strip():
        return request.template, UNAVAILABLE
    final = shown.strip()
    if request.tail:
        final += "\n" + request.tail
        await emit("\n" + request.tail)
    return final, LLM
