"""A tiny fake S2ST exp for stage 11: reference sets, decodes with generated audio, a lookup ASR
and a lookup vocoder registered as throwaway plugins.

The ASR "recognises" a waveform by its length: every generated file has a
unique number of samples at 16 kHz, and the fixture knows what each one says.
"""
from __future__ import annotations

import json
import types
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from s2s_plugin import hookimpl

SR = 16000


class LookupASR:
    """Transcribes a waveform by looking its length (in 16 kHz samples) up in a JSON table."""

    name = "lookup_asr"

    def __init__(self, table: str) -> None:
        self.table = {int(k): v for k, v in json.loads(Path(table).read_text()).items()}
        self.calls: list[tuple[int, int]] = []

    def transcribe(self, wavs, sr):
        self.calls.append((len(wavs), sr))
        return [self.table.get(round(len(w) * SR / sr), "") for w in wavs]


class LookupVocoder:
    """Units -> silence of 160 samples per unit at 16 kHz (the ASR table knows each length)."""

    name = "lookup_vocoder"

    def __init__(self, hop: int = 160) -> None:
        self.hop = hop
        self.loaded = None

    @property
    def sample_rate(self) -> int:
        return SR

    @property
    def n_units(self):
        return None

    def load(self, directory) -> None:
        self.loaded = directory

    def save(self, directory) -> None:
        pass

    def synthesize(self, units):
        return np.zeros(len(units) * self.hop, np.float32), SR


class LengthQuality:
    """Scores a waveform by its length: seconds at 16 kHz times ``scale`` (NaN below ``min_samples``)."""

    name = "length_quality"
    unit = "seconds x scale"

    def __init__(self, scale: float = 1.0, min_samples: int = 0) -> None:
        self.scale, self.min_samples = scale, min_samples

    def score(self, wavs, sr):
        return [float("nan") if len(w) < self.min_samples else len(w) / sr * self.scale for w in wavs]


class LengthGap:
    """A reference-based scorer: how many seconds a waveform is longer or shorter than its reference (lower is
    better)."""

    name = "length_gap"
    unit = "seconds, |length - reference length|"
    needs_reference = True
    higher_is_better = False

    def score(self, wavs, sr, refs=None):
        return [abs(len(w) / sr - len(ref) / ref_sr) for w, (ref, ref_sr) in zip(wavs, refs)]


def fake_plugins() -> types.ModuleType:
    mod = types.ModuleType("fake_eval_plugins")
    mod.register_asr_models = hookimpl(lambda: [LookupASR])
    mod.register_vocoders = hookimpl(lambda: [LookupVocoder])
    mod.register_quality_scorers = hookimpl(lambda: [LengthQuality, LengthGap])
    return mod


@pytest.fixture
def eval_registry(registry):
    """The process-wide registry with the lookup ASR and vocoder added for one test."""
    with registry.temporary(fake_plugins(), name="fake_eval_plugins"):
        yield registry


def _kaldi(path: Path, entries: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k} {v}\n" for k, v in sorted(entries.items())), encoding="utf-8")


@dataclass
class FakeSet:
    """One language pair of the fake corpus: references and what the system and ASR produce."""

    name: str
    src: str
    ref_src: dict[str, str]
    ref_tgt: dict[str, str]
    hyp_src: dict[str, str]
    hyp_tgt: dict[str, str]
    asr_out: dict[str, str]     # what the ASR hears in our speech
    asr_ref: dict[str, str]     # ... in the reference speech
    asr_voc: dict[str, str] = field(default_factory=dict)  # ... in the vocoded reference units


@dataclass
class FakeCorpus:
    root: Path
    dump: Path
    table: Path
    vocoder_exp: Path
    sets: list[FakeSet]
    _next_len: int = 8000

    def length(self) -> int:
        self._next_len += 37
        return self._next_len

    def make_exp(self, name: str, hyps: dict[str, tuple[dict, dict, dict]] | None = None,
                 rate: int = SR) -> Path:
        """exp/<name>/decode_<set>/ with hyp_text.<src>, hyp_text.en and wav/ + wav.scp (at ``rate``).

        ``hyps`` replaces (hyp_src, hyp_tgt, asr_out) of some sets.
        """
        exp = self.root / "exp" / name
        table = json.loads(self.table.read_text())
        for s in self.sets:
            hyp_src, hyp_tgt, asr_out = (hyps or {}).get(s.name, (s.hyp_src, s.hyp_tgt, s.asr_out))
            dec = exp / f"decode_{s.name}"
            _kaldi(dec / f"hyp_text.{s.src}", hyp_src)
            _kaldi(dec / "hyp_text.en", hyp_tgt)
            scp = {}
            for utt, text in asr_out.items():
                n = self.length()
                table[str(n)] = text
                path = dec / "wav" / f"{utt}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                sf.write(path, 0.01 * np.ones(n * rate // SR, np.float32), rate)
                scp[utt] = str(path)
            _kaldi(dec / "wav.scp", scp)
        self.table.write_text(json.dumps(table))
        return exp

    def score_yaml(self, extra: str = "") -> Path:
        """A scoring config using the lookup ASR (plus ``extra`` YAML lines)."""
        path = self.root / "score.yaml"
        path.write_text(f"asr:\n  name: lookup_asr\n  table: {self.table}\nlisten_samples: 2\n{extra}")
        return path


FR = FakeSet(
    name="test_fr", src="fr",
    ref_src={"fr_1": "Le chat noir mange.", "fr_2": "deux chiens rouges", "fr_3": "la maison blanche"},
    ref_tgt={"fr_1": "The black cat eats.", "fr_2": "Two red dogs!", "fr_3": "The white house & co"},
    hyp_src={"fr_1": "le chat noir mange", "fr_2": "deux chien rouges", "fr_3": "la maison, blanche"},
    hyp_tgt={"fr_1": "the black cat eats", "fr_2": "two red dog", "fr_3": 'the "white" house <b>&</b> co'},
    asr_out={"fr_1": "the black cat eats", "fr_2": "two red dogs", "fr_3": "a white house"},
    asr_ref={"fr_1": "the black cat eats", "fr_2": "two red dogs", "fr_3": "the white house & co"},
    asr_voc={"fr_1": "the black cat", "fr_2": "two red dogs", "fr_3": "the white house & co"},
)
ES = FakeSet(
    name="test_es", src="es",
    ref_src={"es_1": "el gato negro come", "es_2": "dos perros rojos"},
    ref_tgt={"es_1": "The black cat eats", "es_2": "Two red dogs"},
    hyp_src={"es_1": "el gato negro come", "es_2": "dos perros rojos"},
    hyp_tgt={"es_1": "The black cat eats", "es_2": "Two red dogs."},
    asr_out={"es_1": "THE BLACK CAT EATS", "es_2": "two red dogs"},
    asr_ref={"es_1": "the black cat eats", "es_2": "two red dogs"},
    asr_voc={"es_1": "the black cat eats", "es_2": "two red dogs"},
)


@pytest.fixture
def corpus(tmp_path) -> FakeCorpus:
    """dump/test_fr and dump/test_es (16 kHz references, units), the ASR table and a vocoder exp."""
    return build_corpus(tmp_path, [FR, ES])


@pytest.fixture
def make_corpus(tmp_path):
    """``make_corpus([dict(name=..., src=..., ref_src=..., ...), ...])``: a corpus of your own :class:`FakeSet` s."""
    return lambda sets: build_corpus(tmp_path, [FakeSet(**s) for s in sets])


def build_corpus(root: Path, sets: list[FakeSet]) -> FakeCorpus:
    """dump/<set> of each of ``sets`` (16 kHz references, units), the ASR table and a vocoder exp in ``root``."""
    dump = root / "dump"
    table: dict[str, str] = {}
    c = FakeCorpus(root, dump, root / "asr_table.json", root / "exp" / "vocoder", list(sets))
    for s in c.sets:
        d = dump / s.name
        for lang, texts in ((s.src, s.ref_src), ("en", s.ref_tgt)):
            _kaldi(d / f"text.{lang}", texts)
            scp = {}
            for utt in texts:
                n = c.length()
                if lang == "en":
                    table[str(n)] = s.asr_ref[utt]
                path = d / "audio" / lang / f"{utt}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                sf.write(path, 0.01 * np.ones(n, np.float32), SR)
                scp[utt] = str(path)
            _kaldi(d / f"wav.scp.{lang}", scp)
        _kaldi(d / "utt2spk", {u: "spk" for u in s.ref_src})
        units = {}
        for utt, text in s.asr_voc.items():
            n = c.length() // 160 * 160 + 160
            c._next_len = n
            table[str(n)] = text
            units[utt] = " ".join(str(i % 7) for i in range(n // 160))
        _kaldi(d / "units.en", units)
    c.table.write_text(json.dumps(table))
    c.vocoder_exp.mkdir(parents=True)
    (c.vocoder_exp / "config.yaml").write_text("vocoder:\n  name: lookup_vocoder\n  hop: 160\n")
    (c.vocoder_exp / "fit.json").write_text("{}\n")  # stage 10 writes it last: a finished fit
    return c
