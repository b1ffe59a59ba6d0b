"""Fixtures of the unit tests: tiny dump dirs of synthetic speech-like audio, a stand-in CTC model."""
from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
from units_testutils import DURATIONS, FS, StandInCtcModel, write_dump_dir


@pytest.fixture
def dump_dir(tmp_path):
    """A factory ``dump_dir(name="train_fr", durations=..., src="fr", fs=16000)`` -> the dir."""

    def make(name: str = "train_fr", durations: dict | None = None, src: str = "fr", fs: int = FS,
             seed: int = 0) -> Path:
        return write_dump_dir(tmp_path / "dump" / name, durations or DURATIONS, src=src, fs=fs, seed=seed)

    return make


@pytest.fixture
def standin_ctc(monkeypatch, tmp_path):
    """Install a stand-in ``s2s_plugin.asr.ctc`` whose ``load_ctc_model`` needs an existing exp dir."""
    exp = tmp_path / "exp" / "ctc"
    exp.mkdir(parents=True)
    mod = types.ModuleType("s2s_plugin.asr.ctc")
    loaded = []

    def load_ctc_model(exp_dir, device="cpu"):
        assert Path(exp_dir).is_dir() and device == "cpu"
        loaded.append(Path(exp_dir))
        return StandInCtcModel()

    mod.load_ctc_model = load_ctc_model
    mod.loaded = loaded
    monkeypatch.setitem(sys.modules, "s2s_plugin.asr.ctc", mod)
    return exp, mod
