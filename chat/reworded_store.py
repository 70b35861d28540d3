"""Rewordings of the chat's fixed lines, written ahead of time and verified, and taking one for a session.

`reworded_lines_write` runs in the authoring task (`chat.tasks.author_puzzles`), with the participant's
puzzles: each request is the participant's cached `[system][life log]` prefix plus a short suffix (served from
the KV cache), the reply is schema-constrained JSON, and each rewording passes `chat.verifier.check_fixed_line`.
Accepted ones are stored ready, rejected ones with the verifier's reasons, both with provenance (model, prompt
hash, prefix hash, verifier version). A session reads a ready one (`chat.selectors.reworded_line_pick`): a database
read, never a wait for the LLM.
"""

import time
from dataclasses import dataclass, field

from django.conf import settings

from inference.client import LLMClient, LLMUnavailable
from inference.prompt import prefix_sha256

from . import fixed_lines, verifier
from .llm import llm_client, llm_user, participant_llm_url
from .models import RewordedLine
from .selectors import llm_prefix_active, participant_llm_model

MAX_TOKENS = 80  # one short line, as JSON


@dataclass
class RewordingRun:
    requested: int = 0
    accepted: int = 0
    rejected: int = 0
    seconds: float = 0.0
    reasons: dict[str, int] = field(default_factory=dict)


def reword_one(line: fixed_lines.FixedLine, *, prefix: list[dict], client: LLMClient, base_url: str, model: str,
               user: str = "") -> tuple[str, list[str], str, float, str]:  # fmt: skip
    """Ask for one rewording and verify it: (text, reasons, raw reply, seconds, prompt hash)."""
    messages = [*prefix, fixed_lines.request(line)]
    schema = fixed_lines.schema(line)
    started = time.perf_counter()
    reply = client.complete(messages, max_tokens=MAX_TOKENS, temperature=0.0, base_url=base_url, model=model,
                            json_schema=schema, user=user or None)  # fmt: skip
    seconds = time.perf_counter() - started
    prompt_hash = fixed_lines.prompt_sha256(messages, schema)
    try:
        text = fixed_lines.reworded_text(reply)
    except fixed_lines.BadReply as error:
        return "", [str(error)], reply, seconds, prompt_hash
    reasons = verifier.check_fixed_line(text, template=line.text, keep=line.keep, forbid=line.forbid)
    return text, reasons, reply, seconds, prompt_hash


def reworded_lines_write(*, participant_id: int, client: LLMClient | None = None, base_url: str | None = None,
                         model: str | None = None, keys: list[str] | None = None) -> RewordingRun:  # fmt: skip
    """One rewording of each fixed line (or of `keys`) not yet tried over the participant's current prefix.
    Raises LLMUnavailable when the server fails (the task retries later); a refusal (HTTP 400) ends the run."""
    run = RewordingRun()
    model = model or participant_llm_model(participant_id)
    if not model or not settings.LLM_REWORDED_LINES:
        return run
    prefix = llm_prefix_active(participant_id)
    digest = prefix_sha256(prefix)
    tried = set(RewordedLine.objects.filter(participant_id=participant_id, prefix_sha256=digest)
                .values_list("line_key", flat=True))  # fmt: skip
    for key in keys or list(fixed_lines.LINES):
        line = fixed_lines.LINES[key]
        if key in tried:
            continue
        try:
            text, reasons, reply, seconds, prompt_hash = reword_one(
                line, prefix=prefix, client=client or llm_client(settings.LLM_AUTHORING_TIMEOUT_S),
                base_url=base_url or participant_llm_url(participant_id), model=model, user=llm_user(participant_id),
            )  # fmt: skip
        except LLMUnavailable as error:
            if "HTTP 400" not in str(error):
                raise
            run.reasons["refused by the server (HTTP 400, e.g. the prompt does not fit)"] = 1
            break
        run.requested += 1
        run.seconds += seconds
        accepted = not reasons
        run.accepted += accepted
        run.rejected += not accepted
        for reason in reasons:
            rule = reason.split(" '")[0].split(" /")[0].split(":")[0]
            run.reasons[rule] = run.reasons.get(rule, 0) + 1
        RewordedLine.objects.get_or_create(
            participant_id=participant_id, prefix_sha256=digest, line_key=key,
            defaults={
                "template": line.text, "text": text if accepted else "", "reply": reply[:2000],
                "status": RewordedLine.Status.READY if accepted else RewordedLine.Status.REJECTED,
                "reasons": reasons, "model_name": model, "prompt_sha256": prompt_hash,
                "verifier_version": verifier.VERSION, "seconds": round(seconds, 3),
            },
        )  # fmt: skip
    return run
