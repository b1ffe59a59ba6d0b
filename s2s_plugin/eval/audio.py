"""Reading the audio that scoring and the listening page compare: wav.scp entries and waveforms.

    from s2s_plugin.eval.audio import load_audio, read_scp
    scp = read_scp(Path("exp/s2st_scheduled/decode_test_fr/wav.scp"))   # utt -> audio spec
    wave, fs = load_audio(scp[utt], f"test_fr: utterance '{utt}'")

A module of its own so that :mod:`s2s_plugin.eval.score` and :mod:`s2s_plugin.eval.listen`
both read audio the same way without importing each other.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from s2s_plugin.data.io import read_kaldi_text
from s2s_plugin.errors import DataError


def resolve_audio(spec: str, scp: Path) -> str:
    """A wav.scp path as given (Kaldi: relative to the working dir), else relative to the scp's dir."""
    if Path(spec).is_absolute() or Path(spec).exists():
        return spec
    alt = scp.parent / spec
    return str(alt) if alt.exists() else spec


def read_scp(path: Path) -> dict[str, str]:
    """``utt -> audio spec`` of a wav.scp, relative paths resolved (see :func:`resolve_audio`)."""
    return {utt: resolve_audio(spec, path) for utt, spec in read_kaldi_text(path).items()}


def load_audio(spec: str, where: str) -> tuple[np.ndarray, int]:
    """Read one mono waveform; errors name ``where`` (file and utterance)."""
    from s2s_plugin.data.datadir import read_audio

    try:
        return read_audio(spec)
    except DataError as e:
        raise DataError(f"{where}: {e}") from None
    except Exception as e:  # soundfile/kaldiio raise many kinds; name what failed
        raise DataError(f"{where}: cannot read audio '{spec}': {type(e).__name__}: {e}") from None
