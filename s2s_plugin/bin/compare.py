"""Compare scored runs: mean and spread over seeds, grouped by system; optionally the replication report.

    s2s compare --exps exp/baseline_seed1 exp/baseline_seed2 exp/scheduled_seed1 exp/scheduled_seed2 \\
        --out exp/compare/table.md
    s2s compare --exps exp/s2st_{baseline,scheduled,constant}_seed{1,2} --out exp/compare/table.md \\
        --results exp/compare/RESULTS.md [--ref_dump dump] [--bootstrap 1000] [--resource_order fr es pt]

Each exp dir must hold the ``scores.json`` of ``s2s score``; runs are grouped
by its ``system`` (the exp dir name without ``_seed<N>``, or the scoring
config's ``system``). ``--out`` writes the Markdown table, the numbers to the
same name with ``.json``, a bar plot of ASR-BLEU per set and system with
``.png`` and, for runs with quality scores, one of the quality score (its
label says the scorer, unit and whether lower or higher is better) with
``.quality.png``. Runs scored with a different ASR, normalisation or sacrebleu
signature are refused.

``--results`` writes the replication's report (s2s_plugin.eval.replication):
per language and system the mean and spread over seeds of ASR-BLEU, BLEU
(T_tgt) and WER (T_src); the paired per-seed deltas scheduled - baseline,
constant - baseline and ablation - scheduled with 95% paired bootstrap
intervals over the test utterances (s2s_plugin.eval.stats); the toplines;
a verdict on each claim of the paper; the commit and this command. Beside it
go the numbers (same name, ``.json``) and the plot of ASR-BLEU per system
and language with a point per seed (``.png``). It reads each run's
per-utterance texts and the references (``--ref_dump``, default: the dump
dir each run was scored with).
"""
from __future__ import annotations

import argparse
import shlex
from pathlib import Path

COMMAND = "compare"
HELP = "aggregate scores.json of several runs (mean and spread over seeds); --results: the replication report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--exps", nargs="+", type=Path, required=True, help="scored exp dirs (or scores.json files)")
    parser.add_argument("--out", type=Path, help="the Markdown table to write, e.g. table.md")
    parser.add_argument("--no_plot", action="store_true", help="do not draw the plots")
    rep = parser.add_argument_group("replication report (--results)")
    rep.add_argument("--results", type=Path,
                     help="write the replication report here (e.g. exp/compare/RESULTS.md), with .json and .png")
    rep.add_argument("--ref_dump", type=Path,
                     help="dump dir of the reference sets (default: the --ref_dump each run was scored with)")
    rep.add_argument("--bootstrap", type=int, help="bootstrap resamples per test set (default 1000)")
    rep.add_argument("--bootstrap_seed", type=int, help="seed of the bootstrap resamples (default 1234)")
    rep.add_argument("--baseline", help="system name of the baseline (default baseline; s2st_<name> matches too)")
    rep.add_argument("--scheduled", help="system name of scheduled interleaving (default scheduled)")
    rep.add_argument("--constant", help="system name of constant p = 0.3 (default constant)")
    rep.add_argument("--ablations", nargs="+", help="system names of the ablations, each compared with "
                     "--scheduled (default input_only output_only mask uniform)")
    rep.add_argument("--resource_order", nargs="+",
                     help="source languages from the most to the least training data (default: counted from "
                          "the runs' training sets)")
    rep.add_argument("--sets", nargs="+", help="test sets to report, one per language (default: all scored)")


def command_line(args: argparse.Namespace) -> str:
    """The command that reproduces this comparison (defaults left out)."""
    argv = ["s2s", COMMAND, "--exps", *map(str, args.exps)]
    if args.out:
        argv += ["--out", str(args.out)]
    if args.no_plot:
        argv.append("--no_plot")
    if args.results:
        argv += ["--results", str(args.results)]
        for opt in ("ref_dump", "bootstrap", "bootstrap_seed", "baseline", "scheduled", "constant"):
            if getattr(args, opt) is not None:
                argv += [f"--{opt}", str(getattr(args, opt))]
        for opt in ("ablations", "resource_order", "sets"):
            if getattr(args, opt):
                argv += [f"--{opt}", *getattr(args, opt)]
    return shlex.join(argv)


def main(args: argparse.Namespace) -> int:
    from s2s_plugin.errors import ConfigError
    from s2s_plugin.eval.report import load_runs

    if not args.out and not args.results:
        raise ConfigError("give --out (the comparison table), --results (the replication report) or both")
    if args.bootstrap is not None and args.bootstrap < 40:
        raise ConfigError(f"--bootstrap {args.bootstrap}: need at least 40 resamples for a 95% interval")
    runs = load_runs(args.exps)
    command = command_line(args)
    if args.out:
        write_table(runs, args.out, command, plot=not args.no_plot)
    if args.results:
        write_results(runs, args, command)
    return 0


def write_table(runs: list, out: Path, command: str, plot: bool) -> None:
    """The comparison table (``--out``), its ``.json``, ``.png`` and (with quality scores) ``.quality.png``."""
    from s2s_plugin.data.io import atomic_write
    from s2s_plugin.eval.report import aggregate, comparison_markdown, metric_labels, runs_metric_labels
    from s2s_plugin.eval.score import write_json

    table = aggregate(runs)
    png = quality_png = None
    if plot:
        from s2s_plugin.eval.plots import plot_compare

        png = out.with_suffix(".png")
        plot_compare({s: t.get("asr_bleu", {}) for s, t in table.items()}, metric_labels(runs[0])["asr_bleu"], png)
        if any("quality" in t for t in table.values()):
            quality_png = out.with_suffix(".quality.png")
            plot_compare({s: t.get("quality", {}) for s, t in table.items()}, runs_metric_labels(runs)["quality"],
                         quality_png)
    text = comparison_markdown(runs, table, command, png.name if png else None,
                               quality_png.name if quality_png else None)
    write_json(out.with_suffix(".json"), {"command": command, "runs": [r["_path"] for r in runs], "systems": table})
    with atomic_write(out) as f:
        f.write(text)
    print(text, end="")
    print(f"wrote {out}")


def write_results(runs: list, args: argparse.Namespace, command: str) -> None:
    """The replication report (``--results``), its ``.json`` and ``.png``; RESULTS.md is written last."""
    from s2s_plugin.data.io import atomic_write
    from s2s_plugin.eval.replication import (ReplicationOptions, build_replication, git_commit, replication_json,
                                             replication_markdown, seed_points)
    from s2s_plugin.eval.score import write_json

    given = {"ref_dump": args.ref_dump, "n_resamples": args.bootstrap, "bootstrap_seed": args.bootstrap_seed,
             "baseline": args.baseline, "scheduled": args.scheduled, "constant": args.constant,
             "ablations": tuple(args.ablations) if args.ablations else None,
             "resource_order": args.resource_order, "sets": args.sets}
    opts = ReplicationOptions(**{k: v for k, v in given.items() if v is not None})
    rep = build_replication(runs, opts)
    commit = git_commit()
    png = None
    if not args.no_plot:
        from s2s_plugin.eval.plots import plot_seed_points
        from s2s_plugin.eval.report import metric_labels

        png = args.results.with_suffix(".png")
        plot_seed_points(seed_points(rep), rep.order, metric_labels(runs[0])["asr_bleu"], png)
    write_json(args.results.with_suffix(".json"), replication_json(rep, command, commit))
    text = replication_markdown(rep, command, commit, png.name if png else None)
    with atomic_write(args.results) as f:
        f.write(text)
    print(text, end="")
    print(f"wrote {args.results}")
