"""Compare scored runs: mean and spread over seeds, grouped by system, in one table.

    s2s compare --exps exp/baseline_seed1 exp/baseline_seed2 exp/scheduled_seed1 exp/scheduled_seed2 \\
        --out exp/compare/table.md

Each exp dir must hold the ``scores.json`` of ``s2s score``; runs are grouped
by its ``system`` (the exp dir name without ``_seed<N>``, or the scoring
config's ``system``). Writes the Markdown table to ``--out``, the numbers to
the same name with ``.json`` and a bar plot of ASR-BLEU per set and system
with ``.png``. Runs scored with a different ASR, normalisation or sacrebleu
signature are refused.
"""
from __future__ import annotations

import argparse
import shlex
from pathlib import Path

COMMAND = "compare"
HELP = "aggregate scores.json of several runs (mean and spread over seeds) into one table"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--exps", nargs="+", type=Path, required=True, help="scored exp dirs (or scores.json files)")
    parser.add_argument("--out", type=Path, required=True, help="the Markdown table to write, e.g. table.md")
    parser.add_argument("--no_plot", action="store_true", help="do not draw the ASR-BLEU bar plot")


def main(args: argparse.Namespace) -> int:
    from s2s_plugin.data.io import atomic_write
    from s2s_plugin.eval.report import aggregate, comparison_markdown, load_runs
    from s2s_plugin.eval.score import write_json

    runs = load_runs(args.exps)
    table = aggregate(runs)
    command = shlex.join(["s2s", COMMAND, "--exps", *map(str, args.exps), "--out", str(args.out)]
                         + (["--no_plot"] if args.no_plot else []))
    plot = None
    if not args.no_plot:
        from s2s_plugin.eval.plots import plot_compare

        png = args.out.with_suffix(".png")
        plot_compare({s: t.get("asr_bleu", {}) for s, t in table.items()}, "ASR-BLEU", png)
        plot = png.name
    text = comparison_markdown(runs, table, command, plot)
    write_json(args.out.with_suffix(".json"), {"command": command, "runs": [r["_path"] for r in runs],
                                                "systems": table})
    with atomic_write(args.out) as f:
        f.write(text)
    print(text, end="")
    print(f"wrote {args.out}")
    return 0
