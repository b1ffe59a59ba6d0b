"""Stage 7 (embedded recipe): pretrain the small LLM on the text-only corpus.

    s2s pretrain-text --config conf/pretrain_text.yaml --vocab exp/vocab/vocab.yaml --exp exp/lm

The model (usually ``llm: {name: hf, config: {model_type: llama, ...}}``,
random init) learns the corpus languages (monolingual sentences) and text
translation (``<t_src> source <t_tgt> target`` pairs, the chain of thought's
text part) with stage 8's training loop. EXP/model is a transformers model
dir with the text tokens and specials of the vocabulary but no unit rows:
stage 8 loads it with ``llm: {name: hf, path: exp/lm/model}`` and adds the
units. Reruns resume, as with ``s2s train``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from s2s_plugin.bin._args import add_overrides, verb_config

COMMAND = "pretrain-text"
HELP = "stage 7: pretrain the embedded LLM on the text-only corpus (monolingual + translation pairs)"
#: the config schema of each subcommand that takes --config ("" is the verb itself), for --print_config
CONFIG_SCHEMAS = {"": "s2s_plugin.train.schema:PretrainTextConfig"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_overrides(parser, "optim.lr=1e-3")
    parser.add_argument("--config", required=True, type=Path, help="conf/pretrain_text.yaml")
    parser.add_argument("--exp", required=True, type=Path, help="experiment dir, e.g. exp/lm")
    parser.add_argument("--vocab", default=None, help="vocabulary (default: the config's 'vocab')")
    parser.add_argument("--num_threads", type=int, default=None, help="torch CPU threads per process")
    parser.add_argument("--no_average", action="store_true", help="stop after training: no final model dir")
    parser.add_argument("--allow_changed_config", action="store_true",
                        help="resume although the config differs from the exp dir's config.yaml (e.g. another "
                             "optim.lr); without it such a resume is refused")


def main(args: argparse.Namespace) -> int:
    from s2s_plugin.train.cli import run_training

    # --vocab is the config's 'vocab' key (config_overrides): exp/config.yaml records what ran
    run_training(verb_config(args), args, COMMAND)
    return 0


def config_overrides(args: argparse.Namespace) -> list[str]:
    """Overrides the command's own options make (``--vocab``): they win over the config and its overrides."""
    return [f"vocab={args.vocab}"] if getattr(args, "vocab", None) else []
