"""Print the training sequences the model is fed at a global step, modalities coloured.

    s2s show-batch conf/train_scheduled.yaml --vocab exp/vocab/vocab.yaml data.train=[dump/train_fr] --step 0 --n 3
    s2s show-batch conf/train_scheduled.yaml --vocab exp/vocab/vocab.yaml data.train=[dump/train_pt] --step 400 \\
        --color always | less -R

The batch shown is the one step STEP trains on (the first micro-batch of
that optimiser step, as one process sees it with the config's seed), built
with p = scheduler.value(STEP) exactly as in training. Text tokens are green,
units cyan, special tokens yellow; the prompt (no loss) is dimmed.
"""
from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

COMMAND = "show-batch"
HELP = "print a few training sequences at a global step, text/units/specials coloured"

STYLE = {"text": "32", "unit": "36", "special": "33;1"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from s2s_plugin.bin._args import add_overrides

    parser.add_argument("config", type=Path, help="a training config (conf/train_*.yaml)")
    add_overrides(parser, "data.train=[dump/train_pt]")
    parser.add_argument("--step", type=int, default=0, help="global optimiser step (sets p and the batch)")
    parser.add_argument("--n", type=int, default=3, help="sequences to print")
    parser.add_argument("--vocab", default=None, help="vocabulary (default: the config's 'vocab')")
    parser.add_argument("--color", choices=["auto", "always", "never"], default="auto",
                        help="ANSI colours (auto: when printing to a terminal)")


def paint(token: str, kind: str, prompt: bool, color: bool) -> str:
    if not color:
        return token
    code = ("2;" if prompt else "") + STYLE[kind]
    return f"\033[{code}m{token}\033[0m"


def render(seq, vocab, color: bool) -> str:
    """One sequence as coloured tokens (text pieces, ``<uN>`` units, specials)."""
    out = []
    for i, t in enumerate(seq.input_ids):
        kind = "unit" if vocab.is_unit(t) else "text" if vocab.is_text(t) else "special"
        out.append(paint(vocab.token_str(t), kind, i < seq.n_prompt, color))
    return " ".join(out)


def main(args: argparse.Namespace) -> int:
    from s2s_plugin.config import load_config
    from s2s_plugin.errors import ConfigError
    from s2s_plugin.llm.sequence import SEGMENTS
    from s2s_plugin.llm.vocab import Vocabulary
    from s2s_plugin.registry import get_registry
    from s2s_plugin.bin._args import take_overrides
    from s2s_plugin.train.schema import TrainConfig, check_recipe_paths
    from s2s_plugin.train.datamodule import S2SDataModule, S2STTask

    if args.step < 0 or args.n < 1:
        raise ConfigError("--step must be >= 0 and --n >= 1")
    overrides = take_overrides(args) + ([f"vocab={args.vocab}"] if args.vocab else [])
    cfg = load_config(TrainConfig, args.config, overrides)
    check_recipe_paths(cfg, str(args.config))  # the vocabulary and the sets, which a recipe's config leaves out
    vocab = Vocabulary.load(cfg.vocab)
    sched = get_registry().build("interleave_scheduler", cfg.scheduler, f"{args.config}:scheduler")
    task = S2STTask(cfg.data, cfg.sequence, vocab)
    # the batches training plans: the same data module, sampler and seed, one process
    dm = S2SDataModule(task, cfg.data, seed=cfg.trainer.seed, schedule=sched.value,
                       accumulate=cfg.trainer.accumulate, max_steps=cfg.trainer.max_steps)
    dm.setup()
    micro = args.step * cfg.trainer.accumulate
    planned = next(itertools.islice(dm.train_sampler.stream(), micro, None))
    batch = [dm.train_items[i] for i in planned.items][:args.n]
    p = float(sched.value(args.step))
    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    print(f"step {args.step}: p = {p:.4f} ({sched!r}); micro-batch {micro} of the run's stream, "
          f"{len(planned.items)} sequences, {sum(planned.lengths)} tokens of {cfg.data.max_tokens}")
    print("legend: " + " ".join(paint(k, k, False, color) for k in ("text", "unit", "special"))
          + f"  {paint('(dimmed: prompt, no loss)', 'text', True, color)}")
    for k, (ex, seq) in enumerate(zip(batch, task.build(batch, step=args.step, p=p)), 1):
        counts = []
        for s, name in enumerate(SEGMENTS):
            toks = [t for t, g in zip(seq.input_ids, seq.segments) if g == s]
            if toks:
                counts.append(f"{name} {sum(vocab.is_text(t) for t in toks)} text/"
                              f"{sum(vocab.is_unit(t) for t in toks)} units")
        print(f"\n[{k}] {ex.utt} ({ex.src.lang} -> {ex.tgt.lang}), {len(seq.input_ids)} tokens: {', '.join(counts)}")
        print(render(seq, vocab, color))
    return 0
