"""Stage 6: the joint vocabulary = text tokenizer + special tokens + speech units.

    s2s vocab --config conf/vocab.yaml --exp exp/vocab \\
        --text dump/train_fr dump/train_es dump/train_pt data/lm_text/train --units_exp exp/units

--text takes Kaldi-style ``text.<lang>`` files, or directories whose
``text.*`` files are read. For the embedded model (``tokenizer:
sentencepiece``) a sentencepiece BPE is trained on those texts; with
``tokenizer: hf`` the local tokenizer directory ``path`` (a pretrained LLM's
own) is used and the texts only serve pruning and statistics. The unit count
is stage 4's (``--units_exp``: its units.yaml) or ``n_units``; every
language seen gets a ``<lang_xx>`` token. With ``prune: true`` only the text
tokens the texts use are kept. Writes, each through a temporary name::

    EXP/vocab.yaml           the vocabulary (the tokenizer path relative to EXP)
    EXP/bpe.model, bpe.vocab the sentencepiece model (sentencepiece only)
    EXP/stats.yaml           sizes and text tokens per word, per language
    EXP/config.yaml, plugins.yaml
"""
from __future__ import annotations

import argparse
from pathlib import Path

from s2s_plugin.bin._args import add_overrides, verb_config

COMMAND = "vocab"
HELP = "stage 6: build the joint vocabulary (BPE or a local HF tokenizer + specials + units)"
#: the config schema of each subcommand that takes --config ("" is the verb itself), for --print_config
CONFIG_SCHEMAS = {"": "s2s_plugin.llm.vocab_stage:VocabConfig"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_overrides(parser, "vocab_size=500")
    parser.add_argument("--config", required=True, type=Path, help="conf/vocab.yaml")
    parser.add_argument("--exp", required=True, type=Path, help="output dir, e.g. exp/vocab")
    parser.add_argument("--text", nargs="+", required=True, type=Path,
                        help="text.<lang> files or directories holding them (train sets, text-only corpus)")
    parser.add_argument("--units_exp", type=Path, default=None, help="stage 4's exp dir (its units.yaml)")
    parser.add_argument("--n_units", type=int, default=None, help="unit tokens (overrides --units_exp)")


def n_units_of(args: argparse.Namespace, cfg) -> int:
    """The unit count: --n_units, else the config's n_units, else stage 4's (--units_exp)."""
    from s2s_plugin.errors import ConfigError

    if args.n_units is not None:
        return args.n_units
    if cfg.n_units is not None:
        return cfg.n_units
    if args.units_exp is not None:
        from s2s_plugin.units.stage import read_units_yaml

        return int(read_units_yaml(args.units_exp)["n_clusters"])
    raise ConfigError("the number of units is unknown: give --units_exp exp/units (stage 4), --n_units or n_units")


def main(args: argparse.Namespace) -> int:
    from s2s_plugin.llm.vocab_stage import build, read_texts, text_files

    cfg = verb_config(args)
    texts = read_texts(text_files(args.text))
    build(cfg, texts, n_units_of(args, cfg), args.exp)
    return 0
