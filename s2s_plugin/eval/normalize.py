"""The one text normalisation of scoring, applied to hypotheses and references alike.

    from s2s_plugin.eval.normalize import TextNormalizer

    norm = TextNormalizer()                  # the documented default
    norm("Don't stop—it's 5 o'clock!")       # "don't stop it's 5 o'clock"
    norm("«Très» bien, 2+2=4 €")              # "très bien 2 2 4 €"
    norm.signature                           # 'nfkc+lc+punct'

Steps, in order (each can be turned off in ``conf/score.yaml``'s
``normalization`` block, and the signature printed with every score says
which ran):

1. Unicode ``NFKC`` composition (full-width letters, ligatures, compatibility
   forms become their plain equivalents: ``ﬁ`` -> ``fi``, ``Ｅ`` -> ``E``);
2. lower case (``str.lower``);
3. punctuation removed: every character of a Unicode punctuation category
   (``P*``: ``. , ; : ! ? " ( ) [ ] - – — « » ¿ ¡ … % & / @``) and every
   character of Python's ``string.punctuation`` (which adds the ASCII symbols
   ``$ + < = > ^ ` | ~``) becomes a space, except an apostrophe between two
   letters or digits, which is kept as ``'`` (``don't``, ``l'homme``,
   ``rock'n'roll``).
   Typographic apostrophes (``’ ‘ ʼ ′``) count as apostrophes. Other Unicode
   symbols (``€ £ ° ©``) are kept;
4. whitespace collapsed: runs of any Unicode whitespace become one space, and
   leading and trailing space is removed.

Punctuation becomes a space rather than nothing, so ``well-known`` scores as
two words on both sides, and a transcript that forgot a space after a full
stop still splits. The same function is applied to the ASR transcript, the
text hypotheses and every reference, so nothing of the protocol depends on
how a corpus punctuates. Numbers are not spelt out.

This is our protocol, not a peer's: ESPnet's ``evaluate_asr_bleu.sh`` deletes
punctuation (no space) after a Moses detokeniser and keeps every ASCII
apostrophe, fairseq's ``compute_asr_bleu.py`` lower-cases only the ASR
transcript and leaves the references as they are, and the same transcripts
score very differently under each. To compare with them, score with
``asr_bleu_protocol=espnet`` or ``fairseq`` (:mod:`s2s_plugin.eval.bleu_protocols`).
"""
from __future__ import annotations

import re
import string
import unicodedata
from dataclasses import dataclass
from typing import Literal

from s2s_plugin.errors import ConfigError

#: characters read as an apostrophe (mapped to ``'`` before the punctuation step)
APOSTROPHES = "'\u2019\u2018\u02bc\u2032\uff07"
_APOS_RE = re.compile(f"[{APOSTROPHES}]")
#: an apostrophe with a letter or digit on both sides
_INNER_APOS_RE = re.compile(r"(?<=[^\W_])'(?=[^\W_])")
_KEEP = "\x00"  # placeholder for kept apostrophes while punctuation is removed


_ASCII_PUNCT = frozenset(string.punctuation)


def _is_punct(ch: str) -> bool:
    return ch in _ASCII_PUNCT or unicodedata.category(ch).startswith("P")


@dataclass(frozen=True)
class TextNormalizer:
    """Text normalisation for BLEU and WER (the ``normalization`` block of ``conf/score.yaml``).

    Example::

        TextNormalizer()("  The CAT, isn't it?  ")      # "the cat isn't it"
        TextNormalizer(lowercase=False)("Hi!")          # "Hi"

    Args:
        unicode: Unicode normal form applied first (``NFKC``, ``NFC``) or ``none``.
        lowercase: lower-case everything.
        remove_punctuation: replace punctuation by spaces (apostrophes inside words are kept).
    """

    unicode: Literal["NFKC", "NFC", "none"] = "NFKC"
    lowercase: bool = True
    remove_punctuation: bool = True

    def __post_init__(self) -> None:
        if self.unicode not in ("NFKC", "NFC", "none"):
            raise ConfigError(f"normalization.unicode must be NFKC, NFC or none, got {self.unicode!r}")

    @property
    def signature(self) -> str:
        """A short description of the steps that run, stored beside every score."""
        parts = [self.unicode.lower()] if self.unicode != "none" else []
        if self.lowercase:
            parts.append("lc")
        if self.remove_punctuation:
            parts.append("punct")
        parts.append("ws")
        return "+".join(parts)

    def __call__(self, text: str) -> str:
        """Normalise one string."""
        if self.unicode != "none":
            text = unicodedata.normalize(self.unicode, text)
        if self.lowercase:
            text = text.lower()
        if self.remove_punctuation:
            text = _INNER_APOS_RE.sub(_KEEP, _APOS_RE.sub("'", text))
            text = "".join(" " if _is_punct(c) else c for c in text).replace(_KEEP, "'")
        return " ".join(text.split())

    def many(self, texts: list[str]) -> list[str]:
        """Normalise a list of strings."""
        return [self(t) for t in texts]
