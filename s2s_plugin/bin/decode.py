"""Stage 9: translate source speech units through the chain of thought.

    s2s decode --model_dir exp/s2st_scheduled/model --dir dump/test_fr --out exp/s2st_scheduled/decode_test_fr \\
        --config conf/decode.yaml [num_beams=4 ...] [--nj N --cmd utils/run.pl | --nj N --job J | --nj N --merge]

Reads ``DIR/units.<src>`` (the source language is the one of DIR that is not
``--tgt_lang``), builds each prompt ``<s_src> <lang> units <t_src>`` and decodes
T_src, T_tgt and the target units in batches. Writes ``OUT/hyp_text.<src>``,
``OUT/hyp_text.<tgt>`` and ``OUT/hyp_units.<tgt>`` (Kaldi text), plus
``OUT/decode.yaml`` (the settings). With ``--cmd`` the ``--nj`` jobs run through
that job runner (logs: ``OUT/logs/decode.<J>.log``) and are merged; with
``--job`` one job writes ``OUT/decode.split<N>/<J>/`` and ``--merge`` combines
them; with none of them every utterance is decoded in this process.

MODEL_DIR is the standard transformers model directory stage 8 writes (or a
peft adapter on its base model, with ``lora.export: adapter``), holding also
``vocab.yaml`` and ``sequence.yaml``; a directory exported by an older version
(tokenizer in a subdirectory) decodes too, and ``s2s export`` rewrites it in
the standard layout. The work is s2s_plugin/decode/stage.py's.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from s2s_plugin.bin._args import add_job_arguments, add_overrides, job_mode, verb_config

COMMAND = "decode"
HELP = "stage 9: decode source units to T_src, T_tgt and target units"
#: the config schema of each subcommand that takes --config ("" is the verb itself), for --print_config
CONFIG_SCHEMAS = {"": "s2s_plugin.decode.generate:DecodeConfig"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model_dir", type=Path, required=True, help="trained model dir (stage 8)")
    parser.add_argument("--dir", type=Path, required=True, help="dump/<set> with units.<src>")
    parser.add_argument("--out", type=Path, required=True, help="output dir, e.g. exp/<tag>/decode_<set>")
    parser.add_argument("--config", type=Path, default=None, help="YAML of DecodeConfig keys")
    add_overrides(parser, "num_beams=4")
    parser.add_argument("--tgt_lang", default="en", help="target language of the sets (default: en)")
    add_job_arguments(parser)


def main(args: argparse.Namespace) -> int:
    from s2s_plugin.decode.stage import decode_set

    mode = job_mode(args)
    cfg = None
    if not mode.merge or args.config or args.overrides:  # a merge checks the settings only when given them
        cfg = verb_config(args)
    decode_set(args.model_dir, args.dir, args.out, cfg, args.tgt_lang, mode)
    return 0
