"""Make a corpus that the toolkit generates itself (recipe stage 1 of egs/mini_s2st).

    s2s corpus mini --config conf/corpus.yaml --out data --nj 2
    s2s corpus mini --config conf/corpus_tiny.yaml --out data --seed 3 sources.pt.train=50 --overwrite

`mini` is the embedded synthetic S2ST corpus: sentences from a small grammar,
realised in French, Spanish, Portuguese and English (translations correct by
construction), spoken by espeak-ng voices (libespeak-ng through ctypes) with
oracle word timings from its word events. It writes data/{train,dev,test}_<src>/
(wav.scp.<lang>, text.<lang>, utt2spk, spk2utt, oracle.<lang>.ctm, wav/) and
the text-only corpus data/lm_text/{train,dev}/text.<lang>. Dev/test sentences
never occur in a train set or in the text corpus. The same config and seed give
byte-identical files, whatever --nj. A finished set is skipped on rerun
(--overwrite replaces it). Needs the Debian package libespeak-ng1 (apt-get
install espeak-ng).
"""
from __future__ import annotations

import argparse

COMMAND = "corpus"
HELP = "make the embedded synthetic S2ST corpus (grammar + espeak-ng) into data/ (stage 1)"
#: the config schema of each subcommand that takes --config ("" is the verb itself), for --print_config
CONFIG_SCHEMAS = {"mini": "s2s_plugin.corpora.mini.config:MiniCorpusConfig"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from s2s_plugin.bin._args import add_overrides

    sub = parser.add_subparsers(dest="corpus", metavar="CORPUS", required=True)
    m = sub.add_parser("mini", help="the embedded synthetic corpus: fr/es/pt -> en, espeak-ng speech",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_overrides(m, "sources.pt.train=50 text.train=5000")
    m.add_argument("--config", required=True, help="the corpus config (egs/mini_s2st/s2st1/conf/corpus.yaml)")
    m.add_argument("--out", default="data", help="output dir: one subdir per set, and lm_text/ (default: data)")
    m.add_argument("--nj", type=int, default=1, help="synthesis processes (default: 1)")
    m.add_argument("--seed", type=int, help="replaces the config's seed")
    m.add_argument("--overwrite", action="store_true", help="rebuild sets that exist")


def main(args: argparse.Namespace) -> int:
    from s2s_plugin.corpora.mini.build import build_corpus
    from s2s_plugin.bin._args import take_overrides
    from s2s_plugin.corpora.mini.config import load_mini_config

    cfg = load_mini_config(args.config, take_overrides(args))  # --seed is one of them (config_overrides)
    build_corpus(cfg, args.out, nj=args.nj, overwrite=args.overwrite)
    return 0


def config_overrides(args: argparse.Namespace) -> list[str]:
    """Overrides the command's own options make (``--seed``): they win over the config and its overrides."""
    return [f"seed={args.seed}"] if getattr(args, "seed", None) is not None else []
