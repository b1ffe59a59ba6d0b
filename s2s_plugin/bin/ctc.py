"""Train, score or import the CTC model (recipe stage 3).

    s2s ctc train --config conf/ctc.yaml --exp exp/ctc \\
        --train_dirs dump/train_fr dump/train_es --valid_dirs dump/dev_fr dump/dev_es [key=value ...]
    s2s ctc eval --exp exp/ctc --dirs dump/dev_fr dump/dev_es [--sides src tgt] [--langs fr]
    s2s ctc import --from /models/espnet_asr --exp exp/ctc [--model_file valid.acc.ave.pth]
    s2s ctc import --from /models/w2v-bert-ctc --exp exp/ctc [--type hf]

`train` writes exp/<tag>/{model.pth,config.yaml,tokens.txt,train.log,scores.json,run.sh,tensorboard/,
checkpoints/} and resumes from checkpoints/last.ckpt when run again; through `s2s launch` it runs as
several DDP processes (`s2s launch --ngpu 0 --nproc 2 -- s2s ctc train ...`: gloo on the CPU).
`eval` prints the CER per set and language and writes exp/<tag>/eval/<set>/hyp.<lang> and
exp/<tag>/eval/cer.json. `import` checks an ESPnet ASR model dir or a transformers *ForCTC dir and
makes exp/<tag> point at it, so every later stage uses it like a trained one; which of the two --from
holds is read from its files (config.yaml and *.pth: ESPnet; config.json: transformers), or --type.
"""
from __future__ import annotations

import argparse
import shlex

from s2s_plugin.bin._args import add_overrides, verb_config

COMMAND = "ctc"
HELP = "train, score or import the CTC model that aligns words and feeds units (stage 3)"
#: the config schema of each subcommand that takes --config ("" is the verb itself), for --print_config
CONFIG_SCHEMAS = {"train": "s2s_plugin.asr.train:CTCTrainConfig"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="ctc_command", metavar="SUBCOMMAND", required=True)

    t = sub.add_parser("train", help="train a CTC model on characters or BPE pieces (token_type)",
                       description="Train (or resume) the in-recipe CTC model; see s2s_plugin/asr/train.py.")
    add_overrides(t, "max_epoch=5")
    t.add_argument("--config", help="YAML with the CTCTrainConfig keys (defaults when omitted)")
    t.add_argument("--train_dirs", nargs="+", required=True, help="training sets (dump/<set>)")
    t.add_argument("--valid_dirs", nargs="*", default=[], help="sets scored after every epoch")
    t.add_argument("--exp", required=True, help="the exp dir, e.g. exp/ctc")
    t.set_defaults(_ctc_main=_train)

    e = sub.add_parser("eval", help="CER of a CTC model on data sets, per set and language")
    e.add_argument("--exp", required=True, help="a trained or imported CTC model dir")
    e.add_argument("--dirs", nargs="+", required=True, help="sets to transcribe")
    e.add_argument("--sides", nargs="+", choices=["src", "tgt"], default=None,
                   help="sides to score (default: those the model was trained on; both for imports)")
    e.add_argument("--langs", nargs="+", default=None, help="only these languages")
    e.add_argument("--tgt_lang", default="en", help="target language of the sets")
    e.add_argument("--max_utts", type=int, default=None, help="at most this many utterances per set and language")
    e.add_argument("--device", default="auto", help="auto, cpu or cuda")
    e.add_argument("--json", action="store_true", help="print JSON instead of a table")
    e.set_defaults(_ctc_main=_eval)

    i = sub.add_parser("import", help="use an ESPnet or transformers CTC model as the stage-3 model")
    i.add_argument("--from", dest="source", required=True, help="the model dir")
    i.add_argument("--type", dest="kind", default=None, choices=["espnet", "hf"],
                   help="what --from holds: an ESPnet ASR exp dir or a transformers CTC model dir (default: "
                        "told from its files: config.yaml and *.pth for ESPnet, config.json for transformers)")
    i.add_argument("--exp", required=True, help="the exp dir to write, e.g. exp/ctc")
    i.add_argument("--model_file", default=None, help="ESPnet: the .pth inside --from when it holds several")
    i.add_argument("--device", default="cpu", help="where to load it for the check")
    i.set_defaults(_ctc_main=_import)


def main(args: argparse.Namespace) -> int:
    return args._ctc_main(args)


def _check_dirs(**lists: list[str]) -> None:
    """A ``key=value`` among the dirs is an override that a list option swallowed."""
    from pathlib import Path

    from s2s_plugin.errors import ConfigError

    for opt, values in lists.items():
        for v in values or []:
            if "=" in v and not Path(v).exists():
                raise ConfigError(f"--{opt} got '{v}', an override: give overrides before --{opt} "
                                  f"or after --exp (e.g. s2s ctc train {v} --config ...)")


def _train(args: argparse.Namespace) -> int:
    from s2s_plugin.asr.train import CTCTrainer, format_cer_table
    from s2s_plugin.errors import ConfigError

    cfg = verb_config(args)
    if not args.train_dirs:
        raise ConfigError("--train_dirs: give at least one dump/<set> directory")
    args.valid_dirs = args.valid_dirs or []
    command = shlex.join(["s2s", "ctc", "train"] + (["--config", args.config] if args.config else [])
                         + ["--train_dirs", *args.train_dirs]
                         + (["--valid_dirs", *args.valid_dirs] if args.valid_dirs else [])
                         + ["--exp", args.exp, *args.overrides])
    trainer = CTCTrainer(cfg, args.train_dirs, args.valid_dirs, args.exp, command)
    try:
        trainer.setup()
        scores = trainer.train()
    finally:
        trainer.cleanup()
    if trainer.rank != 0:
        return 0
    if scores["cer"]:
        weights = "model/" if cfg.encoder == "hf" else "model.pth"
        print(f"valid CER of {args.exp}/{weights} (epoch {scores['best_epoch']}):")
        print(format_cer_table(scores))
    print(f"trained {args.exp} in {scores['train_seconds']:.0f} s")
    return 0


def _eval(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from s2s_plugin.asr.ctc import load_ctc_model, read_model_type
    from s2s_plugin.asr.train import evaluate, format_cer_table

    _check_dirs(dirs=args.dirs)
    kind, cfg = read_model_type(args.exp)
    sides = args.sides or (cfg.get("sides") if kind == "s2s" else None) or ["src", "tgt"]
    langs = args.langs or (cfg.get("langs") if kind == "s2s" else None)
    model = load_ctc_model(args.exp, device=args.device)
    table = evaluate(model, args.dirs, sides, langs, args.tgt_lang, Path(args.exp) / "eval", args.max_utts)
    print(json.dumps(table, indent=2) if args.json else format_cer_table(table))
    return 0


def _import(args: argparse.Namespace) -> int:
    from s2s_plugin.asr.imported import import_ctc_model

    cfg = import_ctc_model(args.source, args.kind, args.exp, args.model_file, args.device)
    print(f"imported {cfg['type']} model {cfg['source']} into {args.exp}: {cfg['vocab_size']} tokens, "
          f"{cfg['frame_rate']:g} frames/s, {cfg['num_layers']} layers")
    return 0
