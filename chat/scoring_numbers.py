"""Numbers and quantities in answers: "£12", "twelve pounds", "about 150", "3 miles", "2 kilos".

quantulum3 finds the quantities (digits or words, with their units); this module maps its units onto a few
keys a trainee's answer can be compared on, merges "four pounds fifty" into £4.50, and reads hedges.
A number is compared as a number: "47" never matches 147, and a shared unit word never makes "3 miles"
match 8 miles.
"""

import re
import threading
from dataclasses import dataclass
from functools import lru_cache

from studies.scoring_policy import STANDARD, ScoringPolicy

# quantulum3's unit names -> our unit keys. "pound" alone is money or weight; the answer decides (see compatible).
UNIT_KEYS = {
    "pound sterling": "gbp",
    "penny": "pence",
    "pound-mass": "pound",
    "kilogram": "kg",
    "gram": "g",
    "stone": "stone",
    "mile": "mile",
    "kilometre": "km",
    "metre": "m",
    "yard": "yard",
    "foot": "foot",
    "litre": "litre",
    "pint": "pint",
    "year": "year",
    "month": "month",
    "week": "week",
    "day": "day",
    "hour": "hour",
    "minute": "minute",
    "dollar": "usd",
    "euro": "eur",
    "dimensionless": None,
}
# How a unit is written in a puzzle's answer and options.
UNIT_WORDS = {
    "gbp": "£{}", "pence": "{}p", "pound": "{} pounds", "kg": "{} kilos", "g": "{} grams", "stone": "{} stone",
    "mile": "{} miles", "km": "{} km", "m": "{} metres", "litre": "{} litres", "pint": "{} pints",
    "year": "{} years", "month": "{} months", "week": "{} weeks", "day": "{} days", "hour": "{} hours",
    "minute": "{} minutes", "usd": "${}", "eur": "€{}", "yard": "{} yards", "foot": "{} feet",
}  # fmt: skip
HEDGES_BEFORE = re.compile(
    r"(?:about|around|roughly|approximately|approx|circa|ca|nearly|almost|near enough|something like|"
    r"in the region of|give or take|getting on for|just under|just over|~)\W*$"
)
HEDGES_AFTER = re.compile(r"^\W*(?:ish|or so|give or take|odd|or thereabouts)\b")
# "140 to 150" is a range; "8.50 or 9.50" is a guess between two values, not a range.
RANGE_JOIN = re.compile(r"^\s*(?:-|–|to)\s*$")


@dataclass(frozen=True)
class Quantity:
    value: float
    unit: str | None  # a key of UNIT_KEYS' values; None for a bare number
    start: int
    end: int
    hedged: bool = False
    high: float | None = None  # "140 to 150", "2 or 3 miles": the answer gives a range up to this value

    def display(self) -> str:
        return format_quantity(self.value, self.unit)


def format_number(value: float, money: bool = False) -> str:
    if money and value != int(value):
        return f"{value:.2f}"
    return f"{value:g}" if value != int(value) else str(int(value))


def format_quantity(value: float, unit: str | None) -> str:
    text = format_number(value, money=unit in {"gbp", "usd", "eur"})
    if not unit:
        return text
    written = UNIT_WORDS[unit].format(text)
    return written[:-1] if value == 1 and written.endswith("s") and unit not in {"pence"} else written


# Words quantulum3 does not know: "quid" is pounds sterling; "st" after a number is stone.
_REWRITES = [
    (re.compile(r"(\d+(?:\.\d+)?)\s*quid\b", re.I), r"£\1"),
    (re.compile(r"\bquid\b", re.I), "pounds sterling"),
    (re.compile(r"(\d+(?:\.\d+)?)\s*(?:stone|st)\b", re.I), r"\1 stone"),
]
# How people say amounts in an answer: "£26 and 50p" is £26.50; "a fiver", "a dozen", "half a mile" are numbers;
# "a couple of miles" is about two. Applied to answers only (`spoken`): a diary line keeps its own spans.
_SPOKEN = [
    (re.compile(r"£\s*(\d+)\s*(?:and\s*)?(\d{2})\s*p\b", re.I), r"£\1.\2"),
    (re.compile(r"\ba fiver\b", re.I), "£5"),
    (re.compile(r"\ba tenner\b", re.I), "£10"),
    (re.compile(r"\bhalf a dozen\b", re.I), "6"),
    (re.compile(r"\ba dozen\b", re.I), "12"),
    (re.compile(r"\bhalf an? (?=[a-z])", re.I), "0.5 "),
    (re.compile(r"\b(?:a )?couple of\b", re.I), "about 2"),
    (re.compile(r"(\d)-?ish\b", re.I), r"\1 ish"),  # "£8ish": quantulum3 reads no number glued to "ish"
]


def spoken(answer: str) -> str:
    """The answer with the ways people say amounts written as numbers quantulum3 reads."""
    for pattern, replacement in _SPOKEN:
        answer = pattern.sub(replacement, answer)
    return answer


_QUANTULUM_FIRST_USE = threading.Lock()


def _quantulum():
    """quantulum3's parser, loaded once even when the scorer's warm-up thread and a request race for it."""
    with _QUANTULUM_FIRST_USE:
        return _quantulum_loaded()


@lru_cache(maxsize=1)
def _quantulum_loaded():
    """Imported on first use (~1 s). Its pickled scikit-learn classifier for ambiguous units does not load with
    our scikit-learn (and unpickling runs code): its rule-based fallback is used instead, with UNIT_KEYS deciding
    what "pounds" means. The first parse builds its language tables, which is not thread-safe (two threads at
    once raised inside quantulum3): done here, under the lock."""
    from quantulum3 import classifier, parser

    classifier.USE_CLF = False
    parser.parse("about 3 miles")
    return parser


_POUNDS_AND_PENCE = re.compile(r"(?<![\d.£])(\d{1,3}) (\d{2})(?![\d.])")


@lru_cache(maxsize=4096)
def quantities(text: str, money: bool = False) -> tuple[Quantity, ...]:
    """Every quantity in the text, in order, with money written in two parts merged and ranges joined.
    With `money` (a price is asked for), two bare numbers side by side are pounds and pence ("twenty-six fifty")."""
    parser = _quantulum()
    for pattern, replacement in _REWRITES:
        text = pattern.sub(replacement, text)
    if money:
        from number_parser import parse as words_to_digits

        text = _POUNDS_AND_PENCE.sub(r"£\1.\2", words_to_digits(text, language="en"))
    found: list[Quantity] = []
    for item in parser.parse(text):
        name = item.unit.name
        unit = UNIT_KEYS.get(name, name if item.unit.entity.name != "unknown" else None)
        if name == "dimensionless" and re.match(r"\s*stone\b", text[item.span[1] :], re.I):
            unit = "stone"
        start, end = item.span
        if item.uncertainty:  # "140-150", "between 140 and 150": quantulum3 gives the middle and half the width
            low, high = item.value - item.uncertainty, item.value + item.uncertainty
            found.append(Quantity(float(low), unit, start, end, high=float(high)))
        else:
            found.append(Quantity(float(item.value), unit, start, end))
    return tuple(_hedged(text, _joined(text, found, money)))


def _joined(text: str, found: list[Quantity], money: bool = False) -> list[Quantity]:
    merged: list[Quantity] = []
    for quantity in found:
        previous = merged[-1] if merged else None
        gap = text[previous.end : quantity.start] if previous else ""
        if (
            previous
            and previous.unit in {"pound", "gbp"}
            and quantity.unit is None
            and quantity.value < 100
            and re.fullmatch(r"\s*(?:and\s*)?", gap)
        ):
            # "four pounds fifty", "£4 50": pounds and pence
            merged[-1] = Quantity(previous.value + quantity.value / 100, "gbp", previous.start, quantity.end)
        elif (
            previous
            and previous.unit in {"pound", "gbp"}
            and quantity.unit == "pence"
            and quantity.value < 100
            and re.fullmatch(r"\s*(?:and\s*)?", gap)
        ):  # "26 pounds and 50p"
            merged[-1] = Quantity(previous.value + quantity.value / 100, "gbp", previous.start, quantity.end)
        elif previous and previous.unit and quantity.value == 0.5 and quantity.unit is None and gap.strip() == "and":
            # "a mile and a half"
            merged[-1] = Quantity(previous.value + 0.5, previous.unit, previous.start, quantity.end)
        elif previous and (
            (RANGE_JOIN.match(gap) and _compatible(previous.unit, quantity.unit))
            or (re.fullmatch(r"\s*and\s*", gap) and re.search(r"between\W*$", text[: previous.start]))
        ):  # "2 or 3 miles", "between 140 and 150"
            low, high = sorted((previous.value, quantity.value))
            merged[-1] = Quantity(low, previous.unit or quantity.unit, previous.start, quantity.end, high=high)
        else:
            merged.append(quantity)
    return merged


def _hedged(text: str, found: list[Quantity]) -> list[Quantity]:
    lowered = text.casefold()
    result = []
    for quantity in found:
        before = lowered[max(0, quantity.start - 25) : quantity.start]
        after = lowered[quantity.end : quantity.end + 20]
        hedged = bool(HEDGES_BEFORE.search(before) or HEDGES_AFTER.match(after) or quantity.high is not None)
        result.append(Quantity(quantity.value, quantity.unit, quantity.start, quantity.end, hedged, quantity.high))
    return result


def _in_pounds(quantity: Quantity) -> Quantity:
    if quantity.unit == "pence":
        high = quantity.high / 100 if quantity.high is not None else None
        return Quantity(quantity.value / 100, "gbp", quantity.start, quantity.end, quantity.hedged, high)
    return quantity


# Exact conversions between units of one kind: "28 days" is 4 weeks, "1500 grams" is 1.5 kilos. Miles and
# kilometres are not here: "8 km" for 8 miles is another distance, and a converted one is never exact.
EXACT_CONVERSIONS = {
    ("day", "week"): 1 / 7, ("week", "day"): 7.0, ("minute", "hour"): 1 / 60, ("hour", "minute"): 60.0,
    ("month", "year"): 1 / 12, ("year", "month"): 12.0, ("g", "kg"): 1 / 1000, ("kg", "g"): 1000.0,
    ("m", "km"): 1 / 1000, ("km", "m"): 1000.0,
}  # fmt: skip


def converted(quantity: Quantity, unit: str | None) -> Quantity:
    """The quantity in `unit` when it is given in another unit of the same kind with an exact conversion."""
    factor = EXACT_CONVERSIONS.get((quantity.unit, unit)) if quantity.unit and unit else None
    if factor is None:
        return quantity
    high = quantity.high * factor if quantity.high is not None else None
    return Quantity(round(quantity.value * factor, 9), unit, quantity.start, quantity.end, quantity.hedged, high)


def _compatible(answer_unit: str | None, expected_unit: str | None) -> bool:
    """A bare number answers any quantity; "pounds" may be money or weight; otherwise units must agree."""
    if answer_unit is None or expected_unit is None or answer_unit == expected_unit:
        return True
    return {answer_unit, expected_unit} == {"pound", "gbp"}


@lru_cache(maxsize=4096)
def is_number(text: str) -> bool:
    """Whether a word or phrase is a number ("three", "147", "£12"): such a term is compared as a number."""
    from number_parser import parse_number

    # language="en": left to guess, number_parser normalised every language's word lists on each call (~4 ms,
    # a fifth of a chat turn's CPU time); English alone takes ~0.05 ms.
    if parse_number(text.strip(), language="en") is not None:
        return True
    found = quantities(text.strip())
    return len(found) == 1 and found[0].unit is not None and found[0].end - found[0].start == len(text.strip())


def quantity_matches(answer: str, value: float, unit: str | None, policy: ScoringPolicy = STANDARD) -> float:
    """How well the answer gives the quantity: 1.0 exactly, less for an accepted hedge, 0.0 otherwise.

    The answer must name one value (repeating it is fine): "47 or 147" is a guess between two, not an answer.
    A hedged value ("about 150", "150-ish", "between 140 and 150") counts when it is within the policy's
    tolerance of the true value; an unhedged one must be exact (to the penny for money).
    """
    given = [_in_pounds(q) for q in quantities(spoken(answer), money=unit in {"gbp", "pence"})]
    unit = "gbp" if unit == "pence" else unit
    if unit == "pence":
        value = value / 100
    relevant = [q for q in (converted(q, unit) for q in given) if _compatible(q.unit, unit)]
    if not relevant or len({(q.value, q.high) for q in relevant}) > 1:
        return 0.0
    quantity = relevant[0]
    precision = 0.005 if unit == "gbp" else 1e-9
    if quantity.high is None and abs(quantity.value - value) <= precision:
        return 1.0  # "about £12" for £12 is right too
    tolerance = policy.hedge_tolerance * abs(value)
    if not quantity.hedged or tolerance == 0:
        return 0.0
    if quantity.high is not None:
        inside = quantity.value - precision <= value <= quantity.high + precision
        narrow = quantity.high - quantity.value <= 2 * tolerance
        return 0.5 if inside and narrow else 0.0
    error = abs(quantity.value - value)
    return round(1.0 - error / abs(value), 4) if error <= tolerance else 0.0


# Units of the amounts a diary records (prices, distances, weights, volumes, "back in 6 weeks").
AMOUNT_UNITS = frozenset(
    {"gbp", "pound", "usd", "eur", "kg", "g", "stone", "mile", "km", "m", "yard", "foot", "litre", "pint", "week"}
)


def _amounts(answer: str, text: str, policy: ScoringPolicy) -> list[tuple[Quantity, bool]]:
    """(amount with a unit the answer gives, whether the text has it: exactly, or within the policy's tolerance
    when hedged). A bare number may be a date or a count, and "for two hours" is how long, not an amount."""
    given = [
        q for q in (_in_pounds(q) for q in quantities(spoken(answer), money="£" in answer)) if q.unit in AMOUNT_UNITS
    ]
    if not given:  # most answers: the text (a day's entries, a question with its clues) need not be parsed at all
        return []
    known = [_in_pounds(q) for q in quantities(text)]
    found = []
    for quantity in given:
        tolerance = policy.hedge_tolerance if quantity.hedged else 0.0
        has = any(
            _compatible(quantity.unit, other.unit)
            and abs(quantity.value - other.value) <= 0.005 + tolerance * other.value
            for other in known
        )
        found.append((quantity, has))
    return found


def amounts_not_in(answer: str, text: str, policy: ScoringPolicy = STANDARD) -> list[str]:
    """Amounts with a unit (a price, a distance, a weight) that the answer gives and the text does not have,
    exactly or within the policy's tolerance when hedged: "£42" for a day whose ticket cost £31.20."""
    return [quantity.display() for quantity, has in _amounts(answer, text, policy) if not has]


def amounts_in(answer: str, text: str, policy: ScoringPolicy = STANDARD) -> list[str]:
    """Amounts with a unit that the answer gives and the text has: "about 100 miles" for a drive of 95 miles
    each way (hedged, within the tolerance), "95 mile" for it exactly."""
    return [quantity.display() for quantity, has in _amounts(answer, text, policy) if has]
