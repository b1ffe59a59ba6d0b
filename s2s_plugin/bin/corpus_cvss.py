"""Prepare CVSS-C/T X->En (Common Voice 4 source speech) into data/<split>_<src> dirs.

    s2s corpus-cvss --cv4 /data/cv4 --cvss /data/cvss --src_lang fr \\
        [--version c|t] [--out data] [--splits train dev test] [--test_subset 1000 --seed 1] \\
        [--max_missing 0.02] [--nj 4] [--report_dir data/local]

Reads <cv4>/<src>/validated.tsv and clips/*.mp3 (Common Voice release 4) and
<cvss>/cvss_<version>/<src>_en/{train,dev,test}.tsv with the target speech
<split>/<clip>.mp3.wav; writes <out>/<split>_<src>/ with wav.scp.<src>,
wav.scp.en, text.<src>, text.en and utt2spk (ids <client_id>-<clip>).

Entries with a missing or unreadable clip or target wav, an empty text, or a
clip absent from validated.tsv are listed one per line in
<report_dir>/prep_report_<src>.txt with their reasons and counted in the log.
When a split has more than --max_missing of its entries broken, no data dir is
written and the command fails naming the report. Nothing is downloaded:
egs/cvss/s2st1/db.sh says what to get from where.
"""
from __future__ import annotations

import argparse
from pathlib import Path

COMMAND = "corpus-cvss"
HELP = "prepare CVSS-C/T X->En with Common Voice 4 source audio into data dirs (CVSS recipe, stage 1)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from s2s_plugin.corpora.cvss import LANGS, SPLITS

    parser.add_argument("--cv4", required=True, type=Path,
                        help="dir with one Common Voice 4 dir per language (<cv4>/fr/validated.tsv, clips/)")
    parser.add_argument("--cvss", required=True, type=Path,
                        help="dir with cvss_c/ and/or cvss_t/, each with <src>_en/ pair dirs")
    parser.add_argument("--src_lang", nargs="+", required=True, metavar="LANG",
                        help=f"source language(s): {' '.join(LANGS)}")
    parser.add_argument("--version", choices=["c", "t"], default="c",
                        help="c: CVSS-C (one canonical target voice, the paper), t: CVSS-T (voice transferred)")
    parser.add_argument("--out", type=Path, default=Path("data"), help="where <split>_<src>/ go (default: data)")
    parser.add_argument("--splits", nargs="+", default=list(SPLITS), choices=list(SPLITS), metavar="SPLIT",
                        help="CVSS splits to prepare (default: train dev test)")
    parser.add_argument("--test_subset", type=int, default=0, metavar="N",
                        help="keep N random test utterances (the paper: 1000); 0 keeps all (default)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the test subset (default: 1)")
    parser.add_argument("--max_missing", type=float, default=0.02, metavar="SHARE",
                        help="largest share of broken entries a split may have (default: 0.02)")
    parser.add_argument("--nj", type=int, default=1, help="processes reading audio headers (default: 1)")
    parser.add_argument("--report_dir", type=Path, default=None,
                        help="where prep_report_<src>.txt goes (default: <out>/local)")


def main(args: argparse.Namespace) -> int:
    from s2s_plugin.corpora.cvss import CvssOptions, prepare_cvss

    opts = CvssOptions(cv4=args.cv4, cvss=args.cvss, src_langs=tuple(args.src_lang), out=args.out,
                       version=args.version, splits=tuple(args.splits), test_subset=args.test_subset,
                       seed=args.seed, max_missing=args.max_missing, nj=args.nj, report_dir=args.report_dir)
    prepare_cvss(opts)
    return 0
