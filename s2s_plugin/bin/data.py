"""Check and format data directories.

    s2s data validate data/train_fr [--tgt_lang en] [--no_audio] [--no_pipes] [--max_problems 50]
    s2s data format data/train_fr dump/train_fr [--config conf/format.yaml] [--fs 16000] [--no_pipes] [key=value ...]

    # recipe stage 2: 4 jobs through the job runner (logs: dump/train_fr/logs/format.<J>.log), then the merge
    s2s data format data/train_fr dump/train_fr --config conf/format.yaml --nj 4 --cmd utils/run.pl
    # ... or each job as the runner calls it (--job J), then --merge

`validate` prints one summary line and exits 0, or lists every problem (file,
line, utterance) and exits 2. `format` with --cmd runs the --nj jobs through
that job runner and merges; without --cmd/--job/--merge it runs them in this
process and merges; the merge writes DUMP_DIR/.format.done last.
Both run the commands of Kaldi pipe entries (`cmd |`) in wav.scp, as Kaldi
does; --no_pipes refuses them (for data you do not trust, docs/security.md).
"""
from __future__ import annotations

import argparse

from s2s_plugin.bin._args import add_job_arguments, add_overrides, job_mode, verb_config

COMMAND = "data"
HELP = "validate a data directory; resample, filter and dump its audio (stage 2)"
#: the config schema of each subcommand that takes --config ("" is the verb itself), for --print_config
CONFIG_SCHEMAS = {"format": "s2s_plugin.data.format:FormatConfig"}


_FORMAT_DESCRIPTION = """\
Stage 2: resample every utterance of both languages to one rate (mono), drop
pairs with an empty, silent, too short or too long side, and dump the rest.

Job J of --nj N formats the contiguous part J of the sorted utterance ids
(the utils/split_scp.sh contract); --cmd RUNNER runs the N jobs through the job
runner (logs: DUMP_DIR/logs/format.<J>.log) and then the merge; --merge checks
all N jobs finished with the same config and data, then writes DUMP_DIR/{wav.scp,utt2dur,utt2num_samples,
text}.<lang>, utt2spk, oracle CTMs, filter_report.txt and, last, .format.done.
Audio goes to DUMP_DIR/audio/<lang>/<utt>.flac: plain files, so later stages
never run a pipe. wav.scp entries may be files, kaldiio ark entries
(file.ark:offset) or Kaldi pipe entries (a command ending in '|', run through
/bin/sh as Kaldi does; with segments, once per recording and job); --no_pipes
refuses pipe entries.

Config keys (defaults): fs 16000, min_duration 0.1, max_duration 20.0 (seconds),
silence_threshold_db -60.0 (peak dBFS), audio_format flac|wav, subtype PCM_16.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)

    v = sub.add_parser("validate", help="check a data or dump directory, reporting every problem",
                       description="Check ids (sorted, unique, in every file), text, utt2spk, "
                                   "audio headers, segments and oracle CTM words.")
    v.add_argument("dir", metavar="DIR", help="data/<set> or dump/<set>")
    v.add_argument("--tgt_lang", default="en", help="target language; the other one is the source")
    v.add_argument("--no_audio", dest="check_audio", action="store_false",
                   help="do not open the audio files (nor run pipe entries)")
    v.add_argument("--no_pipes", dest="allow_pipes", action="store_false",
                   help="refuse wav.scp pipe entries ('cmd |') instead of running them (untrusted data)")
    v.add_argument("--max_problems", type=int, default=50, help="print at most this many problems")
    v.set_defaults(_data_main=_validate)

    f = sub.add_parser("format", help="resample to one rate, downmix, filter and dump the audio",
                       description=_FORMAT_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    f.add_argument("data_dir", metavar="DATA_DIR", help="data/<set>: the Kaldi-style data dir to read")
    f.add_argument("dump_dir", metavar="DUMP_DIR", help="dump/<set>: where the formatted audio and lists go")
    add_overrides(f, "max_duration=30")
    f.add_argument("--config", help="YAML with the FormatConfig keys (defaults when omitted)")
    f.add_argument("--fs", type=int, help="output sample rate; overrides the config's fs")
    f.add_argument("--tgt_lang", default="en", help="target language; the other one is the source")
    f.add_argument("--no_pipes", dest="allow_pipes", action="store_false",
                   help="refuse wav.scp pipe entries ('cmd |') instead of running them (untrusted data)")
    add_job_arguments(f)
    f.set_defaults(_data_main=_format)


def main(args: argparse.Namespace) -> int:
    return args._data_main(args)


def _validate(args: argparse.Namespace) -> int:
    from s2s_plugin.data.validate import validate_datadir

    report = validate_datadir(args.dir, tgt_lang=args.tgt_lang, check_audio=args.check_audio,
                              max_problems=args.max_problems, allow_pipes=args.allow_pipes)
    report.raise_if_failed()
    print(report.summary())
    return 0


def _format(args: argparse.Namespace) -> int:
    from s2s_plugin.data.format import format_datadir

    cfg = verb_config(args)  # --fs is the config's fs (config_overrides)
    format_datadir(args.data_dir, args.dump_dir, cfg, tgt_lang=args.tgt_lang, allow_pipes=args.allow_pipes,
                   mode=job_mode(args))
    return 0


def config_overrides(args: argparse.Namespace) -> list[str]:
    """Overrides the command's own options make (``--fs``): they win over the config and its overrides."""
    return [f"fs={args.fs}"] if getattr(args, "fs", None) is not None else []
