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

import importlib
import logging
import math
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np

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


class HfFeatures:
    """One hidden layer of a transformers speech model directory (``save_pretrained`` format).

    Works with w2v-BERT 2.0 (``Wav2Vec2BertModel`` + ``SeamlessM4TFeatureExtractor``), HuBERT,
    wav2vec 2.0, WavLM and their ``...ForCTC`` fine-tuned checkpoints (the base model is used).

    Args:
        model_dir: the local directory with ``config.json``, weights and ``preprocessor_config.json``.
        layer: index into ``hidden_states`` (0 = before the first transformer layer).
        device: ``cpu`` or ``cuda[:N]``.
        frame_rate: frames per second, when it cannot be read from the model's config.
    """

    def __init__(self, model_dir: str, layer: int, device: str = "cpu", frame_rate: float | None = None) -> None:
        self.model_dir, self.layer, self.device, self._rate = Path(model_dir), layer, device, frame_rate
        for name, what in (("config.json", "the model's config"), ("preprocessor_config.json",
                                                                    "its feature extractor config")):
            if not (self.model_dir / name).is_file():
                raise ConfigError(
                    f"hf_kmeans: {self.model_dir / name} not found ({what}). Put the model directory written "
                    f"by save_pretrained (e.g. `huggingface-cli download facebook/w2v-bert-2.0 --local-dir "
                    f"{self.model_dir}` on a machine with network) at {self.model_dir}, or set "
                    f"tokenizer.model_dir=DIR")
        self._model = self._extractor = None

    def _load(self) -> None:
        import torch
        from transformers import AutoFeatureExtractor, AutoModel

        self._extractor = AutoFeatureExtractor.from_pretrained(self.model_dir, local_files_only=True)
        model = AutoModel.from_pretrained(self.model_dir, local_files_only=True)
        model = model.to(_torch_device(self.device)).eval()
        _check_layer(self.layer, model.config.num_hidden_layers + 1, f"hf_kmeans {self.model_dir}")
        if self._rate is None:
            self._rate = _hf_frame_rate(model.config, self._extractor)
        if self._rate is None:
            raise ConfigError(f"hf_kmeans: cannot tell the frame rate of {self.model_dir} "
                              f"({type(model).__name__}); set tokenizer.frame_rate")
        self._model = model
        with torch.no_grad():  # fail now, not after minutes of work, on a model without hidden states
            self(np.zeros(SSL_RATE, dtype=np.float32), SSL_RATE)
        logger.info("hf_kmeans: %s from %s, layer %d of %d, %.2f frames/s", type(model).__name__, self.model_dir,
                    self.layer, model.config.num_hidden_layers, self._rate)

    @property
    def frame_rate(self) -> float:
        if self._model is None:
            self._load()
        return float(self._rate)

    def __call__(self, wav: np.ndarray, sr: int) -> np.ndarray:
        import torch

        if self._model is None:
            self._load()
        x = to_rate(wav, sr)
        inputs = self._extractor(x, sampling_rate=SSL_RATE, return_tensors="pt")
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        with torch.no_grad():
            out = self._model(**inputs, output_hidden_states=True)
        return out.hidden_states[self.layer][0].float().cpu().numpy()


def _hf_frame_rate(config: Any, extractor: Any) -> float | None:
    """Frames per second of a transformers speech encoder's hidden states, from its configs."""
    stride = getattr(extractor, "stride", None)
    if getattr(extractor, "num_mel_bins", None) and stride:  # SeamlessM4T fbank (10 ms) stacked by `stride`
        return 100.0 / stride
    conv_stride = getattr(config, "conv_stride", None)
    if conv_stride:  # wav2vec2-style convolutional front-end on the waveform
        return SSL_RATE / math.prod(conv_stride)
    return None
