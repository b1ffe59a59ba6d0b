"""Plots of stage 11: training curves with p, and scores per language and system.

    from s2s_plugin.eval.plots import plot_training, plot_set_scores

    plot_training("exp/s2st_scheduled", "exp/s2st_scheduled/plots/training.png")  # None without logs
    plot_set_scores(scores_json, "exp/s2st_scheduled/plots/scores.png")

Training curves come from the TensorBoard event files anywhere under the exp
dir (read with tensorboard's ``EventAccumulator``): every scalar whose tag
holds ``loss`` goes to the upper panel, the interleaving text ratio (a tag
named ``p``, ``*/p`` or holding ``text_ratio``) to the lower one. Later event
files win where a resumed run logged the same step twice.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

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


def plot_training(exp_dir: PathLike, out: PathLike) -> Path | None:
    """Loss curves and p over optimiser steps, from the exp's TensorBoard logs.

    Returns:
        The PNG written, or None when the exp dir has no loss or p scalars.
    """
    scalars = read_scalars(exp_dir)
    losses = {t: v for t, v in scalars.items() if "loss" in t.lower()}
    ps = {t: v for t, v in scalars.items() if is_p_tag(t)}
    if not losses and not ps:
        return None
    plt = _pyplot()
    panels = [x for x in (losses, ps) if x]
    fig, axes = plt.subplots(len(panels), 1, figsize=(7, 2.6 * len(panels) + 0.6), dpi=110, sharex=True,
                             squeeze=False)
    for ax, group in zip(axes[:, 0], panels):
        for tag, pts in group.items():
            ax.plot([s for s, _ in pts], [v for _, v in pts], label=tag, drawstyle="steps-post"
                    if group is ps else "default")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        ax.set_ylabel("text ratio p" if group is ps else "loss")
        if group is ps:
            ax.set_ylim(-0.03, 1.03)
    axes[-1, 0].set_xlabel("global optimiser step")
    axes[0, 0].set_title(f"training: {Path(exp_dir).name}", fontsize=9)
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
