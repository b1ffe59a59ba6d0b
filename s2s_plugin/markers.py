"""Done markers of the recipe stages: written last, they say what a stage's result was made from.

    # s2st.sh, around one stage (the stage's work runs only when begin prints "run"):
    s2s marker begin dump/train_fr/.done.stage2 --stage 2 --input data/train_fr/.done.stage1 \\
        --config format_conf=conf/format.yaml --opt tgt_lang=en --clean dump/train_fr
    # -> "skip", or "run" and the record (one line of JSON) that the shell keeps
    ...                                                   # the stage's work
    echo "$record" | s2s marker end dump/train_fr/.done.stage2   # the marker, written last

A marker is a small YAML file. Its ``key`` is the SHA-256 of what the stage
ran with: its options (``--opt NAME=VALUE``), its configs (``--config
NAME=FILE``, parsed, so comments and layout do not count; a path the recipe
leaves empty is recorded as null), digests of the data files it reads
(``--data DIR``: the top-level files of a data dir) and the keys of its input
stages' markers (``--input MARKER``). A stage's key changes when any of these
changes, and so do the keys of the stages after it. Resources that do not
change a result (``--nj``, GPUs, processes) are left out.

``begin`` first checks every input marker exists: one that does not means its
stage did not complete, and the error names the marker, the stage that writes
it and the command that completes it. (``--input_if_used MARKER`` is an input
only when a config names the marker's directory, e.g. ``exp/ctc`` in a units
config.) Then:

- no marker, or ``--force true``: the marker is removed *before* the work
  starts, the temporary files a killed run left under ``--clean DIR`` are
  removed, and ``run`` is printed with the record (the caller keeps it: no
  file is left behind by a stage that fails or is killed);
- a marker with the same key: ``skip``;
- a marker with another key: with ``--on_change rerun`` the stage runs again
  (a log line names what changed); with ``--on_change refuse`` it stops with an
  error naming each changed option, config key, data file or input, and the
  command that redoes the stage (``--force true``). The recipe refuses for the
  stages that train or fit a model (3, the k-means fit of 4, 7, 8, the vocoder
  fit of 10, the scoring ASR of 11), whose result a rerun would overwrite, and
  reruns the others.

A training stage resumes from its checkpoints when it is run again after a
kill. That is right only if the run that wrote them had this run's key: a
running stage keeps its key in ``<marker>.running`` (removed by ``end``), and
``begin`` removes the dirs given as ``--fresh DIR`` (the stage's resume state,
e.g. ``exp/s2st_x/checkpoints``) when the stage is forced, when its marker has
another key, or when ``<marker>.running`` holds another key: a forced or
changed stage starts afresh instead of finishing the old run.

``end`` writes the record as the marker (under a temporary name, renamed),
so a marker exists only for a stage that completed.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import logging
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from s2s_plugin.data.io import PathLike, atomic_write, remove_orphan_temps
from s2s_plugin.errors import ConfigError, StageError

logger = logging.getLogger(__name__)

_STAGE = re.compile(r"\.done\.stage(\d+)")


@dataclass
class StageSpec:
    """What a stage runs with: the parts of its marker's key.

    Example::

        spec = StageSpec(stage=2, options={"fs": "16000"}, configs={"format_conf": "conf/format.yaml"},
                         data=["data/train_fr"], inputs=["data/train_fr/.done.stage1"])

    Attributes:
        stage: the stage number (for messages and the commands they suggest).
        options: option name -> value as the recipe passes it.
        configs: name -> config file ("" or None: no config).
        overrides: ``NAME.KEY.SUBKEY`` -> value (YAML) set in config NAME; an empty value is not given.
        paths: recipe paths the stage's verb gets (``ctc_exp`` -> ``exp/ctc``), filled into every config's
            blocks whose plugins take them, as the verb fills them (``s2s_plugin.config.fill_recipe_paths``).
        data: dirs whose top-level files the stage reads (their digests go into the key).
        inputs: markers of input stages that must exist (their keys go into the key).
        inputs_if_used: markers that are inputs only when a config names their directory.
    """

    stage: int
    options: dict[str, str] = field(default_factory=dict)
    configs: dict[str, str | None] = field(default_factory=dict)
    overrides: dict[str, str] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)
    data: list[str] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    inputs_if_used: list[str] = field(default_factory=list)


def marker_key(path: PathLike) -> str:
    """The key recorded in a marker (the first line of a marker an older s2st.sh wrote)."""
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("key"), str):
        return data["key"]
    return text.splitlines()[0] if text else ""


def read_marker(path: PathLike) -> dict[str, Any] | None:
    """A marker's record, or None for a marker an older s2st.sh wrote (no record of its options)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8", errors="replace"))
    except yaml.YAMLError:
        return None
    return data if isinstance(data, dict) and "key" in data else None


def producing_stage(marker: PathLike) -> int | None:
    """The stage that writes ``marker`` (``.done.stage<N>[.name]``)."""
    m = _STAGE.search(Path(marker).name)
    return int(m.group(1)) if m else None


def _configs(spec: StageSpec) -> dict[str, Any]:
    """The configs of ``spec``, parsed, with its overrides and recipe paths applied."""
    from s2s_plugin.config import fill_recipe_paths, load_yaml

    configs = {}
    for name, path in sorted(spec.configs.items()):
        try:
            configs[name] = load_yaml(path) if path else None
        except ConfigError as e:
            raise ConfigError(f"stage {spec.stage} ({name}): {e}") from None
    for dotted, value in spec.overrides.items():
        name, _, key = dotted.partition(".")
        if name not in configs or not key:
            raise ConfigError(f"override {dotted}: name a config of the stage ({', '.join(configs)}) and a key")
        if value == "":
            continue
        node = configs[name] = configs[name] if isinstance(configs[name], dict) else {}
        *parents, last = key.split(".")
        for k in parents:
            if not isinstance(node.get(k), dict):
                node[k] = {}
            node = node[k]
        node[last] = yaml.safe_load(value)
    for config in configs.values():
        fill_recipe_paths(config, spec.paths)
    return configs


def dir_digest(path: PathLike) -> dict[str, str]:
    """SHA-256 of each top-level file of a data dir (dot files left out).

    Raises:
        StageError: the directory does not exist.
    """
    path = Path(path)
    if not path.is_dir():
        raise StageError(f"{path}: data directory not found")
    out = {}
    for f in sorted(path.iterdir()):
        if f.is_file() and not f.name.startswith("."):
            h = hashlib.sha256()
            with open(f, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
            out[f.name] = h.hexdigest()
    return out


def _names_dir(value: Any, d: Path) -> bool:
    """A config value (nested) that is ``d`` or a path under it."""
    if isinstance(value, Mapping):
        return any(_names_dir(v, d) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_names_dir(v, d) for v in value)
    if isinstance(value, str) and value:
        p = Path(os.path.normpath(value))
        return p == d or d in p.parents
    return False


def _check_inputs(spec: StageSpec, configs: dict[str, Any], run_cmd: str) -> list[str]:
    """The input markers of ``spec`` (those of ``inputs_if_used`` a config names); all must exist."""
    used = [m for m in spec.inputs_if_used
            if _names_dir(configs, Path(os.path.normpath(os.path.dirname(m))))]
    inputs = list(dict.fromkeys(spec.inputs + used))
    for m in inputs:
        if not Path(m).is_file():
            n = producing_stage(m)
            which = f"stage {n}" if n is not None else "the stage that writes it"
            how = f"; complete it with:\n  {run_cmd} --stage {n} --stop_stage {n}" if n is not None else ""
            raise StageError(f"stage {spec.stage} needs {m}, the done marker {which} writes when it completes, "
                             f"and it is missing: {which} did not run or did not finish{how}")
    return inputs


def make_record(spec: StageSpec, run_cmd: str = "./run.sh") -> dict[str, Any]:
    """The marker record of ``spec`` now: its parts and their key.

    Raises:
        StageError: a missing input marker or data dir.
        ConfigError: a config that does not load.
    """
    configs = _configs(spec)
    inputs = _check_inputs(spec, configs, run_cmd)
    parts = {"stage": spec.stage, "options": dict(sorted(spec.options.items())), "configs": configs,
             "data": {d: dir_digest(d) for d in spec.data}, "inputs": {m: marker_key(m) for m in inputs}}
    key = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode("utf-8")).hexdigest()
    return {"key": key, **parts}


def _flat(value: Any, prefix: str) -> dict[str, Any]:
    if isinstance(value, Mapping) and (value or not prefix):
        out = {}
        for k, v in value.items():
            out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


def changes(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[str]:
    """What differs between two records, one phrase each (``option fs: 16000 -> 8000``)."""
    if old is None:
        return ["the marker was written by an older s2st.sh, without a record of its options"]
    out = []
    for section, what in (("options", "option"), ("configs", "config"), ("data", "data file"),
                          ("inputs", "input")):
        a, b = _flat(old.get(section) or {}, ""), _flat(new.get(section) or {}, "")
        for name in sorted(set(a) | set(b)):
            if a.get(name, "(none)") != b.get(name, "(none)"):
                if section == "inputs":
                    out.append(f"input {name}: its stage ran again with other options or inputs")
                elif section == "data":
                    out.append(f"data file {name} changed")
                else:
                    out.append(f"{what} {name}: {_show(a.get(name, '(none)'))} -> {_show(b.get(name, '(none)'))}")
    return out or ["its record differs (stage number)"]


def _show(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) or not value or " " in value else value


def _now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def running_path(marker: PathLike) -> Path:
    """``<marker>.running``: the key of a stage that started and has not completed."""
    marker = Path(marker)
    return marker.with_name(marker.name + ".running")


def begin(marker: PathLike, spec: StageSpec, force: bool = False, on_change: str = "rerun",
          clean: Sequence[PathLike] = (), run_cmd: str = "./run.sh",
          fresh: Sequence[PathLike] = ()) -> dict[str, Any] | None:
    """Decide whether a stage runs; when it does, remove its marker first.

    ``fresh``: the stage's resume state (checkpoint dirs), removed before the work when the
    stage is forced or its marker, or an unfinished run's ``<marker>.running``, has another key.

    Returns:
        The record to give :func:`end` once the stage completed, or None: its marker is
        current, skip the stage.

    Raises:
        StageError: a missing input (naming its stage and the command that completes it), or
            changed options with ``on_change="refuse"`` (naming each change and how to force).
        ConfigError: a config that does not load, or an unknown ``on_change``.
    """
    if on_change not in ("rerun", "refuse"):
        raise ConfigError(f"--on_change must be rerun or refuse, got {on_change!r}")
    marker = Path(marker)
    record = make_record(spec, run_cmd)
    stale = force
    if marker.is_file() and not force:
        old = read_marker(marker)
        if old is not None and old.get("key") == record["key"]:
            return None
        stale = True
        what = "; ".join(changes(old, record))
        if on_change == "refuse":
            raise StageError(f"stage {spec.stage}: {marker} was made with other options or inputs than this run "
                             f"gives ({what}). Its result is kept. To redo the stage with this run's options, "
                             f"overwriting it:\n  {run_cmd} --stage {spec.stage} --stop_stage {spec.stage} "
                             f"--force true\nor run with the options it was made with.")
        logger.info("stage %d: %s is out of date (%s); running the stage again", spec.stage, marker, what)
    marker.unlink(missing_ok=True)  # before the work: a killed run leaves no marker behind
    for d in clean:
        for tmp in remove_orphan_temps(d):
            logger.info("stage %d: removed %s, left by a run that was killed", spec.stage, tmp)
    running = running_path(marker)
    if running.is_file() and running.read_text(encoding="utf-8").strip() != record["key"]:
        stale = True  # a killed run with other options or inputs: its checkpoints are not this run's
    for d in fresh:
        if stale and Path(d).exists():
            shutil.rmtree(d)
            logger.info("stage %d: removed %s, the resume state of a run with other options or inputs%s",
                        spec.stage, d, " (--force true)" if force else "")
    if fresh:
        running.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(running) as f:
            f.write(record["key"] + "\n")
    record["started"] = _now()
    return record


def end(marker: PathLike, record: Mapping[str, Any]) -> dict[str, Any]:
    """Write the marker of a stage that completed, from the record :func:`begin` returned.

    Raises:
        StageError: not a record from :func:`begin`.
    """
    if not isinstance(record, Mapping) or not isinstance(record.get("key"), str) or "started" not in record:
        raise StageError(f"{marker}: no record of the stage's start; `s2s marker begin` must come first")
    record = {**record, "finished": _now()}
    with atomic_write(marker) as f:  # the marker exists only once complete
        yaml.safe_dump(record, f, sort_keys=False)
    running_path(marker).unlink(missing_ok=True)
    return record


__all__ = ["StageSpec", "begin", "end", "make_record", "changes", "marker_key", "read_marker",
           "dir_digest", "producing_stage"]
