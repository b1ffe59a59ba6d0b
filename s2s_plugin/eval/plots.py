"""Plots of stage 11: training curves with p, and scores per language and system.

    from s2s_plugin.eval.plots import plot_training, plot_set_scores

    plot_training("exp/s2st_scheduled", "exp/s2st_scheduled/plots/training.png")  # None without logs
    plot_set_scores(scores_json, "exp/s2st_scheduled/plots/scores.png")
    plot_seed_points({"baseline": {"fr": [(1, 20.1), (2, 21.0)]}}, ["fr"], "ASR-BLEU", "RESULTS.png")
    plot_spectrograms([SpecPanel("reference", wave, 16000), SpecPanel("ours", missing="no audio")], "u.png")

Training curves come from the TensorBoard event files anywhere under the exp
dir (read with tensorboard's ``EventAccumulator``): one panel per loss (a tag
holding ``loss``; ``train/loss_src_text`` and ``valid/loss_src_text`` share
the T_src panel, so train and validation of each segment sit side by side),
and the interleaving text ratio (a tag named ``p``, ``*/p`` or holding
``text_ratio``) in the last one. Later event
files win where a resumed run logged the same step twice.

Spectrograms for the listening page (``plot_spectrograms``) are log-mel power
in dB computed with librosa: every panel is resampled (scipy, polyphase) to
the lowest rate among them, so all panels share one mel frequency axis, one
analysis (25 ms Hann window, 10 ms hop) and one absolute colour scale (dB, not
normalised per panel: the loudest panel's peak down to 80 dB below it), so a
quieter vocoder or a noise floor in the gaps shows as such; grey is time past
the end of a shorter audio.
"""
from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from s2s_plugin.data.io import PathLike, atomic_write

logger = logging.getLogger(__name__)

#: bars of the per-set score plot: metric key -> label
BAR_METRICS = {"asr_bleu": "ASR-BLEU", "bleu_text": "BLEU (T_tgt)",
               "topline_ref_speech": "ASR-BLEU ref speech", "topline_ref_units": "ASR-BLEU ref units+vocoder"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out: PathLike) -> Path:
    out = Path(out)
    with atomic_write(out, "wb") as f:
        fig.savefig(f, format="png")
    _pyplot().close(fig)
    return out


def is_p_tag(tag: str) -> bool:
    """True for the tag of the interleaving text ratio p."""
    t = tag.lower()
    return t == "p" or t.endswith("/p") or "text_ratio" in t


def read_scalars(exp_dir: PathLike) -> dict[str, list[tuple[int, float]]]:
    """Every scalar of the TensorBoard event files under ``exp_dir``: ``tag -> [(step, value)]``, by step."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    dirs = sorted({p.parent for p in Path(exp_dir).rglob("events.out.tfevents.*") if p.is_file()})
    series: dict[str, dict[int, tuple[float, float]]] = {}
    for d in dirs:
        acc = EventAccumulator(str(d), size_guidance={"scalars": 0})
        acc.Reload()
        for tag in acc.Tags().get("scalars", []):
            points = series.setdefault(tag, {})
            for ev in acc.Scalars(tag):
                if ev.step not in points or points[ev.step][0] <= ev.wall_time:
                    points[ev.step] = (ev.wall_time, float(ev.value))
    return {tag: sorted((s, v) for s, (_, v) in pts.items()) for tag, pts in sorted(series.items())}


#: loss tag (after the split prefix) -> panel title; other loss tags get a panel under their own name
LOSS_PANELS = {"loss": "all target tokens", "loss_src_text": "T_src (source transcript)",
               "loss_tgt_text": "T_tgt (text translation)", "loss_tgt_speech": "S_tgt (target units)"}


def loss_panels(scalars: Mapping[str, Sequence[tuple[int, float]]]) -> dict[str, dict[str, list]]:
    """Group loss scalars by segment: ``{"loss_src_text": {"train": pts, "valid": pts}, ...}``.

    A tag ``<split>/<name>`` (``train/loss_src_text``) goes to panel ``name`` as line ``split``; a tag
    without a split is its own panel. Known segments come first, in :data:`LOSS_PANELS` order.
    """
    panels: dict[str, dict[str, list]] = {}
    for tag, pts in scalars.items():
        if "loss" not in tag.lower():
            continue
        split, _, name = tag.rpartition("/")
        panels.setdefault(name, {})[split or name] = list(pts)
    order = [k for k in LOSS_PANELS if k in panels] + sorted(k for k in panels if k not in LOSS_PANELS)
    return {k: panels[k] for k in order}


def plot_training(exp_dir: PathLike, out: PathLike) -> Path | None:
    """Learning curves, train against validation per segment, and p, over optimiser steps.

    One panel per loss (all tokens, T_src, T_tgt, S_tgt, ...), each with its train curve (at the
    step's text ratio p) and validation points, and a last panel with p; from the exp's TensorBoard logs.

    Returns:
        The PNG written, or None when the exp dir has no loss or p scalars.
    """
    scalars = read_scalars(exp_dir)
    losses = loss_panels(scalars)
    ps = {t: v for t, v in scalars.items() if is_p_tag(t)}
    if not losses and not ps:
        return None
    plt = _pyplot()
    n = len(losses) + bool(ps)
    fig, axes = plt.subplots(n, 1, figsize=(7, 1.9 * n + 0.7), dpi=110, sharex=True, squeeze=False)
    for ax, (name, lines) in zip(axes[:, 0], losses.items()):
        for split, pts in sorted(lines.items()):
            sparse = len(pts) <= 30   # validation: a few points, marked
            ax.plot([s for s, _ in pts], [v for _, v in pts], label=split, marker="o" if sparse else None,
                    markersize=3, linewidth=1.5 if sparse else 1.0)
        ax.set_title(LOSS_PANELS.get(name, name), fontsize=8, loc="left")
        ax.set_ylabel("loss / token", fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    if ps:
        ax = axes[-1, 0]
        for tag, pts in ps.items():
            ax.plot([s for s, _ in pts], [v for _, v in pts], label=tag, drawstyle="steps-post")
        ax.set_ylabel("text ratio p", fontsize=8)
        ax.set_ylim(-0.03, 1.03)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[-1, 0].set_xlabel("global optimiser step")
    fig.suptitle(f"training: {Path(exp_dir).name}", fontsize=9)
    fig.tight_layout()
    return _save(fig, out)


def _bars(ax, groups: Sequence[str], series: Mapping[str, Sequence[float | None]],
          errors: Mapping[str, Sequence[float | None]] | None = None) -> None:
    """Grouped bars: one group per x label, one bar per series; None values are left out."""
    n = max(len(series), 1)
    width = 0.8 / n
    top = 1.0
    for i, (label, values) in enumerate(series.items()):
        xs = [g + (i - (n - 1) / 2) * width for g in range(len(groups))]
        keep = [j for j, v in enumerate(values) if v is not None]
        err = [errors[label][j] or 0.0 for j in keep] if errors is not None else [0.0] * len(keep)
        ax.bar([xs[j] for j in keep], [values[j] for j in keep], width, yerr=err if errors else None,
               capsize=3, label=label)
        top = max([top] + [values[j] + e for j, e in zip(keep, err)])
    ax.set_xticks(range(len(groups)), groups)
    ax.set_ylim(0, top * 1.25)  # room for the legend above the bars
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, ncol=min(n, 4), loc="upper center")


def plot_set_scores(scores: Mapping[str, Any], out: PathLike) -> Path:
    """Bars per set (and overall) of one run: ASR-BLEU, BLEU of T_tgt and the toplines."""
    plt = _pyplot()
    groups = [*scores["sets"], "overall"]
    rows = [scores["sets"][g] for g in scores["sets"]] + [scores["overall"]]
    series = {label: [r.get(k) for r in rows] for k, label in BAR_METRICS.items()
              if any(r.get(k) is not None for r in rows)}
    fig, ax = plt.subplots(figsize=(1.6 * len(groups) + 3, 3.6), dpi=110)
    _bars(ax, groups, series)
    ax.set_ylabel("BLEU")
    ax.set_title(f"{scores.get('system', '')}: scores per set", fontsize=9)
    fig.tight_layout()
    return _save(fig, out)


def plot_compare(table: Mapping[str, Mapping[str, Mapping[str, Any]]], metric_label: str, out: PathLike) -> Path:
    """Bars per set, one per system, with the spread over runs as error bars.

    Args:
        table: ``system -> set -> {"mean": ..., "sd": ...}`` for one metric.
        metric_label: the y-axis label.
    """
    plt = _pyplot()
    groups = sorted(dict.fromkeys(s for per_set in table.values() for s in per_set), key=lambda s: s == "overall")
    series = {sys: [table[sys].get(g, {}).get("mean") for g in groups] for sys in table}
    errors = {sys: [table[sys].get(g, {}).get("sd") for g in groups] for sys in table}
    fig, ax = plt.subplots(figsize=(1.8 * len(groups) + 3, 3.6), dpi=110)
    _bars(ax, groups, series, errors)
    ax.set_ylabel(metric_label)
    ax.set_title(f"{metric_label} per set and system (bars: mean over runs, whiskers: sd)", fontsize=9)
    fig.tight_layout()
    return _save(fig, out)


def plot_seed_points(points: Mapping[str, Mapping[str, Sequence[tuple[Any, float]]]], groups: Sequence[str],
                     metric_label: str, out: PathLike) -> Path:
    """Bars of the mean over seeds per language and system, with one dot per seed on each bar.

    Args:
        points: ``system -> language -> [(seed, score), ...]``.
        groups: the languages, in x-axis order.
        metric_label: the y-axis label.
    """
    plt = _pyplot()
    series = {sys: [float(np.mean([v for _, v in per[g]])) if per.get(g) else None for g in groups]
              for sys, per in points.items()}
    fig, ax = plt.subplots(figsize=(max(6.0, 0.6 * len(groups) * max(len(points), 1) + 3), 3.8), dpi=110)
    _bars(ax, groups, series)
    n = max(len(points), 1)
    width = 0.8 / n
    for i, (sys, per) in enumerate(points.items()):
        for j, g in enumerate(groups):
            vals = per.get(g) or []
            if not vals:
                continue
            x = j + (i - (n - 1) / 2) * width
            spread = np.linspace(-0.25, 0.25, len(vals)) * width if len(vals) > 1 else np.zeros(1)
            ax.scatter(x + spread, [v for _, v in vals], s=14, color="black", zorder=3,
                       label="one seed" if i == 0 and j == 0 else None)
    highest = max((v for per in points.values() for vals in per.values() for _, v in vals), default=1.0)
    ax.set_ylim(0, max(ax.get_ylim()[1], 1.25 * highest))  # the best seed can sit above its bar
    ax.legend(fontsize=7, ncol=min(n + 1, 4), loc="upper center")
    ax.set_ylabel(metric_label)
    ax.set_title(f"{metric_label} per language: bars the mean over seeds, dots each seed", fontsize=9)
    fig.tight_layout()
    return _save(fig, out)


# -- spectrograms ---------------------------------------------------------------
#: analysis of :func:`log_mel_spectrogram`: window and hop in seconds, mel bands, dB floor and range
SPEC_WIN_S, SPEC_HOP_S, SPEC_N_MELS = 0.025, 0.010, 80
SPEC_FLOOR_DB, SPEC_RANGE_DB = -120.0, 80.0
#: figure geometry of :func:`plot_spectrograms`: inches per panel, inches of the colour bar, dots per inch
SPEC_PANEL_IN, SPEC_HEIGHT_IN, SPEC_BAR_IN, SPEC_DPI = 3.3, 2.6, 0.7, 90
_KHZ_TICKS = (0, 500, 1000, 2000, 4000, 8000, 16000, 24000)


def log_mel_spectrogram(wave: np.ndarray, sr: int, n_mels: int = SPEC_N_MELS, fmax: float | None = None,
                        win_s: float = SPEC_WIN_S, hop_s: float = SPEC_HOP_S) -> np.ndarray:
    """Log-mel power of a mono waveform in dB (a full-scale sine reads about +5 dB in its band).

    ``librosa.feature.melspectrogram``: centred frames (frame ``t`` covers
    ``t * hop_s`` seconds, zeros beyond the ends), a Hann window zero-padded
    to 4x its length for a fine low-frequency grid, triangular HTK-mel filters
    of peak 1 from 0 Hz to ``fmax``; the power is scaled so that a full-scale
    sine reads 0 dB in its peak FFT bin, then ``librosa.power_to_db``.

    Returns:
        ``(n_mels, frames)`` float32, floored at :data:`SPEC_FLOOR_DB`;
        ``frames = 1 + len(wave) // hop``.
    """
    import librosa

    wave = np.asarray(wave, dtype=np.float32).reshape(-1)
    win, hop = max(1, round(win_s * sr)), max(1, round(hop_s * sr))
    n_fft = 1 << math.ceil(math.log2(4 * win))
    with warnings.catch_warnings():  # audio shorter than n_fft is zero-padded, which is what we want
        warnings.filterwarnings("ignore", message=r"n_fft=\d+ is too large", category=UserWarning)
        power = librosa.feature.melspectrogram(
            y=wave, sr=sr, n_fft=n_fft, hop_length=hop, win_length=win, window="hann", center=True,
            pad_mode="constant", power=2.0, n_mels=n_mels, fmin=0.0,
            fmax=sr / 2 if fmax is None else min(fmax, sr / 2), htk=True, norm=None)
    power *= 4.0 / float(librosa.filters.get_window("hann", win, fftbins=True).sum()) ** 2
    db = librosa.power_to_db(power, ref=1.0, amin=10.0 ** (SPEC_FLOOR_DB / 10), top_db=None)
    return np.maximum(db, SPEC_FLOOR_DB).astype(np.float32)


@dataclass
class SpecPanel:
    """One panel of :func:`plot_spectrograms`: a waveform, or why there is none."""

    title: str
    wave: np.ndarray | None = None
    sr: int | None = None
    missing: str = "no audio"


def spectrogram_figsize(n_panels: int) -> tuple[float, float]:
    """Figure size in inches of :func:`plot_spectrograms` (times :data:`SPEC_DPI` gives the PNG's pixels)."""
    return SPEC_PANEL_IN * n_panels + SPEC_BAR_IN, SPEC_HEIGHT_IN


def _tex_safe(text: str) -> str:
    """Matplotlib reads ``$...$`` as math; show dollars as they are."""
    return text.replace("$", r"\$")


def panel_spectrograms(panels: Sequence[SpecPanel]) -> tuple[int, dict[int, tuple[np.ndarray, float]]]:
    """The log-mel spectrograms of the panels that have audio, all at the lowest rate among them.

    Returns:
        ``(rate, {panel index: (spectrogram, seconds of the original audio)})``;
        the rate is 16000 when no panel has audio.
    """
    from scipy.signal import resample_poly

    present = [i for i, p in enumerate(panels) if p.wave is not None and p.sr and len(p.wave) > 0]
    rate = min((int(panels[i].sr) for i in present), default=16000)
    specs: dict[int, tuple[np.ndarray, float]] = {}
    for i in present:
        p = panels[i]
        wave = np.asarray(p.wave, dtype=np.float32).reshape(-1)
        if int(p.sr) != rate:
            g = math.gcd(int(p.sr), rate)
            wave = resample_poly(wave, rate // g, int(p.sr) // g).astype(np.float32)
        specs[i] = (log_mel_spectrogram(wave, rate), len(p.wave) / float(p.sr))
    return rate, specs


def plot_spectrograms(panels: Sequence[SpecPanel], out: PathLike, title: str = "") -> Path:
    """One row of log-mel spectrograms on shared axes and colour scale; a panel without audio says why.

    All waveforms are resampled to the lowest rate among them (so the
    frequency axis is the same, see :func:`panel_spectrograms`), times run in
    seconds from 0 to the longest one, and the colour scale runs from the
    loudest panel's peak down by :data:`SPEC_RANGE_DB`. The PNG measures
    :func:`spectrogram_figsize` times :data:`SPEC_DPI` pixels.

    Args:
        panels: left to right.
        out: the PNG to write.
        title: above the row (e.g. the utterance id).

    Returns:
        ``out``.
    """
    rate, specs = panel_spectrograms(panels)
    top = max((float(s.max()) for s, _ in specs.values()), default=0.0)
    vmin, vmax = top - SPEC_RANGE_DB, top
    longest = max((d for _, d in specs.values()), default=1.0)
    import librosa

    mel_top = float(librosa.hz_to_mel(rate / 2, htk=True))
    ticks = [f for f in _KHZ_TICKS if f <= rate / 2]

    plt = _pyplot()
    # a fixed layout: constrained layout would double the drawing time
    width, height = spectrogram_figsize(len(panels))
    fig, axes = plt.subplots(1, len(panels), figsize=(width, height), dpi=SPEC_DPI, squeeze=False)
    fig.subplots_adjust(left=0.45 / width, right=1 - SPEC_BAR_IN / width, bottom=0.42 / height,
                        top=1 - (0.62 if title else 0.3) / height, wspace=0.22)
    image = None
    for i, (ax, p) in enumerate(zip(axes[0], panels)):
        if i not in specs:
            ax.set_title(_tex_safe(p.title), fontsize=8)
            ax.text(0.5, 0.5, _tex_safe(p.missing), ha="center", va="center", wrap=True, fontsize=8,
                    color="#555", transform=ax.transAxes)
            ax.tick_params(left=False, bottom=False, labelleft=False, labelbottom=False)
            continue
        spec, dur = specs[i]
        ax.set_facecolor("#e8e8e8")  # past the end of a shorter audio
        image = ax.imshow(spec, origin="lower", aspect="auto", interpolation="nearest", cmap="magma",
                          vmin=vmin, vmax=vmax, extent=(0.0, spec.shape[1] * SPEC_HOP_S, 0.0, mel_top))
        ax.set_title(_tex_safe(f"{p.title}, {dur:.2f} s"), fontsize=8)
        ax.set_xlim(0.0, longest)
        ax.set_yticks([float(librosa.hz_to_mel(f, htk=True)) for f in ticks], [f"{f / 1000:g}" for f in ticks])
        ax.tick_params(labelsize=7)
        ax.set_xlabel("time (s)", fontsize=7)
        if i == 0 or (i - 1) not in specs:
            ax.set_ylabel("frequency (kHz, mel scale)", fontsize=7)
    if image is not None:
        box = axes[0, -1].get_position()
        bar = fig.colorbar(image, cax=fig.add_axes((box.x1 + 0.12 / width, box.y0, 0.1 / width, box.height)))
        bar.set_label("power (dB)", fontsize=7)
        bar.ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(_tex_safe(title), fontsize=9)
    return _save(fig, out)
