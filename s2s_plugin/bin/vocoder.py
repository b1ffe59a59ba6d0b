"""Stage 10: fit (or import) a vocoder, then turn unit sequences into 16 kHz waveforms.

    s2s vocoder fit --config conf/vocoder.yaml --dirs dump/train_fr dump/train_es --lang en \\
        --exp exp/vocoder [vocoder.smooth_ms=20 max_utts=200 ...]

    # synthesise one units file: in this process ...
    s2s vocoder synth --exp exp/vocoder --units exp/s2st/decode_test_fr/hyp_units.en --out exp/s2st/decode_test_fr
    # ... as speaker 3 of a multi-speaker vocoder (default: synthesis.speaker of the fit's config)
    s2s vocoder synth --exp exp/vocoder --units U --out D synthesis.speaker=3
    # ... or as 4 parallel jobs through a job runner (logs: D/logs/synth.<J>.log), then the merge
    s2s vocoder synth --exp exp/vocoder --units U --out D --nj 4 --cmd utils/run.pl
    # (each job as the runner calls it: --nj 4 --job J; then --nj 4 --merge)

`fit` reads DIR/wav.scp.<lang> and DIR/units.<lang> of every --dirs; stage 4's
DIR/units.<lang>.info fills in the vocoder's frame_rate and n_units. `world`
fits per-unit WORLD statistics; `unit_hifigan` loads and checks its
checkpoint, or with a train block trains one (docs/vocoder.md; through
`s2s launch` on several GPUs or CPU processes, and rerunning resumes). It writes EXP/config.yaml, the vocoder's state, fit.log and, last,
fit.json. `synth` writes OUT/wav/<utt>.wav (the config's synth_fs, 16-bit)
and OUT/wav.scp, plus OUT/synth.json with the real-time factor and the
synthesis options used (synthesis.* of the config, overridden on the command line).
"""
from __future__ import annotations

import argparse
import contextlib
import logging
from pathlib import Path

from s2s_plugin.bin._args import add_job_arguments, add_overrides, job_mode, verb_config

COMMAND = "vocoder"
HELP = "fit or import a vocoder; synthesise units into waveforms (stage 10)"
#: the config schema of each subcommand that takes --config ("" is the verb itself), for --print_config
CONFIG_SCHEMAS = {"fit": "s2s_plugin.vocoder.stage:VocoderConfig"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="vocoder_command", metavar="SUBCOMMAND", required=True)

    f = sub.add_parser("fit", help="fit (world, concat), train or import and check (unit_hifigan) the vocoder",
                       description="Fit the vocoder of --config on the --lang speech and units of --dirs.")
    add_overrides(f, "vocoder.smooth_ms=20")
    f.add_argument("--config", required=True, type=Path, help="YAML with the VocoderConfig keys (conf/vocoder.yaml)")
    f.add_argument("--dirs", nargs="+", required=True, help="dump/<set> directories with wav.scp.<lang>, units.<lang>")
    f.add_argument("--lang", default="en", help="language of the speech to fit on (the target language)")
    f.add_argument("--exp", required=True, type=Path, help="output exp dir, e.g. exp/vocoder")
    f.add_argument("--num_threads", type=int, default=1, help="torch and BLAS threads")
    f.set_defaults(_vocoder_main=_fit)

    s = sub.add_parser("synth", help="write OUT/wav/<utt>.wav and OUT/wav.scp from a units file",
                       description="Job J of N synthesises the contiguous part J of the sorted ids; --merge "
                                   "checks the N jobs and writes OUT/wav.scp and OUT/synth.json; --cmd runs the "
                                   "N jobs through a job runner (logs: OUT/logs/synth.<J>.log), then the merge.")
    s.add_argument("overrides", nargs="*", metavar="synthesis.KEY=VALUE",
                   help="synthesis options for this synthesis, e.g. synthesis.speaker=3 (the speaker of a "
                        "multi-speaker vocoder); default: the synthesis block of the fit's config")
    s.add_argument("--exp", required=True, type=Path, help="the exp dir of `s2s vocoder fit`")
    s.add_argument("--units", required=True, type=Path, help="a units file: `utt u1 u2 ...` per line")
    s.add_argument("--out", required=True, type=Path, help="output dir (e.g. the decode dir)")
    add_job_arguments(s)
    s.add_argument("--num_threads", type=int, default=1, help="torch and BLAS threads per job")
    s.set_defaults(_vocoder_main=_synth)


def main(args: argparse.Namespace) -> int:
    return args._vocoder_main(args)


def _fit(args: argparse.Namespace) -> int:
    from s2s_plugin.errors import ConfigError
    from s2s_plugin.jobs import limit_threads, log_to
    from s2s_plugin.vocoder.stage import fit_vocoder

    cfg = verb_config(args)  # overrides typed after --dirs land there; it hands them back
    overrides, dirs = args.overrides, args.dirs
    if not dirs:
        raise ConfigError("--dirs: give at least one dump/<set> directory")
    with limit_threads(args.num_threads), log_to(args.exp / "fit.log"):
        logging.getLogger(__name__).info("s2s vocoder fit --config %s --dirs %s --lang %s --exp %s %s", args.config,
                                         " ".join(dirs), args.lang, args.exp, " ".join(overrides))
        fit_vocoder(cfg, dirs, args.lang, args.exp)
    return 0


def _synth(args: argparse.Namespace) -> int:
    from s2s_plugin.jobs import limit_threads
    from s2s_plugin.vocoder.stage import synth_all

    mode = job_mode(args)
    with limit_threads(args.num_threads) if mode.runs_jobs_here else contextlib.nullcontext():
        synth_all(args.exp, args.units, args.out, overrides=args.overrides, mode=mode)
    return 0
