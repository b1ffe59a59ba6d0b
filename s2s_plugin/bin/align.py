"""Word alignment of a dump dir into CTM (recipe stage 5).

    s2s align --config conf/align.yaml --dir dump/train_fr --ctc_exp exp/ctc   # both languages
    s2s align --config conf/align.yaml --dir dump/train_fr --ctc_exp exp/ctc --nj 4 --cmd utils/run.pl  # 4 jobs, merged
    s2s align --config conf/align.yaml --dir dump/train_fr --lang fr --nj 4 --job 2
    s2s align --config conf/align.yaml --dir dump/train_fr --lang fr --nj 4 --merge
    s2s align --config conf/align_uniform.yaml --dir dump/test_fr --out align_uniform

Writes DIR/<out>.<lang>.ctm (default out: align) and DIR/<out>.<lang>.report, the
utterances that could not be aligned and why; DIR/<out>.<lang>.dropped lists those left out
as implausible (config max_duration_ratio / max_edge_silence). Job J of N aligns part J of the sorted ids
into DIR/<out>.<lang>.split<N>/<J>/ (every language given); --merge combines them. --cmd RUNNER
runs the N jobs through that job runner (logs: DIR/logs/<out>.<J>.log), then the merge; without
--job/--merge/--cmd all N jobs run here, then the merge. See s2s_plugin/align/stage.py.
"""
from __future__ import annotations

import argparse

from s2s_plugin.bin._args import add_job_arguments, add_overrides, add_recipe_path, job_mode, verb_config

COMMAND = "align"
HELP = "align the words of a data set to its audio, into CTM (stage 5)"
#: the config schema of each subcommand that takes --config ("" is the verb itself), for --print_config
CONFIG_SCHEMAS = {"": "s2s_plugin.align.stage:AlignConfig"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_overrides(parser, "aligner.model=exp/ctc2 max_fail_ratio=0.1")
    add_recipe_path(parser, "ctc_exp")
    parser.add_argument("--config", required=True, help="YAML with an 'aligner' block (conf/align.yaml)")
    parser.add_argument("--dir", required=True, help="the dump dir of one set, e.g. dump/train_fr")
    parser.add_argument("--lang", nargs="+", default=None,
                        help="languages to align (default: both languages of the set)")
    parser.add_argument("--tgt_lang", default="en", help="target language; the other one is the source")
    parser.add_argument("--out", default="align", help="output name: DIR/<out>.<lang>.ctm (default: align)")
    add_job_arguments(parser)


def main(args: argparse.Namespace) -> int:
    from s2s_plugin.align.stage import align_set
    from s2s_plugin.data.datadir import DataDir
    from s2s_plugin.errors import ConfigError

    cfg = verb_config(args)
    mode = job_mode(args)
    if not args.out or "/" in args.out:
        raise ConfigError(f"--out must be a plain name, got {args.out!r}")
    langs = args.lang or list(DataDir(args.dir, tgt_lang=args.tgt_lang).langs)
    summaries = align_set(args.dir, langs, cfg, args.tgt_lang, args.out, mode)
    for lang, s in (summaries or {}).items():
        _print_summary(args.dir, lang, s)
    return 0


def _print_summary(d: str, lang: str, s: dict) -> None:
    dropped = f", {s['dropped']} dropped as implausible" if s.get("dropped") else ""
    print(f"{d} {lang}: aligned {s['aligned']} of {s['utterances']} utterances, {s['failed']} failed{dropped}")
