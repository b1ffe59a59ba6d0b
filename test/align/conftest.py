"""Fixtures of the aligner tests (helpers in align_testutils.py): tiny dump-style data dirs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from align_testutils import FS, silence, tone


def write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


@pytest.fixture
def make_dir(tmp_path):
    """``make_dir(utts={utt: (src_text, tgt_text)}, waves={(utt, lang): samples})`` -> a dump-style dir.

    Audio defaults to 0.2 s silence + 1 s tone + 0.2 s silence; the oracle CTMs spread the words
    evenly over the tone.
    """

    def make(utts: dict[str, tuple[str, str]], waves: dict | None = None, name: str = "test_fr",
             src: str = "fr", tgt: str = "en") -> Path:
        root = tmp_path / name
        (root / "audio").mkdir(parents=True)
        files: dict[str, list[str]] = {}
        for utt in sorted(utts):
            for lang, text in zip((src, tgt), utts[utt]):
                wav = (waves or {}).get((utt, lang))
                if wav is None:
                    wav = np.concatenate([silence(0.2), tone(1.0), silence(0.2)])
                path = root / "audio" / f"{utt}.{lang}.wav"
                sf.write(path, wav, FS)
                words = text.split()
                files.setdefault(f"wav.scp.{lang}", []).append(f"{utt} {path}")
                files.setdefault(f"text.{lang}", []).append(f"{utt} {text}")
                files.setdefault(f"oracle.{lang}.ctm", []).extend(
                    f"{utt} 1 {0.2 + k / len(words):.3f} {1 / len(words):.3f} {w}" for k, w in enumerate(words))
            files.setdefault("utt2spk", []).append(f"{utt} {utt.split('_')[0]}")
        for name_, lines in files.items():
            write_lines(root / name_, lines)
        return root

    return make
