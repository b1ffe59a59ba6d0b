"""UTMOS22 strong learner: a predicted naturalness MOS (1-5) from a local SpeechMOS checkpoint.

    from s2s_plugin.quality.utmos import Utmos22Strong

    scorer = Utmos22Strong(checkpoint="downloads/utmos22_strong_step7459_v1.pt")
    scorer.score([wave], 22050)        # [3.87]

The UTMOS strong learner (Saeki et al., "UTMOS: UTokyo-SaruLab System for
VoiceMOS Challenge 2022") as SpeechMOS (github.com/tarepan/SpeechMOS)
re-packaged it for inference, written here in plain PyTorch:

- a wav2vec 2.0 Base encoder as fairseq builds it: seven convolutions
  (512 channels, kernels 10,3,3,3,3,2,2, strides 5,2,2,2,2,2,2, no bias,
  group norm after the first, GELU), layer norm, a projection to 768, a
  weight-normalised grouped convolutional position embedding (kernel 128,
  16 groups), layer norm, and 12 post-norm transformer layers (12 heads,
  feed-forward 3072, GELU);
- a data-domain embedding and a listener (judge) embedding, 128 each,
  concatenated to every frame: SpeechMOS's checkpoint holds one row of each,
  the main-track domain and the "mean listener" that UTMOS scores with at
  inference;
- a bidirectional LSTM (512 per direction) and a frame-wise head
  (1024 -> 2048 -> ReLU -> 1); the utterance score is ``2 * mean + 3``.

Input is resampled to 16 kHz (``torchaudio.functional.resample``) and scored
one utterance at a time (no padding enters the group norm or the mean).

The checkpoint is SpeechMOS's ``utmos22_strong_step7459_v1.pt`` (a plain
state_dict, 103M parameters; from its GitHub releases page, v1.0.0), read with
``torch.load(weights_only=True)``. Nothing is downloaded: a missing file is an
error saying where to put it, and keys or shapes that differ from the layout
(:func:`expected_state_shapes`) are an error naming them.
"""
from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from s2s_plugin.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = "utmos22_strong_step7459_v1.pt"
RELEASES = "https://github.com/tarepan/SpeechMOS/releases (v1.0.0)"
SAMPLE_RATE = 16000


@dataclass(frozen=True)
class Utmos22Arch:
    """The sizes of the model; the defaults are the released checkpoint's (tests build smaller ones).

    Attributes:
        conv_dim: channels of the convolutional feature encoder.
        conv_layers: ``(kernel, stride)`` of each feature-encoder convolution.
        ssl_dim: width of the transformer.
        ffn_dim: feed-forward width of each transformer layer.
        num_heads: attention heads.
        num_layers: transformer layers.
        pos_conv_kernel: kernel of the convolutional position embedding (even).
        pos_conv_groups: its groups.
        domain_dim: width of the data-domain embedding.
        judge_dim: width of the listener embedding.
        rnn_hidden: LSTM units per direction.
        proj_hidden: hidden width of the frame-wise head.
    """

    conv_dim: int = 512
    conv_layers: tuple[tuple[int, int], ...] = ((10, 5), (3, 2), (3, 2), (3, 2), (3, 2), (2, 2), (2, 2))
    ssl_dim: int = 768
    ffn_dim: int = 3072
    num_heads: int = 12
    num_layers: int = 12
    pos_conv_kernel: int = 128
    pos_conv_groups: int = 16
    domain_dim: int = 128
    judge_dim: int = 128
    rnn_hidden: int = 512
    proj_hidden: int = 2048

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> Utmos22Arch:
        """Sizes from a config mapping (unknown keys are an error); None: the released model's."""
        if not values:
            return cls()
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"quality 'utmos22_strong': unknown arch keys {unknown}; known: {sorted(known)}")
        values = dict(values)
        if "conv_layers" in values:
            values["conv_layers"] = tuple(tuple(int(v) for v in layer) for layer in values["conv_layers"])
        return cls(**values)

    def min_samples(self) -> int:
        """The shortest input (16 kHz samples) that gives one frame."""
        need = 1
        for kernel, stride in reversed(self.conv_layers):
            need = (need - 1) * stride + kernel
        return need


def expected_state_shapes(arch: Utmos22Arch | None = None) -> dict[str, tuple[int, ...]]:
    """Every key of the checkpoint's state_dict and its shape, for ``arch`` (default: the released sizes)."""
    a = arch or Utmos22Arch()
    d, c = a.ssl_dim, a.conv_dim
    out: dict[str, tuple[int, ...]] = {}
    fe = "wav2vec2.feature_extractor.conv_layers"
    in_ch = 1
    for i, (kernel, _) in enumerate(a.conv_layers):
        out[f"{fe}.{i}.0.weight"] = (c, in_ch, kernel)
        if i == 0:
            out[f"{fe}.0.2.weight"] = out[f"{fe}.0.2.bias"] = (c,)
        in_ch = c
    out.update({"wav2vec2.mask_emb": (d,), "wav2vec2.layer_norm.weight": (c,), "wav2vec2.layer_norm.bias": (c,),
                "wav2vec2.post_extract_proj.weight": (d, c), "wav2vec2.post_extract_proj.bias": (d,),
                "wav2vec2.encoder.pos_conv.0.bias": (d,),
                "wav2vec2.encoder.pos_conv.0.weight_g": (1, 1, a.pos_conv_kernel),
                "wav2vec2.encoder.pos_conv.0.weight_v": (d, d // a.pos_conv_groups, a.pos_conv_kernel),
                "wav2vec2.encoder.layer_norm.weight": (d,), "wav2vec2.encoder.layer_norm.bias": (d,)})
    for i in range(a.num_layers):
        p = f"wav2vec2.encoder.layers.{i}"
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            out[f"{p}.self_attn.{proj}.weight"], out[f"{p}.self_attn.{proj}.bias"] = (d, d), (d,)
        out[f"{p}.fc1.weight"], out[f"{p}.fc1.bias"] = (a.ffn_dim, d), (a.ffn_dim,)
        out[f"{p}.fc2.weight"], out[f"{p}.fc2.bias"] = (d, a.ffn_dim), (d,)
        for norm in ("self_attn_layer_norm", "final_layer_norm"):
            out[f"{p}.{norm}.weight"] = out[f"{p}.{norm}.bias"] = (d,)
    out["domain_emb"], out["judge_emb"] = (1, a.domain_dim), (1, a.judge_dim)
    cat, h = d + a.domain_dim + a.judge_dim, a.rnn_hidden
    for suffix in ("", "_reverse"):
        out[f"blstm.weight_ih_l0{suffix}"] = (4 * h, cat)
        out[f"blstm.weight_hh_l0{suffix}"] = (4 * h, h)
        out[f"blstm.bias_ih_l0{suffix}"] = out[f"blstm.bias_hh_l0{suffix}"] = (4 * h,)
    out.update({"projection.0.weight": (a.proj_hidden, 2 * h), "projection.0.bias": (a.proj_hidden,),
                "projection.2.weight": (1, a.proj_hidden), "projection.2.bias": (1,)})
    return out


def build_model(arch: Utmos22Arch | None = None, device: Any = None) -> Any:
    """The UTMOS22 strong network (a ``torch.nn.Module``) with uninitialised weights, in eval mode.

    ``device="meta"`` builds it without memory (to inspect its state_dict layout).
    """
    import torch
    from torch import nn
    from torch.nn import functional as F

    a = arch or Utmos22Arch()

    class PosConv(nn.Module):
        """A grouped convolution whose weight is ``weight_v`` rescaled to norm ``weight_g`` per kernel tap."""

        def __init__(self) -> None:
            super().__init__()
            k, groups = a.pos_conv_kernel, a.pos_conv_groups
            self.groups, self.pad = groups, k // 2
            self.weight_g = nn.Parameter(torch.empty(1, 1, k))
            self.weight_v = nn.Parameter(torch.empty(a.ssl_dim, a.ssl_dim // groups, k))
            self.bias = nn.Parameter(torch.empty(a.ssl_dim))

        def forward(self, x: torch.Tensor) -> torch.Tensor:   # (B, D, T) -> (B, D, T + 1)
            norm = self.weight_v.pow(2).sum(dim=(0, 1), keepdim=True).sqrt()
            weight = self.weight_v * (self.weight_g / norm)
            return F.conv1d(x, weight, self.bias, padding=self.pad, groups=self.groups)

    class DropLast(nn.Module):
        """Drops the extra frame an even kernel with ``k // 2`` padding adds."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x[:, :, :-1]

    class EncoderLayer(nn.Module):
        """Post-norm transformer layer: attention, add, norm; feed-forward, add, norm."""

        def __init__(self) -> None:
            super().__init__()
            d = a.ssl_dim
            self.self_attn = nn.Module()
            for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
                setattr(self.self_attn, proj, nn.Linear(d, d))
            self.fc1, self.fc2 = nn.Linear(d, a.ffn_dim), nn.Linear(a.ffn_dim, d)
            self.self_attn_layer_norm, self.final_layer_norm = nn.LayerNorm(d), nn.LayerNorm(d)

        def forward(self, x: torch.Tensor) -> torch.Tensor:   # (B, T, D)
            b, t, d = x.shape
            att = self.self_attn

            def heads(proj: nn.Module) -> torch.Tensor:
                return proj(x).view(b, t, a.num_heads, d // a.num_heads).transpose(1, 2)

            y = F.scaled_dot_product_attention(heads(att.q_proj), heads(att.k_proj), heads(att.v_proj))
            x = self.self_attn_layer_norm(x + att.out_proj(y.transpose(1, 2).reshape(b, t, d)))
            return self.final_layer_norm(x + self.fc2(F.gelu(self.fc1(x))))

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pos_conv = nn.Sequential(PosConv(), DropLast(), nn.GELU())
            self.layer_norm = nn.LayerNorm(a.ssl_dim)
            self.layers = nn.ModuleList([EncoderLayer() for _ in range(a.num_layers)])

        def forward(self, x: torch.Tensor) -> torch.Tensor:   # (B, T, D)
            x = x + self.pos_conv(x.transpose(1, 2)).transpose(1, 2)
            x = self.layer_norm(x)
            for layer in self.layers:
                x = layer(x)
            return x

    class FeatureExtractor(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv_layers = nn.ModuleList()
            in_ch = 1
            for i, (kernel, stride) in enumerate(a.conv_layers):
                # slot 1 is fairseq's (inert) dropout, so the group norm keeps its key ``0.2``
                norm = [nn.GroupNorm(a.conv_dim, a.conv_dim)] if i == 0 else []
                self.conv_layers.append(nn.Sequential(nn.Conv1d(in_ch, a.conv_dim, kernel, stride, bias=False),
                                                      nn.Identity(), *norm, nn.GELU()))
                in_ch = a.conv_dim

        def forward(self, wave: torch.Tensor) -> torch.Tensor:   # (B, S) -> (B, C, T)
            x = wave.unsqueeze(1)
            for conv in self.conv_layers:
                x = conv(x)
            return x

    class Wav2Vec2(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.feature_extractor = FeatureExtractor()
            self.layer_norm = nn.LayerNorm(a.conv_dim)
            self.post_extract_proj = nn.Linear(a.conv_dim, a.ssl_dim)
            self.encoder = Encoder()
            self.mask_emb = nn.Parameter(torch.empty(a.ssl_dim))   # used in pretraining only; kept for the layout

        def forward(self, wave: torch.Tensor) -> torch.Tensor:   # (B, S) -> (B, T, D)
            x = self.layer_norm(self.feature_extractor(wave).transpose(1, 2))
            return self.encoder(self.post_extract_proj(x))

    class Utmos22StrongNet(nn.Module):
        """wave (B, S) at 16 kHz -> predicted MOS (B,)."""

        def __init__(self) -> None:
            super().__init__()
            self.wav2vec2 = Wav2Vec2()
            self.domain_emb = nn.Parameter(torch.empty(1, a.domain_dim))
            self.judge_emb = nn.Parameter(torch.empty(1, a.judge_dim))
            self.blstm = nn.LSTM(a.ssl_dim + a.domain_dim + a.judge_dim, a.rnn_hidden, batch_first=True,
                                 bidirectional=True)
            self.projection = nn.Sequential(nn.Linear(2 * a.rnn_hidden, a.proj_hidden), nn.ReLU(),
                                            nn.Linear(a.proj_hidden, 1))

        def forward(self, wave: torch.Tensor) -> torch.Tensor:
            ssl = self.wav2vec2(wave)
            b, t, _ = ssl.shape
            feats = torch.cat([ssl, self.domain_emb.expand(b, t, -1), self.judge_emb.expand(b, t, -1)], dim=2)
            frames = self.projection(self.blstm(feats)[0])        # (B, T, 1)
            return frames.mean(dim=(1, 2)) * 2.0 + 3.0

    with torch.device(device or "cpu"):
        model = Utmos22StrongNet()
    return model.eval()


def check_state_dict(state: Any, path: Path, arch: Utmos22Arch) -> None:
    """Refuse a checkpoint whose keys or shapes differ from :func:`expected_state_shapes`, naming them.

    Raises:
        DataError: naming the file, the missing, unexpected or mis-shaped keys and what to do.
    """
    fix = (f"is it SpeechMOS's {CHECKPOINT_NAME} (a plain state_dict of the UTMOS22 strong learner, from "
           f"{RELEASES})?")
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise DataError(f"{path}: not a state_dict (a mapping of parameter names to tensors); {fix}")
    expected = expected_state_shapes(arch)
    missing = [k for k in expected if k not in state]
    extra = sorted(k for k in state if k not in expected)
    wrong = [f"{k} {tuple(getattr(state[k], 'shape', ()))} (expected {expected[k]})" for k in expected
             if k in state and tuple(getattr(state[k], "shape", ())) != expected[k]]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing key(s), e.g. {', '.join(missing[:3])}")
    if extra:
        problems.append(f"{len(extra)} unexpected key(s), e.g. {', '.join(extra[:3])}")
    if wrong:
        problems.append(f"{len(wrong)} key(s) of another shape, e.g. {'; '.join(wrong[:3])}")
    if problems:
        raise DataError(f"{path}: not the UTMOS22 strong layout: {'; '.join(problems)}; {fix}")


class Utmos22Strong:
    """UTMOS22 strong learner as a ``quality_scorer``: predicted naturalness MOS, 1 (bad) to 5 (excellent).

    Example (``conf/score.yaml``)::

        quality:
          name: utmos22_strong
          checkpoint: downloads/utmos22_strong_step7459_v1.pt
          device: cuda

    Args:
        checkpoint: SpeechMOS's ``utmos22_strong_step7459_v1.pt`` (download it from SpeechMOS's
            GitHub releases page; nothing is fetched at run time).
        device: ``cpu``, ``cuda`` or ``auto`` (cuda when available).
        arch: sizes that differ from the released model's (:class:`Utmos22Arch`); only for
            checkpoints of other sizes (tests).

    Raises:
        ConfigError: the checkpoint file does not exist (said when the scorer is built, before any work).
    """

    name = "utmos22_strong"
    unit = "predicted MOS 1-5, UTMOS22 strong"

    def __init__(self, checkpoint: str, device: str = "cpu", arch: dict | None = None) -> None:
        self.checkpoint, self.device = Path(checkpoint), device
        self.arch = Utmos22Arch.from_dict(arch)
        if not self.checkpoint.is_file():
            raise ConfigError(
                f"quality.checkpoint (conf/score.yaml): {self.checkpoint} not found. Download {CHECKPOINT_NAME} "
                f"from SpeechMOS's releases page, {RELEASES}, and put it at {self.checkpoint} (or set "
                "quality.checkpoint=PATH); nothing is downloaded at run time.")
        self._model: Any = None

    def __repr__(self) -> str:
        return f"Utmos22Strong(checkpoint='{self.checkpoint}')"

    def _load(self) -> Any:
        if self._model is None:
            import torch

            from s2s_plugin.safe_load import load_checkpoint

            state = load_checkpoint(self.checkpoint, "UTMOS22 strong checkpoint",
                                    fix=f"download {CHECKPOINT_NAME} again from {RELEASES}")
            check_state_dict(state, self.checkpoint, self.arch)
            device = self.device
            if device == "auto":
                device = "cuda" if torch.cuda.is_available() else "cpu"
            model = build_model(self.arch, "meta")
            model.load_state_dict({k: v.float() for k, v in state.items()}, assign=True)
            self._model = model.to(device).eval()
            logger.info("loaded UTMOS22 strong from %s (%d parameters) on %s", self.checkpoint,
                        sum(v.numel() for v in state.values()), device)
        return self._model

    def score(self, wavs: list[np.ndarray], sr: int) -> list[float]:
        """One predicted MOS per waveform, in input order (NaN for one shorter than 25 ms or not finite)."""
        import torch
        import torchaudio

        model = self._load()
        device = next(model.parameters()).device
        out: list[float] = []
        with torch.inference_mode():
            for w in wavs:
                wave = torch.as_tensor(np.asarray(w, dtype=np.float32).reshape(1, -1))
                if sr != SAMPLE_RATE:
                    wave = torchaudio.functional.resample(wave, orig_freq=int(sr), new_freq=SAMPLE_RATE)
                if wave.shape[1] < self.arch.min_samples() or not bool(torch.isfinite(wave).all()):
                    out.append(math.nan)
                    continue
                out.append(float(model(wave.to(device))[0]))
        return out
