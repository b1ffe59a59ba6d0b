"""Signals and files for the data tests (imported by conftest.py and the tests)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

FS = 22050
SRC_WORDS = ["le", "chat", "ne", "dort", "pas", "ici"]
TGT_WORDS = ["the", "cat", "does", "not", "sleep", "here"]


def tone(seconds: float, fs: int = FS, freq: float = 220.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(round(seconds * fs))) / fs
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def noise(seconds: float, fs: int = FS, seed: int = 0, amp: float = 0.2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (amp * rng.uniform(-1, 1, int(round(seconds * fs)))).astype(np.float32)


def ctm_lines(utt: str, words: list[str], seconds: float) -> list[str]:
    step = seconds / len(words)
    return [f"{utt} 1 {i * step:.3f} {step:.3f} {w}" for i, w in enumerate(words)]


def write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
