"""Saying "I don't know" is not an answer. A trainee who says it gets a kind clue, and the trial row records an
omission (scorer "dont_know") apart from a wrong answer: memory research separates withholding from
commission errors, and a wrong guess should not be read into "no idea"."""

import re
import unicodedata

# Whole answers only: "I don't know the date but it was with Sarah" is an answer and is scored.
_NOT_KNOWING = re.compile(
    r"""^(?:(?:sorry|hmm+|um+|er+|oh|well|no|honestly|i'm afraid)[,.!\s]*)*
    (?:i\s*)?(?:really\s+|just\s+|honestly\s+|truly\s+)?
    (?:
        (?:do\s*n[o']?t|do\s+not|dont|don't)\s+(?:really\s+)?(?:know|remember|recall)
      | (?:can\s*not|can't|cannot|cant|could\s*n't|couldn't)\s+(?:really\s+)?(?:remember|recall|think|say)
      | (?:have\s+|'ve\s+|haven't\s+|have\s+not\s+)?(?:no|not\s+a(?:ny)?|a|any)\s+(?:idea|clue)
      | (?:have|'ve)\s+forgotten | forgot | forget | not\s+sure | no\s+idea | dunno | pass
      | (?:it'?s\s+|my\s+mind'?s?\s+(?:is\s+)?)?(?:gone|a\s+blank|blank)
    )
    (?:\s+(?:it|that|this|this\s+one|at\s+all|anymore|any\s+more|either|really|sorry))*
    [\s.!?…]*$""",
    re.IGNORECASE | re.VERBOSE,
)


def says_not_knowing(answer: str) -> bool:
    text = unicodedata.normalize("NFKC", answer).replace("’", "'").strip()
    return bool(_NOT_KNOWING.match(re.sub(r"\s+", " ", text)))
