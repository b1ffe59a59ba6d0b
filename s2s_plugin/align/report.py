"""Compare word alignments with reference timings: boundary errors, and a plot of one utterance.

    from s2s_plugin.align.report import compare_ctms, summarize

    errs = compare_ctms(read_ctm("dump/test_fr/align.fr.ctm"), read_ctm("dump/test_fr/oracle.fr.ctm"))
    summarize(errs)    # {'mean_ms': ..., 'median_ms': ..., 'within_ms': {20: ..., 50: ..., 100: ...}, ...}

Every word has two boundaries, its start and its end; the error of a boundary
is ``|hyp - ref|``. Utterances are matched by id and must have the same words;
those only in the reference are counted as missing (an aligner that failed on
them), those only in the hypothesis as extra. Hypothesis utterances whose
spans are implausible (:mod:`s2s_plugin.align.plausibility`) are counted,
still scored.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from s2s_plugin.data.io import PathLike, WordSpan
from s2s_plugin.errors import DataError

THRESHOLDS_MS = (20, 50, 100)


@dataclass
class BoundaryErrors:
    """Absolute boundary errors (seconds) of one or more hypothesis/reference pairs."""

    start: list[float] = field(default_factory=list)
    end: list[float] = field(default_factory=list)
    utterances: int = 0
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    implausible: list[tuple[str, list[str]]] = field(default_factory=list)  # (utt, reasons)

    def __iadd__(self, other: BoundaryErrors) -> BoundaryErrors:
        self.implausible += other.implausible
        self.start += other.start
        self.end += other.end
        self.utterances += other.utterances
        self.missing += other.missing
        self.extra += other.extra
        return self


def compare_ctms(hyp: Mapping[str, list[WordSpan]], ref: Mapping[str, list[WordSpan]],
                 where: str = "") -> BoundaryErrors:
    """Boundary errors of ``hyp`` against ``ref``, utterance by utterance.

    Raises:
        DataError: an utterance whose words differ between the two (named, with ``where``).
    """
    out = BoundaryErrors()
    at = f"{where}: " if where else ""
    for utt in sorted(ref):
        if utt not in hyp:
            out.missing.append(utt)
            continue
        h, r = hyp[utt], ref[utt]
        hw, rw = [s.word for s in h], [s.word for s in r]
        if hw != rw:
            raise DataError(f"{at}utterance '{utt}' has other words in the hypothesis ('{' '.join(hw)}') "
                            f"than in the reference ('{' '.join(rw)}')")
        out.utterances += 1
        out.start += [abs(a.start - b.start) for a, b in zip(h, r)]
        out.end += [abs(a.end - b.end) for a, b in zip(h, r)]
    out.extra = sorted(set(hyp) - set(ref))
    return out


def count_implausible(errs: BoundaryErrors, hyp: Mapping[str, list[WordSpan]], audio=None,
                      max_ratio: float | None = 4.0, max_edge_silence: float | None = 0.5) -> None:
    """Record in ``errs`` the hypothesis utterances whose spans are implausible.

    Args:
        errs: what :func:`compare_ctms` returned for ``hyp``.
        hyp: the hypothesis CTM.
        audio: ``utt -> (wav, sr)`` (a callable); None: only the duration check.
        max_ratio, max_edge_silence: see :func:`s2s_plugin.align.plausibility.check_plausible`.
    """
    from s2s_plugin.align.plausibility import check_plausible

    for utt in sorted(hyp):
        wav, sr = audio(utt) if (audio is not None and max_edge_silence is not None) else (None, None)
        reasons = check_plausible(hyp[utt], wav, sr, max_ratio, max_edge_silence)
        if reasons:
            errs.implausible.append((utt, reasons))


def summarize(errs: BoundaryErrors) -> dict:
    """Mean and median error (ms) over all boundaries, starts and ends; share within each threshold."""
    both = np.array(errs.start + errs.end, dtype=np.float64) * 1000
    start = np.array(errs.start, dtype=np.float64) * 1000
    end = np.array(errs.end, dtype=np.float64) * 1000

    def stat(fn, x):
        return round(float(fn(x)), 2) if len(x) else None

    return {"utterances": errs.utterances, "words": len(errs.start), "boundaries": int(len(both)),
            "mean_ms": stat(np.mean, both), "median_ms": stat(np.median, both),
            "start_mean_ms": stat(np.mean, start), "start_median_ms": stat(np.median, start),
            "end_mean_ms": stat(np.mean, end), "end_median_ms": stat(np.median, end),
            "within_ms": {t: (round(float(np.mean(both <= t + 1e-6)), 4) if len(both) else None)
                          for t in THRESHOLDS_MS},
            "missing_utterances": len(errs.missing), "extra_utterances": len(errs.extra),
            "implausible_utterances": len(errs.implausible)}


def format_table(rows: list[tuple[str, str, dict]]) -> str:
    """Rows ``(set, lang, summary)`` as an aligned text table."""
    header = ("set", "lang", "utts", "words", "mean ms", "median ms", "start med", "end med",
              *(f"<={t}ms" for t in THRESHOLDS_MS), "missing", "implausible")

    def ms(v):
        return "-" if v is None else f"{v:.1f}"

    def pct(v):
        return "-" if v is None else f"{100 * v:.1f}%"

    table = [header]
    for s, lang, d in rows:
        table.append((s, lang, str(d["utterances"]), str(d["words"]), ms(d["mean_ms"]), ms(d["median_ms"]),
                      ms(d["start_median_ms"]), ms(d["end_median_ms"]),
                      *(pct(d["within_ms"][t]) for t in THRESHOLDS_MS), str(d["missing_utterances"]),
                      str(d.get("implausible_utterances", 0))))
    widths = [max(len(r[c]) for r in table) for c in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in table)


def plot_alignment(out: PathLike, wav: np.ndarray, sr: int, hyp: list[WordSpan], ref: list[WordSpan] | None,
                   title: str = "", hyp_label: str = "hyp", ref_label: str = "ref") -> None:
    """A spectrogram of one utterance with the hypothesis (and reference) word boundaries and words."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from s2s_plugin.data.io import atomic_write

    wav = np.asarray(wav, dtype=np.float64)
    n_fft, hop = int(0.025 * sr), int(0.010 * sr)
    if len(wav) < n_fft:
        wav = np.pad(wav, (0, n_fft - len(wav)))
    frames = np.lib.stride_tricks.sliding_window_view(wav, n_fft)[::hop] * np.hanning(n_fft)
    spec = 20 * np.log10(np.abs(np.fft.rfft(frames, axis=1)).T + 1e-6)
    duration = len(wav) / sr
    fig, ax = plt.subplots(figsize=(max(8.0, 3.0 * duration), 4.0), dpi=110)
    ax.imshow(spec, origin="lower", aspect="auto", cmap="Greys", extent=(0, duration, 0, sr / 2000),
              vmin=spec.max() - 80, vmax=spec.max())
    top = sr / 2000
    for spans, color, y, label, style in ((ref or [], "tab:blue", 0.93, ref_label, "-"),
                                          (hyp, "tab:red", 0.07, hyp_label, "--")):
        for k, s in enumerate(spans):
            for t in (s.start, s.end):
                ax.axvline(t, color=color, linestyle=style, linewidth=1.2, alpha=0.9,
                           label=label if (k == 0 and t == s.start) else None)
            ax.text(s.start + s.duration / 2, y * top, s.word, color=color, ha="center", va="center",
                    fontsize=9, bbox={"facecolor": "white", "alpha": 0.7, "edgecolor": "none", "pad": 1})
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (kHz)")
    ax.set_xlim(0, duration)
    ax.set_title(title, fontsize=9)
    if hyp or ref:
        ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    with atomic_write(Path(out), "wb") as f:
        fig.savefig(f, format="png")
    plt.close(fig)
