"""Frame feature extractors of the unit tokenizers: waveform -> ``(T, D)`` float32 at ``frame_rate``.

    feats = MfccFeatures(frame_shift_ms=20.0)(wave, 22050)     # (T, 39), 50 frames per second
    feats = CtcLayerFeatures("exp/ctc", layer=4)(wave, 16000)  # a layer of the stage-3 CTC model
    feats = S3prlFeatures("hubert_local", "ckpt/mhubert.pt", layer=11)(wave, 16000)
    feats = HfFeatures("ckpt/w2v-bert-2.0", layer=20)(wave, 16000)

Every extractor resamples its input to the rate its model expects (16 kHz)
with :func:`s2s_plugin.data.format.resample`, and loads its model on first use,
so building one (e.g. while checking a config) costs nothing. A missing model
path is a :class:`~s2s_plugin.errors.ConfigError` saying where to put the
model and which key to set. No model is ever fetched from a hub.
"""
from __future__ import annotations

import contextlib
import importlib
import json
import logging
import math
import sys
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from s2s_plugin.data.io import PathLike
from s2s_plugin.errors import ConfigError, DataError
from s2s_plugin.safe_load import check_checkpoint

logger = logging.getLogger(__name__)

SSL_RATE = 16000


def to_rate(wav: np.ndarray, sr: int, rate: int = SSL_RATE) -> np.ndarray:
    """A 1-D float32 copy of ``wav`` at ``rate`` Hz.

    Raises:
        DataError: not 1-D, empty, or not finite.
    """
    wav = np.asarray(wav, dtype=np.float32)
    if wav.ndim != 1:
        raise DataError(f"expected a 1-D (mono) waveform, got shape {wav.shape}")
    if wav.size == 0:
        raise DataError("empty waveform")
    if not np.isfinite(wav).all():
        raise DataError("waveform contains NaN or infinity")
    if sr == rate:
        return wav
    from s2s_plugin.data.format import resample

    return resample(wav, int(sr), rate)


def _torch_device(device: str):
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device '{device}' asked for, but torch sees no CUDA GPU; set tokenizer.device=cpu")
    return torch.device(device)


def _check_layer(layer: int, n_layers: int, what: str) -> None:
    if not 0 <= layer < n_layers:
        raise ConfigError(f"{what}: layer {layer} does not exist: the model gives hidden states 0..{n_layers - 1} "
                          f"(0 = before the first transformer layer); set tokenizer.layer")


class MfccFeatures:
    """Kaldi-compatible MFCCs (``torchaudio.compliance.kaldi``), deltas, per-utterance CMVN.

    Frames are centred (``snip_edges=False``): a signal of ``n`` samples at 16 kHz
    gives ``round(n / shift)`` frames, i.e. duration x ``frame_rate``.

    Args:
        num_ceps: cepstra per frame (C0 included, energy not used).
        num_mel_bins: mel filters.
        delta_order: 0, 1 or 2: append deltas and delta-deltas (window 2, Kaldi's formula).
        cmvn: subtract the mean and divide by the deviation of each dimension over the utterance.
        frame_shift_ms: hop in milliseconds (10 -> 100 frames per second, 20 -> 50).
        frame_length_ms: window in milliseconds.
    """

    def __init__(self, num_ceps: int = 13, num_mel_bins: int = 23, delta_order: int = 2, cmvn: bool = True,
                 frame_shift_ms: float = 10.0, frame_length_ms: float = 25.0) -> None:
        if delta_order not in (0, 1, 2):
            raise ConfigError(f"mfcc: delta_order must be 0, 1 or 2, got {delta_order}")
        if not 0 < frame_shift_ms <= frame_length_ms:
            raise ConfigError(f"mfcc: need 0 < frame_shift_ms <= frame_length_ms, got {frame_shift_ms} "
                              f"and {frame_length_ms}")
        if not 0 < num_ceps <= num_mel_bins:
            raise ConfigError(f"mfcc: need 0 < num_ceps <= num_mel_bins, got {num_ceps} and {num_mel_bins}")
        self.num_ceps, self.num_mel_bins, self.delta_order, self.cmvn = num_ceps, num_mel_bins, delta_order, cmvn
        self.frame_shift_ms, self.frame_length_ms = frame_shift_ms, frame_length_ms

    @property
    def frame_rate(self) -> float:
        return 1000.0 / self.frame_shift_ms

    @property
    def dim(self) -> int:
        return self.num_ceps * (1 + self.delta_order)

    def __call__(self, wav: np.ndarray, sr: int) -> np.ndarray:
        import torch
        from torchaudio.compliance import kaldi

        x = to_rate(wav, sr)
        window = int(SSL_RATE * self.frame_length_ms / 1000)
        shift = int(SSL_RATE * self.frame_shift_ms / 1000)
        n_frames = max(1, (x.size + shift // 2) // shift)  # Kaldi's count with snip_edges=False
        if x.size < window:  # shorter than one window: pad with silence, keep the frame count
            x = np.pad(x, (0, window - x.size))
        with torch.no_grad():
            m = kaldi.mfcc(torch.from_numpy(x)[None], sample_frequency=SSL_RATE, num_ceps=self.num_ceps,
                           num_mel_bins=self.num_mel_bins, frame_shift=self.frame_shift_ms,
                           frame_length=self.frame_length_ms, dither=0.0, snip_edges=False,
                           use_energy=False).numpy()[:n_frames]
        feats = [m]
        for _ in range(self.delta_order):
            feats.append(deltas(feats[-1]))
        out = np.concatenate(feats, axis=1)
        if self.cmvn:
            out = (out - out.mean(axis=0)) / (out.std(axis=0) + 1e-5)
        return out.astype(np.float32, copy=False)


def deltas(x: np.ndarray, window: int = 2) -> np.ndarray:
    """Kaldi's delta features of ``(T, D)``: ``sum_n n (x[t+n] - x[t-n]) / (2 sum_n n^2)``, edges repeated."""
    padded = np.pad(x, ((window, window), (0, 0)), mode="edge")
    t = len(x)
    out = np.zeros_like(x)
    for n in range(1, window + 1):
        out += n * (padded[window + n: window + n + t] - padded[window - n: window - n + t])
    return out / (2 * sum(n * n for n in range(1, window + 1)))


class CtcLayerFeatures:
    """One encoder layer of the stage-3 CTC model (``s2s_plugin.asr.ctc.load_ctc_model``).

    Args:
        exp_dir: the CTC model's exp dir (stage 3's output).
        layer: the encoder block whose output ``layer_features`` returns (1-based).
        device: ``cpu``, ``cuda`` or ``auto``.
    """

    def __init__(self, exp_dir: str, layer: int, device: str = "cpu") -> None:
        self.exp_dir, self.layer, self.device = Path(exp_dir), layer, device
        if not self.exp_dir.is_dir():
            raise ConfigError(f"ctc_kmeans: no CTC model directory at {self.exp_dir}: run stage 3 (the CTC "
                              f"model) first, or put a trained CTC model's exp dir at {self.exp_dir}, or set "
                              f"tokenizer.exp_dir=DIR")
        self._model = None

    @property
    def model(self):
        if self._model is None:
            from s2s_plugin.asr.ctc import load_ctc_model

            self._model = load_ctc_model(self.exp_dir, device=self.device)
            logger.info("ctc_kmeans: loaded the CTC model of %s (%.1f frames/s), layer %d", self.exp_dir,
                        self._model.frame_rate, self.layer)
        return self._model

    @property
    def frame_rate(self) -> float:
        return float(self.model.frame_rate)

    def __call__(self, wav: np.ndarray, sr: int) -> np.ndarray:
        wav = to_rate(wav, sr, int(sr))  # validates only; the model resamples as it needs
        try:
            feats = self.model.layer_features(wav, int(sr), self.layer)
        except ValueError as e:  # e.g. audio shorter than the model's receptive field
            if isinstance(e, (ConfigError, DataError)):
                raise
            raise DataError(f"ctc_kmeans: {e}") from None
        feats = np.asarray(feats, dtype=np.float32)
        if feats.ndim != 2:
            raise DataError(f"ctc_kmeans: layer_features gave shape {feats.shape}, expected (frames, dim)")
        return feats


def install_torchaudio_shims() -> None:
    """Give torchaudio the two attributes s3prl's modules touch at import time, when missing.

    Recent torchaudio dropped ``set_audio_backend`` and ``sox_effects``; some s3prl
    upstream modules call or import them while loading. The shims do nothing
    (s2s_plugin reads audio with soundfile) and fail loudly if actually used.
    """
    import torchaudio

    if not hasattr(torchaudio, "set_audio_backend"):
        torchaudio.set_audio_backend = lambda *args, **kwargs: None
    if "torchaudio.sox_effects" not in sys.modules and not hasattr(torchaudio, "sox_effects"):
        sox = types.ModuleType("torchaudio.sox_effects")

        def _unavailable(*args: Any, **kwargs: Any):
            raise RuntimeError("torchaudio.sox_effects is not available in this torchaudio build")

        sox.apply_effects_tensor = sox.apply_effects_file = _unavailable
        sys.modules["torchaudio.sox_effects"] = sox
        torchaudio.sox_effects = sox


def find_s3prl_entry(upstream: str):
    """The s3prl hub function named ``upstream`` (e.g. ``hubert_local``), importing only its module.

    ``s3prl.hub`` imports every upstream (tens of seconds, some try the network),
    so the ``hubconf.py`` that defines ``upstream`` is found by reading the sources.

    Raises:
        ConfigError: no s3prl upstream of that name.
    """
    import s3prl.upstream as ups

    root = Path(ups.__file__).parent
    needle = f"def {upstream}("
    for hubconf in sorted(root.glob("*/hubconf.py")):
        if needle in hubconf.read_text(encoding="utf-8", errors="replace"):
            module = importlib.import_module(f"s3prl.upstream.{hubconf.parent.name}.hubconf")
            return getattr(module, upstream)
    local = sorted(p.stem for p in root.glob("*/hubconf.py"))
    raise ConfigError(f"s3prl_kmeans: s3prl has no upstream '{upstream}'; loaders of a local checkpoint are "
                      f"named like hubert_local, wav2vec2_local, wavlm_local (upstream families: "
                      f"{', '.join(local)})")


class S3prlFeatures:
    """One hidden layer of an s3prl upstream loaded from a local checkpoint.

    Args:
        upstream: the s3prl hub entry, e.g. ``hubert_local`` (HuBERT, mHuBERT) or ``wav2vec2_local``.
        ckpt: the local checkpoint file (an s3prl-converted checkpoint).
        layer: index into the upstream's ``hidden_states`` (0 = before the first transformer layer).
        device: ``cpu`` or ``cuda[:N]``.
    """

    def __init__(self, upstream: str, ckpt: str, layer: int, device: str = "cpu") -> None:
        self.upstream, self.ckpt, self.layer, self.device = upstream, Path(ckpt), layer, device
        if not upstream.endswith(("_local", "_custom")):
            raise ConfigError(f"s3prl_kmeans: upstream '{upstream}' is not a loader of a local checkpoint (s3prl "
                              f"would download one); use a name ending in _local, e.g. hubert_local, "
                              f"wav2vec2_local, wavlm_local")
        if "://" in str(ckpt):
            raise ConfigError(f"s3prl_kmeans: ckpt must be a local file, got the URL {ckpt}; download it on a "
                              f"machine with network and set tokenizer.ckpt=PATH")
        if not self.ckpt.is_file():
            raise ConfigError(f"s3prl_kmeans: checkpoint not found: {self.ckpt}. Put the s3prl checkpoint "
                              f"(e.g. a converted HuBERT/mHuBERT .pt) at {self.ckpt} or set tokenizer.ckpt=PATH")
        self._model = None
        self._stride = 0

    @property
    def model(self):
        if self._model is None:
            import torch

            # s3prl reads the file with torch.load's default settings: vet it with weights_only=True first
            check_checkpoint(self.ckpt, f"s3prl_kmeans {self.upstream} checkpoint", error=ConfigError,
                             fix="convert the model with s3prl (a dict of tensors and plain configs)")
            install_torchaudio_shims()
            entry = find_s3prl_entry(self.upstream)
            model = entry(ckpt=str(self.ckpt)).to(_torch_device(self.device)).eval()
            self._stride = int(model.get_downsample_rates("hidden_states"))
            with torch.no_grad():
                n_layers = len(model([torch.zeros(SSL_RATE, device=self.device)])["hidden_states"])
            _check_layer(self.layer, n_layers, f"s3prl_kmeans {self.upstream} {self.ckpt}")
            logger.info("s3prl_kmeans: %s from %s, layer %d of %d hidden states, %d samples per frame",
                        self.upstream, self.ckpt, self.layer, n_layers, self._stride)
            self._model = model
        return self._model

    @property
    def frame_rate(self) -> float:
        _ = self.model
        return SSL_RATE / self._stride

    def __call__(self, wav: np.ndarray, sr: int) -> np.ndarray:
        import torch

        model = self.model
        x = torch.from_numpy(to_rate(wav, sr)).to(self.device)
        with torch.no_grad():
            hidden = model([x])["hidden_states"][self.layer][0]
        return hidden.float().cpu().numpy()


#: Files of a ``save_pretrained`` directory that may hold the feature extractor's settings, in the order
#: they are read: transformers 4 (and a bare feature extractor in 5) writes them flat into
#: ``preprocessor_config.json``; a transformers 5 processor nests them under a key of ``processor_config.json``.
FEATURE_EXTRACTOR_FILES = ("preprocessor_config.json", "processor_config.json")


def read_feature_extractor_config(model_dir: PathLike) -> tuple[dict[str, Any], Path]:
    """The feature extractor settings of a transformers ``save_pretrained`` directory, and the file they came from.

    Reads either layout, whichever transformers is installed: ``preprocessor_config.json`` with the
    settings at the top level (transformers 4, or a feature extractor saved alone), or
    ``processor_config.json`` with them at the top level or nested under a key (transformers 5
    processors write ``{"feature_extractor": {...}, "processor_class": ...}``). The settings are the
    mapping that names a ``feature_extractor_type``.

    Raises:
        ConfigError: neither file, or no feature extractor settings in them (naming the files read).
    """
    model_dir = Path(model_dir)
    seen = []
    for name in FEATURE_EXTRACTOR_FILES:
        path = model_dir / name
        if not path.is_file():
            continue
        seen.append(name)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ConfigError(f"hf_kmeans: cannot read {path}: {e}") from None
        if not isinstance(data, dict):
            continue
        if "feature_extractor_type" in data:
            return data, path
        for value in data.values():
            if isinstance(value, dict) and "feature_extractor_type" in value:
                return dict(value), path
    if seen:
        raise ConfigError(f"hf_kmeans: {model_dir}: {' and '.join(seen)} name no feature extractor (no mapping with "
                          f"a 'feature_extractor_type'); save the model's feature extractor or processor into it "
                          f"with save_pretrained")
    raise ConfigError(f"hf_kmeans: {model_dir} has neither {' nor '.join(FEATURE_EXTRACTOR_FILES)} (the feature "
                      f"extractor's config). Save the model's feature extractor or processor into it with "
                      f"save_pretrained, or put the whole directory from the model's hub page there")


def build_feature_extractor(model_dir: PathLike) -> Any:
    """The transformers feature extractor of ``model_dir``, built from its settings (either layout).

    The class is the one the settings name (``feature_extractor_type``); only subclasses of
    transformers' ``FeatureExtractionMixin`` are built.

    Raises:
        ConfigError: no settings, or a type the installed transformers does not have.
    """
    import transformers

    settings, path = read_feature_extractor_config(model_dir)
    type_name = str(settings.get("feature_extractor_type"))
    cls = getattr(transformers, type_name, None) if type_name.isidentifier() else None
    if not (isinstance(cls, type) and issubclass(cls, transformers.FeatureExtractionMixin)):
        raise ConfigError(f"hf_kmeans: {path}: feature_extractor_type '{type_name}' is not a feature extractor of "
                          f"the installed transformers {transformers.__version__}")
    return cls.from_dict({k: v for k, v in settings.items() if k != "feature_extractor_type"})


class HfFeatures:
    """One hidden layer of a transformers speech model directory (``save_pretrained`` format).

    Works with w2v-BERT 2.0 (``Wav2Vec2BertModel`` + ``SeamlessM4TFeatureExtractor``), HuBERT,
    wav2vec 2.0, WavLM and their ``...ForCTC`` fine-tuned checkpoints (the base model is used),
    saved by transformers 4 or 5 (see :func:`read_feature_extractor_config`).

    :meth:`batch` runs several utterances per forward pass: each is turned into model inputs
    alone (so per-utterance normalisation is unchanged), sorted by length, zero-padded to the
    longest of its batch with an attention mask, and each output is cut to its own frame count.
    The result equals one-by-one extraction within float tolerance. Models whose convolutional
    front-end uses group norm (``feat_extract_norm: group``: wav2vec 2.0 base, HuBERT base,
    mHuBERT; their feature extractors say ``return_attention_mask: false``) normalise each channel
    over the whole (padded) input, so padding would change their features: for them the
    convolutional front-end runs on each utterance alone and only the transformer is batched.
    Models without transformers' output-length helper run one utterance at a time.

    Args:
        model_dir: the local directory with ``config.json``, weights and ``preprocessor_config.json``
            (transformers 4) or ``processor_config.json`` (transformers 5); or a stage-3 CTC exp
            dir that holds a transformers model (``s2s ctc train`` with ``encoder: hf``, or
            ``s2s ctc import`` of a transformers dir), whose model is then used.
        layer: index into ``hidden_states`` (0 = before the first transformer layer).
        device: ``cpu`` or ``cuda[:N]``.
        frame_rate: frames per second, when it cannot be read from the model's config.
        batch_size: utterances per forward pass (1: one at a time).
    """

    def __init__(self, model_dir: str, layer: int, device: str = "cpu", frame_rate: float | None = None,
                 batch_size: int = 16) -> None:
        self.model_dir, self.layer, self.device, self._rate = Path(model_dir), layer, device, frame_rate
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ConfigError(f"hf_kmeans: extract_batch_size must be an integer >= 1, got {batch_size!r}")
        self.batch_size = batch_size
        if not (self.model_dir / "config.json").is_file() and (self.model_dir / "config.yaml").is_file():
            from s2s_plugin.asr.ctc import transformers_dir  # a stage-3 exp dir: its transformers model

            self.model_dir = transformers_dir(self.model_dir)
        if not (self.model_dir / "config.json").is_file():
            raise ConfigError(
                f"hf_kmeans: {self.model_dir / 'config.json'} not found (the model's config). Put the model "
                f"directory written by save_pretrained (e.g. `huggingface-cli download facebook/w2v-bert-2.0 "
                f"--local-dir {self.model_dir}` on a machine with network) at {self.model_dir}, or set "
                f"tokenizer.model_dir=DIR; a recipe passes stage 3's exp dir (--ctc_exp): run stage 3 first")
        read_feature_extractor_config(self.model_dir)  # fail now on a directory without one
        self._model = self._extractor = None
        self.mode = ""  # how batches run, set on load: "padded", "conv per utterance" or "one by one"

    def _load(self) -> None:
        import torch
        from transformers import AutoModel

        self._extractor = build_feature_extractor(self.model_dir)
        self._sr = int(getattr(self._extractor, "sampling_rate", None) or SSL_RATE)
        model = AutoModel.from_pretrained(self.model_dir, local_files_only=True)
        model = model.to(_torch_device(self.device)).eval()
        _check_layer(self.layer, model.config.num_hidden_layers + 1, f"hf_kmeans {self.model_dir}")
        if self._rate is None:
            self._rate = _hf_frame_rate(model.config, self._extractor, self._sr)
        if self._rate is None:
            raise ConfigError(f"hf_kmeans: cannot tell the frame rate of {self.model_dir} "
                              f"({type(model).__name__}); set tokenizer.frame_rate")
        if not hasattr(model, "_get_feat_extract_output_lengths"):
            self.mode = "one by one"
        elif getattr(model.config, "feat_extract_norm", None) == "group" and hasattr(model, "feature_extractor"):
            self.mode = "conv per utterance"
        else:
            self.mode = "padded"
        self._model = model
        with torch.no_grad():  # fail now, not after minutes of work, on a model without hidden states
            self.batch([(np.zeros(self._sr, dtype=np.float32), self._sr)])
        logger.info("hf_kmeans: %s from %s, layer %d of %d, %.2f frames/s; batches of up to %d utterances (%s)",
                    type(model).__name__, self.model_dir, self.layer, model.config.num_hidden_layers, self._rate,
                    self.batch_size if self.mode != "one by one" else 1, self.mode)

    @property
    def frame_rate(self) -> float:
        if self._model is None:
            self._load()
        return float(self._rate)

    def __call__(self, wav: np.ndarray, sr: int) -> np.ndarray:
        return self.batch([(wav, sr)])[0]

    def batch(self, waves: Sequence[tuple[np.ndarray, int]]) -> list[np.ndarray]:
        """``(T_i, D)`` features of each ``(wav, sr)``, in the given order, ``batch_size`` per forward pass.

        Raises:
            DataError: a bad waveform, or one too short for a frame; its ``index`` attribute is its
                position in ``waves``.
        """
        if self._model is None:
            self._load()
        inputs = []
        for i, (wav, sr) in enumerate(waves):
            try:
                x = to_rate(wav, sr, self._sr)
            except DataError as e:
                raise _at(e, i) from None
            inputs.append(self._extractor(x, sampling_rate=self._sr, return_tensors="pt"))
        size = 1 if self.mode == "one by one" else self.batch_size
        order = sorted(range(len(inputs)), key=lambda i: _input_length(inputs[i]))
        out: list[np.ndarray | None] = [None] * len(inputs)
        for start in range(0, len(order), size):
            part = order[start:start + size]
            for i, feats in zip(part, self._forward([inputs[i] for i in part], part)):
                out[i] = feats
        return out

    def _forward(self, inputs: list[Any], index: list[int]) -> list[np.ndarray]:
        """One forward pass over a list of single-utterance model inputs; each output cut to its frames."""
        import torch

        model = self._model
        lengths = [_input_length(x) for x in inputs]
        frames = _output_lengths(model, lengths) if self.mode != "one by one" else None
        for n, t, i in zip(lengths, frames or [], index):
            if t < 1:
                raise _at(DataError(f"too short for {type(model).__name__}: {n} input steps give no frame"), i)
        if len(inputs) == 1:  # the model's own inputs, as the feature extractor made them
            with torch.no_grad():
                out = model(**{k: v.to(self.device) for k, v in inputs[0].items()}, output_hidden_states=True)
            return [out.hidden_states[self.layer][0].float().cpu().numpy()]
        batch = _pad_inputs(inputs, max(lengths))
        batch = {k: v.to(self.device) for k, v in batch.items()}
        per_utt = _conv_per_utterance(model, lengths) if self.mode == "conv per utterance" else _nothing()
        with torch.no_grad(), per_utt:
            hidden = model(**batch, output_hidden_states=True).hidden_states[self.layer]
        hidden = hidden.float().cpu().numpy()
        return [hidden[b, :t] for b, t in enumerate(frames)]


def _at(error: DataError, index: int) -> DataError:
    error.index = index
    return error


def _input_length(inputs: Any) -> int:
    """Time steps of one utterance's model inputs (samples, or fbank frames for w2v-BERT)."""
    key = "input_values" if "input_values" in inputs else "input_features"
    return int(inputs[key].shape[1])


def _pad_inputs(inputs: list[Any], length: int) -> dict[str, Any]:
    """Stack single-utterance inputs, zero-padded on the time axis (1) to ``length``, with an attention mask.

    An utterance's own attention mask (SeamlessM4T's marks a half-padded last frame) is kept and
    zero-padded; without one, its steps are all marked valid.
    """
    import torch
    import torch.nn.functional as F

    keys = [k for k in inputs[0] if k != "attention_mask"]
    batch = {}
    for key in keys:
        rows = []
        for x in inputs:
            v = x[key]
            pad = [0, 0] * (v.dim() - 2) + [0, length - v.shape[1]]
            rows.append(F.pad(v, pad))
        batch[key] = torch.cat(rows)
    mask = torch.zeros(len(inputs), length, dtype=torch.long)
    for b, x in enumerate(inputs):
        own = x.get("attention_mask")
        mask[b, :_input_length(x)] = 1 if own is None else own[0].to(torch.long)
    batch["attention_mask"] = mask
    return batch


def _output_lengths(model: Any, lengths: list[int]) -> list[int]:
    """Hidden-state frames of inputs of ``lengths`` time steps (before any adapter)."""
    import inspect

    import torch

    fn = model._get_feat_extract_output_lengths
    kwargs = {"add_adapter": False} if "add_adapter" in inspect.signature(fn).parameters else {}
    out = fn(torch.tensor(lengths, dtype=torch.long), **kwargs)
    return [int(t) for t in out]


@contextlib.contextmanager
def _nothing():
    yield


@contextlib.contextmanager
def _conv_per_utterance(model: Any, lengths: list[int]):
    """Run ``model.feature_extractor`` (the group-norm conv front-end) on each utterance's own samples.

    The padded batch's frames are the utterances' own conv outputs, zero-padded; the
    transformer above sees them with the attention mask, as in one-by-one extraction.
    """
    import torch
    import torch.nn.functional as F

    conv = model.feature_extractor
    original = conv.forward

    def forward(input_values):
        outs = [original(input_values[b:b + 1, :n]) for b, n in enumerate(lengths)]
        longest = max(o.shape[-1] for o in outs)
        return torch.cat([F.pad(o, (0, longest - o.shape[-1])) for o in outs])

    conv.forward = forward
    try:
        yield
    finally:
        del conv.forward


def _hf_frame_rate(config: Any, extractor: Any, sr: int = SSL_RATE) -> float | None:
    """Frames per second of a transformers speech encoder's hidden states, from its configs."""
    stride = getattr(extractor, "stride", None)
    if getattr(extractor, "num_mel_bins", None) and stride:  # SeamlessM4T fbank (10 ms) stacked by `stride`
        return 100.0 / stride
    conv_stride = getattr(config, "conv_stride", None)
    if conv_stride:  # wav2vec2-style convolutional front-end on the waveform
        return sr / math.prod(conv_stride)
    return None
