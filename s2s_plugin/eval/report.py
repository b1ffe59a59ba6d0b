"""Markdown reports: one run's ``RESULTS.md``, and the comparison of several runs.

    from s2s_plugin.eval.report import results_markdown, load_runs, aggregate, comparison_markdown

    text = results_markdown(scores_json, plots={"scores": "plots/scores.png"})
    runs = load_runs(["exp/base_seed1", "exp/base_seed2", "exp/sched_seed1", "exp/sched_seed2"])
    table = aggregate(runs)               # system -> metric -> set -> {mean, sd, n, values}
    md = comparison_markdown(runs, table, command="s2s compare ...")

Runs are grouped by their ``system`` name (``scores.json``); the spread is the
sample standard deviation over the runs of a system (n - 1 in the
denominator; none for a single run). Runs scored differently (another ASR,
normalisation, ASR-BLEU protocol or sacrebleu signature) are refused: their
numbers do not compare. Every ASR-BLEU column and section names the protocol
it was scored with (:mod:`s2s_plugin.eval.bleu_protocols`). Speech quality
(the ``quality`` block of ``s2s score``, docs/quality.md) is shown per
system like the other metrics and names its scorer, unit and direction
(``quality [mcd_dtw] (dB, lower is better)``); runs scored before quality
scores existed (or without a ``quality`` block) read as "not scored", and
runs scored with different quality scorers are refused.
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from s2s_plugin.data.io import PathLike
from s2s_plugin.errors import DataError

#: the keys whose values must agree for scores to be comparable
PROTOCOL_KEYS = ("asr", "normalization", "bleu_signature", "asr_bleu_protocol")
#: the metrics scored under the ASR-BLEU protocol (s2s_plugin.eval.score.PROTOCOL_METRICS)
ASR_BLEU_METRICS = ("asr_bleu", "topline_ref_speech", "topline_ref_units")
#: the speech quality metrics (s2s_plugin.eval.score.QUALITY_METRICS) and their labels
QUALITY_LABELS = {"quality": "quality", "quality_ref_speech": "quality ref speech",
                  "quality_ref_units": "quality ref units+vocoder"}
NOT_SCORED = "not scored"
#: ASR block keys that change speed, not transcripts
_RUNTIME_KEYS = ("device", "batch_size")


def protocol(run: Mapping[str, Any], key: str) -> Any:
    """What of ``run[key]`` must agree between comparable runs."""
    if key == "asr":
        return {k: v for k, v in run["asr"].items() if k not in _RUNTIME_KEYS}
    if key == "asr_bleu_protocol":
        p = asr_bleu_protocol(run)
        return {"name": p["name"], "steps": p["steps"], "bleu_signature": p["bleu_signature"]}
    return run[key]


def asr_bleu_protocol(run: Mapping[str, Any]) -> dict[str, str]:
    """The ``asr_bleu_protocol`` block of a ``scores.json``; ``s2s`` for files written before protocols existed."""
    if run.get("asr_bleu_protocol"):
        return dict(run["asr_bleu_protocol"])
    steps = run["normalization"]["signature"]
    return {"name": "s2s", "follows": "s2s_plugin/eval/normalize.py (ours)", "steps": steps,
            "bleu_signature": run["bleu_signature"], "signature": f"s2s:{steps} | {run['bleu_signature']}"}


def quality_direction(q: Mapping[str, Any] | None) -> str:
    """``higher is better`` or ``lower is better``, from a ``scores.json`` quality block (files written before
    scorers had a direction: higher)."""
    return "higher is better" if (q or {}).get("higher_is_better", True) else "lower is better"


def quality_label(label: str, q: Mapping[str, Any]) -> str:
    """A quality metric's label with the scorer, its unit (up to the first comma) and the direction:
    ``quality [mcd_dtw] (dB, lower is better)``."""
    unit = str(q.get("unit", "")).split(",")[0].strip()
    return f"{label} [{q['name']}] ({unit + ', ' if unit else ''}{quality_direction(q)})"


def metric_labels(run: Mapping[str, Any]) -> dict[str, str]:
    """``scores.json``'s metric labels, each ASR-BLEU one suffixed with its protocol (``ASR-BLEU [espnet]``)
    and each quality one with its scorer, unit and direction (:func:`quality_label`)."""
    name = asr_bleu_protocol(run)["name"]
    out = {}
    for k, v in run["metrics"].items():
        if k in ASR_BLEU_METRICS:
            v = f"{v} [{name}]"
        elif k in QUALITY_LABELS and run.get("quality"):
            v = quality_label(v, run["quality"])
        out[k] = v
    return out


def runs_metric_labels(runs: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """The metric labels of several runs: the first run's, then metrics only later runs have, then the
    quality metrics (labelled by the first run that has a scorer, else plain: "not scored" everywhere)."""
    labels: dict[str, str] = {}
    for run in sorted(runs, key=lambda r: not r.get("quality")):   # a run with quality scores labels them
        for k, v in metric_labels(run).items():
            labels.setdefault(k, v)
    order = list(dict.fromkeys([m for r in runs for m in r["metrics"]] + list(QUALITY_LABELS)))
    return {k: labels.get(k, QUALITY_LABELS.get(k, k)) for k in order}


def quality_lines(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    """A Markdown bullet saying what the quality numbers are (or that the runs have none)."""
    q = next((r["quality"] for r in runs if r.get("quality")), None)
    if q is None:
        return [f"- Speech quality: {NOT_SCORED} (these runs were scored without a `quality` block, or before "
                "quality scores existed; rescore with `s2s score` and a `quality:` block, docs/quality.md)."]
    unscored = [r.get("exp", r.get("_path", "?")) for r in runs if not r.get("quality")]
    if q.get("needs_reference"):
        what = ("of our speech, each utterance against its reference target speech (quality), and of the "
                "reference units through the vocoder against the same reference (quality ref units+vocoder: "
                "what the vocoder alone loses); no reference-speech topline (it would be the reference against "
                "itself)")
    else:
        what = ("of our speech (quality), of the reference target speech (quality ref speech) and of the "
                "reference units through the vocoder (quality ref units+vocoder)")
    return [f"- Speech quality **{q['name']}** ({q['unit']}): mean over the set of the per-utterance scores {what}; "
            f"**{quality_direction(q)}**; scorer block `{q['scorer']}` (docs/quality.md)."
            + (f" Not scored in {', '.join(f'`{u}`' for u in unscored)}." if unscored else "")]


def protocol_lines(run: Mapping[str, Any]) -> list[str]:
    """Markdown bullets that say how the ASR-BLEU numbers and the others were computed."""
    p = asr_bleu_protocol(run)
    return [f"- ASR-BLEU protocol **{p['name']}** (the columns marked [{p['name']}]): follows {p['follows']}; "
            f"text steps `{p['steps']}`; sacrebleu signature `{p['bleu_signature']}` "
            "(s2s_plugin/eval/bleu_protocols.py; `asr_bleu_protocol=s2s|espnet|fairseq`).",
            f"- BLEU (T_tgt) and the WERs: our normalisation `{run['normalization']['signature']}`; sacrebleu "
            f"signature `{run['bleu_signature']}`."]


def _fmt(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f}"


def results_markdown(scores: Mapping[str, Any], plots: Mapping[str, str] | None = None,
                     listen: str | None = None) -> str:
    """The ``RESULTS.md`` of one scored run.

    Args:
        scores: the ``scores.json`` content.
        plots: caption -> image path relative to the exp dir.
        listen: the listening page, relative to the exp dir.
    """
    labels: Mapping[str, str] = metric_labels(scores)
    rows = [(name, r) for name, r in scores["sets"].items()]
    keys = [k for k in labels if any(r.get(k) is not None for _, r in rows)]
    norm = scores["normalization"]
    asr = ", ".join(f"{k}={v}" for k, v in scores["asr"].items() if k != "name")
    lines = [
        f"# Results: {scores['system']}",
        "",
        f"Experiment `{scores['exp']}`" + (f", seed {scores['seed']}" if scores.get("seed") is not None else "")
        + f"; scored {scores['date']} with s2s_plugin {scores['s2s_plugin']} by:",
        "",
        "```bash",
        scores["command"],
        "```",
        "",
        "| set | src | utts | " + " | ".join(labels[k] for k in keys) + " |",
        "|---|---|---:|" + "---:|" * len(keys),
    ]
    for name, r in rows:
        lines.append(f"| {name} | {r['src_lang']} | {r['num_utts']} | "
                     + " | ".join(_fmt(r.get(k)) for k in keys) + " |")
    o, m = scores["overall"], scores["mean"]
    lines.append("| **overall** (pooled) | all | " + f"{o['num_utts']} | "
                 + " | ".join(_fmt(o.get(k)) for k in keys) + " |")
    lines.append("| mean over sets | | | " + " | ".join(_fmt(m.get(k)) for k in keys) + " |")
    missing = {n: {k: v for k, v in r["missing"].items() if v} for n, r in rows}
    lines += [
        "",
        "- **ASR-BLEU**: the ASR transcribes our target speech (stage 10's wav.scp); sacrebleu corpus BLEU "
        "against the reference translation, under the ASR-BLEU protocol named in brackets (below).",
        "- **BLEU (T_tgt)**: the text translation the model writes before its speech (chain of thought).",
        "- **WER (T_src)**: the source transcript the model writes first, against the source reference (%).",
        "- **ASR-BLEU vs own T_tgt**: the ASR transcript of our target speech against the model's own text "
        "translation (our normalisation): how faithfully the model speaks what it wrote; low where ASR-BLEU "
        "is lost in speaking rather than in translating.",
        "- **toplines**: the same ASR and BLEU on the reference target speech, and on the reference target "
        "units through the vocoder; **ASR WER ref speech** is the scoring ASR's own error rate.",
        "- **overall** pools every utterance of every set (one corpus BLEU, one WER, one mean quality); **mean** "
        "averages the sets.",
        *quality_lines([scores]),
        f"- ASR: `{scores['asr']['name']}`" + (f" ({asr})" if asr else "")
        + (f"; vocoder exp `{scores['vocoder_exp']}`" if scores.get("vocoder_exp") else "; no vocoder topline"),
        *protocol_lines(scores),
        f"- Our normalisation `{norm['signature']}` (hypotheses and references alike): Unicode "
        f"{norm['unicode']}, lower case {'on' if norm['lowercase'] else 'off'}, punctuation "
        f"{'removed (apostrophes inside words kept)' if norm['remove_punctuation'] else 'kept'}, "
        "whitespace collapsed.",
    ]
    by_protocol = scores.get("asr_bleu_by_protocol")
    if by_protocol:
        names = [n for n, _ in rows]
        lines += ["", "## ASR-BLEU under each protocol", "",
                  "The same ASR transcripts and references, scored the way each toolkit scores them "
                  "(compare a number only with one scored the same way):", "",
                  "| protocol | " + " | ".join(names) + " | overall | signature |",
                  "|---|" + "---:|" * (len(names) + 1) + "---|"]
        for pname, entry in by_protocol.items():
            lines.append(f"| {pname} | " + " | ".join(_fmt(entry["sets"].get(n)) for n in names)
                         + f" | {_fmt(entry['overall'])} | `{entry['signature']}` |")
    if any(missing.values()):
        lines.append("- Missing hypotheses scored as empty: "
                     + "; ".join(f"{n}: {v}" for n, v in missing.items() if v))
    if plots:
        lines += ["", "## Plots", ""] + [f"![{cap}]({path})" for cap, path in plots.items()]
    if listen:
        lines += ["", f"Listening samples: [{listen}]({listen})"]
    return "\n".join(lines) + "\n"


# -- comparison of several runs ------------------------------------------------
def load_runs(exps: Sequence[PathLike]) -> list[dict[str, Any]]:
    """The ``scores.json`` of each exp dir (or of a given json file).

    Raises:
        DataError: a missing or unreadable file, or runs scored with different protocols.
    """
    runs = []
    for e in exps:
        path = Path(e)
        if path.is_dir():
            path = path / "scores.json"
        if not path.is_file():
            raise DataError(f"{path}: not found; score that exp first with `s2s score --exp {e} ...`")
        try:
            with open(path, encoding="utf-8") as f:
                run = json.load(f)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}:{err.lineno}: invalid JSON: {err.msg}") from None
        for key in ("system", "sets", "overall", *PROTOCOL_KEYS):
            if key not in run and key != "asr_bleu_protocol":  # absent before protocols existed: ours
                raise DataError(f"{path}: no '{key}'; was it written by `s2s score`?")
        run["_path"] = str(path)
        runs.append(run)
    if not runs:
        raise DataError("no runs to compare")
    first = runs[0]
    with_quality = [r for r in runs if r.get("quality")]
    for run in with_quality[1:]:
        a, b = _quality_protocol(run), _quality_protocol(with_quality[0])
        if a != b:
            raise DataError(f"{run['_path']} and {with_quality[0]['_path']} scored speech quality differently "
                            f"({a!r} vs {b!r}); their quality numbers do not compare. Rescore them with the same "
                            "quality block of conf/score.yaml.")
    for run in runs[1:]:
        for key in PROTOCOL_KEYS:
            if protocol(run, key) != protocol(first, key):
                raise DataError(f"{run['_path']} and {first['_path']} were scored differently ({key}: "
                                f"{protocol(run, key)!r} vs {protocol(first, key)!r}); their numbers do not "
                                "compare. Rescore "
                                "them with the same conf/score.yaml.")
    return runs


def _quality_protocol(run: Mapping[str, Any]) -> dict[str, Any]:
    """What of a run's quality scorer block must agree between comparable runs (not its device)."""
    return {k: v for k, v in run["quality"]["scorer"].items() if k not in _RUNTIME_KEYS}


def mean_sd(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (None for fewer than two values)."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))


def aggregate(runs: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, dict[str, dict[str, Any]]]]:
    """``system -> metric -> set (and 'overall') -> {mean, sd, n, values}`` over the runs of each system."""
    metrics = list(dict.fromkeys(m for r in runs for m in r["metrics"]))
    out: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
    for system in dict.fromkeys(r["system"] for r in runs):
        mine = [r for r in runs if r["system"] == system]
        groups = list(dict.fromkeys(s for r in mine for s in r["sets"])) + ["overall"]
        per_metric: dict[str, dict[str, dict[str, Any]]] = {}
        for metric in metrics:
            cells = {}
            for g in groups:
                vals = [(r["overall"] if g == "overall" else r["sets"].get(g, {})).get(metric) for r in mine]
                vals = [float(v) for v in vals if v is not None]
                if vals:
                    mean, sd = mean_sd(vals)
                    cells[g] = {"mean": round(mean, 2), "sd": None if sd is None else round(sd, 2),
                                "n": len(vals), "values": vals}
            if cells:
                per_metric[metric] = cells
        out[system] = per_metric
    return out


def _cell(c: Mapping[str, Any] | None) -> str:
    if c is None:
        return "—"
    spread = f" ± {c['sd']:.2f}" if c["sd"] is not None else ""
    return f"{c['mean']:.2f}{spread}"


def comparison_markdown(runs: Sequence[Mapping[str, Any]], table: Mapping[str, Any], command: str = "",
                        plot: str | None = None, quality_plot: str | None = None) -> str:
    """The comparison table: one section per metric, one row per system, one column per set.

    ``plot`` and ``quality_plot``: the bar plots of ASR-BLEU and of the quality score, relative to the table.
    """
    labels: Mapping[str, str] = runs_metric_labels(runs)
    proto = asr_bleu_protocol(runs[0])["name"]
    sets = list(dict.fromkeys(s for r in runs for s in r["sets"])) + ["overall"]
    lines = ["# Comparison", ""]
    if command:
        lines += ["```bash", command, "```", ""]
    lines += [f"Runs: {len(runs)}; cells are the mean ± sample standard deviation over each system's runs "
              "(n - 1; no spread for one run). `overall` pools every utterance of a run's sets.", ""]
    for metric, label in labels.items():
        quality = metric in QUALITY_LABELS
        if metric != "quality" and not any(metric in t for t in table.values()):
            continue   # "quality" shows "not scored" rows; a metric no run has (a topline left out) is left out
        lines += [f"## {label}", "", "| system | runs | " + " | ".join(sets) + " |",
                  "|---|---:|" + "---:|" * len(sets)]
        for system, per_metric in table.items():
            cells = per_metric.get(metric, {})
            n = max((c["n"] for c in cells.values()), default=0)
            if quality and not cells:
                lines.append(f"| {system} | 0 | " + " | ".join(NOT_SCORED for _ in sets) + " |")
                continue
            lines.append(f"| {system} | {n} | " + " | ".join(_cell(cells.get(s)) for s in sets) + " |")
        lines.append("")
    lines += ["## Runs", "", "| system | seed | exp | " + " | ".join(f"ASR-BLEU [{proto}] {s}" for s in sets) + " |",
              "|---|---:|---|" + "---:|" * len(sets)]
    for r in runs:
        vals = [(r["overall"] if s == "overall" else r["sets"].get(s, {})).get("asr_bleu") for s in sets]
        lines.append(f"| {r['system']} | {'—' if r.get('seed') is None else r['seed']} | `{r.get('exp', '')}` | "
                     + " | ".join(_fmt(v) for v in vals) + " |")
    first = runs[0]
    lines += ["", f"- ASR: `{first['asr'].get('name')}`.", *protocol_lines(first), *quality_lines(runs)]
    if plot:
        lines += ["", f"![ASR-BLEU [{proto}] per set and system]({plot})"]
    if quality_plot:
        lines += ["", f"![{labels['quality']} per set and system]({quality_plot})"]
    return "\n".join(lines) + "\n"
