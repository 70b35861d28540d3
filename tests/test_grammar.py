"""The verifier's grammar check (chat.grammar, spaCy's small English parser): garbled text that every other rule
passes is rejected, and the well-formed questions, cues and hints of the four authored kinds pass.

The garbled cases: the one real output (accepted by verifier-7) and text made in its image (phrases of the
entries run together, words dropped or doubled), written before the rules; sentences of those sets that the
rules still miss are listed in bench/results/verifier-8.md, not here."""

import pytest

from chat.grammar import ungrammatical

GARBLED = [
    # seen: bench 2026-11-30 10:49, 1,000 entries, 0.5B: grounded, asks who, names both events
    "Who was reading group at the Central Library discussed in the evening at the Playhouse theatre?",
    "Who was picnic in the park walked along the river in July 2026?",
    "Who was day by the sea found a fossil at Lyme Regis?",
    "Which of these came first baked an apple crumble or the Sunday service?",
    "In spring 2026 you went to the Banbury Road surgery weighed you more than once. What did you do there?",
    "Who came to the market bought tomatoes at the Saturday market on Castle Street?",
    "What did you do there the nurse weighed me at 58 kilos?",
    "What did you do the surgery and went home?",  # two objects; the 'and' joins a verb after them (review)
    "Who library reading group discussed Middlemarch at the Central Library?",
    "Which came first the theatre saw Pygmalion or Coffee with Frank?",
    "Who was walk along the river saw two swans near the lock?",
    "In winter 2026 what did you do the surgery at Banbury Road?",
    "Who was phone call with Tom told you about their holiday in Spain?",
    "Who at the Day by the sea and the picnic in the park?",
    "Who was Sunday service at St Mary's church sang in November 2025?",
    "Something sweet you spread it on toast is made from fruit.",
    "You hold it over your head keeps you dry in the rain.",
    "Who did came with you to the theatre and the market?",
    "Which of these first came the theatre or the picnic happened?",
    "What was it you did did at the surgery in spring 2026?",
    # seen: common_ground tuning (seed 103), the blank filled with the word beside it
    "Bought strawberries and strawberries at the Saturday market on Castle Street for £3.20.",
    "At the picnic you bought fresh bread and fresh bread at the market.",
]

WELL_FORMED = [
    # common_ground questions whose two-part subject the small parser splits (seen rejected in tuning, seed 103)
    "What did the Coffee with Joan in November 2025 and the Baking day in March 2026 have in common?",
    "What did the shopping at the market in March 2026 and the picnic in the park in June 2026 have in common?",
    "What was there both at the Baking day in November 2025 and at the Coffee with Joan in February 2026?",
    "You bought eggs and fresh bread at the market.",
    # the good corpus and the audit files' well-formed outputs, by kind
    "Who was with you both at the Concert at the Albert Hall and at the Picnic by the river?",
    "Who was at the Library reading group in February 2026 and walked along the river in July 2026?",
    "Who was with you both at the house on Elm Road in May 2026 and at the University Parks in May 2026?",
    "Which of these came first: Coffee with Frank or Coffee with Elsie?",
    "Think back. Which was earlier: Coffee with Frank or Coffee with Elsie?",
    "In winter 2025 you went to the Banbury Road surgery more than once. What did you do there?",
    "In summer 2025 you did one thing at the Leisure Centre more than once. What was it?",
    "In spring 2026, how often did you go to the surgery?",
    "A word from your diary for May 2026: Something you plant in autumn. Which word is it?",
    "At St Mary's church in March 2025 you sang some religious songs. What are they called?",
    "Did the Picnic by the river come first?",
    # the program's cues: the diary's own line in quotes is not the model's English
    'Your diary for April 2026 says: "Walked 6 miles with Norman along the _____ by the river."',
    'Their name begins with "D".',
    "Check up at the Banbury Road surgery about my hearing.",  # diary style: no subject, the trainee's own
    # written for these tests, in other words than the rules were made on
    "Who came with you to the Sunday service at St Mary's church and to the beach at Lyme Regis?",
    "Who did you see both at the Day by the sea and at the Picnic in the park?",
    "Who went with you to the theatre and also walked along the river with you?",
    "Who was there when you baked a crumble and when you went to the market?",
    "Which of these happened earlier, Coffee with Frank or Coffee with Elsie?",
    "How many times did you go swimming at the Leisure Centre in summer 2025?",
    "In spring 2026 you visited the surgery several times. Why did you go?",
    "Who was it that came with you to the theatre and to the market?",
    "Something you spread on toast that is made from fruit.",
    "You hold it over your head when it rains.",
    "Spoke very softly, so that nobody else could hear.",
    "The son of your son or of your daughter.",
    "Tom was at the picnic, but he was not at the church.",
    # seed 59's cue, rejected at 61b0317 as "two objects": the parser hangs a list's second item on the verb
    "At the garden centre you bought a rose bush for £15 and a 40 litre bag of compost.",
]


@pytest.mark.parametrize("text", GARBLED)
def test_garbled_text_is_not_english(text):
    assert any(problem.startswith("not grammatical") for problem in ungrammatical(text))


@pytest.mark.parametrize("text", WELL_FORMED)
def test_well_formed_text_passes(text):
    assert ungrammatical(text) == []


# A fragment of an event's title pasted after the subject (chat.grammar.echoes): the real output of the
# 1,000-entry seed-23 run (verifier-9 accepted it) and text made in its image (the tuning set); the held-out
# sentences and the rule's misses are in bench/results/verifier-8.md.
@pytest.mark.parametrize(
    ("text", "titles", "expect"),
    [
        ("At the Library reading group you reading group discussed Rebecca.", (), "'reading group', said before"),
        ("At the Sunday service you Sunday service sang Jerusalem.", (), "'sunday service', said before"),
        ("At the Picnic in the park you park ate sandwiches.", (), "'park', a word said before"),
        ("In May you Sunday service sang Jerusalem.", ("Sunday service", "St Mary's church"), "'Sunday', a word"),
        ("Who was was with you at the picnic and at the theatre?", (), "'was' said twice in a row"),
        # sound: a verb after the pronoun, an indirect object, a place named twice with its preposition
        ("At the walk along the river you walked six miles with Rita.", ("Walk along the river",), None),
        ("Who gave you the book at the reading group?", ("Library reading group",), None),
        ("At the market you bought plums, and at the market you met Frank.", (), None),
        ("The nurse said that that was fine.", (), None),
        ("At Bora Bora you swam with Tom.", ("Holiday in Bora Bora",), None),  # a name that says a word twice
        ("Who was was with you at Bora Bora?", ("Holiday in Bora Bora",), "'was' said twice"),
    ],
)
def test_a_title_fragment_after_the_subject_is_garbled(text, titles, expect):
    problems = ungrammatical(text, titles)
    assert problems == [] if expect is None else any(expect in problem for problem in problems), problems
