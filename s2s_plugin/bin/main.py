"""The ``s2s`` command: dispatches to the verb modules of ``s2s_plugin.bin``.

    s2s --help              # list the verbs
    s2s plugins             # every registered component
    s2s schedule conf/scheduler.yaml --steps 0 299 300 2700

Errors caused by input (configs, data, plugin names) are printed as one
message without a traceback and exit with status 2; ``--debug`` shows the
traceback.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

import s2s_plugin.bin as bin_pkg
from s2s_plugin.bin._args import IntermixedParser
from s2s_plugin import __version__
from s2s_plugin.errors import S2SError


def _verb_modules():
    for mod in sorted(pkgutil.iter_modules(bin_pkg.__path__), key=lambda m: m.name):
        if mod.name.startswith("_") or mod.name == "main":
            continue
        module = importlib.import_module(f"{bin_pkg.__name__}.{mod.name}")
        if hasattr(module, "COMMAND"):
            yield module


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="s2s", description="s2s_plugin: speech-to-speech translation with LLMs and "
                                "scheduled interleaved speech-text training.")
    parser.add_argument("--version", action="version", version=f"s2s_plugin {__version__}")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument("--debug", action="store_true", help="show tracebacks of input errors")
    sub = parser.add_subparsers(dest="command", metavar="VERB", required=True, parser_class=IntermixedParser)
    for module in _verb_modules():
        p = sub.add_parser(module.COMMAND, help=module.HELP, description=module.__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
        p.set_defaults(_main=module.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s")
    try:
        return int(args._main(args) or 0)
    except S2SError as e:
        if args.debug:
            raise
        print(f"s2s {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
