"""A fictional but realistic life log, generated deterministically from a seed.

Used by `manage.py load_demo` (one demo participant) and by `bench.ingest` (many participants).
Everything is invented; dates end at a fixed day so the same seed always gives the same file.
"""

import json
import random
from datetime import date, datetime, timedelta

END_DAY = date(2026, 10, 31)

FAMILY = ["Sarah", "Tom", "David", "Emily", "Uncle Peter"]
FRIENDS = ["Joan", "Harold", "Maggie", "Frank", "Rita", "Bernard", "Elsie", "Norman"]
PLACES = {
    "home": ("the house on Elm Road", 51.7520, -1.2577),
    "market": ("the Saturday market on Castle Street", 51.7517, -1.2610),
    "church": ("St Mary's church", 51.7529, -1.2540),
    "park": ("University Parks", 51.7640, -1.2520),
    "cafe": ("the Blue Door café", 51.7535, -1.2590),
    "library": ("the Central Library", 51.7520, -1.2600),
    "surgery": ("the Banbury Road surgery", 51.7700, -1.2640),
    "river": ("the towpath by the river", 51.7450, -1.2500),
    "garden_centre": ("Millets Farm garden centre", 51.6720, -1.3520),
    "sarah": ("Sarah's flat in Reading", 51.4543, -0.9781),
    "coast": ("the beach at Lyme Regis", 50.7250, -2.9360),
    "theatre": ("the Playhouse theatre", 51.7548, -1.2612),
}

# (title, description, place key, people drawn from, how many people, tags)
ACTIVITIES = [
    (
        "Coffee with {p0}",
        "Met {p0} at {place}. We talked about {topic} and shared a slice of {cake}. The bill came to £{bill}.",
        "cafe",
        FRIENDS,
        1,
        ["friends"],
    ),
    (
        "Walk along the river",
        "Walked {miles} miles with {p0} along {place}. Saw {bird} near the lock and the water was {water}.",
        "river",
        FRIENDS,
        1,
        ["walk", "outdoors"],
    ),
    (
        "Sunday service",
        "Went to {place}. The choir sang {hymn}; afterwards tea with {p0} and {p1}.",
        "church",
        FRIENDS,
        2,
        ["church"],
    ),
    (
        "Shopping at the market",
        "Bought {food} and {food2} at {place} for £{shopping}. {p0} was there selling honey.",
        "market",
        FRIENDS,
        1,
        ["shopping"],
    ),
    (
        "Visit to Sarah",
        "Took the train to {place}; the return ticket cost £{fare}. Sarah cooked {meal} and Tom showed me his {hobby}.",
        "sarah",
        ["Sarah", "Tom"],
        2,
        ["family", "travel"],
    ),
    (
        "Doctor's appointment",
        "Check-up at {place} about my {ailment}. The nurse weighed me at {weight} kilos and said to come back "
        "in {weeks} weeks.",
        "surgery",
        [],
        0,
        ["health"],
    ),
    (
        "Gardening",
        "Spent the afternoon in the garden at {place}, planting {plant} for next {season}. {p0} came round to help.",
        "home",
        FAMILY,
        1,
        ["garden"],
    ),
    (
        "Library reading group",
        "Reading group at {place} discussed '{book}'. {p0} disagreed with everyone, as usual.",
        "library",
        FRIENDS,
        1,
        ["books", "friends"],
    ),
    (
        "Picnic in the park",
        "Picnic at {place} with {p0} and {p1} on the old {colour} rug. We ate sandwiches and {food}; a dog stole some "
        "of the {food2}.",
        "park",
        FAMILY,
        2,
        ["family", "outdoors"],
    ),
    (
        "Trip to the garden centre",
        "Drove with {p0} to {place} and bought {plant} for £{plant_price} and a {litres}-litre bag of compost.",
        "garden_centre",
        FAMILY,
        1,
        ["garden", "shopping"],
    ),
    ("Phone call with {p0}", "Long phone call with {kin0}. They told me about {news}.", "home", FAMILY, 1, ["family"]),
    (
        "Evening at the theatre",
        "Saw '{play}' at {place} with {p0}; the tickets were £{ticket} each. The lead actor forgot a line in act two.",
        "theatre",
        FRIENDS,
        1,
        ["culture"],
    ),
    (
        "Day by the sea",
        "Day trip to {place} with {p0} and {p1}, {drive} miles each way. Found {fossil} on the beach and ate fish and "
        "chips.",
        "coast",
        FAMILY,
        2,
        ["travel", "family"],
    ),
    (
        "Baking day",
        "Baked {cake} for {p0}'s visit in my {colour} mixing bowl. Used my mother's old recipe.",
        "home",
        FAMILY,
        1,
        ["cooking"],
    ),
]
TOPICS = ["the new bus timetable", "her grandson's wedding", "the village fête", "old school friends", "the weather"]
CAKES = ["lemon drizzle cake", "carrot cake", "Victoria sponge", "fruit cake", "apple crumble"]
BIRDS = ["a heron", "two swans", "a kingfisher", "a family of ducks", "a cormorant"]
WATER = ["very high after the rain", "calm and clear", "covered in leaves", "frozen at the edges"]
HYMNS = ["'Abide with Me'", "'Jerusalem'", "'Amazing Grace'", "'All Things Bright and Beautiful'"]
FOODS = ["strawberries", "cheddar", "fresh bread", "tomatoes", "plums", "eggs", "ham"]
MEALS = ["roast chicken", "a vegetable lasagne", "shepherd's pie", "fish pie"]
HOBBIES = ["model railway", "new bicycle", "guitar", "football trophies", "drawings"]
AILMENTS = ["knee", "blood pressure", "hearing", "eyesight"]
PLANTS = ["sweet peas", "tulip bulbs", "runner beans", "a rose bush", "lavender", "tomato plants"]
BOOKS = ["Middlemarch", "The Remains of the Day", "Rebecca", "A Christmas Carol", "Brooklyn"]
NEWS = ["a new job in Leeds", "the new puppy", "their holiday in Spain", "a leaking roof", "a promotion"]
PLAYS = ["The Mousetrap", "Blithe Spirit", "Pygmalion", "An Inspector Calls"]
FOSSILS = ["an ammonite", "a belemnite", "a shell fossil"]
# Quantities (prices in pounds, miles, kilos, litres), colours and seasons give the number puzzles and the
# scorer's synonym classes something to ask about. They are drawn
# from a second generator so that adding them left every other choice of a seed as it was.
QUANTITIES = {
    "bill": ["6.40", "7.80", "8.50", "9.20", "11.60", "12.30"],
    "miles": [2, 3, 4, 5, 6, 8],
    "shopping": ["3.20", "4.50", "6.80", "7.25", "9.40", "12.60", "14"],
    "fare": ["18.40", "23.50", "27.80", "31.20", "42"],
    "weight": [58, 63, 67, 71, 74, 78, 82],
    "plant_price": ["4.99", "6.50", "8", "12.99", "15"],
    "litres": [40, 50, 60, 75],
    "ticket": ["12.50", "18", "22", "26.50", "32"],
    "drive": [95, 110, 124, 138, 147],
    "colour": ["navy", "red", "green", "yellow", "cream", "grey", "maroon", "turquoise"],
    "season": ["spring", "summer", "autumn"],
}
# Family members as the diarist writes of them ("my daughter Sarah").
# Version 2 keeps each entry coherent (version 1 stays reachable: the labelled scoring puzzles were built from it).
# When an activity happens: the weekdays it is tied to (Monday is 0; None for any day), the hours it starts in
# (so "Evening at the theatre" is in the evening and "Spent the afternoon in the garden" in the afternoon), and
# the months it is done in (None for all year).
TIMING: dict[str, tuple[tuple[int, ...] | None, range, tuple[int, ...] | None]] = {
    "Coffee with {p0}": (None, range(10, 16), None),
    "Walk along the river": (None, range(9, 16), None),
    "Sunday service": ((6,), range(10, 12), None),
    "Shopping at the market": ((5,), range(8, 12), None),  # the Saturday market
    "Visit to Sarah": (None, range(10, 14), None),
    "Doctor's appointment": ((0, 1, 2, 3, 4), range(9, 17), None),
    "Gardening": (None, range(13, 17), (3, 4, 5, 6, 7, 8, 9, 10)),
    "Library reading group": ((0, 1, 2, 3, 4), range(10, 16), None),
    "Picnic in the park": (None, range(12, 15), (5, 6, 7, 8, 9)),
    "Trip to the garden centre": (None, range(10, 16), None),
    "Phone call with {p0}": (None, range(9, 21), None),
    "Evening at the theatre": (None, range(19, 21), None),
    "Day by the sea": (None, range(8, 11), (4, 5, 6, 7, 8, 9, 10)),
    "Baking day": (None, range(9, 16), None),
}
WINTER_ONLY = {"frozen at the edges"}
KIN = {"Sarah": "my daughter Sarah", "Tom": "my grandson Tom", "David": "my son David",
       "Emily": "my granddaughter Emily", "Uncle Peter": "Uncle Peter"}  # fmt: skip


def _article(noun: str) -> str:
    return ("an " if noun[:1].casefold() in "aeiou" else "a ") + noun


def _coherent(title: str, text: str, words: dict, day: date, hour: int, fix: random.Random):
    """Version 2's corrections to a drawn entry: its day, hour and words agree with its title and season."""
    weekdays, hours, months = TIMING[title]
    if (weekdays and day.weekday() not in weekdays) or (months and day.month not in months):
        days = [END_DAY - timedelta(days=back) for back in range(365)]
        day = fix.choice(
            [d for d in days if (not weekdays or d.weekday() in weekdays) and (not months or d.month in months)]
        )
    if hour not in hours:
        hour = fix.choice(hours)
    if words["food2"] == words["food"]:  # "bought plums and plums"
        words["food2"] = fix.choice([food for food in FOODS if food != words["food"]])
    if words["water"] in WINTER_ONLY and day.month not in (12, 1, 2):
        words["water"] = fix.choice([water for water in WATER if water not in WINTER_ONLY])
    text = text.replace("Baked {cake}", "Baked {a_cake}")  # "Baked a Victoria sponge", not "Baked Victoria sponge"
    words["a_cake"] = _article(words["cake"])
    return text, words, day, hour


def generate_entries(count: int, seed: int, description_share: float = 1.0, version: int = 2) -> list[dict]:
    """`count` entries spread over the year before END_DAY, in the documented JSON schema.

    description_share is the fraction written like a diary (a sentence or two of text); the rest
    look like calendar events and photos: a title, a place and people only. Version 1 is the first generator,
    kept for the labelled scoring puzzles (chat/scoring_cases.py); version 2 makes each entry coherent."""
    rng = random.Random(seed)
    amounts = random.Random(f"{seed}-quantities")
    fix = random.Random(f"{seed}-coherent")
    entries = []
    for _ in range(count):
        title, text, place_key, pool, n_people, tags = rng.choice(ACTIVITIES)
        people = rng.sample(pool, n_people) if n_people else []
        place, lat, lon = PLACES[place_key]
        words = {
            "place": place, "topic": rng.choice(TOPICS), "cake": rng.choice(CAKES), "bird": rng.choice(BIRDS),
            "water": rng.choice(WATER), "hymn": rng.choice(HYMNS), "food": rng.choice(FOODS),
            "food2": rng.choice(FOODS), "meal": rng.choice(MEALS), "hobby": rng.choice(HOBBIES),
            "ailment": rng.choice(AILMENTS), "weeks": rng.choice([2, 4, 6]), "plant": rng.choice(PLANTS),
            "book": rng.choice(BOOKS), "news": rng.choice(NEWS), "play": rng.choice(PLAYS),
            "fossil": rng.choice(FOSSILS),
        }  # fmt: skip
        words.update({key: str(amounts.choice(values)) for key, values in QUANTITIES.items()})
        words.update({f"p{i}": name for i, name in enumerate(people)})
        words.update({f"kin{i}": KIN.get(name, name) for i, name in enumerate(people)})
        day = END_DAY - timedelta(days=rng.randrange(365))
        hour, minute = rng.randint(8, 20), rng.choice([0, 15, 30, 45])
        if version >= 2:
            text, words, day, hour = _coherent(title, text, words, day, hour, fix)
        precision = rng.choices(["exact", "day", "month"], weights=[70, 25, 5])[0]
        when = {
            "exact": datetime(day.year, day.month, day.day, hour, minute).isoformat(timespec="minutes"),
            "day": day.isoformat(),
            "month": day.strftime("%Y-%m"),
        }[precision]
        entries.append(
            {
                "when": when,
                "title": title.format(**words),
                "description": text.format(**words) if rng.random() < description_share else "",
                "place": {"name": place, "lat": lat, "lon": lon},
                "people": people,
                "tags": tags,
            }
        )
    entries.sort(key=lambda e: e["when"])
    return entries


def generate_json(count: int, seed: int, description_share: float = 1.0, version: int = 2) -> bytes:
    entries = generate_entries(count, seed, description_share, version)
    return json.dumps({"entries": entries}, ensure_ascii=False, indent=1).encode()
