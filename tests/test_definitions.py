"""The key-word hint must define the word (chat.definitions): hints of the audit files read by hand
(bench/results/authoring-cpu.md) and the authoring prompt's own examples. The rules were shaped on these
audit hints; their held-out measure (hand-written right definitions, fresh bench hints) is in
bench/results/verifier-8.md."""

import pytest

from chat.definitions import not_a_definition

TOWPATH = "Walked 5 miles with Joan along the towpath by the river."


@pytest.mark.parametrize(
    ("word", "hint", "diary", "expect"),
    [
        # wrong, accepted by verifier-7
        ("towpath", "The river is the main route for Joan.", TOWPATH, "tells of 'river'"),
        ("towpath", "The river is a narrow, steep path.", TOWPATH, "tells of 'river'"),
        ("return", "You forgot to give your ticket to Sarah.",
         "Took the train to Sarah's flat in Reading; the return ticket cost £18.40.", "tells of 'You'"),
        ("tickets", "A bus with a bus stop.",
         "Saw 'Pygmalion' at the Playhouse theatre with Frank; the tickets were £32 each.", "one thing ('bus')"),
        ("green", "A cozy, quiet place with a garden.",
         "Picnic at University Parks with Tom and Uncle Peter on the old green rug.", "the word a quality"),
        ("discussed", "Something interesting you read in the middlemarch.",
         "Reading group at the Central Library discussed 'Middlemarch'.", "the word a deed"),
        # right: the audit's good ones, the prompt's examples, definitions by use
        ("towpath", "A path through the river.", TOWPATH, None),
        ("crumble", "A mixture of flour and sugar.", "Baked an apple crumble for Emily's visit.", None),
        ("miles", "The word means the distance traveled in kilometers.", "Day trip to the beach, 95 miles each way.",
         None),
        ("marmalade", "Something sweet you spread on toast, made from fruit.", "Made marmalade with the oranges.",
         None),
        ("umbrella", "You hold it over your head to keep dry in the rain.", "Forgot my umbrella and got soaked.", None),
        ("whispered", "Spoke very softly, so that nobody else could hear.", "We whispered all through the film.", None),
        ("tickets", "Pieces of paper that let you in to see a show.", "The tickets were £26.50 each.", None),
        ("green", "The colour of grass and leaves.", "On the old green rug.", None),
        ("discussed", "Talked about something with other people.", "Reading group discussed 'A Christmas Carol'.",
         None),
    ],
)  # fmt: skip
def test_a_hint_defines_the_word(word, hint, diary, expect):
    problems = not_a_definition(hint, word=word, diary=diary)
    assert problems == [] if expect is None else any(expect in problem for problem in problems), problems
