"""LLM phrasing of the bot's grounded template text, streamed sentence by sentence.

The LLM only rewords the first line of a reply (lettered options and quoted diary lines after it are
kept verbatim). Each sentence passes `chat.verifier` before the trainee sees it, and the whole rewording
passes it again at the end (it must still ask what the template asks); on the first rejected sentence, a
slow or failing server, the template text is used instead. No database here: the request is
built from what `chat.selectors.phrase_request_get` read.
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from inference.client import LLMClient, LLMUnavailable
from inference.prompt import entry_record

from . import verifier
from .puzzles import EntryFacts

RECENT_TURNS = 6


@dataclass
class PhraseRequest:
    seq: int  # the message being written
    messages: list[dict]
    lead: str
    tail: str
    sources: list[verifier.Source]
    answer: str
    base_url: str
    model: str
    others: list[str] = field(default_factory=list)  # earlier bot messages: no text of theirs may be copied
    rejection: list[str] = field(default_factory=list)  # why the wording was refused, when it was
    user: str = ""  # whose cached prefix this request uses (chat.llm.llm_user)
    fits: bool = True  # False: the prefix is known to be too long for the model's context

    @property
    def template(self) -> str:
        return f"{self.lead}\n{self.tail}" if self.tail else self.lead


def build_request(*, seq: int, template_text: str, prefix: list[dict], entries: list, dialogue: list[tuple[str, str]],
                  answer: str, base_url: str, model: str, zone: str = "UTC",
                  others: list[str] | None = None, user: str = "") -> PhraseRequest:  # fmt: skip
    """The shared prefix (system + whole life log), then this puzzle's entries and the recent dialogue
    (`(speaker, text)` pairs, oldest first). `others`: earlier bot messages of other puzzles."""
    lead, _, tail = template_text.partition("\n")
    relevant_text = "\n".join(str(entry_record(entry)) for entry in entries)
    spoken = "\n".join(f"{speaker}: {text}" for speaker, text in dialogue)
    suffix = (
        f"Entries this puzzle is about:\n{relevant_text or '(none)'}\n\nRecent conversation:\n{spoken}\n\n"
        f"DRAFT:\n{lead}\n\nRewrite the DRAFT."
    )
    return PhraseRequest(
        seq=seq,
        messages=[*prefix, {"role": "user", "content": suffix}],
        lead=lead,
        tail=tail,
        sources=[verifier.Source.from_facts(EntryFacts.from_entry(entry, zone)) for entry in entries],
        answer=answer,
        base_url=base_url,
        model=model,
        others=others or [],
        user=user,
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
UNAVAILABLE = "unavailable"  # the server failed: the template was shown
SLOW = "slow"  # the first token did not come within the budget: the template was shown, silently
TOO_LONG = "too_long"  # the context cannot hold the prefix: the template was shown, without asking
CHECK_VERSION = verifier.VERSION  # the check every shown sentence passed (recorded with the trial)


async def _started_within(stream: AsyncIterator[str], budget_s: float | None) -> AsyncIterator[str] | None:
    """The stream with its first piece already awaited, or None when none came within `budget_s`: a trainee
    waits for live text only as long as a person would for a reply to start."""
    try:
        async with asyncio.timeout(budget_s):  # in this task: the stream's connection stays in the task using it
            first = await anext(stream)
    except TimeoutError:
        await stream.aclose()  # closes the request: the server stops generating for nobody
        return None
    except StopAsyncIteration:
        first = ""

    async def rest() -> AsyncIterator[str]:
        if first:
            yield first
        async for piece in stream:
            yield piece

    return rest()


async def phrase(
    request: PhraseRequest,
    emit: Callable[[str], Awaitable[None]],
    client: LLMClient,
    first_token_s: float | None = None,
) -> tuple[str, str]:
    """Stream the LLM's wording through `emit`; return the final text and which of the outcomes above.
    Without a first piece within `first_token_s` seconds (None: no limit) the template is used."""
    shown, buffer = "", ""

    def acceptable(text: str, *, finished: bool = False) -> bool:
        check = verifier.check_rewording if finished else verifier.check_rewording_part
        request.rejection = check(text, template=request.lead, sources=request.sources, answer=request.answer,
                                  others=request.others, context=request.tail)  # fmt: skip
        return not request.rejection

    if not request.fits:  # it would be refused on every turn
        return request.template, TOO_LONG
    try:
        stream = await _started_within(
            client.stream_chat(
                request.messages, base_url=request.base_url, model=request.model, user=request.user or None
            ),
            first_token_s,
        )
        if stream is None:
            return request.template, SLOW
        async for piece in stream:
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
    if not acceptable(final, finished=True):  # e.g. the question became a statement
        return request.template, UNGROUNDED
    if request.tail:
        final += "\n" + request.tail
        await emit("\n" + request.tail)
    return final, LLM
