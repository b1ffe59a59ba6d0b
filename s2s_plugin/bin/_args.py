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
    """``--nj N`` with ``--job J | --merge | --cmd RUNNER``: the parallel job options of a sharded stage verb.

    Job J of N handles the contiguous part J of the sorted utterance ids
    (``utils/split_scp.sh``'s contract); ``--merge`` combines the N finished jobs;
    ``--cmd`` runs the whole stage: the N jobs through a job runner, then the merge;
    none of them: the N jobs one after another in this process, then the merge.
    Read the values with :func:`job_mode` (:mod:`s2s_plugin.jobs`).
    """
    parser.add_argument("--nj", type=int, default=1, help="number of jobs the utterances are split into")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--job", type=int, help="run only job J (1-based) of --nj, as a job runner does")
    mode.add_argument("--merge", action="store_true", help="combine the --nj finished jobs")
    mode.add_argument("--cmd", metavar="RUNNER",
                      help="the whole stage in one call: run the --nj jobs through this job runner (the "
                           "recipe's ${cmd}, e.g. 'utils/run.pl' or 'utils/slurm.pl --config conf/slurm.conf'), "
                           "each a copy of this command with --job JOB, then check and merge them")


def job_mode(args: argparse.Namespace):
    """The :class:`s2s_plugin.jobs.JobMode` of a verb's ``--nj/--job/--merge/--cmd`` (a ConfigError when bad)."""
    from s2s_plugin.jobs import JobMode

    return JobMode(args.nj, args.job, args.merge, args.cmd, getattr(args, "_argv", ()))
