"""The fixed lines a session shows (the greeting, "Not quite.", the kind word after "I don't know", the pause
and the welcome back, "no more clues"), and what the LLM is asked to reword them.

Their rewordings are written ahead of time with the participant's puzzles (`chat.reworded_store`, over the
same cached prefix), checked by `chat.verifier.check_fixed_line` and stored; a session shows a stored, verified
one and never waits for the LLM (else the line as written here). No database here.

Each line says what a rewording must keep (`keep`: every pattern must match) and which words would turn it
into something else (`forbid`): "Not quite." must stay a gentle no, never a "Well done". The verifier adds
grounding and structure, and keeps the buttons the line names (“Skip”, “Resume”) as they are.
"""

import hashlib
import json
from dataclasses import dataclass

NEGATION = r"\b(not|no|nope)\b|n't\b|\balmost\b|\bclose\b|\btry again\b|\banother (go|try)\b"
# A model that refuses or talks about itself instead ("I'm sorry, but I don't have any information…").
REFUSAL = r"\b(sorry|information|assist|request|language model|as an ai|help with that)\b"
PRAISE = r"\b(yes|correct|well done|exactly|perfect|spot on|brilliant|excellent|great job|good job|that's it|got it)\b"


@dataclass(frozen=True)
class FixedLine:
    key: str
    text: str
    meaning: str  # what the line does, for the model to say in its own words (a small model copies a DRAFT)
    keep: tuple[str, ...] = ()  # regexes: each must match the rewording (case-insensitive)
    forbid: tuple[str, ...] = ()  # regexes: none may match


GREETING = FixedLine(
    "greeting",
    "Hello! Let's exercise your memory with a few puzzles about your own life.",
    "greets the person and says that you will now do a few memory puzzles together about their own life",
    keep=(r"\bpuzzles?\b",),
    forbid=(REFUSAL, r"\bgoodbye\b|\bbye\b"),
)
NOT_QUITE = FixedLine(
    "not_quite",
    "Not quite.",
    "tells the person kindly that their answer is not quite right (a clue comes after it)",
    keep=(NEGATION,),
    forbid=(REFUSAL, PRAISE, r"\?"),
)
NOT_KNOWING = FixedLine(
    "not_knowing",
    "That's all right, that is what clues are for.",
    "tells the person that it is fine not to know, because that is what the clues are for",
    keep=(r"\bclues?\b",),
    forbid=(REFUSAL, PRAISE, r"\bwrong\b|\bmistake\b|\bfail", r"\?"),
)
NO_MORE_CLUES = FixedLine(
    "no_more_clues",
    "There are no more clues for this one. Have a guess, or press “Skip”.",
    "says that there are no more clues for this puzzle, and asks the person to have a guess or press “Skip”",
    keep=(r"\bno (more|other|further) clues?\b|\bno clues? (are )?left\b|\bout of clues\b", r"\bguess"),
    forbid=(REFUSAL,),
)
PAUSE = FixedLine(
    "pause",
    "We'll stop here for now. Press “Resume” whenever you are ready.",
    "says that you will stop here for now, and that the person can press “Resume” whenever they are ready",
    keep=(r"\b(stop|pause|break|rest)",),
    forbid=(REFUSAL, r"\bgoodbye\b|\bend of\b|\bfinished\b"),
)
WELCOME_BACK = FixedLine(
    "welcome_back",
    "Welcome back!",
    "welcomes the person back after a break",
    keep=(r"\bback\b",),
    forbid=(REFUSAL, r"\?"),
)

LINES = {line.key: line for line in (GREETING, NOT_QUITE, NOT_KNOWING, NO_MORE_CLUES, PAUSE, WELCOME_BACK)}
MAX_CHARS = 200
LINE_WORDS = 20


def schema(line: FixedLine) -> dict:
    """One rewording as JSON: a bounded string and nothing else (no role prefix, no second message)."""
    longest = min(MAX_CHARS, max(2 * len(line.text), len(line.text) + 60))
    return {
        "type": "object",
        "properties": {"text": {"type": "string", "minLength": 3, "maxLength": longest}},
        "required": ["text"],
    }


def request(line: FixedLine) -> dict:
    """The suffix after the shared [system][life log] prefix. The model is told what the line does rather than
    shown its words, which a small model only copies (measured: the 0.5B model returned every DRAFT unchanged)."""
    buttons = [part.split("”")[0] for part in line.text.split("“")[1:]]
    keep = f" Name the button {' and '.join(f'“{b}”' for b in buttons)} exactly so." if buttons else ""
    return {
        "role": "user",
        "content": f"Write one short, warm chat message (at most {LINE_WORDS} words) that {line.meaning}. It is "
        f"about no entry of the LIFE LOG: name nothing from it.{keep} Reply with JSON.",
    }


def prompt_sha256(messages: list[dict], json_schema: dict) -> str:
    return hashlib.sha256(json.dumps([messages, json_schema], sort_keys=True).encode()).hexdigest()


class BadReply(Exception):
    """Not the JSON asked for (only a server without structured output lets this happen)."""


def reworded_text(reply: str) -> str:
    try:
        text = json.loads(reply)["text"]
    except (ValueError, KeyError, TypeError) as error:
        raise BadReply(f"not the JSON asked for: {error}") from None
    if not isinstance(text, str):
        raise BadReply("not the JSON asked for: text is not a string")
    return " ".join(text.split())
