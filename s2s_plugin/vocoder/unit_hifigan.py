"""``unit_hifigan``: a unit HiFi-GAN, loaded from a local checkpoint or trained on the target speech.

    voc = UnitHiFiGAN(checkpoint="downloads/unit_vocoder")     # a directory or a file
    wave, sr = voc.synthesize([12, 12, 40, 7])                # 4 * hop samples
    wave, sr = voc.synthesize([12, 12, 40, 7], speaker=3)     # a multi-speaker generator's speaker 3

With a ``train`` block instead of ``checkpoint`` (``vocoder: {name: unit_hifigan,
train: {...}}``), ``s2s vocoder fit`` trains one on the target speech and its units
(:mod:`s2s_plugin.vocoder.hifigan_train`) and writes a ParallelWaveGAN checkpoint
into the exp dir, which is then the checkpoint.

Two checkpoint formats are read (``format: auto`` tells them apart by the files):

``pwg`` (the ParallelWaveGAN toolkit; ESPnet's unit vocoders and the paper's)::

    DIR/checkpoint-400000steps.pkl   torch file: {"model": {"generator": state_dict, ...}, ...}
    DIR/config.yml                   generator_type DiscreteSymbolHiFiGANGenerator or
                                     DiscreteSymbolDurationGenerator, generator_params,
                                     sampling_rate, hop_size

``fairseq`` (fairseq / speech-resynthesis CodeHiFiGAN; the public mHuBERT vocoders)::

    DIR/g_00500000 (or model.pt)     torch file: {"generator": state_dict, ...}
    DIR/config.json                  num_embeddings, embedding_dim, model_in_dim, upsample_rates,
                                     upsample_kernel_sizes, upsample_initial_channel,
                                     resblock_kernel_sizes, resblock_dilation_sizes,
                                     optional dur_predictor_params, multispkr, sampling_rate

The state dict must match the generator built from the config key for key and
shape (``strict=True``) once weight-norm pairs are folded. Nothing is ever
downloaded: a missing directory or file is an error that says what to put where.

Durations: units from a frame-level tokenizer (the paper's, not de-duplicated)
go through the generator one unit per ``hop`` samples, so the output has
``len(units) * hop`` samples (``durations: runs``). A generator with a duration
predictor can instead collapse repeated units and predict each run's length
(``durations: predict``), as fairseq's S2UT with ``reduce_unit`` does.

Speakers: a multi-speaker generator (PWG ``num_spk_embs > 0``, fairseq
``multispkr``) speaks as the speaker given to :meth:`UnitHiFiGAN.synthesize`,
which stage 10 takes from the ``synthesis.speaker`` option of ``s2s vocoder
synth`` (config or command line), else the block's ``speaker``, else 0.
"""
from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from s2s_plugin.data.io import PathLike
from s2s_plugin.errors import ConfigError
from s2s_plugin.vocoder.common import check_units

logger = logging.getLogger(__name__)

FORMATS = ("auto", "pwg", "fairseq")
_PWG_TYPES = {"DiscreteSymbolHiFiGANGenerator": False, "DiscreteSymbolDurationGenerator": True}
_WHAT_TO_PUT = ("put either a ParallelWaveGAN unit vocoder there (checkpoint-<N>steps.pkl with config.yml "
                "next to it) or a fairseq CodeHiFiGAN (g_<N> or model.pt with config.json next to it)")


class _PwgYamlLoader(yaml.SafeLoader):
    """PWG writes its config with ``yaml.Dumper``; accept the python tuple tag it may emit."""


_PwgYamlLoader.add_constructor("tag:yaml.org,2002:python/tuple", lambda loader, node: loader.construct_sequence(node))


def _steps(path: Path) -> int:
    m = re.search(r"(\d+)", path.name)
    return int(m.group(1)) if m else -1


def find_checkpoint(checkpoint: PathLike, fmt: str = "auto") -> tuple[str, Path, Path]:
    """Resolve a checkpoint directory or file to ``(format, model_file, config_file)``.

    In a directory, the checkpoint with the most steps is taken
    (``checkpoint-*.pkl`` for pwg, ``g_*`` or ``model.pt`` for fairseq).

    Raises:
        ConfigError: a missing path, no recognisable checkpoint, a missing config
            next to it, or both formats present with ``format: auto``.
    """
    path = Path(checkpoint)
    if not path.exists():
        raise ConfigError(f"unit_hifigan: checkpoint '{path}' does not exist; {_WHAT_TO_PUT}")
    if path.is_file():
        pwg_cfg, fs_cfg = path.parent / "config.yml", path.parent / "config.json"
        if fmt == "auto":
            fmt = "pwg" if path.suffix == ".pkl" or (pwg_cfg.is_file() and not fs_cfg.is_file()) else "fairseq"
        cfg = pwg_cfg if fmt == "pwg" else fs_cfg
        if not cfg.is_file():
            raise ConfigError(f"unit_hifigan: {fmt} checkpoint '{path}' needs its {cfg.name} next to it ({cfg})")
        return fmt, path, cfg
    found = {
        "pwg": sorted(path.glob("checkpoint-*.pkl"), key=_steps),
        "fairseq": sorted([p for p in path.glob("g_*") if p.is_file()], key=_steps) + sorted(path.glob("model.pt")),
    }
    if fmt == "auto":
        present = [f for f, files in found.items() if files]
        if len(present) > 1:
            raise ConfigError(f"unit_hifigan: {path} holds both a ParallelWaveGAN and a fairseq checkpoint; "
                              "set format: pwg or format: fairseq, or point checkpoint at one file")
        if not present:
            raise ConfigError(f"unit_hifigan: no checkpoint in {path}; {_WHAT_TO_PUT}")
        fmt = present[0]
    if not found[fmt]:
        raise ConfigError(f"unit_hifigan: no {fmt} checkpoint in {path}; {_WHAT_TO_PUT}")
    model = found[fmt][-1]
    return find_checkpoint(model, fmt)


def _torch_load(path: Path, trust: bool) -> Any:
    import zipfile

    from s2s_plugin.safe_load import load_checkpoint

    with open(path, "rb") as f:
        head = f.read(2)
    if not (zipfile.is_zipfile(path) or head[:1] == b"\x80"):  # torch's zip format or a legacy pickle
        raise ConfigError(f"unit_hifigan: {path} is not a readable torch checkpoint (neither torch's zip format "
                          "nor a pickle)")
    return load_checkpoint(path, "unit_hifigan checkpoint", trust_option="trust_checkpoint: true", trust=trust,
                           error=ConfigError)


def _describe(obj: Any) -> str:
    return f"keys {sorted(obj)[:8]}" if isinstance(obj, dict) else f"a {type(obj).__name__}"


class UnitHiFiGAN:
    """A pretrained unit HiFi-GAN (ParallelWaveGAN or fairseq CodeHiFiGAN checkpoint).

    Example::

        voc = UnitHiFiGAN(checkpoint="exp/unit_vocoder_pwg", durations="runs")
        wave, sr = voc.synthesize(units)      # float32, len(units) * voc.hop samples

    Args:
        checkpoint: a checkpoint directory, or the checkpoint file itself (its config next to it); null
            with ``train``: the exp dir of the fit.
        train: train the vocoder in ``s2s vocoder fit`` with these settings
            (:class:`~s2s_plugin.vocoder.hifigan_train.UnitHiFiGANTrainConfig`) instead of loading one.
        format: ``auto``, ``pwg`` or ``fairseq``.
        durations: ``runs`` (one unit per hop; for frame-level units) or ``predict``
            (collapse repeats, predict durations; needs a duration predictor).
        speaker: the speaker of a multi-speaker generator when :meth:`synthesize` is given none
            (default 0); each synthesis may choose another (``synthesis.speaker`` of stage 10).
        frame_rate: units per second of the units given; checked against
            ``sampling_rate / hop`` when set (stage 10 fills it in from ``units.<lang>.info``).
        n_units: the unit tokenizer's vocabulary size; must not exceed the generator's
            (stage 10 fills it in).
        device: torch device for synthesis.
        trust_checkpoint: allow arbitrary pickled objects in the checkpoint (``torch.load(weights_only=False)``),
            which can run code: only for a file whose maker you trust (docs/security.md). Without it, a
            checkpoint holding anything but tensors and plain containers is refused, naming this option.
    """

    name = "unit_hifigan"

    @classmethod
    def needs_frame_units(cls, block: dict) -> bool:
        """With ``durations: runs`` one unit is one hop (repeats kept); ``predict`` takes de-duplicated units.

        Training (a ``train`` block) needs frame-level units whatever ``durations`` says: the
        duration predictor learns from their runs.
        """
        return block.get("durations", "runs") == "runs" or bool(block.get("train"))

    def __init__(self, checkpoint: str | None = None, format: str = "auto", durations: str = "runs",  # noqa: A002
                 speaker: int | None = None, frame_rate: float | None = None, n_units: int | None = None,
                 device: str = "cpu", trust_checkpoint: bool = False, train: dict | None = None) -> None:
        self.train_cfg = None
        if train is not None:
            from s2s_plugin.config import from_dict
            from s2s_plugin.vocoder.hifigan_train import UnitHiFiGANTrainConfig

            if checkpoint is not None:
                raise ConfigError("unit_hifigan: give either checkpoint (load a trained vocoder) or train (train one "
                                  "in s2s vocoder fit), not both")
            self.train_cfg = from_dict(UnitHiFiGANTrainConfig, train, where="vocoder.train")
            if format == "fairseq":
                raise ConfigError("unit_hifigan: training writes the ParallelWaveGAN format; use format auto or pwg")
        elif checkpoint is None:
            raise ConfigError("unit_hifigan: set checkpoint (a trained vocoder's directory or file), or a train block "
                              "to train one")
        if format not in FORMATS:
            raise ConfigError(f"unit_hifigan: format must be one of {', '.join(FORMATS)}, got {format!r}")
        if durations not in ("runs", "predict"):
            raise ConfigError(f"unit_hifigan: durations must be 'runs' or 'predict', got {durations!r}")
        self.checkpoint = None if checkpoint is None else str(checkpoint)
        self.format, self.durations = format, durations
        self.speaker, self.frame_rate, self.n_units_given = speaker, frame_rate, n_units
        self.device, self.trust_checkpoint = device, trust_checkpoint
        self._model = None
        self._trained_in: PathLike | None = None  # the exp dir a trained vocoder was loaded from
        self._sr = self._hop = 0
        self.info: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"UnitHiFiGAN({self.checkpoint!r}, format={self.format}, durations={self.durations})"

    # -- loading --------------------------------------------------------------------------------------------
    @property
    def model(self):
        if self._model is None:
            self.load(self._trained_in)
        return self._model

    @property
    def sample_rate(self) -> int:
        """Output sample rate (the checkpoint config's ``sampling_rate``)."""
        self.model  # noqa: B018 - loads on first use
        return self._sr

    @property
    def hop(self) -> int:
        """Output samples per unit: the product of the upsampling rates."""
        self.model  # noqa: B018 - loads on first use
        return self._hop

    @property
    def n_units(self) -> int:
        """Units ``0..n_units-1`` are valid: the generator's symbol count."""
        return int(self.model.num_symbols)

    @property
    def n_speakers(self) -> int:
        """Speakers ``0..n_speakers-1`` of a multi-speaker generator; 0 for a single-speaker one."""
        return int(self.model.num_speakers)

    def _speaker(self, speaker: int | None) -> int | None:
        """The speaker to synthesise with, checked against the generator."""
        chosen = self.speaker if speaker is None else speaker
        if chosen is None:
            return None
        if isinstance(chosen, bool) or not isinstance(chosen, (int, np.integer)):
            raise ConfigError(f"unit_hifigan: speaker must be an integer, got {chosen!r}")
        if self.n_speakers == 0:
            raise ConfigError(f"unit_hifigan: speaker {chosen} asked for, but {self.info.get('checkpoint')} is a "
                              "single-speaker generator; leave the speaker unset")
        if not 0 <= int(chosen) < self.n_speakers:
            raise ConfigError(f"unit_hifigan: speaker {chosen} is outside 0..{self.n_speakers - 1}, the speakers "
                              f"of {self.info.get('checkpoint')}")
        return int(chosen)

    def load(self, directory: PathLike | None = None) -> None:
        """Build the generator from its config and load the checkpoint strictly.

        ``directory`` (the exp dir) is where a vocoder with a ``train`` block was
        trained, and its checkpoint; with ``checkpoint`` set it is not needed.

        Raises:
            ConfigError: missing files, the other format's file, or a state dict
                that does not match the config (missing/unexpected keys, shapes).
        """
        import torch

        source = self.checkpoint if self.checkpoint is not None else directory
        if source is None:
            raise ConfigError("unit_hifigan: a vocoder with a train block loads from its exp dir; run `s2s vocoder "
                              "fit` and load it from that directory")
        self._trained_in = source
        fmt, model_file, cfg_file = find_checkpoint(source, self.format)
        ckpt = _torch_load(model_file, self.trust_checkpoint)
        if fmt == "pwg":
            model, state, sr, hop = self._build_pwg(model_file, cfg_file, ckpt)
        else:
            model, state, sr, hop = self._build_fairseq(model_file, cfg_file, ckpt)
        from s2s_plugin.vocoder.generators import fold_weight_norm

        try:
            state = fold_weight_norm(state)
        except KeyError as e:
            raise ConfigError(f"unit_hifigan: {model_file}: {e.args[0]}") from None
        self._load_strict(model, state, model_file, cfg_file)
        has_predictor = (getattr(model, "duration_predictor", None) is not None
                         or getattr(model, "dur_predictor", None) is not None)
        if self.durations == "predict" and not has_predictor:
            raise ConfigError(f"unit_hifigan: durations: predict needs a generator with a duration predictor; "
                              f"{model_file} has none (use durations: runs)")
        if self.frame_rate is not None and abs(sr / hop - float(self.frame_rate)) > 1e-6:
            raise ConfigError(f"unit_hifigan: the units come at {float(self.frame_rate):g} per second but "
                              f"{model_file} expects {sr / hop:g} (sampling_rate {sr} / hop {hop}); use a vocoder "
                              f"trained on units of this tokenizer")
        if self.n_units_given is not None and self.n_units_given > model.num_symbols:
            raise ConfigError(f"unit_hifigan: the unit tokenizer has {self.n_units_given} units but {model_file} "
                              f"embeds only {model.num_symbols}")
        model.eval().to(torch.device(self.device))
        self._model, self._sr, self._hop, self.format = model, int(sr), int(hop), fmt
        n_params = sum(p.numel() for p in model.parameters())
        self.info = {"format": fmt, "checkpoint": str(model_file), "config": str(cfg_file), "sampling_rate": sr,
                     "hop": hop, "n_units": model.num_symbols, "n_speakers": model.num_speakers,
                     "parameters": n_params, "duration_predictor": has_predictor}
        logger.info("unit_hifigan: loaded %s (%s format, %.1fM parameters, %d units, %d Hz, hop %d)",
                    model_file, fmt, n_params / 1e6, model.num_symbols, sr, hop)

    def _build_pwg(self, model_file: Path, cfg_file: Path, ckpt: Any):
        from s2s_plugin.vocoder.generators import PwgUnitGenerator

        if not (isinstance(ckpt, dict) and isinstance(ckpt.get("model"), dict) and "generator" in ckpt["model"]):
            hint = (" (it looks like a fairseq checkpoint: set format: fairseq and put its config.json next to it)"
                    if isinstance(ckpt, dict) and "generator" in ckpt else "")
            raise ConfigError(f"unit_hifigan: {model_file} is not a ParallelWaveGAN checkpoint: expected "
                              f"{{'model': {{'generator': state_dict}}}}, found {_describe(ckpt)}{hint}")
        with open(cfg_file, encoding="utf-8") as f:
            try:
                cfg = yaml.load(f, Loader=_PwgYamlLoader)  # noqa: S506 - a SafeLoader subclass
            except yaml.YAMLError as e:
                raise ConfigError(f"unit_hifigan: {cfg_file}: invalid YAML: {e}") from None
        gtype = (cfg or {}).get("generator_type")
        if gtype not in _PWG_TYPES:
            raise ConfigError(f"unit_hifigan: {cfg_file}: generator_type {gtype!r} is not a unit vocoder; "
                              f"supported: {', '.join(_PWG_TYPES)}")
        params = {k.replace("upsample_kernal_sizes", "upsample_kernel_sizes"): v
                  for k, v in (cfg.get("generator_params") or {}).items()}
        try:
            model = PwgUnitGenerator(**params, duration=_PWG_TYPES[gtype])
        except (TypeError, ValueError) as e:
            raise ConfigError(f"unit_hifigan: {cfg_file}: generator_params: {e}") from None
        sr = int(cfg.get("sampling_rate", 0))
        if sr <= 0:
            raise ConfigError(f"unit_hifigan: {cfg_file}: sampling_rate is missing")
        if cfg.get("hop_size") not in (None, model.hop):
            raise ConfigError(f"unit_hifigan: {cfg_file}: hop_size {cfg['hop_size']} differs from the product of "
                              f"upsample_scales ({model.hop})")
        return model, ckpt["model"]["generator"], sr, model.hop

    def _build_fairseq(self, model_file: Path, cfg_file: Path, ckpt: Any):
        from s2s_plugin.vocoder.generators import CodeHiFiGANGenerator

        if not (isinstance(ckpt, dict) and isinstance(ckpt.get("generator"), dict)):
            hint = (" (it looks like a ParallelWaveGAN checkpoint: set format: pwg and put its config.yml next to "
                    "it)" if isinstance(ckpt, dict) and "model" in ckpt else "")
            raise ConfigError(f"unit_hifigan: {model_file} is not a fairseq CodeHiFiGAN checkpoint: expected "
                              f"{{'generator': state_dict}}, found {_describe(ckpt)}{hint}")
        try:
            cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ConfigError(f"unit_hifigan: {cfg_file}: invalid JSON: {e}") from None
        required = ("num_embeddings", "embedding_dim", "upsample_rates", "upsample_kernel_sizes",
                    "upsample_initial_channel", "resblock_kernel_sizes", "resblock_dilation_sizes")
        missing = [k for k in required if k not in cfg]
        if missing:
            raise ConfigError(f"unit_hifigan: {cfg_file}: missing key(s) {', '.join(missing)} of a CodeHiFiGAN "
                              "config")
        try:
            model = CodeHiFiGANGenerator(cfg)
        except (TypeError, ValueError, KeyError) as e:
            raise ConfigError(f"unit_hifigan: {cfg_file}: {e}") from None
        return model, ckpt["generator"], int(cfg.get("sampling_rate", 16000)), model.hop

    @staticmethod
    def _load_strict(model, state: dict, model_file: Path, cfg_file: Path) -> None:
        expected = model.state_dict()
        missing = sorted(set(expected) - set(state))
        unexpected = sorted(set(state) - set(expected))
        wrong = sorted(k for k in set(expected) & set(state) if tuple(expected[k].shape) != tuple(state[k].shape))
        if missing or unexpected or wrong:
            parts = []
            if missing:
                parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
            if unexpected:
                parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
            if wrong:
                k = wrong[0]
                parts.append(f"{len(wrong)} with another shape (e.g. {k}: checkpoint {tuple(state[k].shape)}, "
                             f"config {tuple(expected[k].shape)})")
            raise ConfigError(f"unit_hifigan: {model_file} does not match the generator its config {cfg_file} "
                              f"describes: {'; '.join(parts)}")
        model.load_state_dict(state, strict=True)

    # -- synthesis ------------------------------------------------------------------------------------------
    def num_samples(self, n_units: int) -> int:
        """Output length for ``n_units`` frame-level units with ``durations: runs``."""
        return n_units * self.hop

    def synthesize(self, units, speaker: int | None = None) -> tuple[np.ndarray, int]:
        """Waveform of a unit sequence: ``(float32 samples, sample_rate)``.

        Args:
            units: unit ids.
            speaker: the speaker of a multi-speaker generator (default: the block's ``speaker``, else 0).

        Raises:
            DataError: an empty sequence or a unit outside the generator's range.
            ConfigError: a speaker for a single-speaker generator, or outside its speakers.
        """
        import torch

        model = self.model
        spk = self._speaker(speaker)
        arr = check_units(units, model.num_symbols, "unit_hifigan")
        predict = self.durations == "predict"
        if predict:
            keep = np.concatenate([[True], arr[1:] != arr[:-1]])
            arr = arr[keep]
        with torch.inference_mode():
            x = torch.as_tensor(arr, dtype=torch.long, device=torch.device(self.device)).unsqueeze(0)
            y = model(x, speaker=spk, predict_durations=predict)[0, 0].float().cpu().numpy()
        if not predict:
            y = y[:self.num_samples(len(arr))]
        return y.astype(np.float32), self.sample_rate

    @property
    def trains(self) -> bool:
        """True when ``s2s vocoder fit`` trains this vocoder (a ``train`` block) rather than loading it."""
        return self.train_cfg is not None

    def fit_data(self, items, lang: str, exp_dir: PathLike) -> dict[str, Any]:
        """Train on ``(DataDir, utterance, units)`` items of ``lang`` speech into ``exp_dir``, then load the result.

        Every process of a distributed run calls this; rank 0 loads the trained checkpoint.

        Returns:
            The training statistics and, on rank 0, the loaded checkpoint's description.
        """
        from s2s_plugin.vocoder.hifigan_train import UnitHiFiGANTrainer, _rank

        stats = UnitHiFiGANTrainer(self.train_cfg, items, lang, exp_dir, n_units=self.n_units_given,
                                   frame_rate=self.frame_rate).run()
        if _rank() == 0:
            self.load(exp_dir)
            stats.update(self.info)
        return stats

    def fit(self, examples=None) -> dict[str, Any]:
        """Nothing to train: load and check the checkpoint, synthesise one unit, return its description."""
        self.load(self._trained_in)
        wave, _ = self.synthesize([0] * 4)
        if not np.all(np.isfinite(wave)):
            raise ConfigError(f"unit_hifigan: {self.info['checkpoint']} produces non-finite samples")
        return dict(self.info)

    def save(self, directory: PathLike) -> None:
        """Write ``unit_hifigan.json`` (what was loaded) into ``directory``; the weights stay where they are."""
        from s2s_plugin.data.io import atomic_write

        if not self.info:
            self.load(directory)
        with atomic_write(Path(directory) / "unit_hifigan.json") as f:
            json.dump(self.info, f, indent=1)
