"""What ``s2s train`` and ``s2s pretrain-text`` share: config loading and the run."""
from __future__ import annotations

import argparse
import sys
from typing import Any


def run_training(schema: type, args: argparse.Namespace, verb: str) -> Any:
    """Load ``args.config`` strictly (with overrides), then fit in ``args.exp``.

    Returns:
        The final model directory (rank 0), else ``None``.
    """
    import torch

    from s2s_plugin.config import load_config
    from s2s_plugin.train.run import Run

    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    # --vocab is the config's 'vocab' key: set it there, so exp/config.yaml records what ran
    cfg = load_config(schema, args.config, [*args.overrides, *([f"vocab={args.vocab}"] if args.vocab else [])])
    command = [sys.executable, "-m", "s2s_plugin.bin.main", verb, "--config", str(args.config), "--exp",
               str(args.exp)]
    if args.vocab:
        command += ["--vocab", str(args.vocab)]
    if args.num_threads:
        command += ["--num_threads", str(args.num_threads)]
    command += list(args.overrides)
    return Run(cfg, args.exp, vocab_path=args.vocab, command=command,
               allow_changed_config=args.allow_changed_config).fit(average=not args.no_average)
