"""Argument parsing shared by the ``s2s`` verbs."""
from __future__ import annotations

import argparse
import importlib
import re
from pathlib import Path
from typing import Any


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


#: a dotted override: ``key.subkey=value`` (the value may be empty or hold anything)
_OVERRIDE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*=")


def add_overrides(parser: argparse.ArgumentParser, example: str) -> None:
    """The trailing ``KEY=VALUE`` dotted config overrides of a verb that reads ``--config``.

    Read them with :func:`take_overrides` (or :func:`verb_config`, which also loads the config).
    """
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help=f"dotted overrides of the config, after the options, e.g. {example}")


def add_recipe_path(parser: argparse.ArgumentParser, name: str) -> None:
    """``--<name> DIR``: a path the recipe knows (a name of ``s2s_plugin.config.RECIPE_PATHS``), given to the
    config's blocks whose plugins take it (:func:`verb_config`)."""
    from s2s_plugin.config import RECIPE_PATHS

    parser.add_argument(f"--{name}", default=None, metavar="DIR",
                        help=f"{RECIPE_PATHS[name]}: given to the config's blocks whose plugins read it and do not "
                             "name it (e.g. ctc_kmeans's exp_dir, ctc_segmentation's model); s2st.sh passes it")


def take_overrides(args: argparse.Namespace) -> list[str]:
    """The verb's dotted overrides: ``args.overrides`` plus the ``KEY=VALUE`` words a list option took.

    ``--dirs dump/a dump/b max_epoch=5`` hands ``max_epoch=5`` to ``--dirs`` (argparse cannot tell), so
    such words (those that are not existing paths) move from every list option to the overrides; then
    the verb's own options that set config keys (the module's ``config_overrides(args)``, e.g. ``--vocab``)
    come last and win. ``args.overrides`` is set to the result.

    Raises:
        ConfigError: a word among the overrides that is not ``key.subkey=value``.
    """
    from s2s_plugin.errors import ConfigError

    overrides = list(getattr(args, "overrides", None) or [])
    for name, values in vars(args).items():
        if name == "overrides" or name.startswith("_") or not isinstance(values, list):
            continue  # "_argv" (main's command line, which --cmd repeats per job) is no option
        moved = [v for v in values if isinstance(v, str) and _OVERRIDE.match(v) and not Path(v).exists()]
        if moved:
            overrides += moved
            setattr(args, name, [v for v in values if v not in moved] or None)
    for word in overrides:
        if not _OVERRIDE.match(str(word)):
            raise ConfigError(f"override {str(word)!r} must look like key.subkey=value (a dotted key of the "
                              "config, e.g. optim.lr=1e-4), given after the options")
    args.overrides = overrides
    module = getattr(args, "_module", None)
    return overrides + list(getattr(module, "config_overrides", lambda a: [])(args))


def verb_config(args: argparse.Namespace) -> Any:
    """The verb's config: ``--config`` (the schema's defaults without one) with :func:`take_overrides` applied,
    then the recipe paths the verb was given (``--ctc_exp``; :func:`add_recipe_path`) in the blocks whose
    plugins take them and do not set them.

    The schema is the one the verb declares in its module's ``CONFIG_SCHEMAS``; ``--print_config``
    prints what this returns, so it shows what the verb runs with.

    Raises:
        ConfigError, PluginError: see :func:`s2s_plugin.config.from_dict`.
    """
    from s2s_plugin.config import RECIPE_PATHS, apply_overrides, fill_recipe_paths, from_dict, load_yaml

    module_name, _, cls_name = args._schema.partition(":")
    schema = getattr(importlib.import_module(module_name), cls_name)
    overrides = take_overrides(args)
    config = getattr(args, "config", None)
    data = apply_overrides(load_yaml(config) if config else {}, overrides)
    fill_recipe_paths(data, {name: getattr(args, name, None) for name in RECIPE_PATHS})
    return from_dict(schema, data, where=str(config or f"the {cls_name} defaults"))
