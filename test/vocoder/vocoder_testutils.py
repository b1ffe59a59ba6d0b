"""Helpers of the vocoder tests: espeak-ng speech, a trivial unit labelling, a dump dir.

Units come from a labelling made here (k-means on log-mel cepstra of 20 ms
frames, 50 per second), so these tests depend on no other stage.
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import yaml

FS = 16000
FRAME_RATE = 50.0
N_UNITS = 24
SENTENCES = {
    "spk1_a": ("en", "the black cat sees the small dog"),
    "spk1_b": ("en", "a red bird does not eat three green apples"),
    "spk2_c": ("en+f3", "the women see two black dogs"),
    "spk2_d": ("en+f3", "my brother reads a big book"),
    "spk1_e": ("en", "four small birds sing in the garden"),
}


def cepstra(wave: np.ndarray, fs: int = FS, shift: int = 320, win: int = 400, n_mel: int = 24) -> np.ndarray:
    """``round(len / shift)`` frames of 13 log-mel cepstra (frame i centred near ``(i + 0.5) * shift``)."""
    from scipy.fft import dct

    n = int(round(len(wave) / shift))
    padded = np.pad(wave, (win // 2 - shift // 2, win))
    frames = np.stack([padded[i * shift:i * shift + win] * np.hanning(win) for i in range(n)])
    power = np.abs(np.fft.rfft(frames, 512)) ** 2
    edges_hz = 700 * np.expm1(np.linspace(0, 1127 * np.log1p(fs / 2 / 700), n_mel + 2) / 1127)
    bins = np.fft.rfftfreq(512, 1 / fs)
    fbank = np.stack([np.clip(np.minimum((bins - lo) / (c - lo), (hi - bins) / (hi - c)), 0, None)
                      for lo, c, hi in zip(edges_hz, edges_hz[1:], edges_hz[2:])])
    return dct(np.log(power @ fbank.T + 1e-8), norm="ortho", axis=1)[:, :13]


def log_energy(wave: np.ndarray, shift: int = 320) -> np.ndarray:
    """Frame log energy (dB) of 20 ms frames."""
    n = len(wave) // shift
    return 10 * np.log10(np.mean(wave[:n * shift].reshape(n, shift) ** 2, axis=1) + 1e-10)


@dataclass
class Corpus:
    dump: Path                       # dump/train_fr with wav.scp/text for fr and en, units.en(.info)
    waves: dict[str, np.ndarray]     # utt -> 16 kHz English speech
    units: dict[str, np.ndarray]     # utt -> units at 50 per second
    kmeans: "KMeans"                 # the fitted unit labeller


class KMeans:
    """A small Lloyd's k-means (numpy only; cheaper to import than scikit-learn)."""

    def __init__(self, feats: np.ndarray, k: int, iters: int = 25, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.centres = feats[rng.choice(len(feats), k, replace=False)].copy()
        for _ in range(iters):
            labels = self.predict(feats)
            for c in range(k):
                if np.any(labels == c):
                    self.centres[c] = feats[labels == c].mean(axis=0)

    def predict(self, feats: np.ndarray) -> np.ndarray:
        d = ((feats[:, None, :] - self.centres[None]) ** 2).sum(-1)
        return d.argmin(axis=1).astype(np.int64)


def speak(text: str, voice: str, path: Path) -> np.ndarray:
    from scipy.signal import resample_poly

    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True, capture_output=True)
    wave, fs = sf.read(path, dtype="float64")
    assert fs == 22050
    return resample_poly(wave, 160, 441).astype(np.float32)


def write_dump(root: Path, waves: dict[str, np.ndarray], units: dict[str, np.ndarray]) -> Path:
    """A stage-4-like dump dir: fr and en audio/text, utt2spk, units.en and units.en.info."""
    (root / "audio").mkdir(parents=True, exist_ok=True)
    rows: dict[str, list[str]] = {"wav.scp.en": [], "wav.scp.fr": [], "text.en": [], "text.fr": [],
                                  "utt2spk": [], "units.en": []}
    for utt in sorted(waves):
        for lang in ("en", "fr"):
            path = root / "audio" / f"{utt}.{lang}.wav"
            sf.write(path, waves[utt], FS)
            rows[f"wav.scp.{lang}"].append(f"{utt} {path}")
            rows[f"text.{lang}"].append(f"{utt} {SENTENCES[utt][1]}")
        rows["utt2spk"].append(f"{utt} {utt.split('_')[0]}")
        rows["units.en"].append(f"{utt} {' '.join(map(str, units[utt]))}")
    for name, lines in rows.items():
        (root / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    info = {"frame_rate": FRAME_RATE, "n_clusters": N_UNITS, "dedup": False, "tokenizer": {"name": "test_kmeans"}}
    (root / "units.en.info").write_text(yaml.safe_dump(info), encoding="utf-8")
    return root


def make_corpus(tmp: Path) -> Corpus:
    """Speak :data:`SENTENCES`, label them with :data:`N_UNITS` units, write ``tmp/dump/train_fr``."""
    waves = {utt: speak(text, voice, tmp / f"{utt}.22k.wav") for utt, (voice, text) in SENTENCES.items()}
    feats = {utt: cepstra(w) for utt, w in waves.items()}
    km = KMeans(np.concatenate(list(feats.values())), N_UNITS)
    units = {utt: km.predict(f) for utt, f in feats.items()}
    return Corpus(write_dump(tmp / "dump" / "train_fr", waves, units), waves, units, km)
