"""Contradictions: a free-recall answer that puts the trainee somewhere else, or doing something else.

"I was at home all evening" for "Dinner at the Italian restaurant" is close in meaning (an evening, a meal,
a place) and a sentence model scores it high. Here both texts are read into two slots, where and what,
each a set of tags from a small lexicon. When the answer fills a slot that the entry fills too and none of
its tags is among the entry's, the answer contradicts the entry and is wrong, whatever its similarity.
An answer that leaves a slot empty contradicts nothing there: "we had a lovely time" is left to meaning.
Tags overlap on purpose where one thing implies another: a picnic is a meal, a garden is at home.

An entry's title names its event; its description may add side activities ("Sunday service ... afterwards
tea with Frank"). An answer doing only something else than the title, and not even as the entry has it
("coffee with Frank"), is another event of the same people: see `side_activity_only`.
"""

import re
from functools import cache
from itertools import pairwise

# phrase -> tags. Longer phrases are matched first, so "garden centre" never reads as "garden".
_PLACE_GROUPS: list[tuple[frozenset[str], list[str]]] = [
    (frozenset({"home"}), ["home", "house", "at mine", "to mine", "my place", "indoors", "stayed in", "in all day",
                     "garden", "back garden", "kitchen", "sitting room", "lounge"]),
    (frozenset({"their home"}), ["flat", "apartment", "her place", "his place", "their place"]),
    (frozenset({"cafe"}), ["cafe", "coffee shop", "tea room", "tearoom", "tea shop"]),
    (frozenset({"restaurant"}), ["restaurant", "pub", "bistro", "inn", "pizzeria", "carvery", "trattoria"]),
    (frozenset({"church"}), ["church", "chapel", "cathedral", "abbey"]),
    (frozenset({"park"}), ["park", "parks"]),
    (frozenset({"river"}), ["river", "towpath", "canal", "riverside", "riverbank", "river bank", "lock"]),
    (frozenset({"seaside"}), ["beach", "seaside", "sea", "coast", "seafront", "lyme regis", "prom", "promenade",
                        "pier"]),
    (frozenset({"market"}), ["market", "market stall"]),
    (frozenset({"shops"}), ["supermarket", "shopping centre", "tesco", "sainsburys", "high street", "shops"]),
    (frozenset({"library"}), ["library"]),
    (frozenset({"bookshop"}), ["bookshop", "book shop", "bookshops", "bookstore", "bookseller", "booksellers"]),
    (frozenset({"surgery"}), ["surgery", "gp", "doctors", "health centre", "clinic"]),
    (frozenset({"hospital"}), ["hospital", "a and e", "ward"]),
    (frozenset({"dentist"}), ["dentist", "dentists"]),
    (frozenset({"chemist"}), ["chemist", "pharmacy", "chemists"]),
    (frozenset({"theatre"}), ["theatre", "playhouse"]),
    (frozenset({"cinema"}), ["cinema", "pictures"]),
    (frozenset({"garden centre"}), ["garden centre", "nursery"]),
    (frozenset({"hairdresser"}), ["hairdresser", "hairdressers", "barber", "salon"]),
    (frozenset({"optician"}), ["optician", "opticians", "optometrist"]),
    (frozenset({"museum"}), ["museum", "gallery", "art gallery", "exhibition"]),
    (frozenset({"station"}), ["station", "railway station", "bus station", "airport"]),
    (frozenset({"farm"}), ["farm", "farm shop"]),
    (frozenset({"zoo"}), ["zoo", "safari park"]),
    (frozenset({"hall"}), ["village hall", "church hall", "town hall", "community centre", "day centre"]),
    (frozenset({"leisure centre"}), ["leisure centre", "gym", "swimming pool", "pool", "baths"]),
    (frozenset({"bank"}), ["bank", "post office", "building society"]),
    (frozenset({"school"}), ["school", "college"]),
    (frozenset({"allotment"}), ["allotment", "allotments"]),
    (frozenset({"countryside"}), ["hills", "hill", "moors", "moor", "woods", "wood", "forest", "countryside",
                            "fields", "meadow", "meadows", "common", "heath", "downs"]),
    (frozenset({"hotel"}), ["hotel", "bed and breakfast", "caravan"]),
]  # fmt: skip
_ACTIVITY_GROUPS: list[tuple[frozenset[str], list[str]]] = [
    (frozenset({"walk"}), ["walk", "walked", "walking", "stroll", "strolled", "ramble", "hike", "hiked"]),
    (frozenset({"picnic", "meal"}), ["picnic"]),
    (frozenset({"meal"}), ["dinner", "lunch", "supper", "meal", "breakfast", "ate", "eat", "eating",
                     "takeaway"]),
    (frozenset({"drink", "coffee"}), ["coffee", "cup of coffee", "latte", "cappuccino"]),
    (frozenset({"drink", "tea"}), ["tea", "cuppa", "cup of tea", "afternoon tea", "cream tea"]),
    (frozenset({"shopping"}), ["shopping", "bought", "buy", "buying", "shopped", "sold me", "sold us"]),
    (frozenset({"service"}), ["service", "mass", "worship", "choir", "hymn", "hymns", "sang", "evensong"]),
    # A practice is another event than the service or show it prepares: "choir practice" for the Sunday service.
    (frozenset({"rehearsal"}), ["choir practice", "band practice", "practice", "rehearsal", "rehearsed"]),
    (frozenset({"ceremony"}), ["wedding", "funeral", "christening", "baptism"]),
    (frozenset({"gardening"}), ["gardening", "planting", "planted", "weeding", "digging", "pruning"]),
    (frozenset({"baking", "cooking"}), ["baked", "baking", "bake"]),
    (frozenset({"cooking", "meal"}), ["cooked", "made dinner", "made lunch"]),  # someone cooked: a meal was had
    (frozenset({"cooking"}), ["cooking", "cook"]),
    (frozenset({"reading group"}), ["reading group", "book club", "book group", "discussed", "talked about a book",
                             "talked about the book", "talked about books", "discussed a book"]),
    (frozenset({"class"}), ["evening class", "night class", "night school", "class", "lesson", "lessons", "course"]),
    (frozenset({"show"}), ["play", "panto", "pantomime"]),
    (frozenset({"show", "concert"}), ["show", "performance"]),
    (frozenset({"concert"}), ["concert", "gig", "recital", "orchestra"]),  # music, not the play it was
    (frozenset({"film"}), ["film", "movie"]),
    (frozenset({"phone"}), ["phone", "phoned", "rang", "ring", "called", "phone call", "call", "telephoned"]),
    (frozenset({"writing"}), ["wrote", "letter", "postcard", "email", "emailed", "texted", "text message"]),
    # Who went to whom: "Sarah came round" is not "I went to see Sarah".
    (frozenset({"visited"}), ["came round", "came over", "came to visit", "popped round", "drove over", "visited me",
                     "came to me", "came to mine", "came to see me", "round to mine", "over to mine",
                     "round to my", "over to my", "visit from", "had a visit", "visit"]),
    (frozenset({"went visiting"}), ["visit to", "to visit", "went to see", "went to visit", "go and see",
                            "went and saw", "went over to", "stayed with", "went round to", "visited my", "visited our",
                            "visited her", "visited him", "visited them"]),
    (frozenset({"medical"}), ["check up", "appointment", "doctor", "nurse", "blood pressure", "weighed"]),
    (frozenset({"prescription"}), ["prescription"]),
    (frozenset({"hair"}), ["hair done", "haircut"]),
    (frozenset({"football"}), ["football"]),
    (frozenset({"golf"}), ["golf"]),
    (frozenset({"bowls"}), ["bowls", "bowling"]),
    (frozenset({"swimming"}), ["swim", "swimming", "swam"]),
    (frozenset({"cycling"}), ["bike ride", "cycling", "cycled", "bike"]),
    (frozenset({"fishing"}), ["fishing"]),
    (frozenset({"television"}), ["television", "telly", "tv"]),
    (frozenset({"rest"}), ["bed", "nap", "lie in"]),
    (frozenset({"boating"}), ["rowing", "rowed", "row boat", "rowing boat", "on a boat", "in a boat", "boat trip",
                      "boating", "punting", "canoe", "canoeing", "kayak", "kayaking", "sailing", "cruise"]),
    (frozenset({"kite"}), ["kite", "flew a kite", "flying a kite", "kite flying"]),
    (frozenset({"games"}), ["cards", "card game", "played bridge", "game of bridge",
                     "bridge club", "bridge party", "whist", "dominoes", "scrabble", "bingo", "chess",
                     "quiz", "board game", "crossword", "jigsaw", "darts", "snooker"]),
    (frozenset({"selling"}), ["sold", "sell", "selling", "stall"]),
    (frozenset({"crafts"}), ["knitting", "knitted", "sewing", "sewed", "crochet", "painting", "painted", "drawing"]),
    (frozenset({"dancing"}), ["dance", "dancing", "danced", "tea dance"]),
    (frozenset({"exercise"}), ["exercise class", "keep fit", "yoga", "pilates", "aerobics", "tai chi"]),
    (frozenset({"housework"}), ["housework", "hoovering", "hoovered", "ironing", "cleaning", "cleaned", "washing up",
                         "laundry", "decorating", "wallpapering"]),
    (frozenset({"party"}), ["party", "birthday party", "celebration", "barbecue", "bbq"]),
    (frozenset({"meal"}), ["fry up", "brunch", "roast dinner", "sunday lunch", "fish and chips"]),
]  # fmt: skip
PLACES = {phrase: tags for tags, phrases in _PLACE_GROUPS for phrase in phrases}
ACTIVITIES = {phrase: tags for tags, phrases in _ACTIVITY_GROUPS for phrase in phrases}
SLOTS = {"place": PLACES, "activity": ACTIVITIES}


@cache
def _pattern(slot: str) -> re.Pattern:
    phrases = sorted(SLOTS[slot], key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(re.escape(phrase) for phrase in phrases) + r")\b")


def slots(normalized_text: str) -> dict[str, set[str]]:
    """{"place": tags, "activity": tags} named in a text already passed through chat.scoring.normalize."""
    return {
        slot: {tag for found in _pattern(slot).findall(normalized_text) for tag in SLOTS[slot][found]} for slot in SLOTS
    }


def without_places(normalized_text: str) -> str:
    """The text with every phrase of the place lexicon taken out ("at home" -> "at")."""
    return _pattern("place").sub(" ", normalized_text)


def _qualified_place(normalized_answer: str, entry_places: set[str]) -> bool:
    """Whether the answer names the entry's kind of place as part of another place it does not have: "the
    garden centre café" or "the museum café" for the Blue Door café. A place merely beside it ("the café on
    the high street") may be where it is."""
    found = list(_pattern("place").finditer(normalized_answer))
    for first, second in pairwise(found):
        adjacent = normalized_answer[first.end() : second.start()].strip() == ""
        if adjacent and PLACES[second.group()] & entry_places and not PLACES[first.group()] & entry_places:
            return True
    return False


# What a place is for, when the entry's text names no activity: at the theatre one sees a show.
PLACE_ACTIVITIES = {"theatre": frozenset({"show"}), "cinema": frozenset({"film"})}


def implied_activities(places: set[str]) -> set[str]:
    """The activities the places' tags imply ("theatre" -> a show): "a play" recalls the evening at the
    theatre, and "an evening class" contradicts it."""
    return {tag for place in places for tag in PLACE_ACTIVITIES.get(place, ())}


# Where a visit puts the trainee when the answer names no place: "Joan came round" is at home.
ACTIVITY_PLACES = {"visited": frozenset({"home"}), "went visiting": frozenset({"their home"})}


def implied_places(activities: set[str]) -> set[str]:
    """The place a visit implies ("came round": at home; "went to see": at theirs)."""
    return {tag for activity in activities for tag in ACTIVITY_PLACES.get(activity, ())}


# Tags that cannot both be true of one event: who went to whom.
EXCLUSIVE = [("visited", "went visiting")]


def conflicting_slot(normalized_answer: str, normalized_entry: str, normalized_doings: str | None = None) -> str | None:
    """The slot ("place" or "activity") in which the answer contradicts the entry, or None. Besides sharing no
    tag, an answer contradicts the entry with a tag that excludes one of the entry's ("Sarah came round for
    lunch" for the day I went to Sarah's and she cooked). With `normalized_doings` (the entry's own doings,
    `own_doings`), what the trainee did is compared with those only: "I was selling my jam at the market" is
    not the shopping at the market where Elsie sold honey."""
    answer, entry = slots(normalized_answer), slots(normalized_entry)
    if normalized_doings is not None:
        entry["activity"] = slots(normalized_doings)["activity"]
    entry["activity"] |= implied_activities(entry["place"])
    if not answer["place"] and not re.search(r"\bsee (?:a|an|the)\b", normalized_answer):  # not "to see a play"
        answer["place"] = implied_places(answer["activity"])
    for slot in SLOTS:
        if answer[slot] and entry[slot] and not answer[slot] & entry[slot]:
            return slot
    if entry["place"] and _qualified_place(normalized_answer, entry["place"]):
        return "place"
    for first, second in EXCLUSIVE:
        for mine, theirs in ((first, second), (second, first)):
            if mine in answer["activity"] and theirs in entry["activity"] and mine not in entry["activity"]:
                return "activity"
    return None


def _phrase_tags(normalized_text: str) -> list[frozenset[str]]:
    return [ACTIVITIES[phrase] for phrase in _pattern("activity").findall(normalized_text)]


# A sentence or clause whose subject is someone else busy with something: "Norman was there selling honey".
_OTHERS_DOING = re.compile(r"^\s*(?!(?:I|We)\b)[A-Z]\w+(?: \w+)? (?:was|were|is) (?:there |busy |out )?\w+ing\b")


def own_doings(text: str) -> str:
    """An entry's text without what other people were doing there: "Norman was there selling honey" is not
    something the trainee did, so "sold honey with Norman" does not recall the market shopping."""
    return " ".join(part for part in re.split(r"(?<=[.;])\s+", text) if not _OTHERS_DOING.match(part))


_SOMEONE_DOING = re.compile(r"^\s*(\w+)(?: and (\w+))? (?:was|were|is) (?:there |busy |out )?\w+ing\b", re.IGNORECASE)
_CLAUSES = re.compile(r"[.;,!?]+\s*|\s+(?:and|but|while|whilst)\s+(?=\w+ (?:was|were|is)\b)", re.IGNORECASE)


_AT_SOMEONES = re.compile(
    r"\b(?:to|at|round|over)\s+([A-Za-z]+)['’]s\b(?=\s*(?:$|[.,;!?]|for\b|with\b|and\b|on\b|in\b|that\b))"
)


def at_someones(answer: str) -> bool:
    """Whether the answer puts the trainee at someone's home by their name alone: "I went to Joan's for
    coffee", "round at Sarah's" (a name, not "to the doctor's")."""
    from .scoring_names import gender, is_first_name

    return any(is_first_name(name) or gender(name) for name in _AT_SOMEONES.findall(answer))


def split_doings(answer: str, people: set[str]) -> tuple[str, str]:
    """(what the answer says the trainee did, what it says others did): a clause whose subject is someone else
    busy with something ("Harold was selling honey", "Margaret was selling her honey", "elsie was there selling
    honey") tells what they did, as the entry's text does (`own_doings`). Someone else is a capitalised word,
    one of the entry's `people` (casefolded), a first name typed in lowercase, or he, she or they; whether they
    were there at all is for chat/scoring_names.py."""
    from .scoring_names import lowercase_name

    mine, theirs = [], []
    for clause in _CLAUSES.split(answer):
        found = _SOMEONE_DOING.match(clause)
        subjects = [word for word in found.groups() if word] if found else []
        others = bool(subjects) and all(
            (word[0].isupper() and word.casefold() not in {"i", "we", "it"})
            or word.casefold() in people | {"he", "she", "they"}
            or lowercase_name(word)
            for word in subjects
        )
        (theirs if others else mine).append(clause)
    return " ".join(mine), " ".join(theirs)


def side_activity_only(normalized_answer: str, normalized_title: str, normalized_entry: str) -> bool:
    """Whether the answer's activities are not the one the title names, and one of them is not even among the
    entry's side activities as the entry has it, with no place of the entry: "coffee with Frank" for "Sunday
    service. ... afterwards tea with Frank". "A cuppa with Frank" (tea) or "Sarah popped round" (for "Sarah came
    round to help") recall the entry; the caller also checks that no word of the title is in the answer."""
    answer, title, entry = slots(normalized_answer), slots(normalized_title), slots(normalized_entry)
    if not answer["activity"] or not title["activity"] or answer["activity"] & title["activity"]:
        return False
    if answer["place"] & entry["place"]:
        return False
    entry_tags = _phrase_tags(normalized_entry)
    return any(not any(tags <= other for other in entry_tags) for tags in _phrase_tags(normalized_answer))
