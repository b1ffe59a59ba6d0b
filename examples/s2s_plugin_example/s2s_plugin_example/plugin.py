"""The plugin module named by this package's ``s2s_plugin`` entry point.

It registers one component of every plugin kind; after ``pip install
examples/s2s_plugin_example`` a config selects each by name::

    scheduler: {name: exponential, half_life: 500}          # stage 8 (this module)
    tokenizer: {name: log_energy_bins, n_clusters: 16}      # stage 4 (units.py)
    aligner: {name: pause_snap}                             # stage 5 (aligner.py)
    llm: {name: hf_frozen_text, path: exp/lm/model}         # stages 8-9 (llm.py)
    vocoder: {name: unit_tones}                             # stage 10 (vocoder.py)
    asr: {name: ctc_lexicon, exp_dir: exp/asr_en, lexicon: data/lm_text/train/text.en}   # stage 11 (asr.py)
    quality: {name: tonality}                               # stage 11 (quality.py)
"""
from __future__ import annotations

from typing import Any

from s2s_plugin import hookimpl
from s2s_plugin_example.aligner import PauseSnapAligner
from s2s_plugin_example.asr import CtcLexiconASR
from s2s_plugin_example.llm import HFFrozenText
from s2s_plugin_example.quality import Tonality
from s2s_plugin_example.units import LogEnergyBins
from s2s_plugin_example.vocoder import UnitTones


class ExponentialScheduler:
    """p decays exponentially from ``p_init`` towards ``p_final``.

    p(t) = p_final + (p_init - p_final) * 0.5 ** (t / half_life), set to
    p_final once within ``floor`` of it, so training ends on pure units.

    Args:
        p_init: p at step 0.
        p_final: the value p decays to.
        half_life: steps for the distance to p_final to halve.
        floor: distance to p_final below which p is p_final.
    """

    name = "exponential"

    def __init__(self, p_init: float = 0.9, p_final: float = 0.0, half_life: int = 500,
                 floor: float = 0.01) -> None:
        if half_life <= 0:
            raise ValueError(f"half_life must be > 0, got {half_life}")
        self.p_init, self.p_final, self.half_life, self.floor = p_init, p_final, half_life, floor
        self._step = 0

    def value(self, step: int) -> float:
        dist = (self.p_init - self.p_final) * 0.5 ** (step / self.half_life)
        return self.p_final if abs(dist) < self.floor else self.p_final + dist

    def step(self) -> float:
        p = self.value(self._step)
        self._step += 1
        return p

    def state_dict(self) -> dict[str, Any]:
        return {"name": self.name, "step": self._step,
                "params": {"p_init": self.p_init, "p_final": self.p_final,
                           "half_life": self.half_life, "floor": self.floor}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._step = int(state["step"])


@hookimpl
def register_interleave_schedulers() -> list[type]:
    return [ExponentialScheduler]


@hookimpl
def register_unit_tokenizers() -> list[type]:
    return [LogEnergyBins]


@hookimpl
def register_aligners() -> list[type]:
    return [PauseSnapAligner]


@hookimpl
def register_llm_decoders() -> list[type]:
    return [HFFrozenText]


@hookimpl
def register_vocoders() -> list[type]:
    return [UnitTones]


@hookimpl
def register_asr_models() -> list[type]:
    return [CtcLexiconASR]


@hookimpl
def register_quality_scorers() -> list[type]:
    return [Tonality]
