"""Stage 4: fit a unit tokenizer, label every set with discrete units, report unit rates.

    s2s units fit --config conf/units.yaml --dirs dump/train_fr dump/train_es --lang fr es en \\
        --exp exp/units --ctc_exp exp/ctc [tokenizer.n_clusters=300 fit.share=0.5 ...]

    # label one set: in this process ...
    s2s units label --exp exp/units --dir dump/test_fr --lang fr en
    # ... or as 4 parallel jobs through a job runner (logs: dump/test_fr/logs/units.<J>.log), then the merge
    s2s units label --exp exp/units --dir dump/test_fr --nj 4 --cmd utils/run.pl
    # (each job as the runner calls it: --nj 4 --job J; then --nj 4 --merge)

    s2s units stats --dirs dump/train_fr dump/test_fr [--bpemodel bpe.model] [--json]

    # a peer's k-means instead of a fit (fairseq .bin, ESPnet .mdl, .pkl, or .npy centres)
    s2s units import --kmeans /models/mhubert_L11_km1000.bin --config conf/units_mhubert.yaml \\
        --exp exp/units [--trust_pickle]

`fit` streams features of a seeded portion of the utterances (the config's
`fit` block) into the tokenizer's k-means in bounded memory and writes
EXP/units.yaml, centres, fit.json (time, peak memory, frames) and fit.log.
`label` writes DIR/units.<lang> (`utt u1 u2 ...`) and DIR/units.<lang>.info
(frame rate, tokenizer, real-time factor); without --lang it labels both
languages of the set. `stats` prints units per second and units per text
token (per word, per character, and per BPE piece with --bpemodel) for each
set and language, then pooled over all sets per side (source, target) when
several are given. Units per word and per character are text-token proxies;
units per BPE piece with the recipe's stage-6 model is the paper's measure
(21.7x source, 13.1x target on CVSS).

`import` turns a peer's k-means into a fitted tokenizer exp dir without
refitting: the config's tokenizer block names the model and layer it was
fitted on; units.yaml records them (layer, model path, SHA-256 of the model's
files) and every `label` checks them. A .bin/.mdl/.pkl file is a pickle:
unpickling can run code. It is read only from the --kmeans path, once, with a
reader that rebuilds only sklearn k-means objects and numpy arrays and refuses
anything else; --trust_pickle reads it with joblib.load as is (docs/security.md).
"""
from __future__ import annotations

import argparse
import contextlib
import logging
from pathlib import Path

from s2s_plugin.bin._args import add_job_arguments, add_overrides, add_recipe_path, job_mode, verb_config

COMMAND = "units"
HELP = "fit a unit tokenizer, write units.<lang> for every set, report unit rates (stage 4)"
#: the config schema of each subcommand that takes --config ("" is the verb itself), for --print_config
CONFIG_SCHEMAS = {"fit": "s2s_plugin.units.stage:UnitsConfig", "import": "s2s_plugin.units.stage:UnitsConfig"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="units_command", metavar="SUBCOMMAND", required=True)

    f = sub.add_parser("fit", help="fit the unit tokenizer's k-means on a portion of some sets",
                       description="Stream features of the config's fit portion into the tokenizer's k-means.")
    add_overrides(f, "tokenizer.n_clusters=64")
    add_recipe_path(f, "ctc_exp")
    f.add_argument("--config", required=True, type=Path, help="YAML with the UnitsConfig keys (conf/units.yaml)")
    f.add_argument("--dirs", nargs="+", required=True, help="dump/<set> directories to fit on")
    f.add_argument("--lang", nargs="+", default=None, help="languages to fit on (default: all of each dir)")
    f.add_argument("--exp", required=True, type=Path, help="output exp dir, e.g. exp/units")
    f.add_argument("--tgt_lang", default="en", help="target language of the sets")
    f.add_argument("--num_threads", type=int, default=1, help="torch and BLAS threads")
    f.set_defaults(_units_main=_fit)

    lab = sub.add_parser("label", help="write DIR/units.<lang> with a fitted tokenizer",
                         description="Job J of N labels the contiguous part J of the sorted ids; --merge "
                                     "combines the N jobs into DIR/units.<lang> and DIR/units.<lang>.info; --cmd "
                                     "runs the N jobs through a job runner (logs: DIR/logs/units.<J>.log), then "
                                     "the merge.")
    lab.add_argument("--exp", required=True, type=Path, help="the exp dir of `s2s units fit`")
    lab.add_argument("--dir", required=True, type=Path, help="a dump/<set> directory")
    lab.add_argument("--lang", nargs="+", default=None, help="languages to label (default: both of the set)")
    add_job_arguments(lab)
    lab.add_argument("--dedup", choices=["true", "false"], default=None,
                     help="collapse repeated units (default: the fit config's dedup)")
    lab.add_argument("--tgt_lang", default=None, help="target language of the set (default: the fit's)")
    lab.add_argument("--num_threads", type=int, default=1, help="torch and BLAS threads per job")
    lab.set_defaults(_units_main=_label)

    imp = sub.add_parser(
        "import", help="make a peer's k-means (fairseq/ESPnet .bin .mdl .pkl, or .npy centres) the unit tokenizer",
        description="Read the centres of a peer's k-means, check them against the feature model and layer the "
                    "config's tokenizer block names, and write a fitted tokenizer exp dir that `s2s units label` "
                    "reads. WARNING: a .bin/.mdl/.pkl k-means file is a Python pickle, and unpickling can run "
                    "code. It is read only from the path given to --kmeans, with a reader that rebuilds only "
                    "sklearn k-means objects, numpy arrays and random states and refuses any other object; "
                    "--trust_pickle lifts that (docs/security.md).")
    add_overrides(imp, "tokenizer.layer=11")
    add_recipe_path(imp, "ctc_exp")
    imp.add_argument("--kmeans", required=True, type=Path,
                     help="the peer's k-means file: a joblib/pickle sklearn k-means (.bin, .mdl, .pkl; a pickle, "
                          "read with a restricted reader that refuses objects other than k-means and numpy "
                          "arrays) or an .npy (K, D) centre matrix (read with allow_pickle=False)")
    imp.add_argument("--config", required=True, type=Path,
                     help="YAML with the UnitsConfig keys; its tokenizer block names the model and layer the "
                          "k-means was fitted on (n_clusters is taken from the file)")
    imp.add_argument("--exp", required=True, type=Path, help="output exp dir, e.g. exp/units")
    imp.add_argument("--tgt_lang", default="en", help="target language of the sets it will label")
    imp.add_argument("--trust_pickle", action="store_true",
                     help="read a pickle k-means file with joblib.load as is: THIS RUNS ANY CODE THE FILE HOLDS; "
                          "only for a file whose maker you trust, when the restricted reader refuses it")
    imp.add_argument("--num_threads", type=int, default=1, help="torch and BLAS threads")
    imp.set_defaults(_units_main=_import)

    st = sub.add_parser("stats", help="units per second and per text token, per set and language")
    st.add_argument("--dirs", nargs="+", required=True, help="dump/<set> directories with units.<lang>")
    st.add_argument("--lang", nargs="+", default=None, help="languages (default: both of each set)")
    st.add_argument("--tgt_lang", default="en", help="target language of the sets")
    st.add_argument("--bpemodel", type=Path, default=None, help="a sentencepiece model: also count units per piece")
    st.add_argument("--json", action="store_true", help="print JSON rows instead of a table")
    st.set_defaults(_units_main=_stats)


def main(args: argparse.Namespace) -> int:
    return args._units_main(args)


def _fit(args: argparse.Namespace) -> int:
    from s2s_plugin.errors import ConfigError
    from s2s_plugin.jobs import limit_threads, log_to
    from s2s_plugin.units.stage import fit_units

    cfg = verb_config(args)  # overrides typed after --dirs or --lang land there; it hands them back
    overrides = args.overrides
    if not args.dirs:
        raise ConfigError("--dirs: give at least one dump/<set> directory")
    with limit_threads(args.num_threads), log_to(args.exp / "fit.log", getattr(args, "log_level", "INFO")):
        logging.getLogger(__name__).info("s2s units fit --config %s --dirs %s --lang %s --exp %s %s", args.config,
                                         " ".join(args.dirs), " ".join(args.lang or ["(all)"]), args.exp,
                                         " ".join(overrides))
        fit_units(cfg, args.dirs, args.lang, args.exp, args.tgt_lang)
    return 0


def _import(args: argparse.Namespace) -> int:
    from s2s_plugin.jobs import limit_threads, log_to
    from s2s_plugin.units.peer import import_kmeans

    cfg = verb_config(args)
    overrides = args.overrides
    with limit_threads(args.num_threads), log_to(args.exp / "import.log", getattr(args, "log_level", "INFO")):
        logging.getLogger(__name__).info("s2s units import --kmeans %s --config %s --exp %s%s %s", args.kmeans,
                                         args.config, args.exp, " --trust_pickle" if args.trust_pickle else "",
                                         " ".join(overrides))
        import_kmeans(cfg, args.kmeans, args.exp, args.tgt_lang, args.trust_pickle)
    return 0


def _label(args: argparse.Namespace) -> int:
    from s2s_plugin.jobs import limit_threads, log_to
    from s2s_plugin.units.stage import label_dir

    mode = job_mode(args)
    dedup = None if args.dedup is None else args.dedup == "true"
    with log_to(args.dir / "logs" / "units.log", getattr(args, "log_level", "INFO")), \
            limit_threads(args.num_threads) if mode.runs_jobs_here else contextlib.nullcontext():  # a merge: no torch
        label_dir(args.exp, args.dir, args.lang, dedup=dedup, tgt_lang=args.tgt_lang, mode=mode)
    return 0


def _stats(args: argparse.Namespace) -> int:
    import json

    from s2s_plugin.errors import ConfigError
    from s2s_plugin.units.stage import pool_by_side, unit_stats

    spm = None
    if args.bpemodel is not None:
        if not args.bpemodel.is_file():
            raise ConfigError(f"--bpemodel: {args.bpemodel} not found")
        import sentencepiece

        spm = sentencepiece.SentencePieceProcessor(model_file=str(args.bpemodel))
    rows = [row for d in args.dirs for row in unit_stats(d, args.lang, args.tgt_lang, spm)]
    if len(args.dirs) > 1:
        rows += pool_by_side(rows)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    cols = ["set", "lang", "side", "utterances", "hours", "units", "units_per_second", "units_per_word",
            "units_per_char"] + (["units_per_bpe"] if spm is not None else []) + ["distinct_units"]
    table = [cols] + [[f"{r[c]:.3f}" if isinstance(r[c], float) else str(r[c]) for c in cols] for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(cols))]
    for row in table:
        print("  ".join(cell.rjust(w) if i > 2 else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))))
    return 0
