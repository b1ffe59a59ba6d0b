"""The config of the mini corpus (``egs/mini_s2st/s2st1/conf/corpus.yaml``), strict.

    from s2s_plugin.corpora.mini.config import load_mini_config
    cfg = load_mini_config("conf/corpus.yaml", ["sources.pt.train=300", "seed=3"])
    cfg.sources["fr"].voices[0].voice          # 'fr+m1'

Layout of the file::

    seed: 1                       # sentences, speaker order and espeak's noise all follow it
    heldout_fraction: 0.1         # share of the sentence space kept for dev (half) and test (half)
    pad_seconds: 0.1              # silence added before and after each utterance
    sources:                      # source languages (fr, es, pt): sizes and speakers
      fr:
        train: 1200
        dev: 60
        test: 60
        voices:                   # speaker id, espeak voice[+variant], rate (words/min), pitch (0-100)
          - {id: fr_m1, voice: fr+m1, rate: 165, pitch: 45}
    target:                       # English
      voices:
        - {id: en_us, voice: en-us}
    text:                         # text-only corpus (every sentence in all four languages)
      train: 20000
      dev: 500
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from s2s_plugin.config import from_dict, load_config
from s2s_plugin.corpora.mini.lexicon import SOURCE_LANGS
from s2s_plugin.errors import ConfigError

_ID_RE = re.compile(r"^[A-Za-z0-9_]+$")


@dataclass
class VoiceConfig:
    """One speaker: an espeak-ng voice (``lang[+variant]``) with its rate and pitch.

    Attributes:
        id: the speaker id (``utt2spk``, utterance ids): letters, digits, ``_``.
        voice: espeak-ng voice name, e.g. ``fr``, ``fr+m1``, ``en-us+f2``.
        rate: speaking rate in words per minute (80..450; espeak's default 175).
        pitch: base pitch (0..100; default 50).
    """

    id: str
    voice: str
    rate: int = 175
    pitch: int = 50

    def __post_init__(self) -> None:
        if not _ID_RE.match(self.id):
            raise ConfigError(f"voice id '{self.id}' may only have letters, digits and '_'")
        if not 80 <= self.rate <= 450:
            raise ConfigError(f"voice '{self.id}': rate must be in 80..450 words/min, got {self.rate}")
        if not 0 <= self.pitch <= 100:
            raise ConfigError(f"voice '{self.id}': pitch must be in 0..100, got {self.pitch}")


def _block(schema: type, data: object, where: str):
    """``from_dict`` that names ``where`` in every error (the schema's own checks included)."""
    if isinstance(data, schema):
        return data
    try:
        return from_dict(schema, data, where)
    except ConfigError as e:
        raise ConfigError(str(e) if str(e).startswith(where) else f"{where}: {e}") from None


def _voices(items: object, where: str) -> list[VoiceConfig]:
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{where}: give a non-empty list of voices {{id, voice, rate, pitch}}")
    return [_block(VoiceConfig, v, f"{where}[{i}]") for i, v in enumerate(items)]


@dataclass
class SourceConfig:
    """One source language: utterances per set and its speakers (used in turn)."""

    train: int
    dev: int
    test: int
    voices: list = field(default_factory=list)

    def __post_init__(self) -> None:
        for name in ("train", "dev", "test"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1 utterance, got {getattr(self, name)}")


@dataclass
class TargetConfig:
    """The English side: its speakers (one voice, like CVSS-C's canonical target voice, by default)."""

    voices: list


@dataclass
class TextConfig:
    """The text-only corpus: sentences (each in all four languages) in its train and dev splits."""

    train: int = 20000
    dev: int = 500

    def __post_init__(self) -> None:
        if self.train < 1 or self.dev < 1:
            raise ConfigError(f"text.train and text.dev must be at least 1, got {self.train}, {self.dev}")


@dataclass
class MiniCorpusConfig:
    """The whole corpus (see the module docstring for the file layout)."""

    sources: dict
    target: TargetConfig
    seed: int = 1
    heldout_fraction: float = 0.1
    pad_seconds: float = 0.1
    text: TextConfig = field(default_factory=TextConfig)

    def __post_init__(self) -> None:
        if not self.sources:
            raise ConfigError("sources: give at least one source language")
        parsed = {}
        for lang, block in self.sources.items():
            if lang not in SOURCE_LANGS:
                raise ConfigError(f"sources: unsupported language '{lang}'; the grammar speaks "
                                  f"{', '.join(SOURCE_LANGS)}")
            src = _block(SourceConfig, block, f"sources.{lang}")
            src.voices = _voices(src.voices, f"sources.{lang}.voices")
            parsed[lang] = src
        self.sources = parsed
        self.target.voices = _voices(self.target.voices, "target.voices")
        ids = [v.id for v in self.all_voices()]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ConfigError(f"voice ids must be unique across languages; repeated: {', '.join(dup)}")
        if not 0.0 < self.heldout_fraction <= 0.5:
            raise ConfigError(f"heldout_fraction must be in (0, 0.5], got {self.heldout_fraction}")
        if not 0.0 <= self.pad_seconds <= 2.0:
            raise ConfigError(f"pad_seconds must be in [0, 2], got {self.pad_seconds}")

    def all_voices(self) -> list[VoiceConfig]:
        return [v for src in self.sources.values() for v in src.voices] + list(self.target.voices)


def load_mini_config(path: str | Path, overrides: Iterable[str] = (), seed: int | None = None) -> MiniCorpusConfig:
    """Load and validate a mini-corpus config; ``seed`` (when given) replaces the file's.

    Raises:
        ConfigError: anything invalid, naming the file and the key.
    """
    overrides = list(overrides) + ([f"seed={seed}"] if seed is not None else [])
    try:
        return load_config(MiniCorpusConfig, path, overrides)
    except ConfigError as e:
        if str(path) in str(e):
            raise
        raise ConfigError(f"{path}: {e}") from None
