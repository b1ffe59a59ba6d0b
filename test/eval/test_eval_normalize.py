"""The one text normalisation of scoring (s2s_plugin/eval/normalize.py)."""
from __future__ import annotations

import pytest

from s2s_plugin.errors import ConfigError
from s2s_plugin.eval.normalize import TextNormalizer


@pytest.mark.parametrize("raw,expected", [
    ("The Black Cat eats.", "the black cat eats"),
    ("  two \t red\n dogs  ", "two red dogs"),
    ("Don't stop—it's 5 o'clock!", "don't stop it's 5 o'clock"),
    ("Don’t", "don't"),                                # typographic apostrophe
    ("'quoted' words", "quoted words"),                # apostrophes not inside a word go
    ("rock'n'roll l'homme", "rock'n'roll l'homme"),
    ("well-known U.S.A.", "well known u s a"),         # punctuation becomes a space
    ("end.Start", "end start"),
    ("«Très» bien, ¿qué?", "très bien qué"),
    ("2+2=4, 50% of $5 <b>&</b>", "2 2 4 50 of 5 b b"),  # ASCII punctuation and symbols
    ("20 € ©", "20 € ©"),                              # other Unicode symbols stay
    ("Ｅｘａｍｐｌｅ ﬁne", "example fine"),              # NFKC
    ("ÇA VA", "ça va"),
    ("...", ""),
])
def test_default_normalisation(raw, expected):
    assert TextNormalizer()(raw) == expected


def test_steps_can_be_turned_off_and_the_signature_says_so():
    assert TextNormalizer(lowercase=False)("Hi, Bob!") == "Hi Bob"
    assert TextNormalizer(remove_punctuation=False)("Hi,  Bob!") == "hi, bob!"
    assert TextNormalizer(unicode="none")("ﬁne") == "ﬁne"
    assert TextNormalizer().signature == "nfkc+lc+punct+ws"
    assert TextNormalizer(unicode="none", lowercase=False, remove_punctuation=False).signature == "ws"


def test_same_function_on_both_sides_is_idempotent():
    n = TextNormalizer()
    for text in ["Don't stop—it's 5!", "«Très» bien", "a - b"]:
        assert n(n(text)) == n(text)
    assert n.many(["A.", "b!"]) == ["a", "b"]


def test_unknown_unicode_form():
    with pytest.raises(ConfigError, match="NFKC, NFC or none"):
        TextNormalizer(unicode="NFD")
