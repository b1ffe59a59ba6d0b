"""Unit HiFi-GAN generators whose parameter names match two public checkpoint formats.

    gen = PwgUnitGenerator(num_embs=500, upsample_scales=[10, 8, 2, 2], upsample_kernel_sizes=[20, 16, 4, 4])
    gen.load_state_dict(fold_weight_norm(ckpt["model"]["generator"]), strict=True)
    wave = gen(torch.tensor([[5, 5, 9]]))      # (1, 1, 3 * 320)

- :class:`PwgUnitGenerator`: the ParallelWaveGAN toolkit's
  ``DiscreteSymbolHiFiGANGenerator`` and ``DiscreteSymbolDurationGenerator``
  (ESPnet's unit vocoders, the paper's vocoder): ``emb``, optional ``spk_emb``,
  ``input_conv``, ``upsamples.<i>.1``, ``blocks.<k>.convs{1,2}.<j>.1``,
  ``output_conv.1``, optional ``duration_predictor.conv.<i>.{0,2}`` + ``.linear``.
- :class:`CodeHiFiGANGenerator`: fairseq's ``CodeGenerator`` (speech-resynthesis'
  CodeHiFiGAN, the public mHuBERT unit vocoders): ``dict``, optional ``spkr``,
  ``conv_pre``, ``ups.<i>``, ``resblocks.<k>.convs{1,2}.<j>``, ``conv_post``,
  optional ``dur_predictor.{conv1.0,ln1,conv2.0,ln2,proj}``.

Both compute the same HiFi-GAN body (unit embedding, transposed-convolution
upsampling, multi-receptive-field residual blocks averaged per stage, tanh).
Checkpoints trained with weight normalisation store ``weight_g``/``weight_v``
(or ``parametrizations.weight.original0/1``); :func:`fold_weight_norm` turns
them into plain ``weight`` tensors, so these modules carry no weight norm.

Why not ``espnet2.gan_tts.hifigan.HiFiGANGenerator`` for the PWG body: its
parameter names match, but it requires ``kernel = 2 * scale`` and pads odd
scales differently (``output_padding``), so a PWG checkpoint with e.g.
scale 5 / kernel 11 would not load or would compute another signal.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F


def fold_weight_norm(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Replace weight-norm pairs by the weight they define: ``w = g * v / ||v||`` (norm over all dims but 0).

    Handles ``<m>.weight_g``/``<m>.weight_v`` (``torch.nn.utils.weight_norm``) and
    ``<m>.parametrizations.weight.original0``/``original1`` (its parametrization form).
    Other keys pass through unchanged; tensors become float32.
    """
    out: dict[str, torch.Tensor] = {}
    pairs: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        for suffix_g, suffix_v in ((".weight_g", ".weight_v"),
                                   (".parametrizations.weight.original0", ".parametrizations.weight.original1")):
            if key.endswith(suffix_g):
                pairs.setdefault(key[:-len(suffix_g)], {})["g"] = value
                break
            if key.endswith(suffix_v):
                pairs.setdefault(key[:-len(suffix_v)], {})["v"] = value
                break
        else:
            out[key] = value.float() if torch.is_floating_point(value) else value
    for prefix, gv in pairs.items():
        if set(gv) != {"g", "v"}:
            missing = "g (weight_g/original0)" if "g" not in gv else "v (weight_v/original1)"
            raise KeyError(f"{prefix}: weight-norm {missing} is missing")
        g, v = gv["g"].float(), gv["v"].float()
        norm = v.reshape(v.shape[0], -1).norm(dim=1).reshape(-1, *([1] * (v.dim() - 1)))
        out[f"{prefix}.weight"] = v * (g / norm)
    return out


def _activation(name: str, params: Mapping[str, Any] | None) -> nn.Module:
    if not hasattr(nn, name):
        raise ValueError(f"unknown activation torch.nn.{name}")
    return getattr(nn, name)(**dict(params or {}))


class _PwgResBlock(nn.Module):
    """PWG's HiFiGANResidualBlock: ``convs1[j]``/``convs2[j]`` are ``Sequential(act, conv)``."""

    def __init__(self, channels: int, kernel_size: int, dilations: Sequence[int], bias: bool,
                 additional: bool, act: str, act_params: Mapping[str, Any] | None) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(
            nn.Sequential(_activation(act, act_params),
                          nn.Conv1d(channels, channels, kernel_size, 1, dilation=d, bias=bias,
                                    padding=(kernel_size - 1) // 2 * d))
            for d in dilations)
        self.convs2 = nn.ModuleList(
            nn.Sequential(_activation(act, act_params),
                          nn.Conv1d(channels, channels, kernel_size, 1, bias=bias, padding=(kernel_size - 1) // 2))
            for _ in dilations) if additional else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for j, c1 in enumerate(self.convs1):
            xt = c1(x)
            if self.convs2 is not None:
                xt = self.convs2[j](xt)
            x = x + xt
        return x


class _PwgDurationPredictor(nn.Module):
    """PWG's DurationPredictor: ``conv[i] = Sequential(Conv1d, ReLU, LayerNorm over channels, Dropout)``."""

    def __init__(self, idim: int, n_layers: int, n_chans: int, kernel_size: int, offset: float,
                 dropout_rate: float = 0.0) -> None:
        super().__init__()
        self.offset = offset
        self.conv = nn.ModuleList(
            nn.Sequential(nn.Conv1d(idim if i == 0 else n_chans, n_chans, kernel_size, padding=(kernel_size - 1) // 2),
                          nn.ReLU(), nn.LayerNorm(n_chans, eps=1e-12), nn.Dropout(dropout_rate))
            for i in range(n_layers))
        self.linear = nn.Linear(n_chans, 1)

    def log_durations(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, T)`` embeddings -> ``(B, T)`` predicted ``log(duration + offset)`` (the training target)."""
        for conv, relu, norm, dropout in self.conv:
            x = dropout(norm(relu(conv(x)).transpose(1, 2)).transpose(1, 2))
        return self.linear(x.transpose(1, 2)).squeeze(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, T)`` embeddings -> ``(B, T)`` integer durations (>= 0)."""
        return torch.clamp(torch.round(self.log_durations(x).exp() - self.offset), min=0).long()


class PwgUnitGenerator(nn.Module):
    """ParallelWaveGAN's discrete-symbol HiFi-GAN generator (optionally with a duration predictor).

    The arguments are the ``generator_params`` of a PWG ``config.yml``
    (``DiscreteSymbolHiFiGANGenerator``; ``duration_*`` for
    ``DiscreteSymbolDurationGenerator``, pass ``duration=True``). As in PWG,
    the duration variant embeds ``num_embs + 1`` symbols (the last one pads).
    """

    def __init__(self, in_channels: int = 512, out_channels: int = 1, channels: int = 512, num_embs: int = 100,
                 num_spk_embs: int = 128, spk_emb_dim: int = 128, concat_spk_emb: bool = False,
                 kernel_size: int = 7, upsample_scales: Sequence[int] = (8, 8, 2, 2),
                 upsample_kernel_sizes: Sequence[int] = (16, 16, 4, 4),
                 resblock_kernel_sizes: Sequence[int] = (3, 7, 11),
                 resblock_dilations: Sequence[Sequence[int]] = ((1, 3, 5), (1, 3, 5), (1, 3, 5)),
                 use_additional_convs: bool = True, bias: bool = True, nonlinear_activation: str = "LeakyReLU",
                 nonlinear_activation_params: Mapping[str, Any] | None = None, use_weight_norm: bool = True,
                 duration: bool = False, duration_layers: int = 2, duration_chans: int = 384,
                 duration_kernel_size: int = 3, duration_offset: float = 1.0,
                 duration_dropout_rate: float = 0.5) -> None:
        super().__init__()
        act_params = {"negative_slope": 0.1} if nonlinear_activation_params is None else nonlinear_activation_params
        if out_channels != 1:
            raise ValueError(f"out_channels={out_channels}: multi-band (PQMF) generators are not supported")
        if len(upsample_scales) != len(upsample_kernel_sizes) or len(resblock_kernel_sizes) != len(resblock_dilations):
            raise ValueError("upsample_scales/upsample_kernel_sizes and resblock_kernel_sizes/resblock_dilations "
                             "must have the same lengths")
        self.num_symbols = num_embs
        self.hop = 1
        for s in upsample_scales:
            self.hop *= int(s)
        self.num_spk_embs, self.concat_spk_emb = num_spk_embs, concat_spk_emb
        self.num_speakers = max(int(num_spk_embs), 0)  # 0: a single-speaker generator
        self.emb = nn.Embedding(num_embs + 1 if duration else num_embs, in_channels)
        body_in = in_channels
        if num_spk_embs > 0:
            self.spk_emb = nn.Embedding(num_spk_embs, spk_emb_dim)
            if concat_spk_emb:
                body_in = in_channels + spk_emb_dim
            elif in_channels != spk_emb_dim:
                raise ValueError(f"spk_emb_dim ({spk_emb_dim}) must equal in_channels ({in_channels}) "
                                 "unless concat_spk_emb is true")
        self.input_conv = nn.Conv1d(body_in, channels, kernel_size, 1, padding=(kernel_size - 1) // 2)
        self.upsamples = nn.ModuleList()
        self.blocks = nn.ModuleList()
        self.num_blocks = len(resblock_kernel_sizes)
        ch = channels
        for i, (s, k) in enumerate(zip(upsample_scales, upsample_kernel_sizes)):
            ch = channels // 2 ** (i + 1)
            self.upsamples.append(nn.Sequential(
                _activation(nonlinear_activation, act_params),
                nn.ConvTranspose1d(channels // 2 ** i, ch, k, s, padding=(k - s) // 2)))
            for rk, rd in zip(resblock_kernel_sizes, resblock_dilations):
                self.blocks.append(_PwgResBlock(ch, rk, rd, bias, use_additional_convs, nonlinear_activation,
                                                act_params))
        self.output_conv = nn.Sequential(nn.LeakyReLU(), nn.Conv1d(ch, out_channels, kernel_size, 1,
                                                                   padding=(kernel_size - 1) // 2), nn.Tanh())
        self.duration_predictor = None
        if duration:
            # PWG sizes the predictor input with the speaker embedding whenever there is one.
            idim = in_channels + spk_emb_dim if num_spk_embs > 0 else in_channels
            self.duration_predictor = _PwgDurationPredictor(idim, duration_layers, duration_chans,
                                                            duration_kernel_size, duration_offset,
                                                            duration_dropout_rate)

    def embed(self, units: torch.Tensor, speakers: torch.Tensor | int | None = None) -> torch.Tensor:
        """``(B, T)`` unit ids (and the speaker of each row, or one for all) -> ``(B, C, T)`` embeddings."""
        x = self.emb(units).transpose(1, 2)  # (B, C, T)
        if self.num_spk_embs > 0:
            if not isinstance(speakers, torch.Tensor):
                speakers = torch.full((units.shape[0],), speakers or 0, dtype=torch.long, device=units.device)
            g = self.spk_emb(speakers).unsqueeze(2).expand(-1, -1, x.shape[2])
            x = torch.cat([x, g], dim=1) if self.concat_spk_emb else x + g
        return x

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        """The HiFi-GAN body: ``(B, C, frames)`` embeddings -> ``(B, 1, frames * hop)`` waveform."""
        c = self.input_conv(x)
        for i, up in enumerate(self.upsamples):
            c = up(c)
            c = sum(self.blocks[i * self.num_blocks + j](c) for j in range(self.num_blocks)) / self.num_blocks
        return self.output_conv(c)

    def forward(self, units: torch.Tensor, speaker: int | None = None,
                predict_durations: bool = False) -> torch.Tensor:
        """``(1, T)`` unit ids -> ``(1, 1, samples)``; with ``predict_durations`` each unit is
        repeated by the predicted duration first (de-duplicated input). When every predicted
        duration is 0 each unit gets 1, as ParallelWaveGAN's length regulator does (``T * hop``
        samples)."""
        x = self.embed(units, speaker)
        if predict_durations:
            if self.duration_predictor is None:
                raise ValueError("this generator has no duration predictor")
            d = self.duration_predictor(x)[0]
            if int(d.sum()) == 0:
                # ParallelWaveGAN's LengthRegulator (parallel_wavegan/layers/length_regulator.py) sets every
                # duration of an all-zero row to 1: one frame per unit, not one frame in all
                d = torch.ones_like(d)
            x = torch.repeat_interleave(x, d, dim=2)
        return self.decode(x)

    def apply_weight_norm(self) -> None:
        """Weight-normalise every convolution of the body for training, as ParallelWaveGAN does.

        The duration predictor stays plain (ParallelWaveGAN adds it after applying weight norm).
        :meth:`pwg_state_dict` then writes the ``weight_g``/``weight_v`` pairs its checkpoints hold.
        """
        from torch.nn.utils.parametrizations import weight_norm

        skip = {id(m) for m in self.duration_predictor.modules()} if self.duration_predictor is not None else set()
        for m in list(self.modules()):
            if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d)) and id(m) not in skip:
                weight_norm(m, dim=0)

    def pwg_state_dict(self) -> dict[str, torch.Tensor]:
        """The state dict in ParallelWaveGAN's layout: weight-norm parametrizations as ``weight_g``/``weight_v``."""
        out = {}
        for key, value in self.state_dict().items():
            key = key.replace(".parametrizations.weight.original0", ".weight_g")
            out[key.replace(".parametrizations.weight.original1", ".weight_v")] = value.detach().clone()
        return out


class _CodeResBlock(nn.Module):
    """fairseq/HiFi-GAN ResBlock1 (``convs1`` + ``convs2``) or ResBlock2 (``convs``), plain convolutions."""

    def __init__(self, channels: int, kernel_size: int, dilations: Sequence[int], kind: str) -> None:
        super().__init__()
        self.kind = kind

        def conv(d: int) -> nn.Conv1d:
            return nn.Conv1d(channels, channels, kernel_size, 1, dilation=d, padding=(kernel_size * d - d) // 2)

        if kind == "1":
            self.convs1 = nn.ModuleList(conv(d) for d in dilations)
            self.convs2 = nn.ModuleList(conv(1) for _ in dilations)
        else:
            self.convs = nn.ModuleList(conv(d) for d in dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "1":
            for c1, c2 in zip(self.convs1, self.convs2):
                x = x + c2(F.leaky_relu(c1(F.leaky_relu(x, 0.1)), 0.1))
        else:
            for c in self.convs:
                x = x + c(F.leaky_relu(x, 0.1))
        return x


class _CodeDurationPredictor(nn.Module):
    """fairseq's VariancePredictor as the CodeHiFiGAN duration predictor."""

    def __init__(self, encoder_embed_dim: int, var_pred_hidden_dim: int, var_pred_kernel_size: int) -> None:
        super().__init__()
        k = var_pred_kernel_size
        self.conv1 = nn.Sequential(nn.Conv1d(encoder_embed_dim, var_pred_hidden_dim, k, padding=(k - 1) // 2),
                                   nn.ReLU())
        self.ln1 = nn.LayerNorm(var_pred_hidden_dim)
        self.conv2 = nn.Sequential(nn.Conv1d(var_pred_hidden_dim, var_pred_hidden_dim, k, padding=1), nn.ReLU())
        self.ln2 = nn.LayerNorm(var_pred_hidden_dim)
        self.proj = nn.Linear(var_pred_hidden_dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, T)`` embeddings -> ``(B, T)`` integer durations (>= 1, as fairseq)."""
        x = self.ln1(self.conv1(x).transpose(1, 2))
        x = self.ln2(self.conv2(x.transpose(1, 2)).transpose(1, 2))
        log_d = self.proj(x).squeeze(-1)
        return torch.clamp(torch.round(log_d.exp() - 1), min=1).long()


class CodeHiFiGANGenerator(nn.Module):
    """fairseq's CodeHiFiGAN generator, built from its JSON config (a dict).

    Keys used: ``num_embeddings``, ``embedding_dim``, ``model_in_dim`` (default 80, as fairseq),
    ``upsample_rates``, ``upsample_kernel_sizes``, ``upsample_initial_channel``,
    ``resblock_kernel_sizes``, ``resblock_dilation_sizes``, ``resblock`` ("1" or "2"),
    optional ``dur_predictor_params``, ``multispkr`` with ``num_speakers`` (default 200).
    """

    def __init__(self, cfg: Mapping[str, Any]) -> None:
        super().__init__()
        if cfg.get("f0") or cfg.get("embedder_params") or cfg.get("lambda_commit_code"):
            raise ValueError("F0-conditioned, x-vector-embedder and VQ-code CodeHiFiGAN variants are not supported "
                             "(config keys f0 / embedder_params / lambda_commit_code)")
        self.num_symbols = int(cfg["num_embeddings"])
        self.dict = nn.Embedding(self.num_symbols, int(cfg["embedding_dim"]))
        self.multispkr = bool(cfg.get("multispkr"))
        self.num_speakers = int(cfg.get("num_speakers", 200)) if self.multispkr else 0  # 0: single speaker
        if self.multispkr:
            self.spkr = nn.Embedding(self.num_speakers, int(cfg["embedding_dim"]))
        self.dur_predictor = None
        if cfg.get("dur_predictor_params"):
            p = cfg["dur_predictor_params"]
            self.dur_predictor = _CodeDurationPredictor(int(p["encoder_embed_dim"]), int(p["var_pred_hidden_dim"]),
                                                        int(p["var_pred_kernel_size"]))
        rates, kernels = list(cfg["upsample_rates"]), list(cfg["upsample_kernel_sizes"])
        init_ch = int(cfg["upsample_initial_channel"])
        self.hop = 1
        for r in rates:
            self.hop *= int(r)
        self.num_kernels = len(cfg["resblock_kernel_sizes"])
        self.conv_pre = nn.Conv1d(int(cfg.get("model_in_dim", 80)), init_ch, 7, 1, padding=3)
        self.ups = nn.ModuleList(
            nn.ConvTranspose1d(init_ch // 2 ** i, init_ch // 2 ** (i + 1), k, u, padding=(k - u) // 2)
            for i, (u, k) in enumerate(zip(rates, kernels)))
        kind = str(cfg.get("resblock", "1"))
        if kind not in ("1", "2"):
            raise ValueError(f"resblock must be '1' or '2', got {kind!r}")
        self.resblocks = nn.ModuleList(
            _CodeResBlock(init_ch // 2 ** (i + 1), k, d, kind)
            for i in range(len(rates))
            for k, d in zip(cfg["resblock_kernel_sizes"], cfg["resblock_dilation_sizes"]))
        self.conv_post = nn.Conv1d(init_ch // 2 ** len(rates), 1, 7, 1, padding=3)

    def forward(self, units: torch.Tensor, speaker: int | None = None,
                predict_durations: bool = False) -> torch.Tensor:
        """``(1, T)`` unit ids -> ``(1, 1, samples)``; see :meth:`PwgUnitGenerator.forward`."""
        x = self.dict(units).transpose(1, 2)
        if predict_durations:
            if self.dur_predictor is None:
                raise ValueError("this generator has no duration predictor")
            x = torch.repeat_interleave(x, self.dur_predictor(x)[0], dim=2)
        if self.multispkr:
            g = self.spkr(torch.full((units.shape[0],), speaker or 0, dtype=torch.long, device=units.device))
            x = torch.cat([x, g.unsqueeze(2).expand(-1, -1, x.shape[2])], dim=1)
        x = self.conv_pre(x)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, 0.1))
            blocks = self.resblocks[i * self.num_kernels:(i + 1) * self.num_kernels]
            x = sum(b(x) for b in blocks) / self.num_kernels
        return torch.tanh(self.conv_post(F.leaky_relu(x)))
