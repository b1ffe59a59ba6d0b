"""Tiny data and settings for training a unit HiFi-GAN in seconds on the CPU.

The speech is synthetic: unit ``k`` sounds as a sinusoid of ``FREQS[k]`` Hz
(phase continuous across frames), so a generator can learn the mapping from
units to waveform in a few dozen steps of a very small network.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import yaml

FS = 4000
HOP = 80                   # 50 units per second
N_UNITS = 6
FREQS = [150.0 + 120.0 * k for k in range(N_UNITS)]
GEN_PARAMS = {"in_channels": 16, "channels": 32, "kernel_size": 5, "upsample_scales": [4, 5, 4],
              "upsample_kernel_sizes": [8, 11, 8], "resblock_kernel_sizes": [3], "resblock_dilations": [[1, 3]]}
DISC_PARAMS = {
    "scales": 1,
    "scale_discriminator_params": {"in_channels": 1, "out_channels": 1, "kernel_sizes": [15, 41, 5, 3],
                                   "channels": 8, "max_downsample_channels": 32, "max_groups": 4, "bias": True,
                                   "downsample_scales": [2, 2, 1], "nonlinear_activation": "LeakyReLU",
                                   "nonlinear_activation_params": {"negative_slope": 0.1}},
    "periods": [2, 3],
    "period_discriminator_params": {"in_channels": 1, "out_channels": 1, "kernel_sizes": [5, 3], "channels": 4,
                                    "downsample_scales": [3, 3, 1], "max_downsample_channels": 16, "bias": True,
                                    "nonlinear_activation": "LeakyReLU",
                                    "nonlinear_activation_params": {"negative_slope": 0.1},
                                    "use_weight_norm": True, "use_spectral_norm": False}}
MEL_PARAMS = {"n_fft": 128, "hop_length": 32, "win_length": None, "window": "hann", "n_mels": 20, "fmin": 0,
              "fmax": None, "log_base": None}


def train_block(max_steps: int = 30, **over) -> dict:
    """A ``train`` block of a tiny unit HiFi-GAN (overrides in ``over``; ``trainer`` keys merge)."""
    trainer = {"max_steps": max_steps, "save_every": 10, "log_every_n_steps": 10, "accelerator": "cpu",
               "precision": "32-true", "seed": 0, **over.pop("trainer", {})}
    block = {"generator_params": dict(GEN_PARAMS), "discriminator_params": DISC_PARAMS, "sampling_rate": FS,
             "mel_loss_params": MEL_PARAMS, "batch_size": 4, "segment_frames": 8,
             "generator_optim": {"lr": 2e-3, "betas": [0.5, 0.9]},
             "discriminator_optim": {"lr": 2e-3, "betas": [0.5, 0.9]}, "trainer": trainer}
    block.update(over)
    return block


def unit_wave(units: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The synthetic speech of ``units``: one phase-continuous sinusoid per unit, ``HOP`` samples each."""
    freq = np.repeat(np.asarray(FREQS)[units], HOP)
    phase = 2 * np.pi * np.cumsum(freq) / FS
    return (0.4 * np.sin(phase) + 0.003 * rng.standard_normal(len(freq))).astype(np.float32)


def random_units(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` frame-level units in runs of 2 to 6 frames."""
    out: list[int] = []
    while len(out) < n:
        out += [int(rng.integers(N_UNITS))] * int(rng.integers(2, 7))
    return np.asarray(out[:n], dtype=np.int64)


def write_dump(root: Path, n_utts: int = 6, frames: int = 40, seed: int = 0, speakers: int = 2,
               wave_frames: dict[str, int] | None = None) -> Path:
    """A stage-4-like dump dir (fr and en audio, text, utt2spk, units.en + .info) of synthetic speech.

    ``wave_frames`` gives some utterances audio of another length than their units (bad input).
    """
    rng = np.random.default_rng(seed)
    (root / "audio").mkdir(parents=True, exist_ok=True)
    rows: dict[str, list[str]] = {k: [] for k in ("wav.scp.en", "wav.scp.fr", "text.en", "text.fr", "utt2spk",
                                                  "units.en")}
    for i in range(n_utts):
        utt = f"spk{i % speakers}_u{i}"
        units = random_units(frames, rng)
        wave = unit_wave(units, rng)
        if wave_frames and utt in wave_frames:
            wave = wave[:wave_frames[utt] * HOP] if wave_frames[utt] * HOP <= len(wave) else \
                np.pad(wave, (0, wave_frames[utt] * HOP - len(wave)))
        for lang in ("en", "fr"):
            path = root / "audio" / f"{utt}.{lang}.wav"
            sf.write(path, wave, FS)
            rows[f"wav.scp.{lang}"].append(f"{utt} {path}")
            rows[f"text.{lang}"].append(f"{utt} words {i}")
        rows["utt2spk"].append(f"{utt} spk{i % speakers}")
        rows["units.en"].append(f"{utt} {' '.join(map(str, units))}")
    for name, lines in rows.items():
        (root / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    info = {"frame_rate": FS / HOP, "n_clusters": N_UNITS, "dedup": False, "tokenizer": {"name": "synthetic"}}
    (root / "units.en.info").write_text(yaml.safe_dump(info), encoding="utf-8")
    return root


def espnet_pwg_vocoder(checkpoint: Path):
    """ESPnet's loader of ParallelWaveGAN vocoders (``parallel_wavegan.utils.load_model`` inside).

    parallel_wavegan 0.6.1, the newest release, imports ``scipy.signal.kaiser``, which SciPy 1.13
    removed (it lives in ``scipy.signal.windows``); the alias is set first so that the package imports.
    """
    import scipy.signal
    import scipy.signal.windows

    if not hasattr(scipy.signal, "kaiser"):
        scipy.signal.kaiser = scipy.signal.windows.kaiser
    from espnet2.tts.utils.parallel_wavegan_pretrained_vocoder import ParallelWaveGANPretrainedVocoder

    return ParallelWaveGANPretrainedVocoder(str(checkpoint))
