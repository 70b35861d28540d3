"""Months, years and days named in an answer: "3rd of May 2025", "10/2026", "Oct", "aug 26".

People misspell a month ("Augst", "Febuary") or write it as they learnt it ("oktober", "octobre"): a word
that is close in spelling to exactly one month name, and starts with its letter, is that month. Short words
must be exact ("mar", "jun"), so "may" and "mar" are never guesses at each other.
"""

import re

from rapidfuzz import fuzz

MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december"]  # fmt: skip
MONTH_ABBREVIATIONS = {month[:3]: index for index, month in enumerate(MONTHS, start=1)} | {"sept": 9}
FUZZY_MONTH_MIN = 80.0  # rapidfuzz ratio of a misspelt month name to the month's name
SHORTEST_FUZZY_MONTH = 4

_DAY_MONTH_YEAR = re.compile(r"\b(\d{1,2})[/.-](\d{1,2})[/.-](\d{2,4})\b")  # day first, as in the UK
_MONTH_YEAR = re.compile(r"(?<![\d/.-])(\d{1,2})[/.-](\d{4}|\d{2})(?![\d/.-])")  # "10/2026", "10/26"
ORDINALS = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
            "eleventh", "twelfth"]  # fmt: skip
_ORDINAL_MONTH = re.compile(r"\b(" + "|".join(ORDINALS) + r") month\b")
_YEAR_MONTH = re.compile(r"(?<![\d/.-])((?:19|20)\d\d)-(\d{1,2})(?![\d/.-])")  # "2026-10"


def month_of_word(word: str) -> int | None:
    """The month (1-12) a normalized word names: its name, a short form, or a near spelling of one name."""
    if word in MONTHS:
        return MONTHS.index(word) + 1
    if word in MONTH_ABBREVIATIONS:
        return MONTH_ABBREVIATIONS[word]
    if len(word) < SHORTEST_FUZZY_MONTH or not word.isalpha():
        return None
    close = [index for index, name in enumerate(MONTHS, start=1)
             if name[0] == word[0] and fuzz.ratio(word, name) >= FUZZY_MONTH_MIN]  # fmt: skip
    return close[0] if len(close) == 1 else None


def _year(text: str) -> int:
    return int(text) % 100 + 2000 if len(text) == 2 else int(text)


def mentioned_dates(answer: str) -> tuple[set[int], set[int], set[int]]:
    """Months, years and day numbers named in an answer: numeric dates first, then its words."""
    months: set[int] = set()
    years: set[int] = set()
    days: set[int] = set()
    for day, month, year in _DAY_MONTH_YEAR.findall(answer):
        days.add(int(day))
        months.add(int(month))
        years.add(_year(year))
    rest = _DAY_MONTH_YEAR.sub(" ", answer)
    for year, month in _YEAR_MONTH.findall(rest):
        months.add(int(month))
        years.add(int(year))
    rest = _YEAR_MONTH.sub(" ", rest)
    for month, year in _MONTH_YEAR.findall(rest):
        if 1 <= int(month) <= 12:
            months.add(int(month))
            years.add(_year(year))
    rest = _MONTH_YEAR.sub(" ", rest)
    for ordinal in _ORDINAL_MONTH.findall(rest.casefold()):  # "the ninth month"
        months.add(ORDINALS.index(ordinal) + 1)
    rest = _ORDINAL_MONTH.sub(" ", rest.casefold())
    for word in re.findall(r"[^\W\d_]+|\d+(?:st|nd|rd|th)?", rest.casefold()):
        if (month := month_of_word(word)) is not None:
            months.add(month)
        elif re.fullmatch(r"(19|20)\d\d", word):
            years.add(int(word))
        elif (match := re.fullmatch(r"(\d{1,2})(st|nd|rd|th)?", word)) and 1 <= int(match.group(1)) <= 31:
            days.add(int(match.group(1)))
    return months, years, days
