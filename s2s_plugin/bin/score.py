"""Stage 11: score an S2ST exp -- ASR-BLEU, BLEU of T_tgt, WER of T_src, toplines, listening page.

    s2s score --config conf/score.yaml --exp exp/s2st_scheduled --sets test_fr test_es test_pt
    s2s score --config conf/score.yaml --exp exp/s2st_scheduled --sets test_fr --ref_dump dump \\
        vocoder_exp=exp/vocoder asr.device=cuda
    s2s score --config conf/score.yaml --exp exp/s2st_scheduled --sets test_fr asr_bleu_protocol=espnet
    s2s score --config conf/score.yaml --exp exp/s2st_scheduled --sets test_fr quality.name=wada_snr

Reads ``<exp>/decode_<set>/`` (hyp_text.<src>, hyp_text.<tgt>, wav.scp from
stages 9 and 10) and the references in ``<ref_dump>/<set>/``; writes
``<exp>/RESULTS.md``, ``<exp>/scores.json``, ``<exp>/plots/`` and
``<exp>/listen/index.html``. CONFIG keys: s2s_plugin.eval.score.ScoreConfig;
dotted overrides change them (``listen_samples=10``, ``asr.exp_dir=exp/asr_en``,
``asr_bleu_protocol=espnet`` to score ASR-BLEU as ESPnet's evaluate_asr_bleu.sh
does, ``asr_bleu_protocol=fairseq`` as fairseq's compute_asr_bleu.py does; see
s2s_plugin/eval/bleu_protocols.py and docs/asr_bleu.md). The ``quality`` block
adds a speech quality score per set (``mcd_dtw``: the mel-cepstral distortion
from the reference speech, dB, lower is better; ``wada_snr``;
``utmos22_strong``; docs/quality.md).
"""
from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from s2s_plugin.bin._args import add_overrides, verb_config

COMMAND = "score"
HELP = "stage 11: ASR-BLEU, BLEU, WER, toplines, RESULTS.md, plots and a listening page"
#: the config schema of each subcommand that takes --config ("" is the verb itself), for --print_config
CONFIG_SCHEMAS = {"": "s2s_plugin.eval.score:ScoreConfig"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, required=True, help="scoring config (conf/score.yaml)")
    parser.add_argument("--exp", type=Path, required=True, help="the S2ST exp dir, e.g. exp/s2st_scheduled")
    parser.add_argument("--sets", nargs="+", required=True, help="sets to score, e.g. test_fr test_es")
    parser.add_argument("--ref_dump", type=Path, default=Path("dump"),
                        help="dump dir holding the reference sets (default: dump)")
    add_overrides(parser, "vocoder_exp=exp/vocoder or asr_bleu_protocol=espnet (s2s, espnet or fairseq: whose "
                          "ASR-BLEU text processing)")


def command_line(args: argparse.Namespace) -> str:
    """The command that reproduces this run, as stored in RESULTS.md and scores.json."""
    argv = ["s2s", COMMAND, "--config", str(args.config), "--exp", str(args.exp), "--sets", *args.sets,
            "--ref_dump", str(args.ref_dump), *args.overrides]
    return shlex.join(argv)


def main(args: argparse.Namespace) -> int:
    from s2s_plugin.eval.score import run_stage

    cfg = verb_config(args)  # overrides typed after --sets land there; it hands them back
    result = run_stage(cfg, args.exp, args.sets, args.ref_dump, command_line(args))
    print((args.exp / "RESULTS.md").read_text(encoding="utf-8"), end="")
    print(f"ASR-BLEU protocol: {result['asr_bleu_protocol']['signature']}")
    print(f"sacrebleu signature (BLEU of T_tgt): {result['bleu_signature']}")
    print(f"wrote {args.exp / 'RESULTS.md'}, {args.exp / 'scores.json'}"
          + (f", {args.exp / 'listen' / 'index.html'}" if cfg.listen_samples else ""))
    return 0
