"""Tiny S2ST data directories made on the fly (sine/noise at 22050 Hz)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from data_testutils import FS, SRC_WORDS, TGT_WORDS, ctm_lines, noise, tone, write_lines


@pytest.fixture
def make_datadir(tmp_path):
    """A factory: ``make_datadir(durations={"utt": (src_s, tgt_s)}, ...)`` -> the data dir path.

    Source ``fr`` is a tone, target ``en`` noise; texts have 2-6 words, with
    oracle CTMs spreading the words evenly. ``waves={(utt, lang): array}``
    replaces a generated signal (e.g. zeros for silence).
    """

    def make(name: str = "train", durations: dict[str, tuple[float, float]] | None = None,
             waves: dict[tuple[str, str], np.ndarray] | None = None, ctm: bool = True,
             src: str = "fr", tgt: str = "en") -> Path:
        durations = durations or {"spk1_a": (0.5, 0.6), "spk1_b": (0.7, 0.4), "spk2_c": (0.3, 0.35)}
        waves = waves or {}
        root = tmp_path / name
        for lang in (src, tgt):
            (root / "wav" / lang).mkdir(parents=True)
        scp = {src: [], tgt: []}
        text = {src: [], tgt: []}
        ctms = {src: [], tgt: []}
        for i, utt in enumerate(sorted(durations)):
            nw = 2 + i % 5
            for lang, secs, words, gen in ((src, durations[utt][0], SRC_WORDS, lambda s: tone(s, freq=200 + 50 * i)),
                                           (tgt, durations[utt][1], TGT_WORDS, lambda s: noise(s, seed=i))):
                path = root / "wav" / lang / f"{utt}.wav"
                sf.write(path, waves.get((utt, lang), gen(secs)), FS)
                scp[lang].append(f"{utt} {path}")
                text[lang].append(f"{utt} {' '.join(words[:nw])}")
                ctms[lang] += ctm_lines(utt, words[:nw], secs)
        for lang in (src, tgt):
            write_lines(root / f"wav.scp.{lang}", scp[lang])
            write_lines(root / f"text.{lang}", text[lang])
            if ctm:
                write_lines(root / f"oracle.{lang}.ctm", ctms[lang])
        write_lines(root / "utt2spk", [f"{u} {u.split('_')[0]}" for u in sorted(durations)])
        return root

    return make
