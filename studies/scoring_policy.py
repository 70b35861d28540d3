"""How lenient the scorer is with names and numbers: a researcher's choice, frozen with each protocol version.

The standard policy is what the labelled set was marked against (README, "Scoring"). A study that wants
verbatim recall uses STRICT. The policy is plain data so it can be stored as JSON next to a protocol version
and given back to `evaluate` unchanged.
"""

from dataclasses import asdict, dataclass, fields

SPELLING_MIN = 80.0  # fuzzy ratio (0-100) for a misspelt name or word; tuned by `python -m chat.tune_scoring`


@dataclass(frozen=True)
class ScoringPolicy:
    # "Bill" for William and "Maggie" for Margaret, in both directions, one step in the nickname dataset only:
    # two nicknames of the same name ("Rita" and "Maggie", both Margaret) are different people.
    accept_nicknames: bool = True
    # A near-miss in spelling ("Bernhard" for Bernard) counts at this fuzzy ratio or above; None = exact only.
    spelling_min: float | None = SPELLING_MIN
    # "about 150" for 147: an approximate number counts only when the trainee says it is approximate, and is
    # within this share of the true value. 0 = only exact numbers count.
    hedge_tolerance: float = 0.10
    # Same-meaning words of closed classes ("navy" / "dark blue", "mum" / "mother"): chat/synonyms.py.
    accept_synonyms: bool = True

    def __post_init__(self) -> None:
        if self.spelling_min is not None and not 0 < self.spelling_min <= 100:
            raise ValueError("spelling_min is a fuzzy ratio in (0, 100], or None for exact spelling")
        if not 0 <= self.hedge_tolerance < 1:
            raise ValueError("hedge_tolerance is a share of the true value in [0, 1)")

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> "ScoringPolicy":
        """A stored policy; keys it does not know are an error (a typo must not fall back to a default)."""
        data = data or {}
        unknown = set(data) - {field.name for field in fields(cls)}
        if unknown:
            raise ValueError(f"unknown scoring policy settings: {sorted(unknown)}")
        return cls(**data)


STANDARD = ScoringPolicy()
STRICT = ScoringPolicy(accept_nicknames=False, spelling_min=None, hedge_tolerance=0.0, accept_synonyms=False)
