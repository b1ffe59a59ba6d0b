"""ASR models that transcribe speech for scoring (stage 11): ``ctc``, ``whisper``, ``espnet``.

    from s2s_plugin.registry import get_registry

    asr = get_registry().build("asr_model", {"name": "ctc", "exp_dir": "exp/asr_en"})
    asr = get_registry().build("asr_model", {"name": "whisper", "path": "/models/whisper-large-v3"})
    asr = get_registry().build("asr_model", {"name": "espnet", "model_dir": "/models/espnet_asr_en"})
    texts = asr.transcribe([wave1, wave2], sr=16000)   # raw transcripts, normalised later

Each implements :class:`s2s_plugin.protocols.ASRModel`. Models load on the
first :meth:`transcribe` call, so building one (and ``s2s plugins``) stays
cheap; torch, transformers and espnet are imported there. Waveforms at any
rate are resampled to the model's rate. Nothing is downloaded: every path is
local, and a missing one is an error saying what to put where.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from s2s_plugin.errors import ConfigError

logger = logging.getLogger(__name__)


def to_rate(wavs: Sequence[np.ndarray], sr: int, target: int) -> list[np.ndarray]:
    """1-D float32 copies of ``wavs`` resampled from ``sr`` to ``target`` Hz."""
    from s2s_plugin.data.format import resample

    out = []
    for i, w in enumerate(wavs):
        w = np.asarray(w, dtype=np.float32)
        if w.ndim != 1:
            raise ValueError(f"waveform {i} has shape {w.shape}; expected a 1-D (mono) array")
        out.append(resample(w, int(sr), int(target)))
    return out


def _looks_like_path(value: str) -> bool:
    return "\n" not in value and len(value) < 4096 and ("/" in value or bool(re.search(r"\.[A-Za-z0-9]+$", value)))


def resolve_config_paths(args: Any, config: Path, model_dir: Path) -> tuple[Any, list[tuple[str, str]]]:
    """Make the relative file paths of an ESPnet training config absolute, as they lie beside the model.

    ESPnet writes paths relative to the recipe directory it ran in
    (``normalize_conf.stats_file: exp/asr_stats_raw_en_bpe5000/train/feats_stats.npz``,
    ``bpemodel: data/en_token_list/bpe_unigram5000/bpe.model``); a copied or
    unpacked model keeps them. Every string of the config that looks like a
    relative path (holds a ``/`` or ends in an extension) is looked for, in
    order, relative to the config's directory, each of its parents up to
    ``model_dir``, ``model_dir`` itself and the working directory; the first
    that exists replaces it (absolute). Strings found nowhere stay as they are
    (ESPnet then names the missing file).

    Returns:
        The config with resolved paths, and the ``(old, new)`` pairs changed.
    """
    config_dir, model_dir = Path(config).resolve().parent, Path(model_dir).resolve()
    roots = [config_dir]
    for parent in config_dir.parents:
        if model_dir not in (parent, *parent.parents):
            break
        roots.append(parent)
    roots += [model_dir, Path.cwd()]
    changed: list[tuple[str, str]] = []

    def fix(value: Any) -> Any:
        if isinstance(value, dict):  # a token list given inline holds tokens, not paths (``<sos/eos>``)
            return {k: v if k == "token_list" and isinstance(v, list) else fix(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fix(v) for v in value]
        if isinstance(value, str) and _looks_like_path(value) and not Path(value).is_absolute():
            for root in dict.fromkeys(roots):
                candidate = root / value
                if candidate.exists():
                    new = str(candidate.resolve())
                    if new != value:
                        changed.append((value, new))
                    return new
        return value

    return fix(args), changed


def _batches(n: int, size: int) -> list[range]:
    return [range(i, min(i + size, n)) for i in range(0, n, size)]


def _check_positive(owner: str, **values: int) -> None:
    for key, value in values.items():
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"asr '{owner}': {key} must be a positive integer, got {value!r}")


class CtcASR:
    """The in-recipe CTC model (``s2s ctc train``, :mod:`s2s_plugin.asr.ctc`) as the scoring ASR.

    Train it on reference target speech only (never on system output), e.g.
    ``s2s ctc train --config conf/asr_en.yaml --exp exp/asr_en --train_dirs dump/train_fr ...``
    with ``sides: [tgt]``; an imported model (``s2s ctc import``) works too. Example::

        asr = CtcASR(exp_dir="exp/asr_en")
        asr.transcribe([wave], 16000)          # ['the black cat eats']

    Args:
        exp_dir: the CTC model's exp dir (what :func:`s2s_plugin.asr.ctc.load_ctc_model` reads); s2st.sh
            passes the one it trains at stage 11 (or ``--asr_import``), so a recipe's config leaves it out.
        device: ``cpu``, ``cuda`` or ``auto``.
    """

    name = "ctc"

    def __init__(self, exp_dir: str | None = None, device: str = "cpu") -> None:
        self.exp_dir, self.device = Path(exp_dir) if exp_dir else None, device
        self._model: Any = None

    def __repr__(self) -> str:
        return f"CtcASR(exp_dir='{self.exp_dir}')"

    def _load(self) -> Any:
        if self._model is None:
            if self.exp_dir is None:
                raise ConfigError("asr 'ctc': no CTC model dir (key 'asr.exp_dir'): give the override "
                                  "asr.exp_dir=DIR (s2st.sh passes the scoring ASR of stage 11, exp/asr_<tgt_lang>, "
                                  "or --asr_import)")
            if not self.exp_dir.is_dir():
                raise ConfigError(
                    f"asr 'ctc': no CTC model at {self.exp_dir}. Train the scoring ASR on reference "
                    f"target speech first (s2s ctc train --config conf/asr_en.yaml --exp {self.exp_dir} "
                    "--train_dirs dump/train_...; see the recipe), or point asr.exp_dir at a CTC exp dir.")
            from s2s_plugin.asr.ctc import load_ctc_model

            self._model = load_ctc_model(self.exp_dir, device=self.device)
            logger.info("loaded the CTC model of %s", self.exp_dir)
        return self._model

    def transcribe(self, wavs: list[np.ndarray], sr: int) -> list[str]:
        """One transcript per waveform (greedy CTC decoding, batched by the model)."""
        model = self._load()
        out = model.transcribe([np.asarray(w, dtype=np.float32) for w in wavs], sr)
        return [str(t) for t in out]


class WhisperASR:
    """A transformers Whisper model from a local directory (the paper scored with large-v3).

    Decoding is forced to transcription in ``language`` (no language
    detection, no translation, no timestamps). Audio longer than 30 s is cut
    into 30 s pieces whose transcripts are joined. Example::

        asr = WhisperASR(path="/models/whisper-large-v3", num_beams=5, device="cuda", dtype="float16")
        asr.transcribe([wave], 16000)

    Args:
        path: the model directory (``save_pretrained`` output: config, weights, feature
            extractor and tokenizer files).
        language: language code of the speech (the S2ST target); ignored by English-only
            (``*.en``) models.
        batch_size: utterances per ``generate`` call.
        num_beams: 1 for greedy decoding, more for beam search.
        max_new_tokens: upper bound of generated tokens per 30 s piece.
        device: torch device.
        dtype: ``float32``, ``float16`` or ``bfloat16``.
    """

    name = "whisper"
    SAMPLE_RATE = 16000
    CHUNK_SECONDS = 30

    def __init__(self, path: str, language: str = "en", batch_size: int = 8, num_beams: int = 1,
                 max_new_tokens: int = 200, device: str = "cpu", dtype: str = "float32") -> None:
        _check_positive("whisper", batch_size=batch_size, num_beams=num_beams, max_new_tokens=max_new_tokens)
        if dtype not in ("float32", "float16", "bfloat16"):
            raise ConfigError(f"asr 'whisper': dtype must be float32, float16 or bfloat16, got {dtype!r}")
        self.path, self.language, self.batch_size = Path(path), language, batch_size
        self.num_beams, self.max_new_tokens, self.device, self.dtype = num_beams, max_new_tokens, device, dtype
        self._model: Any = None
        self._processor: Any = None

    def __repr__(self) -> str:
        return f"WhisperASR(path='{self.path}', num_beams={self.num_beams})"

    def _missing(self, detail: str) -> ConfigError:
        return ConfigError(
            f"asr 'whisper': {detail}. Put a transformers Whisper model directory at {self.path} "
            "(config.json, model.safetensors, preprocessor_config.json and the tokenizer files), e.g. "
            f"on a machine with access: `huggingface-cli download openai/whisper-large-v3 --local-dir "
            f"{self.path}`, then copy it here; this toolkit never downloads at run time.")

    def _load(self) -> tuple[Any, Any]:
        if self._model is None:
            if not (self.path / "config.json").is_file():
                raise self._missing(f"no Whisper model at {self.path} (no config.json)")
            import torch
            from transformers import WhisperForConditionalGeneration, WhisperProcessor

            try:
                processor = WhisperProcessor.from_pretrained(self.path, local_files_only=True)
                model = WhisperForConditionalGeneration.from_pretrained(
                    self.path, local_files_only=True, dtype=getattr(torch, self.dtype))
            except (OSError, ValueError) as e:
                raise self._missing(f"cannot load {self.path}: {e}") from None
            self._model, self._processor = model.to(self.device).eval(), processor
            logger.info("loaded Whisper from %s (%d parameters)", self.path,
                        sum(p.numel() for p in model.parameters()))
        return self._model, self._processor

    def _generate_kwargs(self, model: Any) -> dict[str, Any]:
        gen = model.generation_config
        kwargs: dict[str, Any] = {"num_beams": self.num_beams, "do_sample": False}
        if getattr(gen, "lang_to_id", None):  # multilingual: force the language and the task
            if f"<|{self.language}|>" not in gen.lang_to_id:
                raise ConfigError(f"asr 'whisper': the model at {self.path} has no language "
                                  f"'{self.language}' (it knows {len(gen.lang_to_id)} languages)")
            kwargs.update(language=self.language, task="transcribe")
        room = int(model.config.max_target_positions) - 4  # leave room for the decoder prompt
        kwargs["max_new_tokens"] = max(1, min(self.max_new_tokens, room))
        return kwargs

    def transcribe(self, wavs: list[np.ndarray], sr: int) -> list[str]:
        """One transcript per waveform."""
        import torch

        model, processor = self._load()
        wavs = to_rate(wavs, sr, self.SAMPLE_RATE)
        chunk = self.CHUNK_SECONDS * self.SAMPLE_RATE
        pieces, owner = [], []
        for i, w in enumerate(wavs):
            for start in range(0, max(len(w), 1), chunk):
                pieces.append(w[start:start + chunk] if len(w) else np.zeros(160, np.float32))
                owner.append(i)
        kwargs = self._generate_kwargs(model)
        texts: list[str] = []
        for idx in _batches(len(pieces), self.batch_size):
            feats = processor.feature_extractor([pieces[i] for i in idx], sampling_rate=self.SAMPLE_RATE,
                                                return_tensors="pt", return_attention_mask=True)
            with torch.inference_mode():
                out = model.generate(feats.input_features.to(self.device, model.dtype),
                                     attention_mask=feats.attention_mask.to(self.device), **kwargs)
            texts.extend(processor.batch_decode(out, skip_special_tokens=True))
        joined: list[list[str]] = [[] for _ in wavs]
        for i, t in zip(owner, texts):
            joined[i].append(t.strip())
        return [" ".join(t for t in parts if t) for parts in joined]


class EspnetASR:
    """An ESPnet2 ASR model (``espnet2.bin.asr_inference.Speech2Text``) from a local directory.

    The directory holds the training ``config.yaml`` and a model ``.pth``
    (an unpacked ESPnet model-zoo archive has both under ``exp/...``: give
    ``config`` and ``model_file``). Relative paths inside the config (global
    MVN statistics, token list file, BPE model, ...), which ESPnet resolves
    from the working directory of the recipe that trained the model, are
    resolved by :func:`resolve_config_paths`: against the config's directory,
    then its parents up to ``model_dir``, then ``model_dir``, then the
    working directory. ``Speech2Text`` reads a copy of the config with those
    paths made absolute; the copy is removed once the model is built.
    Needs espnet's own imports (``ci_sdr`` among them: tools/install.sh
    installs it). Example::

        asr = EspnetASR(model_dir="/models/espnet_asr_en", beam_size=10, ctc_weight=0.3)
        asr.transcribe([wave], 16000)

    Args:
        model_dir: directory with ``config.yaml`` and the model ``.pth``.
        config: the training config, if not ``model_dir/config.yaml``.
        model_file: the ``.pth`` to load when the directory holds several
            (default: the only one, else ``valid.acc.ave.pth``).
        beam_size: beam of the joint CTC/attention search.
        ctc_weight: CTC weight of the search (1.0 for a CTC-only model).
        lm_weight: language model weight (0: no LM).
        device: torch device.
        options: further keyword arguments of ``Speech2Text`` (e.g. ``penalty``, ``maxlenratio``).
    """

    name = "espnet"

    def __init__(self, model_dir: str, config: str | None = None, model_file: str | None = None,
                 beam_size: int = 10, ctc_weight: float = 0.3, lm_weight: float = 0.0, device: str = "cpu",
                 options: dict[str, Any] | None = None) -> None:
        _check_positive("espnet", beam_size=beam_size)
        self.model_dir = Path(model_dir)
        self.config = Path(config) if config else self.model_dir / "config.yaml"
        self.model_file = Path(model_file) if model_file else None
        self.beam_size, self.ctc_weight, self.lm_weight = beam_size, float(ctc_weight), float(lm_weight)
        self.device, self.options = device, dict(options or {})
        self._s2t: Any = None
        self.sample_rate = 16000

    def __repr__(self) -> str:
        return f"EspnetASR(model_dir='{self.model_dir}')"

    def resolve(self) -> tuple[Path, Path, int]:
        """The config, the model file and the model's sample rate.

        Raises:
            ConfigError: a missing directory, config or model file, or an ambiguous model file.
        """
        hint = ("Put an ESPnet ASR model there: its training config.yaml and a model .pth "
                "(e.g. an unpacked ESPnet model-zoo archive, or exp/asr_*/ of an espnet2 recipe).")
        if not self.model_dir.is_dir():
            raise ConfigError(f"asr 'espnet': no model directory {self.model_dir}. {hint}")
        if not self.config.is_file():
            raise ConfigError(f"asr 'espnet': no config {self.config}. {hint}")
        model = self.model_file
        if model is None:
            found = sorted(self.model_dir.glob("*.pth"))
            if len(found) == 1:
                model = found[0]
            elif (self.model_dir / "valid.acc.ave.pth").is_file():
                model = self.model_dir / "valid.acc.ave.pth"
            elif not found:
                raise ConfigError(f"asr 'espnet': no .pth model file in {self.model_dir}. {hint}")
            else:
                raise ConfigError(f"asr 'espnet': {self.model_dir} holds several model files "
                                  f"({', '.join(p.name for p in found)}); choose one with model_file")
        if not model.is_file():
            raise ConfigError(f"asr 'espnet': model file {model} not found. {hint}")
        return self.config, model, self._sample_rate(self.config)

    @staticmethod
    def _sample_rate(config: Path) -> int:
        import humanfriendly
        import yaml

        with open(config, encoding="utf-8") as f:
            cfg = yaml.safe_load(f) or {}
        fs = (cfg.get("frontend_conf") or {}).get("fs", 16000)
        return int(humanfriendly.parse_size(fs) if isinstance(fs, str) else fs)

    def _load(self) -> Any:
        if self._s2t is None:
            import tempfile

            import yaml

            config, model, self.sample_rate = self.resolve()
            from s2s_plugin.asr.imported import no_nltk_download
            from s2s_plugin.safe_load import check_checkpoint

            # ESPnet reads the file with torch.load(weights_only=False): vet it first (docs/security.md)
            check_checkpoint(model, "ESPnet model file", error=ConfigError)

            with no_nltk_download():  # g2p_en, imported by ESPnet's tokenizers, downloads at import
                try:
                    from espnet2.bin.asr_inference import Speech2Text
                except ImportError as e:
                    raise ConfigError(f"asr 'espnet': espnet2.bin.asr_inference does not import ({e}); "
                                      "rerun tools/install.sh, which installs espnet and what it imports "
                                      "(ci_sdr among them)") from None
            with open(config, encoding="utf-8") as f:
                args = yaml.safe_load(f) or {}
            resolved, changed = resolve_config_paths(args, config, self.model_dir)
            for old, new in changed:
                logger.info("asr 'espnet': %s: '%s' -> %s", config, old, new)
            with tempfile.TemporaryDirectory(prefix="s2s_espnet_asr_") as tmp:
                copy = Path(tmp) / "config.yaml"
                copy.write_text(yaml.safe_dump(resolved, sort_keys=False), encoding="utf-8")
                self._s2t = Speech2Text(asr_train_config=str(copy), asr_model_file=str(model),
                                        device=self.device, beam_size=self.beam_size, ctc_weight=self.ctc_weight,
                                        lm_weight=self.lm_weight, nbest=1, **self.options)
            logger.info("loaded ESPnet ASR %s (%s)", model, config)
        return self._s2t

    def transcribe(self, wavs: list[np.ndarray], sr: int) -> list[str]:
        """One transcript per waveform (ESPnet decodes one utterance at a time)."""
        s2t = self._load()
        out = []
        for w in to_rate(wavs, sr, self.sample_rate):
            results = s2t(w)
            out.append(str(results[0][0] or "") if results else "")
        return out
