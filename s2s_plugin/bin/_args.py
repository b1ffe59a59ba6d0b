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


def add_job_arguments(parser: argparse.ArgumentParser) -> None:
    """``--nj N`` with ``--job J | --merge``: the Kaldi-style parallel job options of a stage verb.

    Job J of N handles the contiguous part J of the sorted utterance ids
    (``utils/split_scp.sh``'s contract); ``--merge`` combines the N finished jobs.
    Check the values with :func:`check_job_arguments`.
    """
    parser.add_argument("--nj", type=int, default=1, help="number of jobs the utterances are split into")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--job", type=int, help="run only job J (1-based) of --nj")
    mode.add_argument("--merge", action="store_true", help="combine the --nj finished jobs")


def check_job_arguments(args: argparse.Namespace) -> None:
    """Raise a ConfigError for ``--nj`` < 1 or a ``--job`` outside 1..``--nj``."""
    from s2s_plugin.errors import ConfigError

    if args.nj < 1:
        raise ConfigError(f"--nj must be >= 1, got {args.nj}")
    if args.job is not None and not 1 <= args.job <= args.nj:
        raise ConfigError(f"--job must be in 1..{args.nj} (--nj), got {args.job}")
