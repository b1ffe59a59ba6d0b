"""``ctc_lexicon``: the in-recipe CTC scoring ASR, each word snapped to the nearest word of a lexicon.

    asr:
      name: ctc_lexicon
      exp_dir: exp/asr_en                     # a CTC exp dir (s2s ctc train)
      lexicon: data/lm_text/train/text.en     # Kaldi text (utt-id words...): its words are the lexicon
      cutoff: 0.6                             # a word farther than this from every lexicon word stays
"""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import numpy as np

from s2s_plugin.asr.scorers import CtcASR


class CtcLexiconASR:
    """Greedy CTC transcripts with spelling snapped to a closed vocabulary (difflib similarity).

    Args:
        exp_dir: the CTC model's exp dir.
        lexicon: a Kaldi text file whose words (after the utterance id) form the vocabulary.
        cutoff: the least similarity (0-1) for a word to be replaced by a lexicon word.
        device: ``cpu``, ``cuda`` or ``auto``.
    """

    name = "ctc_lexicon"

    def __init__(self, exp_dir: str, lexicon: str, cutoff: float = 0.6, device: str = "cpu") -> None:
        path = Path(lexicon)
        if not path.is_file():
            raise FileNotFoundError(f"asr 'ctc_lexicon': no lexicon text at {path}; point asr.lexicon at a "
                                    "Kaldi text file (utt-id followed by words), e.g. data/lm_text/train/text.en")
        words = lexicon_words(path)
        if not words:
            raise ValueError(f"asr 'ctc_lexicon': {path} has no words after the utterance ids")
        self.lexicon, self.cutoff = sorted(words), float(cutoff)
        self.ctc = CtcASR(exp_dir=exp_dir, device=device)
        self._cache: dict[str, str] = {}

    def snap(self, word: str) -> str:
        if word not in self._cache:
            close = difflib.get_close_matches(word, self.lexicon, n=1, cutoff=self.cutoff)
            self._cache[word] = close[0] if close else word
        return self._cache[word]

    def transcribe(self, wavs: list[np.ndarray], sr: int) -> list[str]:
        return [" ".join(self.snap(w) for w in text.split()) for text in self.ctc.transcribe(wavs, sr)]

    def __repr__(self) -> str:
        return f"CtcLexiconASR(exp_dir='{self.ctc.exp_dir}', {len(self.lexicon)} words)"


def lexicon_words(path: Any) -> set[str]:
    """The words of a Kaldi text file (for tests and users who want to check a transcript)."""
    return {w for line in Path(path).read_text(encoding="utf-8").splitlines() for w in line.split()[1:]}
