"""What ``s2s train`` and ``s2s pretrain-text`` share: the run of their loaded config."""
from __future__ import annotations

import argparse
import sys
from typing import Any


def run_training(cfg: Any, args: argparse.Namespace, verb: str) -> Any:
    """Fit ``cfg`` (the verb's config, loaded by ``s2s_plugin.bin._args.verb_config``) in ``args.exp``.

    Returns:
        The final model directory (rank 0), else ``None``.
    """
    import torch

    from s2s_plugin.train.run import Run

    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    command = [sys.executable, "-m", "s2s_plugin.bin.main", verb, "--config", str(args.config), "--exp",
               str(args.exp)]
    if args.vocab:
        command += ["--vocab", str(args.vocab)]
    if args.num_threads:
        command += ["--num_threads", str(args.num_threads)]
    command += list(args.overrides)
    return Run(cfg, args.exp, vocab_path=args.vocab, command=command,
               allow_changed_config=args.allow_changed_config).fit(average=not args.no_average)
