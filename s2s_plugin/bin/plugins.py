"""List every registered plugin: kind, name, providing distribution and version.

    s2s plugins                 # a table
    s2s plugins --json          # machine-readable
    s2s plugins --kind interleave_scheduler

Built-ins are provided by ``s2s_plugin``; third-party packages appear under
their distribution name once installed (entry-point group ``s2s_plugin``).
"""
from __future__ import annotations

import argparse
import json

COMMAND = "plugins"
HELP = "list registered plugins (kind, name, provider, version)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--kind", default=None, help="only this kind (e.g. interleave_scheduler)")


def main(args: argparse.Namespace) -> int:
    from s2s_plugin.registry import get_registry

    reg = get_registry()
    rows = [i for i in reg.table() if args.kind is None or i.kind == args.kind]
    if args.kind is not None:
        reg.infos(args.kind)  # unknown kind -> error listing the kinds
    if args.json:
        print(json.dumps([{"kind": i.kind, "name": i.name, "provider": i.provider, "version": i.version,
                           "class": i.qualname} for i in rows], indent=2))
        return 0
    header = ("kind", "name", "provider", "version", "class")
    table = [header] + [(i.kind, i.name, i.provider, i.version, i.qualname) for i in rows]
    widths = [max(len(r[c]) for r in table) for c in range(len(header))]
    for n, row in enumerate(table):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
    return 0
