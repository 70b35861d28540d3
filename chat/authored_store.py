"""Writing a participant's LLM-authored puzzles ahead of time, and taking one for a session.

`authored_puzzles_write` (the Celery task `chat.tasks.author_puzzles` calls it after the prefix is prepared):
the program plans candidates from the entries (chat.authoring), each request is the participant's cached
`[system][life log]` prefix plus a short suffix (so the server serves the prefix from its KV cache), the reply
is schema-constrained JSON, and every candidate passes chat.verifier. Accepted ones are stored ready, rejected
ones with the verifier's reasons; both with provenance (model, prompt hash, prefix hash, verifier version).
"""

import random
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from inference.client import LLMClient, LLMUnavailable
from inference.prompt import prefix_entry_ids, prefix_sha256
from lifelog.models import LifeLogEntry
from studies.models import Participant

from . import authoring, verifier
from .llm import authoring_lock_key, llm_client, llm_user, participant_llm_url
from .models import AuthoredPuzzle, PuzzleGroup
from .puzzles import EntryFacts
from .selectors import (
    authored_group_for,
    authored_plan_keys_accepted,
    entry_facts_list,
    entry_ids_asked_lately,
    llm_prefix_active,
    participant_llm_model,
)

LOCK_SECONDS = 1800
MAX_TOKENS = 200  # a question and at most two cues (the grammar bounds each piece by words)


@dataclass
class AuthoringRun:
    candidates: int = 0
    accepted: int = 0
    rejected: int = 0
    seconds: float = 0.0
    reasons: dict[str, int] = field(default_factory=dict)


def author_one(plan: authoring.Plan, *, prefix: list[dict], pool: list[EntryFacts], client: LLMClient,
               base_url: str, model: str, user: str = "", known: list[EntryFacts] | None = None,
               ) -> tuple[verifier.Candidate | None, list[str], str, float, str]:  # fmt: skip
    """Ask for one candidate and verify it: (candidate, reasons, raw reply, seconds, prompt hash). `known`: the
    whole life log (default: the pool), which a which_first choice must single out one entry of."""
    messages = [*prefix, *authoring.suffix(plan)]
    schema = authoring.schema(plan)
    started = time.perf_counter()
    reply = client.complete(messages, max_tokens=MAX_TOKENS, temperature=settings.LLM_AUTHORING_TEMPERATURE,
                            base_url=base_url, model=model,
                            json_schema=schema, user=user or None)  # fmt: skip
    seconds = time.perf_counter() - started
    try:
        candidate = authoring.candidate(plan, reply)
    except authoring.BadReply as error:
        return None, [str(error)], reply, seconds, authoring.prompt_sha256(messages, schema)
    reasons = verifier.check_authored(candidate, entries=authoring.sources(known or pool),
                                      # any of the trainee's entries: guess_event's decoys come from the whole log
                                      distractor_pool=authoring.distractor_pool(plan, known or pool),
                                      instructions=plan.instructions,
                                      example_words=authoring.EXAMPLE_WORDS)  # fmt: skip
    return candidate, reasons, reply, seconds, authoring.prompt_sha256(messages, schema)


def authored_puzzles_write(*, participant_id: int, limit: int | None = None, client: LLMClient | None = None,
                           base_url: str | None = None, model: str | None = None,
                           enough: int | None = None, per_prefix: int | None = None,
                           until: float | None = None) -> AuthoringRun:  # fmt: skip
    """Author up to `limit` new candidates for the participant (plans already tried on this prefix are
    skipped), stopping early once `enough` of them were accepted or, before a new candidate, once
    `time.monotonic()` is past `until`, and never beyond `per_prefix` candidates on this prefix in all (the
    task is queued again at each login: it tops up, it does not add `limit` each time).
    Raises LLMUnavailable when the server fails (the task retries later)."""
    run = AuthoringRun()
    limit = settings.LLM_AUTHORING_CANDIDATES if limit is None else limit
    model = model or participant_llm_model(participant_id)
    group = authored_group_for(participant_id=participant_id)  # stored under the version its sessions show
    lock = authoring_lock_key(participant_id)
    if not limit or not model or group is None or not cache.add(lock, 1, LOCK_SECONDS):
        return run
    try:
        participant = Participant.objects.get(pk=participant_id)
        prefix = llm_prefix_active(participant_id)  # the short context of recent entries until the whole is held
        digest = prefix_sha256(prefix)
        known = entry_facts_list(participant=participant)  # the trainee lived all of it, not only what fits
        held = set(prefix_entry_ids(prefix))
        pool = [facts for facts in known if facts.id in held]  # what the model saw
        by_id = {facts.id: facts for facts in pool}
        tried = set(AuthoredPuzzle.objects.filter(participant_id=participant_id, prefix_sha256=digest)
                    .values_list("plan_key", flat=True))  # fmt: skip
        if per_prefix is not None:
            limit = min(limit, per_prefix - len(tried))
        if limit <= 0:
            return run
        # Not over entries the sessions asked about lately: a session could not take such a puzzle for weeks (the
        # group's min_gap_days), and the first sessions, played while the short context is all there is, ask
        # about the same newest entries.
        asked = entry_ids_asked_lately(participant_id=participant_id, days=group.rules.get("min_gap_days", 0))
        fresh = [facts for facts in pool if facts.id not in asked]
        accepted_keys = authored_plan_keys_accepted(participant_id=participant_id)
        # only kinds the participant's sessions can show (a protocol pinned to version 1 shows its four)
        shown = group.rules.get("kinds")
        kinds = [kind for kind in settings.LLM_AUTHORING_KINDS if shown is None or kind in shown]
        plans = authoring.plans_for(fresh, rng=random.Random(digest), limit=limit, skip=tried, used=accepted_keys,
                                    known=known, kinds=kinds)  # fmt: skip
        # one kind after another: a request then finds its kind's examples in the server's live context (the
        # previous request's) and computes only its own lines, not the few hundred tokens of examples again
        plans.sort(key=lambda plan: authoring.KINDS.index(plan.kind))
        for plan in plans:
            if (enough is not None and run.accepted >= enough) or (until is not None and time.monotonic() >= until):
                break
            try:
                candidate, reasons, reply, seconds, prompt_hash = author_one(
                    plan, prefix=prefix, pool=pool, client=client or llm_client(settings.LLM_AUTHORING_TIMEOUT_S),
                    base_url=base_url or participant_llm_url(participant_id), model=model,
                    user=llm_user(participant_id), known=known,
                )  # fmt: skip
            except LLMUnavailable as error:
                if "HTTP 400" not in str(error):
                    raise  # the server is down or busy: the task retries later
                run.reasons["refused by the server (HTTP 400, e.g. the prompt does not fit)"] = 1
                break  # retrying cannot help; the next prefix (a changed life log) tries again
            run.candidates += 1
            run.seconds += seconds
            accepted = candidate is not None and not reasons
            run.accepted += accepted
            run.rejected += not accepted
            for reason in reasons:
                rule = reason.split(" '")[0].split(":")[0]
                run.reasons[rule] = run.reasons.get(rule, 0) + 1
            authored_puzzle_store(
                participant_id=participant_id, group=group, prefix_sha256=digest, plan=plan, candidate=candidate,
                reasons=reasons, reply=reply, model=model, prompt_sha256=prompt_hash, seconds=seconds, by_id=by_id,
            )  # fmt: skip
    finally:
        cache.delete(lock)
    return run


def authored_puzzle_store(*, participant_id: int, group: PuzzleGroup, prefix_sha256: str, plan: authoring.Plan,
                          candidate: verifier.Candidate | None, reasons: list[str], reply: str, model: str,
                          prompt_sha256: str, seconds: float,
                          by_id: dict[int, EntryFacts]) -> AuthoredPuzzle:  # fmt: skip
    """One candidate as the verifier judged it: ready when accepted, else rejected with its reasons, with
    provenance. Once per plan and prefix: a second call returns the stored row."""
    accepted = candidate is not None and not reasons
    stored, _ = AuthoredPuzzle.objects.get_or_create(
        participant_id=participant_id, prefix_sha256=prefix_sha256, plan_key=plan.key()[:300],
        defaults={
            "group": group, "kind": plan.kind, "reply": reply[:4000], "evidence_ids": plan.evidence_ids,
            "status": AuthoredPuzzle.Status.READY if accepted else AuthoredPuzzle.Status.REJECTED,
            "reasons": reasons, "payload": authoring.payload(plan, candidate, by_id) if accepted else {},
            "model_name": model, "prompt_sha256": prompt_sha256, "verifier_version": verifier.VERSION,
            "seconds": round(seconds, 3),
        },
    )  # fmt: skip
    return stored


def authored_puzzle_take(*, participant_id: int, avoid_entry_ids: set[int],
                         kinds: list[str] | None = None) -> AuthoredPuzzle | None:  # fmt: skip
    """The oldest ready puzzle (of `kinds`, when given: those its group version shows) whose evidence entries
    are all still in the life log and none of them was asked about recently; it is locked until the caller's
    transaction marks it used."""
    live = set(LifeLogEntry.objects.filter(participant_id=participant_id, excluded=False).values_list("id", flat=True))
    ready = AuthoredPuzzle.objects.select_for_update(skip_locked=True).filter(
        participant_id=participant_id, status=AuthoredPuzzle.Status.READY
    )
    if kinds is not None:
        ready = ready.filter(kind__in=kinds)
    for authored in ready:
        evidence = set(authored.evidence_ids)
        if evidence <= live and not evidence & avoid_entry_ids:
            return authored
    return None


def authored_puzzle_mark_used(*, authored_id: int, puzzle) -> None:
    with transaction.atomic():
        AuthoredPuzzle.objects.filter(pk=authored_id).update(status=AuthoredPuzzle.Status.USED, puzzle=puzzle)


def authored_puzzles_forget_withdrawn(*, participant_id: int) -> int:
    """The life log changed: unused puzzles that cite an entry no longer in it (withdrawn or deleted) are
    deleted, with their copies of its text. Used ones stay with their session until it is erased."""
    live = set(LifeLogEntry.objects.filter(participant_id=participant_id, excluded=False).values_list("id", flat=True))
    unused = AuthoredPuzzle.objects.filter(participant_id=participant_id).exclude(status=AuthoredPuzzle.Status.USED)
    stale = [row.pk for row in unused.only("id", "evidence_ids") if not set(row.evidence_ids) <= live]
    return AuthoredPuzzle.objects.filter(pk__in=stale).delete()[0]
