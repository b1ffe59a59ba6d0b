"""Stage 8: train the S2ST model with scheduled interleaving (PyTorch Lightning).

    s2s train --config conf/train_scheduled.yaml --exp exp/s2st_scheduled [KEY=VALUE ...]
    s2s train --config conf/train_scheduled.yaml --exp exp/s2st_scheduled trainer.max_steps=2000
    # several processes (GPUs, or gloo on the CPU) and Slurm: through s2s launch
    s2s launch --ngpu 4 -- s2s train --config conf/train_scheduled.yaml --exp exp/s2st_scheduled

Overrides come after the options. A rerun with the same --exp resumes from
EXP/checkpoints/last.ckpt (model, optimiser, LR schedule, interleaving
scheduler, RNG, position in the epoch); EXP/run.sh holds the command. A
resume with config values other than EXP/config.yaml's (say optim.lr) is
refused unless --allow_changed_config is given; logging, checkpoint and
validation intervals and the number of processes may change freely. When
training ends, the best trainer.keep_best checkpoints (validation loss at
data.valid_p) are averaged into EXP/model: a transformers model dir with
vocab.yaml and the tokenizer, which decoding loads. TensorBoard logs (losses
per segment, p, learning rate): tensorboard --logdir EXP/tensorboard.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from s2s_plugin.bin._args import add_overrides, verb_config

COMMAND = "train"
HELP = "stage 8: train the S2ST LLM with scheduled interleaving; resumes in the same exp dir"
#: the config schema of each subcommand that takes --config ("" is the verb itself), for --print_config
CONFIG_SCHEMAS = {"": "s2s_plugin.train.schema:TrainConfig"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_overrides(parser, "optim.lr=1e-4")
    parser.add_argument("--config", required=True, type=Path, help="training config (conf/train_*.yaml)")
    parser.add_argument("--exp", required=True, type=Path, help="experiment dir, e.g. exp/s2st_scheduled")
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
