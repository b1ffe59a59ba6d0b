"""Writers of small unit HiFi-GAN checkpoints in the ParallelWaveGAN and fairseq formats.

The state dicts are built from each format's key names and shapes, written
out here independently of the plugin's modules (conv weights as weight-norm
``weight_g``/``weight_v`` pairs, as both toolkits save them).
"""
from __future__ import annotations

import json

import numpy as np
import torch
import yaml

PWG_PARAMS = {"in_channels": 16, "out_channels": 1, "channels": 32, "num_embs": 20, "num_spk_embs": 0,
              "kernel_size": 7, "upsample_scales": [10, 8, 4], "upsample_kernel_sizes": [20, 16, 8],
              "resblock_kernel_sizes": [3, 5], "resblock_dilations": [[1, 3], [1, 3]],
              "use_additional_convs": True, "bias": True, "nonlinear_activation": "LeakyReLU",
              "nonlinear_activation_params": {"negative_slope": 0.1}, "use_weight_norm": True}
FAIRSEQ_CFG = {"resblock": "1", "upsample_rates": [5, 4, 4, 2, 2], "upsample_kernel_sizes": [11, 8, 8, 4, 4],
               "upsample_initial_channel": 64, "resblock_kernel_sizes": [3, 7],
               "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5]], "num_embeddings": 30, "embedding_dim": 16,
               "model_in_dim": 16, "sampling_rate": 16000, "code_hop_size": 320}
UNITS = [3, 3, 3, 7, 7, 1, 0, 19, 19, 5, 5, 5, 2]


def _wn(shapes: dict, name: str, shape: tuple, bias: int | None) -> None:
    """A weight-normed conv: ``weight_g`` (dim 0 kept), ``weight_v``, optional bias."""
    shapes[f"{name}.weight_g"] = (shape[0],) + (1,) * (len(shape) - 1)
    shapes[f"{name}.weight_v"] = shape
    if bias is not None:
        shapes[f"{name}.bias"] = (bias,)


def pwg_shapes(p: dict, duration: bool = False, dur_chans: int = 8, dur_layers: int = 2) -> dict:
    """Key -> shape of a PWG DiscreteSymbol(HiFiGAN|Duration)Generator state dict."""
    s: dict = {"emb.weight": (p["num_embs"] + (1 if duration else 0), p["in_channels"])}
    if p.get("num_spk_embs", 0) > 0:  # speaker-ID embedding, added to the unit embedding (concat_spk_emb false)
        s["spk_emb.weight"] = (p["num_spk_embs"], p.get("spk_emb_dim", 128))
    ch, k = p["channels"], p["kernel_size"]
    _wn(s, "input_conv", (ch, p["in_channels"], k), ch)
    n_blocks = len(p["resblock_kernel_sizes"])
    for i, (sc, uk) in enumerate(zip(p["upsample_scales"], p["upsample_kernel_sizes"])):
        cin, cout = ch // 2 ** i, ch // 2 ** (i + 1)
        _wn(s, f"upsamples.{i}.1", (cin, cout, uk), cout)  # ConvTranspose1d: (in, out, k)
        for j, (rk, dils) in enumerate(zip(p["resblock_kernel_sizes"], p["resblock_dilations"])):
            for d in range(len(dils)):
                for convs in ("convs1", "convs2"):
                    _wn(s, f"blocks.{i * n_blocks + j}.{convs}.{d}.1", (cout, cout, rk), cout)
    _wn(s, "output_conv.1", (1, ch // 2 ** len(p["upsample_scales"]), k), 1)
    if duration:  # PWG adds the predictor after applying weight norm: plain weights
        for layer in range(dur_layers):
            idim = p["in_channels"] if layer == 0 else dur_chans
            s[f"duration_predictor.conv.{layer}.0.weight"] = (dur_chans, idim, 3)
            s[f"duration_predictor.conv.{layer}.0.bias"] = (dur_chans,)
            s[f"duration_predictor.conv.{layer}.2.weight"] = (dur_chans,)
            s[f"duration_predictor.conv.{layer}.2.bias"] = (dur_chans,)
        s["duration_predictor.linear.weight"] = (1, dur_chans)
        s["duration_predictor.linear.bias"] = (1,)
    return s


def fairseq_shapes(c: dict) -> dict:
    """Key -> shape of a fairseq CodeGenerator state dict."""
    s: dict = {"dict.weight": (c["num_embeddings"], c["embedding_dim"])}
    if c.get("multispkr"):
        s["spkr.weight"] = (c.get("num_speakers", 200), c["embedding_dim"])
    if c.get("dur_predictor_params"):
        dp = c["dur_predictor_params"]
        e, h, k = dp["encoder_embed_dim"], dp["var_pred_hidden_dim"], dp["var_pred_kernel_size"]
        s.update({"dur_predictor.conv1.0.weight": (h, e, k), "dur_predictor.conv1.0.bias": (h,),
                  "dur_predictor.ln1.weight": (h,), "dur_predictor.ln1.bias": (h,),
                  "dur_predictor.conv2.0.weight": (h, h, k), "dur_predictor.conv2.0.bias": (h,),
                  "dur_predictor.ln2.weight": (h,), "dur_predictor.ln2.bias": (h,),
                  "dur_predictor.proj.weight": (1, h), "dur_predictor.proj.bias": (1,)})
    ch = c["upsample_initial_channel"]
    _wn(s, "conv_pre", (ch, c["model_in_dim"], 7), ch)
    n_k = len(c["resblock_kernel_sizes"])
    for i, (u, k) in enumerate(zip(c["upsample_rates"], c["upsample_kernel_sizes"])):
        cin, cout = ch // 2 ** i, ch // 2 ** (i + 1)
        _wn(s, f"ups.{i}", (cin, cout, k), cout)
        for j, (rk, dils) in enumerate(zip(c["resblock_kernel_sizes"], c["resblock_dilation_sizes"])):
            for d in range(len(dils)):
                _wn(s, f"resblocks.{i * n_k + j}.convs1.{d}", (cout, cout, rk), cout)
                _wn(s, f"resblocks.{i * n_k + j}.convs2.{d}", (cout, cout, rk), cout)
    _wn(s, "conv_post", (1, ch // 2 ** len(c["upsample_rates"]), 7), 1)
    return s


def random_state(shapes: dict, seed: int = 0) -> dict:
    """Random tensors; weight-norm gains near 1 and small biases keep the signal alive through the stack."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k, shape in shapes.items():
        x = torch.randn(shape, generator=g)
        out[k] = 1 + 0.1 * x if k.endswith("weight_g") else 0.01 * x if k.endswith("bias") else x
    return out


def write_pwg(directory, params=PWG_PARAMS, duration=False, steps=(1000,), state=None, sr=16000) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    cfg = {"sampling_rate": sr, "hop_size": int(np.prod(params["upsample_scales"])),
           "generator_type": "DiscreteSymbolDurationGenerator" if duration else "DiscreteSymbolHiFiGANGenerator",
           "generator_params": dict(params, **({"duration_layers": 2, "duration_chans": 8} if duration else {}))}
    (directory / "config.yml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    for n in steps:
        gen = state if state is not None else random_state(pwg_shapes(params, duration), seed=n)
        torch.save({"model": {"generator": gen, "discriminator": {"x": torch.zeros(1)}},
                    "optimizer": {}, "steps": n, "epochs": 1}, directory / f"checkpoint-{n}steps.pkl")


def write_fairseq(directory, cfg=FAIRSEQ_CFG, name="g_00100000", state=None) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(cfg), encoding="utf-8")
    torch.save({"generator": state if state is not None else random_state(fairseq_shapes(cfg))}, directory / name)
