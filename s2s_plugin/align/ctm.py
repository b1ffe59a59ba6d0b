"""The ``ctm`` aligner: import word timings from CTM files (Montreal Forced Aligner, the corpus oracle).

    # conf/align_oracle.yaml
    aligner:
      name: ctm
      path: "{dir}/oracle.{lang}.ctm"     # {dir}: the data dir, {set}: its name, {lang}: the language

Each utterance's CTM words must be the words of its transcript (compared
case-insensitively by default; silence entries such as ``<eps>`` or ``sil`` are
skipped): a mismatch is an error naming the file and utterance, since it means
the CTM belongs to other text. An utterance missing from the CTM is reported as
not aligned.
"""
from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np

from s2s_plugin.align.common import AlignmentError
from s2s_plugin.data.io import WordSpan, read_ctm
from s2s_plugin.errors import DataError

SKIP_WORDS = ("<eps>", "<sil>", "sil", "sp", "spn", "!sil", "<unk>-sil", "")


class CTMAligner:
    """Word spans read from a CTM per data set and language.

    Example::

        al = CTMAligner(path="{dir}/mfa.{lang}.ctm")
        al.setup("dump/train_fr", "fr")            # reads dump/train_fr/mfa.fr.ctm
        al.align("utt1", ["le", "chat"], wave, 16000)

    Args:
        path: the CTM file, a template with ``{dir}``, ``{set}`` and ``{lang}``.
        ignore_case: compare CTM words and transcript words case-insensitively.
        skip_words: CTM entries that are not words (silences); compared lower-cased.
        tolerance: seconds a span may reach past the end of the audio.
    """

    name: ClassVar[str] = "ctm"

    def __init__(self, path: str = "{dir}/oracle.{lang}.ctm", ignore_case: bool = True,
                 skip_words: list[str] | None = None, tolerance: float = 0.05) -> None:
        self.path = path
        self.ignore_case = bool(ignore_case)
        self.skip_words = {w.lower() for w in (SKIP_WORDS if skip_words is None else skip_words)}
        self.tolerance = float(tolerance)
        self.file: Path | None = None
        self.spans: dict[str, list[WordSpan]] = {}

    def setup(self, data_dir: str, lang: str) -> None:
        try:
            self.file = Path(self.path.format(dir=data_dir, set=Path(data_dir).name, lang=lang))
        except (KeyError, IndexError) as e:
            raise DataError(f"aligner 'ctm': path '{self.path}' uses an unknown field {e}; "
                            "use {dir}, {set} and {lang}") from None
        if not self.file.is_file():
            raise DataError(f"aligner 'ctm': {self.file} not found (path '{self.path}')")
        self.spans = {utt: [s for s in spans if s.word.lower() not in self.skip_words]
                      for utt, spans in read_ctm(self.file).items()}

    def _same(self, a: str, b: str) -> bool:
        return a.lower() == b.lower() if self.ignore_case else a == b

    def align(self, utt_id: str, words: list[str], wav: np.ndarray, sr: int) -> list[WordSpan]:
        if self.file is None:
            raise DataError("aligner 'ctm': setup() was not called")
        if utt_id not in self.spans:
            raise AlignmentError(f"not in {self.file}")
        spans = self.spans[utt_id]
        got = [s.word for s in spans]
        if len(got) != len(words) or not all(self._same(a, b) for a, b in zip(got, words)):
            k = next((i for i, (a, b) in enumerate(zip(got, words)) if not self._same(a, b)),
                     min(len(got), len(words)))
            found = repr(got[k]) if k < len(got) else "nothing"
            wanted = repr(words[k]) if k < len(words) else "nothing"
            raise DataError(f"{self.file}: utterance '{utt_id}': the CTM words differ from the transcript at "
                            f"word {k + 1}: {found} in the CTM, {wanted} in the text (CTM: '{' '.join(got)}'; "
                            f"text: '{' '.join(words)}'). Was the CTM made from another version of the text?")
        duration = len(wav) / sr
        last = max(s.end for s in spans)
        if last > duration + self.tolerance:
            raise AlignmentError(f"{self.file}: a word ends at {last:.3f} s, after the end of the audio "
                                 f"({duration:.3f} s)")
        return [WordSpan(w, s.start, s.duration) for w, s in zip(words, spans)]
