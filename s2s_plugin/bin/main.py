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


LOG_LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR"]


def _add_common(parser: argparse.ArgumentParser, top: bool) -> None:
    """``--log_level`` and ``--debug``, before the verb (top) or after it (every verb's own parser)."""
    default = {} if top else {"default": argparse.SUPPRESS}   # after the verb: set only when given
    parser.add_argument("--log_level", choices=LOG_LEVELS, help="logging level (default: INFO)",
                        **({"default": "INFO"} if top else default))
    parser.add_argument("--debug", action="store_true", help="show tracebacks of input errors", **default)


def leaf_parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """Every parser that parses a command line to its end: ``(("data", "validate"), parser)``, ..."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
    for sub in subs:
        for name, child in sub.choices.items():
            yield from leaf_parsers(child, path + (name,))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="s2s", description="s2s_plugin: speech-to-speech translation with LLMs and "
                                "scheduled interleaved speech-text training.")
    parser.add_argument("--version", action="version", version=f"s2s_plugin {__version__}")
    _add_common(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="VERB", required=True, parser_class=IntermixedParser)
    modules = {}
    for module in _verb_modules():
        modules[module.COMMAND] = module
        p = sub.add_parser(module.COMMAND, help=module.HELP, description=module.__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
        p.set_defaults(_main=module.main)
    for path, leaf in leaf_parsers(parser):
        if path:
            _add_common(leaf, top=False)
            module = modules[path[0]]
            schema = getattr(module, "CONFIG_SCHEMAS", {}).get(" ".join(path[1:]))
            if schema is not None:
                leaf.add_argument("--print_config", action="store_true",
                                  help="print the resolved config (the file, overrides, every default and the "
                                       "selected plugins' defaults) as YAML and exit")
                leaf.set_defaults(_schema=schema, _module=module)
    return parser


def print_config(args: argparse.Namespace) -> int:
    """``--print_config``: load the verb's config as the verb would, print it resolved, run nothing."""
    import yaml

    from s2s_plugin.bin._args import verb_config
    from s2s_plugin.config import resolved_dict

    cfg = verb_config(args)
    sys.stdout.write(yaml.safe_dump(resolved_dict(cfg), sort_keys=False, allow_unicode=True))
    return 0


def underscored(argv: list[str], parser: argparse.ArgumentParser) -> list[str]:
    """Options spelled with hyphens (``--max-problems``) as their underscore names (``--max_problems``).

    The underscore spelling is the one every verb documents (as ESPnet spells options);
    a hyphenated one is a hidden alias, rewritten only where it names no option itself.
    Nothing after a bare ``--`` is touched.
    """
    known = {o for _, leaf in leaf_parsers(parser) for a in leaf._actions for o in a.option_strings}
    known |= {o for a in parser._actions for o in a.option_strings}
    out = []
    for i, word in enumerate(argv):
        if word == "--":
            return out + argv[i:]
        name, eq, value = word.partition("=")
        if name.startswith("--") and "-" in name[2:] and name not in known:
            alias = "--" + name[2:].replace("-", "_")
            if alias in known:
                word = alias + eq + value
        out.append(word)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    words = underscored(list(sys.argv[1:] if argv is None else argv), parser)
    args = parser.parse_args(words)
    args._argv = words  # a sharded verb's --cmd runs its jobs as this command line with --job JOB
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s")
    try:
        if getattr(args, "print_config", False):
            return print_config(args)
        return int(args._main(args) or 0)
    except S2SError as e:
        if args.debug:
            raise
        print(f"s2s {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
