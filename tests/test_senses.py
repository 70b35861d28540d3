"""Key-word hints against the word's dictionary senses (chat.senses over chat.wordnet, Debian's WordNet 3.0) and
in the diary's voice (chat.definitions.undefined). The wrong hints are the audit files' (the rules were shaped on
them); the held-out measure is in bench/results/verifier-8.md (`python -m bench.verifier_checks`)."""

import pytest

from chat import wordnet
from chat.definitions import undefined

RETURN = "Took the train to Sarah's flat in Reading; the return ticket cost £23.50. Sarah cooked fish pie."
GROUP = "Reading group at the Central Library discussed 'The Remains of the Day'. Harold disagreed with everyone."
SURGERY = "Check-up at the Banbury Road surgery about my knee. The nurse weighed me at 67 kilos."
TOWPATH = "Walked 5 miles with Joan along the towpath by the river."


def test_the_dictionary_is_read_from_its_files():
    assert wordnet.base_forms("discussed", "v") == ["discuss"]
    assert wordnet.base_forms("geese", "n") == ["goose"]  # the exception list
    assert any("doctor" in sense.definition for sense in wordnet.synsets("surgery", "n"))
    ticket = wordnet.synsets("return ticket")[0]
    assert "round-trip ticket" in ticket.lemmas and any(s.lemmas == ("ticket",) for s in ticket.linked("@"))


@pytest.mark.parametrize(
    ("word", "hint", "diary", "entry", "expect"),
    [
        # wrong, accepted by verifier-8 and -9: grounded, English, giving nothing away
        ("return", "The train was late, so you had to wait for it.", RETURN, "Visit to Sarah",
         "shares no meaning with the dictionary senses of 'return'"),
        ("discussed", "The book was read by the group, so that everyone could listen.", GROUP, "",
         "shares no meaning"),
        ("surgery", "A doctor's appointment, about my knee.", SURGERY, "Doctor's appointment",
         "tells of the day (appointment, knee) more than of 'surgery' (doctor)"),
        ("surgery", "A doctor's appointment, about my knee.", SURGERY, "", "speaks as the diary ('my')"),
        ("surgery", "A special doctor's appointment.", SURGERY, "Doctor's appointment",
         "the hint is a thing of the day ('appointment'), not 'surgery'"),  # seed 43, verifier-10 at d82bb58
        ("surgery", "It's like a special doctor's appointment.", SURGERY, "Doctor's appointment",
         "a thing of the day ('appointment')"),  # seed 47, at 04528b1
        ("compost", "A bag of plant matter.", "A 40-litre bag of compost.", "", None),  # what the bag holds
        # right: words of the senses, in other forms ("talked"), spellings ("colour") and synonyms ("rotted")
        ("discussed", "Talked about something with other people.", GROUP, "", None),
        ("discussed", "The group talked about the book, sharing their thoughts and opinions.", GROUP, "", None),
        ("return", "A ticket that takes you there and back again.", RETURN, "", None),
        ("towpath", "A path through the river.", TOWPATH, "Walk along the river", None),  # "river": a sense's word
        ("green", "The colour of grass and leaves.", "On the old green rug.", "", None),
        ("compost", "Rotted plants and leaves that you dig into soil.", "A 50-litre bag of compost.", "", None),
        ("church", "A place where people go to pray and worship.", "Went to St Mary's church.", "", None),
        ("church", "A place where people go to pray.", "Went to St Mary's church.", "", None),  # "house of prayer"
        # accents folded as WordNet spells them ("cafe"): the word is checked, not skipped (review)
        ("café", "A small place where you can buy coffee and a meal.", "Coffee at the café with Rita.", "", None),
        ("café", "A place where you go to see the Boston Celtics.", "Coffee at the café with Rita.", "",
         "shares no meaning"),
        # a sense the dictionary lacks (WordNet 3.0 has "crumble" only as a verb): left to the form rules
        ("crumble", "A mixture of flour and sugar.", "Baked an apple crumble for Emily's visit.", "", None),
    ],
)  # fmt: skip
def test_a_hint_shares_meaning_with_the_word_s_senses(word, hint, diary, entry, expect):
    problems = undefined(hint, word=word, diary=diary, entry=entry)
    assert problems == [] if expect is None else any(expect in problem for problem in problems), problems


def test_a_dictionary_without_its_data_files_is_no_dictionary(monkeypatch, tmp_path):
    for name in wordnet.FILES.values():
        (tmp_path / f"index.{name}").write_text("")  # the indexes alone: a half-installed package
    monkeypatch.setattr(wordnet, "ROOT", tmp_path)
    assert not wordnet.available()


def test_without_the_dictionary_every_hint_is_rejected(monkeypatch, tmp_path):
    monkeypatch.setattr(wordnet, "ROOT", tmp_path)  # a machine where `make wordnet` never ran
    assert undefined("Talked about something with other people.", word="discussed", diary=GROUP) == [
        "no dictionary to check the hint against (make wordnet)"
    ]
