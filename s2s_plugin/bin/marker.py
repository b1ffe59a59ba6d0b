"""The done markers of the recipe stages (s2st.sh calls these around each stage).

    s2s marker begin MARKER --stage N [--opt NAME=VALUE ...] [--config NAME=FILE ...]
        [--override NAME.KEY=VALUE ...] [--path NAME=DIR ...] [--data DIR ...]
        [--input MARKER ...] [--input_if_used MARKER ...] [--on_change rerun|refuse] [--force true|false]
        [--clean DIR ...] [--run_cmd CMD]            # prints skip, or run and the record
    echo "$record" | s2s marker end MARKER           # the stage completed: write its marker

`begin` prints `skip` (the marker holds the key of these options and inputs),
or `run` (the marker was removed, before any work; orphan temporary files
under --clean were removed) and on a second line the record, one line of
JSON, that `end` reads from its standard input once the stage completed. A missing input marker, or changed options
with --on_change refuse, is an error (exit 2) naming what to run.
See s2s_plugin/markers.py for what goes into the key.
"""
from __future__ import annotations

import argparse

COMMAND = "marker"
HELP = "done markers of the recipe stages: begin (run or skip), end"


def _pairs(values: list[str], option: str) -> dict[str, str]:
    from s2s_plugin.errors import ConfigError

    out = {}
    for v in values:
        name, sep, value = v.partition("=")
        if not sep or not name:
            raise ConfigError(f"{option} takes NAME=VALUE, got {v!r}")
        out[name] = value
    return out


def _spec_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stage", type=int, required=True, help="the stage number (for messages)")
    p.add_argument("--opt", action="append", default=[], metavar="NAME=VALUE", help="an option of the stage")
    p.add_argument("--config", action="append", default=[], metavar="NAME=FILE",
                   help="a config of the stage (parsed; an empty FILE: none)")
    p.add_argument("--override", action="append", default=[], metavar="NAME.KEY=VALUE",
                   help="a value set in config NAME (an empty VALUE: not given)")
    p.add_argument("--path", action="append", default=[], metavar="NAME=DIR",
                   help="a path the recipe passes to the stage's verb (e.g. ctc_exp=exp/ctc), given to the config "
                        "blocks whose plugins take it, as the verb does (s2s_plugin.config.fill_recipe_paths)")
    p.add_argument("--data", action="append", default=[], metavar="DIR",
                   help="a data dir whose top-level files the stage reads")
    p.add_argument("--input", action="append", default=[], metavar="MARKER",
                   help="the marker of an input stage: it must exist")
    p.add_argument("--input_if_used", action="append", default=[], metavar="MARKER",
                   help="an input only when a config names the marker's directory")
    p.add_argument("--run_cmd", default="./run.sh", help="the command the messages suggest, without --stage")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="marker_command", metavar="SUBCOMMAND", required=True)
    b = sub.add_parser("begin", help="print run (marker removed) or skip (marker current)")
    b.add_argument("marker", metavar="MARKER", help="the done marker of the stage, e.g. dump/train_fr/.done.stage2")
    _spec_arguments(b)
    b.add_argument("--on_change", default="rerun", choices=["rerun", "refuse"],
                   help="a marker made with other options or inputs: run again, or stop with an error")
    b.add_argument("--force", default="false", choices=["true", "false"], help="run even with a current marker")
    b.add_argument("--clean", action="append", default=[], metavar="DIR",
                   help="remove the temporary files a killed run left under DIR before running")
    b.add_argument("--fresh", action="append", default=[], metavar="DIR",
                   help="the stage's resume state (e.g. its checkpoints dir): removed before running when the "
                        "stage is forced or was last started or completed with other options or inputs, so it "
                        "starts afresh instead of resuming another run")
    e = sub.add_parser("end", help="the stage completed: write its marker from the record begin printed "
                                   "(read from standard input)")
    e.add_argument("marker", metavar="MARKER", help="the done marker to write (the one begin was given)")


def _spec(args: argparse.Namespace):
    from s2s_plugin.markers import StageSpec

    return StageSpec(stage=args.stage, options=_pairs(args.opt, "--opt"),
                     configs=_pairs(args.config, "--config"),
                     overrides=_pairs(args.override, "--override"), paths=_pairs(args.path, "--path"),
                     data=args.data, inputs=args.input,
                     inputs_if_used=args.input_if_used)


def main(args: argparse.Namespace) -> int:
    import json
    import sys

    from s2s_plugin import markers
    from s2s_plugin.errors import StageError

    if args.marker_command == "begin":
        record = markers.begin(args.marker, _spec(args), force=args.force == "true", on_change=args.on_change,
                               clean=args.clean, run_cmd=args.run_cmd, fresh=args.fresh)
        print("skip" if record is None else "run\n" + json.dumps(record, separators=(",", ":")))
    elif args.marker_command == "end":
        try:
            record = json.loads(sys.stdin.read())
        except ValueError:
            raise StageError(f"{args.marker}: no record on standard input; give it the second line "
                             f"`s2s marker begin` printed") from None
        markers.end(args.marker, record)
    return 0
