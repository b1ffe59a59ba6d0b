"""Argument parsing shared by the ``s2s`` verbs."""
from __future__ import annotations

import argparse


class IntermixedParser(argparse.ArgumentParser):
    """Accepts positionals (``KEY=VALUE`` overrides) after options.

    ``s2s data format IN OUT --config c.yaml max_duration=30``: plain argparse
    takes every positional in the first run of them, so an override after an
    option is "unrecognized"; intermixed parsing fixes that. Parsers whose
    positionals cannot be intermixed (``nargs=REMAINDER``, as in ``s2s launch``)
    parse as usual. Nested subparsers inherit the class.
    """

    _intermixed = False

    def parse_known_args(self, args=None, namespace=None):
        if self._intermixed:  # parse_known_intermixed_args calls back into parse_known_args
            return super().parse_known_args(args, namespace)
        self._intermixed = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        except TypeError:  # REMAINDER or a subparser positional: argparse refuses to intermix these
            return super().parse_known_args(args, namespace)
        finally:
            self._intermixed = False
