"""Whether a word of a text says a secret word: the word itself, a word inside it, or a word of the same stem.
Shared by the verifier (give-aways), the authoring grammar (stems it may not write) and the definition check."""


def stem_of(word: str) -> str:
    """The part of an answer word that gives it away even with another ending ("discuss" for "discussed")."""
    return word[: max(4, len(word) - 3)]


def says_word(text_word: str, secret: str) -> bool:
    """`text_word` is the secret word, a word inside it ("grandsond"), or a word of the same stem ("planted" for
    "planting")."""
    if text_word == secret:
        return True
    if len(secret) < 4 or len(text_word) < 4:
        return False
    return secret in text_word or text_word.startswith(stem_of(secret)) or secret.startswith(stem_of(text_word))
