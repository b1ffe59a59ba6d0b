"""What the CTC model kinds share (trained, ESPnet, transformers): devices, audio, greedy decoding.

    from s2s_plugin.asr.common import greedy_tokens, prepare_wave
    wave = prepare_wave(samples, 22050, 16000)     # mono float32 at the model's rate
    labels = greedy_tokens(logp)                   # best path, repeats merged, blanks dropped

:mod:`s2s_plugin.asr.ctc` (our models, the loader) and :mod:`s2s_plugin.asr.imported`
(ESPnet and transformers models) both build on this module, and not on each other.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from s2s_plugin.errors import ConfigError, DataError


def pick_device(device: str = "auto") -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def prepare_wave(wav: np.ndarray, sr: int, target_sr: int) -> np.ndarray:
    """A mono float32 copy of ``wav`` at ``target_sr`` (channels averaged, resampled)."""
    from s2s_plugin.data.format import resample

    wav = np.asarray(wav, dtype=np.float32)
    if wav.ndim == 2:
        wav = wav.mean(axis=1, dtype=np.float32)
    if wav.ndim != 1:
        raise ValueError(f"expected 1-D audio samples, got shape {wav.shape}")
    return resample(wav, int(sr), int(target_sr))


def greedy_tokens(logp: np.ndarray, blank: int = 0) -> list[int]:
    """Best-path CTC labels of ``(T, V)`` log posteriors (repeats merged, blanks dropped)."""
    from s2s_plugin.asr.tokens import ctc_collapse

    return ctc_collapse(np.asarray(logp).argmax(axis=-1), blank)


def tokens_to_text(pieces: Sequence[str], space_tokens: Sequence[str] = ("<space>", "|"),
                   drop: Sequence[str] = ("<unk>", "<s>", "</s>", "<sos/eos>", "<pad>", "<blank>")) -> str:
    """Join token strings into words: space tokens and SentencePiece's ``▁`` start words."""
    out = []
    for p in pieces:
        if p in drop:
            continue
        out.append(" " if p in space_tokens else p.replace("▁", " "))
    return " ".join("".join(out).split())


def estimate_frame_rate(log_posteriors, sample_rate: int) -> float:
    """Output frames per second of ``log_posteriors(wave, sr)``, measured on 4 s and 8 s of silence."""
    n1, n2 = 4 * sample_rate, 8 * sample_rate
    t1 = log_posteriors(np.zeros(n1, np.float32), sample_rate).shape[0]
    t2 = log_posteriors(np.zeros(n2, np.float32), sample_rate).shape[0]
    if t2 <= t1:
        raise DataError("cannot measure the model's frame rate: 8 s of audio gave no more frames than 4 s")
    return round((t2 - t1) / 4.0, 6)


def check_layer(layer: int, num_layers: int) -> None:
    if not isinstance(layer, int) or not 1 <= layer <= num_layers:
        raise ConfigError(f"layer must be an integer in 1..{num_layers} (the encoder's blocks), got {layer!r}")
