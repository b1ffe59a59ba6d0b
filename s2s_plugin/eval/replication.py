"""The replication report of ``s2s compare --results``: seeds, paired bootstrap intervals, verdicts.

    s2s compare --exps exp/s2st_{baseline,scheduled,constant}_seed{1,2} --out exp/compare/table.md \\
        --results exp/compare/RESULTS.md

    from s2s_plugin.eval.replication import ReplicationOptions, build_replication, replication_markdown

    rep = build_replication(load_runs(exps), ReplicationOptions(n_resamples=1000))
    text = replication_markdown(rep, command="s2s compare ...", commit="abc123", plot="RESULTS.png")

What it reads, for every run (``exp/s2st_<system>_seed<N>``) and test set,
beside ``scores.json``: the texts ``s2s score`` scored, one line per
utterance, so that the test utterances can be resampled (:mod:`.stats`):

- ``decode_<set>/score/asr_text.<tgt>``: the scoring ASR's transcript of our speech (ASR-BLEU);
- ``decode_<set>/hyp_text.<tgt>`` and ``hyp_text.<src>``: T_tgt (BLEU) and T_src (WER);
- ``<ref_dump>/<set>/text.<tgt>`` and ``text.<src>``: the references, found
  from the ``--ref_dump`` of the command in ``scores.json`` (relative to the
  directory ``s2s score`` ran in, the recipe dir) unless ``ref_dump`` is given.

Texts go through the run's own normalisation (``scores.json``'s
``normalization`` block, :class:`~s2s_plugin.eval.normalize.TextNormalizer`),
ASR transcripts through the run's ASR-BLEU protocol (``asr_bleu_protocol``,
:mod:`s2s_plugin.eval.bleu_protocols`; runs scored with different protocols
are refused when loaded), and each recomputed corpus score must match the one in ``scores.json``:
otherwise the files changed after scoring and the report refuses to mix them.

Systems are found by name: ``baseline``, ``scheduled``, ``constant`` and the
ablations ``input_only``, ``output_only``, ``mask``, ``uniform``, each also as
``s2st_<name>`` (the recipe's exp dir names). Which language has the most
and the least training data comes from the training sets listed in each
run's ``config.yaml`` (``data.train``; utterances of ``text.<src>``), else
from ``<ref_dump>/train_<lang>``, else ``resource_order`` must say it.
"""
from __future__ import annotations

import logging
import os
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from s2s_plugin.errors import DataError
from s2s_plugin.eval.stats import (DEFAULT_RESAMPLES, DEFAULT_SEED, Bootstrap, Delta, Verdict, claim_a, claim_b,
                                   claim_c, claim_d, corpus_score, utterance_stats)

logger = logging.getLogger(__name__)

#: the paper's ablations (PAPER.md), by system name
ABLATIONS = ("input_only", "output_only", "mask", "uniform")
#: metrics resampled per utterance: metric key -> statistics kind
UTT_METRICS = {"asr_bleu": "bleu", "bleu_text": "bleu", "wer_src": "wer"}
#: metrics shown as mean +- sd over seeds, and the toplines (from scores.json)
SCORE_METRICS = ("asr_bleu", "bleu_text", "wer_src")
TOPLINES = ("topline_ref_speech", "topline_ref_units", "asr_wer_ref_speech")
#: how far a recomputed score may be from scores.json's (which rounds to 2 decimals)
_MATCH_TOL = 0.011


@dataclass
class ReplicationOptions:
    """What ``s2s compare --results`` takes besides the runs.

    Attributes:
        ref_dump: the dump dir of the reference sets (default: each run's own, from its scoring command).
        n_resamples: bootstrap resamples per test set.
        bootstrap_seed: the seed of the resamples.
        baseline, scheduled, constant: the system names of the paper's three systems.
        ablations: the system names of the ablations (compared with ``scheduled``).
        resource_order: source languages from the most to the least training data (default: counted).
        sets: the test sets to report (default: every set of the runs).
    """

    ref_dump: Path | None = None
    n_resamples: int = DEFAULT_RESAMPLES
    bootstrap_seed: int = DEFAULT_SEED
    baseline: str = "baseline"
    scheduled: str = "scheduled"
    constant: str = "constant"
    ablations: Sequence[str] = ABLATIONS
    resource_order: Sequence[str] | None = None
    sets: Sequence[str] | None = None


@dataclass
class Replication:
    """Everything the RESULTS.md of a replication shows (see :func:`build_replication`)."""

    runs: list[dict[str, Any]]
    sets: list[str]
    lang: dict[str, str]                          # set -> source language
    systems: dict[str, str | None]                # role (baseline, scheduled, ...) -> system name or None
    order: list[str]                              # languages, most training data first
    counts: dict[str, int]                        # language -> training utterances ({} if given)
    counts_source: str
    table: dict[str, Any]                         # report.aggregate of the runs
    comparisons: dict[str, dict[str, dict[str, Delta]]] = field(default_factory=dict)  # label -> metric -> set
    seeds: dict[str, list] = field(default_factory=dict)   # comparison label -> the seeds it pairs
    verdicts: list[Verdict] = field(default_factory=list)
    n_resamples: int = DEFAULT_RESAMPLES
    bootstrap_seed: int = DEFAULT_SEED


# -- finding things ---------------------------------------------------------------
def match_system(systems: Sequence[str], name: str) -> str | None:
    """The system called ``name``, else ``s2st_<name>`` (the recipe's exp dirs), else None."""
    for candidate in (name, f"s2st_{name}"):
        if candidate in systems:
            return candidate
    return None


def scoring_dir(run: Mapping[str, Any]) -> Path:
    """The directory ``s2s score`` ran in (relative paths of a run are relative to it).

    ``scores.json`` stores the exp dir as it was given (``exp/s2st_scheduled``);
    the scoring dir is what remains of the exp dir's real path without it.
    An absolute or unusual ``exp`` falls back to the ESPnet layout ``<recipe>/exp/<tag>``.
    """
    exp = Path(run["_path"]).resolve().parent
    rel = Path(os.path.normpath(str(run.get("exp") or "")))
    parts = rel.parts
    if parts and not rel.is_absolute() and ".." not in parts and parts != (".",) \
            and exp.parts[-len(parts):] == parts:
        return Path(*exp.parts[:-len(parts)])
    return exp.parent.parent


def ref_dump_of(run: Mapping[str, Any], given: Path | None) -> Path:
    """The reference dump dir of a run: ``given``, else the ``--ref_dump`` it was scored with (default dump)."""
    if given is not None:
        return Path(given)
    try:
        argv = shlex.split(run.get("command") or "")
    except ValueError:
        argv = []
    value = "dump"
    for i, arg in enumerate(argv):
        if arg == "--ref_dump" and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith("--ref_dump="):
            value = arg.split("=", 1)[1]
    path = Path(value)
    return path if path.is_absolute() else scoring_dir(run) / path


def decode_dir_format(exp: Path) -> str:
    """``decode_dir`` of the exp's resolved scoring config (``score/config.yaml``), else ``decode_{set}``."""
    from s2s_plugin.config import load_yaml

    cfg_path = exp / "score" / "config.yaml"
    if cfg_path.is_file():
        value = load_yaml(cfg_path).get("decode_dir")
        if isinstance(value, str) and "{set}" in value:
            return value
    return "decode_{set}"


# -- per-utterance statistics -------------------------------------------------------
def set_statistics(run: Mapping[str, Any], set_name: str, ref_dump: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    """The utterance ids of a set and, per metric of :data:`UTT_METRICS`, its per-utterance statistics.

    Raises:
        DataError: a missing file, a set of another size, or a score that does not match ``scores.json``.
    """
    from s2s_plugin.data.io import read_kaldi_text
    from s2s_plugin.eval.bleu_protocols import protocol_of_run
    from s2s_plugin.eval.normalize import TextNormalizer
    from s2s_plugin.eval.score import align_hyps

    where = run["_path"]
    info = run["sets"][set_name]
    src, tgt = info["src_lang"], info["tgt_lang"]
    ref_dir = ref_dump / set_name
    if not ref_dir.is_dir():
        raise DataError(f"{ref_dir}: reference set '{set_name}' of {where} not found; give --ref_dump DIR, "
                        "the dump dir it was scored with")
    refs = {lang: read_kaldi_text(ref_dir / f"text.{lang}") for lang in (tgt, src)}
    ids = sorted(refs[tgt])
    if len(ids) != info["num_utts"]:
        raise DataError(f"{ref_dir}/text.{tgt}: {len(ids)} utterances, but {where} scored {info['num_utts']} "
                        f"for {set_name}; is --ref_dump the dump dir it was scored with?")
    missing_src = [u for u in ids if u not in refs[src]]
    if missing_src:
        raise DataError(f"{ref_dir}/text.{src}: no reference for utterance '{missing_src[0]}'")
    norm = TextNormalizer(**{k: v for k, v in run["normalization"].items() if k != "signature"})
    ref_norm = {lang: norm.many([refs[lang][u] for u in ids]) for lang in (tgt, src)}
    dec = Path(where).parent / decode_dir_format(Path(where).parent).format(set=set_name)
    files = {"asr_bleu": (dec / "score" / f"asr_text.{tgt}", "wav", tgt),
             "bleu_text": (dec / f"hyp_text.{tgt}", "hyp_tgt", tgt),
             "wer_src": (dec / f"hyp_text.{src}", "hyp_src", src)}
    out: dict[str, np.ndarray] = {}
    for metric, (path, missing_key, lang) in files.items():
        if not path.is_file():
            raise DataError(f"{path}: not found; the paired bootstrap needs the per-utterance texts that "
                            f"`s2s score` scored (rescore the exp: {run.get('command') or 's2s score ...'})")
        allow_missing = bool(info.get("missing", {}).get(missing_key))  # scored as empty, as s2s score did
        hyps, _ = align_hyps(read_kaldi_text(path, allow_empty_value=True), ids, path, allow_missing)
        kind = UTT_METRICS[metric]
        if metric == "asr_bleu":  # under the run's ASR-BLEU protocol, from the raw texts
            out[metric] = protocol_of_run(run, tgt).utterance_stats(hyps, [refs[tgt][u] for u in ids])
        else:
            out[metric] = utterance_stats(kind, norm.many(hyps), ref_norm[lang])
        want, got = info.get(metric), corpus_score(kind, out[metric])
        if want is not None and abs(got - float(want)) > _MATCH_TOL:
            raise DataError(f"{path}: recomputed {metric} on {set_name} is {got:.2f}, but {where} says {want}; "
                            f"the file or the references in {ref_dir} changed after scoring. Rescore the exp "
                            "(or give the --ref_dump it was scored with)")
    return ids, out


# -- training data per language -------------------------------------------------------
def training_counts(runs: Sequence[Mapping[str, Any]], langs: Sequence[str], tgt: str,
                    ref_dumps: Sequence[Path]) -> tuple[dict[str, int], str]:
    """Training utterances per source language, and where they were counted.

    First every training set listed in the runs' ``config.yaml`` (``data.train``),
    each counted once; then ``<ref_dump>/train_<lang>`` for languages still missing.

    Raises:
        DataError: a listed training set that does not exist or holds no single source language.
    """
    from s2s_plugin.config import load_yaml
    from s2s_plugin.data.datadir import find_languages
    from s2s_plugin.data.io import read_kaldi_text

    seen: dict[Path, tuple[str, int]] = {}
    sources: list[str] = []
    for run in runs:
        cfg_path = Path(run["_path"]).parent / "config.yaml"
        if not cfg_path.is_file():
            continue
        data = load_yaml(cfg_path).get("data")
        train = data.get("train") if isinstance(data, dict) else None
        if isinstance(train, str):
            train = [train]
        if not isinstance(train, list):
            continue
        for entry in train:
            path = Path(entry) if Path(entry).is_absolute() else scoring_dir(run) / entry
            key = path.resolve()
            if key in seen:
                continue
            if not path.is_dir():
                raise DataError(f"{cfg_path}: training set '{entry}' ({path}) not found, so its utterances cannot "
                                "be counted; give --resource_order (source languages, most training data first)")
            found = sorted(lang for lang, kinds in find_languages(path).items() if "text" in kinds and lang != tgt)
            if len(found) != 1:
                raise DataError(f"{path}: expected one source text.<lang> beside text.{tgt}, found "
                                f"{found or 'none'}; give --resource_order instead")
            seen[key] = (found[0], len(read_kaldi_text(path / f"text.{found[0]}")))
        if str(cfg_path) not in sources:
            sources.append(str(cfg_path))
    counts: dict[str, int] = {}
    for lang, n in seen.values():
        counts[lang] = counts.get(lang, 0) + n
    for lang in langs:
        if lang in counts:
            continue
        for dump in dict.fromkeys(ref_dumps):
            text = dump / f"train_{lang}" / f"text.{lang}"
            if text.is_file():
                counts[lang] = len(read_kaldi_text(text))
                sources.append(str(text))
                break
    configs = [s for s in sources if s.endswith("config.yaml")]
    others = [s for s in sources if not s.endswith("config.yaml")]
    where = ""
    if configs:
        where = f"data.train in {configs[0]}" + (f" and {len(configs) - 1} more runs' config.yaml"
                                                 if len(configs) > 1 else "")
    return counts, "; ".join(x for x in (where, ", ".join(others)) if x)


def resource_order(langs: Sequence[str], counts: Mapping[str, int], given: Sequence[str] | None,
                   source: str) -> list[str]:
    """The test languages from the most to the least training data.

    Raises:
        DataError: a language without a count (or missing from ``given``), or two with the same count.
    """
    langs = list(dict.fromkeys(langs))
    if given:
        given = list(given)
        unknown = [lang for lang in langs if lang not in given]
        if unknown:
            raise DataError(f"--resource_order {' '.join(given)} does not place {', '.join(unknown)}; list every "
                            f"test language ({' '.join(langs)}), most training data first")
        return [lang for lang in given if lang in langs]
    if len(langs) < 2:
        return langs
    missing = [lang for lang in langs if lang not in counts]
    if missing:
        looked = "data.train in the runs' config.yaml, then <ref_dump>/train_<lang>/text.<lang>"
        raise DataError(f"cannot tell how much training data {', '.join(missing)} had (looked for {looked}"
                        f"{'; counted: ' + source if source else ''}); give --resource_order "
                        f"{' '.join(langs)} in the order of most to least training data")
    order = sorted(langs, key=lambda lang: -counts[lang])
    for hi, lo in zip(order, order[1:]):
        if counts[hi] == counts[lo]:
            raise DataError(f"{hi} and {lo} both have {counts[hi]} training utterances; give --resource_order "
                            "to say which counts as the higher-resource language")
    return order


# -- the report -------------------------------------------------------------------
def build_replication(runs: list[dict[str, Any]], opts: ReplicationOptions | None = None) -> Replication:
    """Paired deltas with bootstrap intervals, and the verdicts, from the loaded runs (``report.load_runs``).

    Raises:
        DataError: inconsistent runs (two of one system with the same seed, a language
            in two sets, different test utterances), missing files, unknown resource order.
    """
    from s2s_plugin.eval.report import aggregate

    opts = opts or ReplicationOptions()
    sets = list(opts.sets) if opts.sets else list(dict.fromkeys(s for r in runs for s in r["sets"]))
    unknown = [s for s in sets if not any(s in r["sets"] for r in runs)]
    if unknown:
        raise DataError(f"no run scored set {unknown[0]} (sets scored: "
                        f"{', '.join(dict.fromkeys(s for r in runs for s in r['sets']))})")
    lang = {s: next(r["sets"][s]["src_lang"] for r in runs if s in r["sets"]) for s in sets}
    for s in sets:
        twin = [o for o in sets if o != s and lang[o] == lang[s]]
        if twin:
            raise DataError(f"sets {s} and {twin[0]} are both {lang[s]}; give --sets with one test set per language")
    tgt = next(r["sets"][s]["tgt_lang"] for r in runs for s in sets if s in r["sets"])
    names = list(dict.fromkeys(r["system"] for r in runs))
    roles = {role: match_system(names, name) for role, name in
             (("baseline", opts.baseline), ("scheduled", opts.scheduled), ("constant", opts.constant),
              *((a, a) for a in opts.ablations))}
    _check_seeds(runs)

    ref_dumps = {r["_path"]: ref_dump_of(r, opts.ref_dump) for r in runs}
    langs = [lang[s] for s in sets]
    counts, source = ({}, "--resource_order") if opts.resource_order else \
        training_counts(runs, langs, tgt, list(ref_dumps.values()))
    order = resource_order(langs, counts, opts.resource_order, source)

    rep = Replication(runs=list(runs), sets=sets, lang=lang, systems=roles, order=order, counts=counts,
                      counts_source=source, table=aggregate(runs), n_resamples=opts.n_resamples,
                      bootstrap_seed=opts.bootstrap_seed)
    pairs = [("scheduled", "baseline"), ("constant", "baseline"), *((a, "scheduled") for a in opts.ablations)]
    pairs = [(b, a) for b, a in pairs if roles[b] and roles[a]]
    needed = {roles[x] for pair in pairs for x in pair}
    stats = _load_statistics([r for r in runs if r["system"] in needed], sets, ref_dumps)
    boot, cache = Bootstrap(opts.n_resamples, opts.bootstrap_seed), {}
    for b, a in pairs:
        label = f"{b} - {a}"
        rep.comparisons[label] = {}
        sa, sb = stats[roles[a]], stats[roles[b]]
        rep.seeds[label] = [seed for seed in sa if seed in sb]
        for metric, kind in UTT_METRICS.items():
            rep.comparisons[label][metric] = {
                s: boot.paired_delta(kind, {k: v[s][metric] for k, v in sa.items() if s in v},
                                     {k: v[s][metric] for k, v in sb.items() if s in v}, key=s, cache=cache)
                for s in sets if any(s in v for v in sa.values()) and any(s in v for v in sb.values())}
    rep.verdicts = _verdicts(rep, opts)
    return rep


def _check_seeds(runs: Sequence[Mapping[str, Any]]) -> None:
    first: dict[tuple, str] = {}
    for r in runs:
        key = (r["system"], r.get("seed"))
        if key in first:
            raise DataError(f"{r['_path']} and {first[key]} are both system {r['system']} with seed "
                            f"{r.get('seed')}; a paired comparison needs one run per system and seed")
        first[key] = r["_path"]


def _load_statistics(runs: Sequence[Mapping[str, Any]], sets: Sequence[str],
                     ref_dumps: Mapping[str, Path]) -> dict[str, dict[Any, dict[str, dict[str, np.ndarray]]]]:
    """system -> seed -> set -> metric -> per-utterance statistics; every run must share the test utterances."""
    out: dict[str, dict[Any, dict[str, dict[str, np.ndarray]]]] = {}
    ids_of: dict[str, tuple[list[str], str]] = {}
    for r in runs:
        per_set = {}
        for s in sets:
            if s not in r["sets"]:
                continue
            ids, per_set[s] = set_statistics(r, s, ref_dumps[r["_path"]])
            if s in ids_of and ids_of[s][0] != ids:
                raise DataError(f"{r['_path']} and {ids_of[s][1]} scored different utterances for {s}; "
                                "a paired comparison needs the same test set (give --ref_dump)")
            ids_of.setdefault(s, (ids, r["_path"]))
        out.setdefault(r["system"], {})[r.get("seed")] = per_set
        logger.info("read per-utterance texts of %s (%s seed %s)", r["_path"], r["system"], r.get("seed"))
    return out


def _verdicts(rep: Replication, opts: ReplicationOptions) -> list[Verdict]:
    by_lang = {label: {rep.lang[s]: d for s, d in per_metric["asr_bleu"].items()}
               for label, per_metric in rep.comparisons.items()}
    miss = {role: name for role, name in (("baseline", opts.baseline), ("scheduled", opts.scheduled),
                                          ("constant", opts.constant)) if not rep.systems[role]}
    gains = by_lang.get("scheduled - baseline", {})
    gain_missing = [miss[r] for r in ("scheduled", "baseline") if r in miss]
    high, low = rep.order[0], rep.order[-1]
    const = by_lang.get("constant - baseline", {}).get(high)
    ablated = {a: by_lang[f"{a} - scheduled"][low] for a in opts.ablations
               if low in by_lang.get(f"{a} - scheduled", {})}
    return [
        claim_a({lang: gains[lang] for lang in rep.order if lang in gains}, gain_missing),
        claim_b(gains, rep.order, gain_missing),
        claim_c(const, high, [miss[r] for r in ("constant", "baseline") if r in miss]),
        claim_d(ablated, low, [a for a in opts.ablations if not rep.systems[a]], "scheduled" in miss),
    ]


def git_commit(path: Path | None = None) -> str | None:
    """``git rev-parse HEAD`` of the repository holding ``path`` (default: this package), with
    ``+uncommitted changes`` when tracked files differ from it; None outside a repository."""
    where = str(path or Path(__file__).resolve().parent)
    try:
        head = subprocess.run(["git", "-C", where, "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=20, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", where, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=20, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head} +uncommitted changes" if dirty else head


def seed_points(rep: Replication, metric: str = "asr_bleu") -> dict[str, dict[str, list[tuple[Any, float]]]]:
    """system -> language -> [(seed, score)] from ``scores.json``, for the plot."""
    out: dict[str, dict[str, list[tuple[Any, float]]]] = {}
    for r in rep.runs:
        for s in rep.sets:
            v = r["sets"].get(s, {}).get(metric)
            if v is not None:
                out.setdefault(r["system"], {}).setdefault(rep.lang[s], []).append((r.get("seed"), float(v)))
    return out


def _col(rep: Replication, s: str) -> str:
    return f"{rep.lang[s]} ({s})"


def replication_markdown(rep: Replication, command: str, commit: str | None, plot: str | None = None) -> str:
    """The RESULTS.md of a replication: verdicts, scores over seeds, paired deltas, toplines, plot."""
    from s2s_plugin.eval.report import (NOT_SCORED, _cell, asr_bleu_protocol, protocol_lines, quality_lines,
                                        runs_metric_labels)

    first = rep.runs[0]
    labels: Mapping[str, str] = runs_metric_labels(rep.runs)
    cols = sorted(rep.sets, key=lambda s: rep.order.index(rep.lang[s]))
    head = "| " + " | ".join(_col(rep, s) for s in cols) + " |"
    rule = "---:|" * len(cols)
    n_utts = {s: next(r["sets"][s]["num_utts"] for r in rep.runs if s in r["sets"]) for s in cols}
    lines = ["# Replication: scheduled interleaved speech-text training (PAPER.md)", "",
             f"Commit `{commit or 'unknown (not a git checkout)'}`; produced by:", "", "```bash", command, "```", "",
             f"Runs: {len(rep.runs)} ({', '.join(_runs_of(rep))}). Test sets: "
             + ", ".join(f"{_col(rep, s)} {n_utts[s]} utterances" for s in cols) + ".",
             "Languages by training data, most first: "
             + ", ".join(f"{lang}" + (f" ({rep.counts[lang]} utterances)" if lang in rep.counts else "")
                         for lang in rep.order) + f" (from {rep.counts_source or 'the only test language'}).", "",
             "## Verdicts", "",
             f"Decided on ASR-BLEU (protocol {asr_bleu_protocol(first)['name']}), by the 95% paired bootstrap "
             "interval of each delta (below): a delta counts for or against a claim only when its interval excludes 0. **reproduced**: every delta of the claim "
             "on the claimed side; **partly**: some of them (or some systems of the claim not run); "
             "**refuted**: none, and some on the other side; **inconclusive**: every interval includes 0; "
             "**not run**: the claim's systems have no runs here.", "",
             "| claim | the paper says | verdict | why |", "|---|---|---|---|"]
    for v in rep.verdicts:
        lines.append(f"| ({v.claim}) | {v.statement} | **{v.verdict}** | {v.reason} |")
    lines += ["", "## Scores: mean ± sd over seeds", "",
              "Sample standard deviation over a system's runs (n - 1; none for one run); from each run's "
              "scores.json.", ""]
    for metric in (*SCORE_METRICS, "quality"):
        lines += [f"### {labels.get(metric, metric)}", "", "| system | seeds " + head, "|---|---|" + rule]
        for system, per_metric in rep.table.items():
            seeds = " ".join(_seed(r.get("seed")) for r in rep.runs if r["system"] == system)
            cells = per_metric.get(metric, {})
            if metric == "quality" and not cells:
                lines.append(f"| {system} | {seeds} | " + " | ".join(NOT_SCORED for _ in cols) + " |")
                continue
            lines.append(f"| {system} | {seeds} | " + " | ".join(_cell(cells.get(s)) for s in cols) + " |")
        lines.append("")
    lines += ["## Paired deltas, 95% bootstrap interval", "",
              f"Per seed, system B's corpus score minus system A's on the whole test set, averaged over the seeds "
              f"both have; in brackets the 95% interval from {rep.n_resamples} paired bootstrap resamples of the "
              f"test utterances (bootstrap seed {rep.bootstrap_seed}; the same resampled utterances for every "
              "seed and both systems; corpus BLEU recomputed from sacrebleu's sufficient statistics, WER as "
              "errors / reference words summed). The interval covers the choice of test utterances, not the "
              "choice of training seed; the spread over seeds is in the tables above. For WER, lower is better.",
              ""]
    if rep.comparisons:
        lines += ["| B - A | seeds | metric " + head, "|---|---|---|" + rule]
        for label, per_metric in rep.comparisons.items():
            b, a = label.split(" - ")
            shown = f"{rep.systems[b]} - {rep.systems[a]}"
            for metric, per_set in per_metric.items():
                lines.append(f"| {shown} | {' '.join(map(_seed, rep.seeds[label]))} | {labels.get(metric, metric)} | "
                             + " | ".join(per_set[s].text() if s in per_set else "—" for s in cols) + " |")
    else:
        lines.append("No pair of the paper's systems was run (baseline, scheduled, constant, ablations).")
    lines += ["", "## Toplines", "",
              "The scoring ASR on the reference target speech, and on the reference target units through the "
              "vocoder, and the quality scorer on the same (the reference speech only for a scorer that does not "
              "compare with it; mean ± sd over all runs; they do not depend on the system).", "",
              "| topline " + head, "|---|" + rule]
    from s2s_plugin.eval.report import aggregate

    pooled = aggregate([{**r, "system": "all"} for r in rep.runs])["all"]
    quality_toplines = [m for m in ("quality_ref_speech", "quality_ref_units") if m in pooled] or ["quality_ref_speech"]
    for metric in (*TOPLINES, *quality_toplines):
        cells = pooled.get(metric, {})
        if metric == "quality_ref_speech" and not cells:
            lines.append(f"| {labels.get(metric, metric)} | " + " | ".join(NOT_SCORED for _ in cols) + " |")
            continue
        lines.append(f"| {labels.get(metric, metric)} | " + " | ".join(_cell(cells.get(s)) for s in cols) + " |")
    if plot:
        lines += ["", "## ASR-BLEU per system and language", "", f"![ASR-BLEU per system and language; a point "
                  f"per seed]({plot})"]
    lines += ["", "## Protocol", "",
              f"- ASR: `{first['asr'].get('name')}`.", *protocol_lines(first), *quality_lines(rep.runs),
              "- Runs: " + "; ".join(f"`{r.get('exp', r['_path'])}` ({r['system']}, seed {_seed(r.get('seed'))})"
                                     for r in rep.runs) + "."]
    return "\n".join(lines) + "\n"


def _seed(seed: Any) -> str:
    return "—" if seed is None else str(seed)


def _runs_of(rep: Replication) -> list[str]:
    out = []
    for system in dict.fromkeys(r["system"] for r in rep.runs):
        seeds = [r.get("seed") for r in rep.runs if r["system"] == system]
        out.append(f"{system} seeds {' '.join(map(_seed, seeds))}")
    return out


def replication_json(rep: Replication, command: str, commit: str | None) -> dict[str, Any]:
    """The numbers of the report, for scripts."""
    return {
        "command": command, "commit": commit, "bootstrap": {"resamples": rep.n_resamples, "seed": rep.bootstrap_seed},
        "sets": {s: rep.lang[s] for s in rep.sets}, "resource_order": rep.order, "train_utterances": rep.counts,
        "systems": rep.systems,
        "deltas": {label: {"seeds": rep.seeds[label],
                           **{m: {s: d.to_dict() for s, d in per_set.items()} for m, per_set in per_metric.items()}}
                   for label, per_metric in rep.comparisons.items()},
        "verdicts": [v.to_dict() for v in rep.verdicts],
        "runs": [r["_path"] for r in rep.runs],
    }
