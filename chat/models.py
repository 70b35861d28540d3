"""Training sessions: versioned puzzle groups, puzzles, the chat transcript and one trial row per attempt."""

from django.db import models

from lifelog.models import LifeLogEntry
from studies.models import Participant, ProtocolVersion


class PuzzleKind(models.TextChoices):
    LIFE_RECALL = "life_recall", "Life recall with progressive cues"
    LANGUAGE = "language", "Language puzzle"
    TEMPORAL_ORDER = "temporal_order", "Temporal ordering"
    DETAIL_PROBE = "detail_probe", "Detail probe"
    NUMBER_RECALL = "number_recall", "Numbers from the diary"
    LLM_AUTHORED = "llm_authored", "Written by the LLM ahead of time, verified"


class PuzzleSource(models.TextChoices):
    TEMPLATE = "template", "Template"
    LLM_AUTHORED = "llm_authored", "Authored by the LLM ahead of time"


class TextSource(models.TextChoices):
    TEMPLATE = "template", "Template"
    LLM_REWORDED = "llm_reworded", "Template reworded by the LLM"


class PuzzleGroup(models.Model):
    """A reusable, versioned puzzle definition. Rows are never edited: a change is a new version."""

    key = models.SlugField(max_length=64)
    version = models.PositiveIntegerField()
    kind = models.CharField(max_length=32, choices=PuzzleKind.choices)
    title = models.CharField(max_length=200)
    templates = models.JSONField(help_text="What the bot says, with {placeholders} filled from life-log entries.")
    rules = models.JSONField(help_text="Which entries qualify (memory age, people/place required, spacing).")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["key", "-version"]
        constraints = [models.UniqueConstraint(fields=["key", "version"], name="puzzle_group_key_version")]

    def __str__(self) -> str:
        return f"{self.key} v{self.version}"


class TrainingSession(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "In progress"
        PAUSED = "paused", "Paused"
        ENDED = "ended", "Finished"

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="training_sessions")
    protocol_version = models.ForeignKey(
        ProtocolVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="training_sessions",
        help_text="The participant's pinned protocol when the session started; empty outside a study arm.",
    )  # fmt: skip
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    puzzles_planned = models.PositiveSmallIntegerField(default=5)
    group_keys = models.JSONField(default=list, help_text="Puzzle group keys offered in this session, in turn.")
    model_name = models.CharField(max_length=200, blank=True, help_text="LLM that phrased replies; blank = templates.")
    seed = models.BigIntegerField(help_text="Makes puzzle choices reproducible.")
    started_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"session {self.pk} of {self.participant}"


class Puzzle(models.Model):
    """One trial: a question with a known answer taken from specific life-log entries."""

    class Outcome(models.TextChoices):
        OPEN = "open", "Open"
        RECALLED = "recalled", "Recalled"
        MISSED = "missed", "Missed"
        SKIPPED = "skipped", "Skipped"

    session = models.ForeignKey(TrainingSession, on_delete=models.CASCADE, related_name="puzzles")
    index = models.PositiveSmallIntegerField(help_text="Trial index within the session, from 1.")
    group = models.ForeignKey(PuzzleGroup, on_delete=models.PROTECT, related_name="puzzles")
    entry = models.ForeignKey(LifeLogEntry, on_delete=models.RESTRICT, related_name="puzzles")
    entry_ids = models.JSONField(default=list, help_text="Every entry the puzzle's facts come from.")
    payload = models.JSONField(help_text="Answer, cues and options, fixed when the puzzle was built.")
    start_cue_level = models.PositiveSmallIntegerField(default=0)
    cue_level = models.PositiveSmallIntegerField(default=0)
    hints_used = models.PositiveSmallIntegerField(default=0)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.OPEN)
    recalled_at_level = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["session", "index"]
        constraints = [models.UniqueConstraint(fields=["session", "index"], name="puzzle_session_index")]

    def __str__(self) -> str:
        return f"{self.group} #{self.index} in session {self.session_id}"


class ChatMessage(models.Model):
    """The transcript. Trainee actions carry the browser's id, so a resent message is stored once."""

    class Role(models.TextChoices):
        BOT = "bot", "ReMe"
        TRAINEE = "trainee", "Trainee"

    class Kind(models.TextChoices):
        TEXT = "text", "Text"
        HINT = "hint", "Asked for a clue"
        SKIP = "skip", "Skipped"
        PAUSE = "pause", "Paused"
        RESUME = "resume", "Resumed"

    class Status(models.TextChoices):
        STREAMING = "streaming", "Being written"
        COMPLETE = "complete", "Complete"

    session = models.ForeignKey(TrainingSession, on_delete=models.CASCADE, related_name="messages")
    seq = models.PositiveIntegerField()
    role = models.CharField(max_length=8, choices=Role.choices)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.TEXT)
    client_id = models.UUIDField(null=True, blank=True)
    puzzle = models.ForeignKey(Puzzle, on_delete=models.SET_NULL, null=True, blank=True, related_name="messages")
    text = models.TextField(blank=True)
    template_text = models.TextField(blank=True, help_text="The grounded text; shown when the LLM is off or fails.")
    rejection = models.TextField(blank=True, help_text="Why the verifier refused the LLM's wording, when it did.")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.COMPLETE)
    text_source = models.CharField(
        max_length=16, choices=TextSource.choices, default=TextSource.TEMPLATE, help_text="Who wrote the text shown."
    )
    llm_prompt_hash = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the LLM request, if LLM text.")
    verifier_version = models.CharField(max_length=32, blank=True, help_text="The check the LLM's text passed.")
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["session", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["session", "seq"], name="message_session_seq"),
            models.UniqueConstraint(fields=["session", "client_id"], name="message_session_client_id"),
        ]

    def __str__(self) -> str:
        return f"{self.session_id}#{self.seq} {self.role}"


class Attempt(models.Model):
    """The research trial record: one row per answer, skip or end, written before the bot replies.

    Where each word came from: the puzzle (a template or authored by the LLM) and the prompt shown (the
    template or the LLM's rewording of it), with the model, the LLM request's hash and the verifier version.
    `model_name` is set only when the LLM's text was shown."""

    class Scorer(models.TextChoices):
        RULE = "rule", "Rule"
        SEMANTIC = "semantic", "Semantic similarity"
        JUDGE = "judge", "LLM judge"
        DONT_KNOW = "dont_know", "Said they don't know (an omission, not a wrong answer)"

    class Outcome(models.TextChoices):
        ANSWERED = "answered", "Answered"
        SKIPPED = "skipped", "Skipped"
        ENDED = "ended", "Session ended before an answer"

    puzzle = models.ForeignKey(Puzzle, on_delete=models.CASCADE, related_name="attempts")
    message = models.OneToOneField(
        ChatMessage, on_delete=models.RESTRICT, null=True, blank=True, related_name="attempt",
        help_text="The trainee's answer or skip; empty when the session ended (a withdrawal) with the puzzle open.",
    )  # fmt: skip
    outcome = models.CharField(max_length=12, choices=Outcome.choices, default=Outcome.ANSWERED)
    attempt_number = models.PositiveSmallIntegerField()
    cue_level = models.PositiveSmallIntegerField()
    hints_used = models.PositiveSmallIntegerField()
    prompt_shown = models.TextField()
    prompt_hash = models.CharField(max_length=64)
    response_text = models.TextField()
    response_time_ms = models.PositiveIntegerField()
    correct = models.BooleanField()
    score = models.FloatField()
    scorer = models.CharField(max_length=12, choices=Scorer.choices, blank=True, help_text="Blank: not answered.")
    model_name = models.CharField(max_length=200, blank=True, help_text="The LLM whose text was shown; blank: none.")
    puzzle_source = models.CharField(max_length=16, choices=PuzzleSource.choices, default=PuzzleSource.TEMPLATE)
    text_source = models.CharField(max_length=16, choices=TextSource.choices, default=TextSource.TEMPLATE)
    llm_prompt_hash = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the LLM request behind it.")
    verifier_version = models.CharField(max_length=32, blank=True)
    shown_at = models.DateTimeField()
    answered_at = models.DateTimeField()

    class Meta:
        ordering = ["puzzle", "attempt_number"]
        constraints = [models.UniqueConstraint(fields=["puzzle", "attempt_number"], name="attempt_puzzle_number")]

    def __str__(self) -> str:
        return f"attempt {self.attempt_number} of {self.puzzle}"


class ItemMemory(models.Model):
    """FSRS memory state of one life-log entry for its participant."""

    entry = models.OneToOneField(LifeLogEntry, on_delete=models.CASCADE, related_name="memory")
    card = models.JSONField()
    due = models.DateTimeField()
    reviews = models.PositiveIntegerField(default=0)
    last_reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["due"], name="item_memory_due")]

    def __str__(self) -> str:
        return f"memory of entry {self.entry_id}"


class LLMContext(models.Model):
    """How far a participant's long LLM context is prepared; the prefill task writes it."""

    class State(models.TextChoices):
        STALE = "stale", "Not prepared"
        PREPARING = "preparing", "Being prepared"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"
        TOO_LONG = "too_long", "Too long for the model's context"

    participant = models.OneToOneField(Participant, on_delete=models.CASCADE, related_name="llm_context")
    state = models.CharField(max_length=12, choices=State.choices, default=State.STALE)
    prefix_sha256 = models.CharField(max_length=64, blank=True)
    prefix_tokens = models.PositiveIntegerField(null=True, blank=True, help_text="As the server counted them.")
    context_tokens = models.PositiveIntegerField(null=True, blank=True, help_text="The model's context length.")
    read_tokens = models.PositiveIntegerField(
        null=True, blank=True, help_text="While being prepared: prompt tokens the server has read so far."
    )
    # The short context of the most recent entries, prepared first so the LLM's work can start within minutes;
    # its work is used until the whole life log is ready (chat.selectors.llm_prefix_active).
    recent_sha256 = models.CharField(max_length=64, blank=True, help_text="The short context the server holds.")
    recent_tokens = models.PositiveIntegerField(null=True, blank=True, help_text="Its size, as the server counted.")
    recent_entries = models.PositiveIntegerField(null=True, blank=True, help_text="How many entries it holds.")
    updated_at = models.DateTimeField(auto_now=True)
    error = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"LLM context of {self.participant}: {self.state}"


class AuthoredPuzzle(models.Model):
    """A puzzle the LLM wrote ahead of time for one participant: accepted by the verifier (then ready until a
    session uses it) or rejected with the verifier's reasons. Provenance says how it was made."""

    class Status(models.TextChoices):
        READY = "ready", "Accepted, not yet used"
        USED = "used", "Used in a session"
        REJECTED = "rejected", "Rejected by the verifier"

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="authored_puzzles")
    group = models.ForeignKey(PuzzleGroup, on_delete=models.PROTECT, related_name="authored_puzzles")
    kind = models.CharField(max_length=32, help_text="Which facts the program chose: shared_person, which_first, ...")
    plan_key = models.CharField(max_length=300, help_text="The chosen facts; one candidate per plan and life log.")
    status = models.CharField(max_length=12, choices=Status.choices)
    reasons = models.JSONField(default=list, blank=True, help_text="The verifier's reasons for a rejection.")
    payload = models.JSONField(default=dict, blank=True, help_text="Question, cues, recognition and answer.")
    reply = models.TextField(blank=True, help_text="The model's raw JSON reply.")
    evidence_ids = models.JSONField(default=list)
    model_name = models.CharField(max_length=200)
    prompt_sha256 = models.CharField(max_length=64)
    prefix_sha256 = models.CharField(max_length=64)
    verifier_version = models.CharField(max_length=32)
    seconds = models.FloatField(default=0, help_text="How long the model took to write it.")
    puzzle = models.OneToOneField(Puzzle, on_delete=models.SET_NULL, null=True, blank=True, related_name="authored")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["participant", "created_at", "id"]
        indexes = [models.Index(fields=["participant", "status"], name="authored_participant_status")]
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "prefix_sha256", "plan_key"], name="authored_once_per_plan_and_prefix"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} for {self.participant}: {self.status}"


class RewordedLine(models.Model):
    """The LLM's rewording of one of the chat's fixed lines (`chat.fixed_lines`: the greeting, "Not quite." …),
    written ahead of time with the participant's puzzles over the same cached prefix: accepted by the verifier
    (ready: a session may show it, instantly) or rejected with its reasons. Provenance says how it was made."""

    class Status(models.TextChoices):
        READY = "ready", "Accepted"
        REJECTED = "rejected", "Rejected by the verifier"

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="reworded_lines")
    line_key = models.CharField(max_length=32, help_text="Which fixed line: greeting, not_quite, pause, ...")
    template = models.TextField(help_text="The line as written, which the session shows otherwise.")
    text = models.TextField(blank=True, help_text="The rewording (shown only when ready).")
    status = models.CharField(max_length=12, choices=Status.choices)
    reasons = models.JSONField(default=list, blank=True, help_text="The verifier's reasons for a rejection.")
    reply = models.TextField(blank=True, help_text="The model's raw JSON reply.")
    model_name = models.CharField(max_length=200)
    prompt_sha256 = models.CharField(max_length=64)
    prefix_sha256 = models.CharField(max_length=64)
    verifier_version = models.CharField(max_length=32)
    seconds = models.FloatField(default=0, help_text="How long the model took to write it.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["participant", "line_key", "created_at", "id"]
        indexes = [models.Index(fields=["participant", "line_key", "status"], name="reworded_participant_line")]
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "prefix_sha256", "line_key"], name="reworded_once_per_line_and_prefix"
            )
        ]

    def __str__(self) -> str:
        return f"{self.line_key} for {self.participant}: {self.status}"
