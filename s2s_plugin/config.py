"""Strict YAML configs with dotted command-line overrides.

A stage's config is a dataclass (its schema). Loading checks everything
before any work starts: duplicate YAML keys, unknown keys (with the closest
known key), missing required keys, value types, and component blocks
``{name: ..., **kwargs}`` against the plugin registry (components declared
with ``build_check=True``, the interleaving schedulers, are built once, so
their own value checks run too)::

    @dataclass
    class ScheduleConfig:
        scheduler: dict = component("interleave_scheduler")
        total_steps: int = 3000

    cfg = load_config(ScheduleConfig, "conf/scheduler.yaml", ["scheduler.every=100"])

Overrides are ``dotted.key=value`` with the value parsed as YAML
(``scheduler.p_init=0.8``, ``sides=[src,tgt]``, ``name=null``).
"""
from __future__ import annotations

import dataclasses
import difflib
import io
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from s2s_plugin.errors import ConfigError

T = TypeVar("T")


class _StrictLoader(yaml.SafeLoader):
    """A SafeLoader that refuses duplicate keys in a mapping."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, yaml.Mark] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            raise ConfigError(f"{key_node.start_mark.name}:{key_node.start_mark.line + 1}: a key must be a plain "
                              f"value (a name or number), got a {type(key).__name__}") from None
        if key in seen:
            first = seen[key]
            raise ConfigError(f"{key_node.start_mark.name}:{key_node.start_mark.line + 1}: duplicate key "
                              f"'{key}' (first defined at line {first.line + 1}); keep one of them")
        seen[key] = key_node.start_mark
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Load a YAML mapping, refusing duplicate keys.

    Raises:
        ConfigError: missing file, text that is not UTF-8, YAML syntax error, a key that is not a
            plain value, or a duplicate key (file and line named).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text (byte 0x{raw[e.start]:02x}); save the config as "
                          f"UTF-8") from None
    stream = io.StringIO(text)
    stream.name = str(path)  # the name YAML's marks (and so the duplicate-key message) give
    try:
        data = yaml.load(stream, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: invalid YAML: {e.problem}") from None
    except yaml.YAMLError as e:  # e.g. a ReaderError: a control character YAML does not allow
        raise ConfigError(f"{path}: invalid YAML: {e}") from None
    except RecursionError:
        raise ConfigError(f"{path}: invalid YAML: nested too deeply") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys, got {type(data).__name__}")
    return data


def apply_overrides(cfg: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` overrides (value parsed as YAML) to a nested dict, in place.

    Raises:
        ConfigError: an override without ``=`` or one that descends into a non-mapping.
    """
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} must look like key.subkey=value")
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        node = cfg
        parts = key.split(".")
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {item!r}: '{'.'.join(parts[:i + 1])}' is "
                                  f"{child!r}, not a mapping")
            node = child
        node[parts[-1]] = value
    return cfg


#: the paths a recipe knows and passes to a stage's verb (``s2s units fit --ctc_exp exp/ctc``): name -> meaning
RECIPE_PATHS = {"ctc_exp": "the stage-3 CTC model's exp dir (s2s ctc train / s2s ctc import)"}


def fill_recipe_paths(data: Any, paths: Mapping[str, str | None]) -> Any:
    """Give the component blocks of a loaded config the recipe's paths their plugins ask for, in place.

    A plugin class declares ``recipe_paths = {"<its argument>": "<a name of RECIPE_PATHS>"}`` (the
    ``ctc_kmeans`` tokenizer: ``{"exp_dir": "ctc_exp"}``); every block ``{name: ..., ...}`` of
    ``data``, at any depth, whose plugin declares an argument the block does not set gets the
    recipe's path for it (paths that are ``None`` or empty are not given). So a stage config names
    models and hyperparameters, and the recipe names the paths once; a block that sets the
    argument keeps its value. Returns ``data``.
    """
    paths = {k: v for k, v in paths.items() if v}
    if not paths:
        return data
    if isinstance(data, list):
        for item in data:
            fill_recipe_paths(item, paths)
        return data
    if not isinstance(data, dict):
        return data
    if isinstance(data.get("name"), str):
        for arg, path_name in _declared_paths(data["name"]).items():
            if arg not in data and path_name in paths:
                data[arg] = paths[path_name]
    for value in data.values():
        fill_recipe_paths(value, paths)
    return data


def _declared_paths(name: str) -> dict[str, str]:
    """The ``recipe_paths`` of every registered plugin called ``name`` (of any kind)."""
    from s2s_plugin.hookspecs import KINDS
    from s2s_plugin.registry import get_registry

    declared: dict[str, str] = {}
    for kind in KINDS:
        info = get_registry().infos(kind).get(name)
        if info is not None:
            declared.update(getattr(info.cls, "recipe_paths", None) or {})
    return declared


def component(kind: str, default: Mapping[str, Any] | None = None, optional: bool = False,
              build_check: bool = False) -> Any:
    """A dataclass field holding a plugin block ``{name: ..., **kwargs}`` of ``kind``.

    Args:
        kind: the plugin kind (a key of ``s2s_plugin.hookspecs.KINDS``).
        default: the block used when the config omits the field.
        optional: ``null`` turns the component off.
        build_check: build the component once while the config is loaded, so that the
            plugin's own checks of its values (a ratio outside [0, 1], say) fail then,
            before any work starts. Only for kinds that are cheap to build and have no
            side effects (interleaving schedulers).
    """
    meta = {"kind": kind, "optional": optional, "build_check": build_check}
    if default is None:
        if optional:
            return dataclasses.field(default=None, metadata=meta)
        return dataclasses.field(metadata=meta)
    return dataclasses.field(default_factory=lambda: dict(default), metadata=meta)


def _type_ok(value: Any, tp: Any) -> bool:
    """A light check of ``value`` against a field annotation."""
    if tp is Any or tp is typing.Any:
        return True
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, a) for a in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if origin in (list, tuple):
        args = typing.get_args(tp)
        return isinstance(value, (list, tuple)) and (not args or all(_type_ok(v, args[0]) for v in value))
    if origin is dict:
        return isinstance(value, dict)
    if origin is typing.Literal:
        return value in typing.get_args(tp)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(tp, type):
        return isinstance(value, tp)
    return True


def _coerce_float(value: Any, tp: Any) -> Any:
    """YAML 1.1 reads ``5e-5`` as a string: accept it where a float is expected."""
    wants_float = tp is float or (typing.get_origin(tp) in (typing.Union, types.UnionType)
                                  and float in typing.get_args(tp))
    if wants_float and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def from_dict(schema: type[T], data: Mapping[str, Any], where: str = "config", *, _root: str | None = None) -> T:
    """Build the dataclass ``schema`` from ``data``, strictly.

    Args:
        schema: the config dataclass.
        data: the loaded YAML mapping.
        where: where ``data`` comes from (the file), named in every message.

    Raises:
        ConfigError: unknown key, missing required key or wrong type, naming ``where`` and the key;
            a value a schema's own check (``__post_init__``) refuses, naming ``where``.
        PluginError: a component block with an unknown name or arguments its plugin does not take.
    """
    root = _root or where
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(schema)}
    hints = typing.get_type_hints(schema)
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1, cutoff=0.5)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(f"{where}: unknown key '{key}'{hint} Known keys: {', '.join(fields)}")
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        key_where = f"{where}:{name}"
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{where}: missing required key '{name}'")
            continue
        value = data[name]
        tp = hints[name]
        if "kind" in f.metadata:
            if value is None and f.metadata.get("optional"):
                kwargs[name] = None
                continue
            from s2s_plugin.registry import get_registry

            get_registry().check(f.metadata["kind"], value, key_where)
            if f.metadata.get("build_check"):
                _build_check(f.metadata["kind"], value, key_where)
            kwargs[name] = dict(value)
        elif dataclasses.is_dataclass(tp):
            kwargs[name] = from_dict(tp, value, key_where, _root=root)
        else:
            value = _coerce_float(value, tp)
            if not _type_ok(value, tp):
                raise ConfigError(f"{key_where}: expected {getattr(tp, '__name__', tp)}, got {value!r}")
            kwargs[name] = value
    try:
        return schema(**kwargs)
    except ConfigError as e:  # a __post_init__ check: name the file unless the message does
        if root in str(e):
            raise
        raise ConfigError(f"{root}: {e}") from None
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where}: {e}") from None


def _build_check(kind: str, block: Mapping[str, Any], where: str) -> None:
    """Build a component once so that its own value checks run at config load.

    Raises:
        S2SError: what the plugin raised for its values, naming ``where``; a plain
            ``ValueError`` or ``TypeError`` of a third-party plugin becomes a ConfigError.
    """
    from s2s_plugin.errors import S2SError
    from s2s_plugin.registry import get_registry

    try:
        get_registry().build(kind, block, where)
    except S2SError as e:
        raise type(e)(f"{where}: {e}") from None
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{where}: {kind} '{block.get('name')}' refused its values: {e}") from None


def load_config(schema: type[T], path: str | Path, overrides: Iterable[str] = ()) -> T:
    """Load ``path`` strictly, apply dotted ``overrides``, and validate against ``schema``.

    Raises:
        ConfigError: see :func:`load_yaml` and :func:`from_dict`.
        PluginError: see :func:`from_dict`.
    """
    data = apply_overrides(load_yaml(path), overrides)
    return from_dict(schema, data, where=str(path))


def to_dict(cfg: Any) -> dict[str, Any]:
    """A plain dict of a config dataclass (for saving)."""
    return dataclasses.asdict(cfg)


def save_resolved(cfg: Any, exp_dir: str | Path, name: str = "config.yaml") -> Path:
    """Write the resolved config and the versions of every plugin it can use into ``exp_dir``.

    Writes ``exp_dir/name`` and ``exp_dir/plugins.yaml`` (kind -> name -> provider and version).
    """
    from s2s_plugin.data.io import atomic_write
    from s2s_plugin.registry import get_registry

    exp_dir = Path(exp_dir)
    out = exp_dir / name
    with atomic_write(out) as f:
        yaml.safe_dump(to_dict(cfg) if dataclasses.is_dataclass(cfg) else dict(cfg), f, sort_keys=False)
    versions: dict[str, dict[str, str]] = {}
    for info in get_registry().table():
        versions.setdefault(info.kind, {})[info.name] = f"{info.provider} {info.version}"
    with atomic_write(exp_dir / "plugins.yaml") as f:
        yaml.safe_dump(versions, f, sort_keys=False)
    return out


def _plain(value: Any) -> Any:
    """``value`` as YAML-safe plain data (tuples as lists, other objects as their repr)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return resolved_dict(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Path):
        return str(value)
    return repr(value)


def plugin_block_with_defaults(kind: str, block: Mapping[str, Any]) -> dict[str, Any]:
    """A component block with every constructor default of its plugin filled in (``name`` first)."""
    import inspect

    from s2s_plugin.registry import get_registry

    info = get_registry().get(kind, str(block["name"]))
    defaults = {n: p.default for n, p in inspect.signature(info.cls).parameters.items()
                if p.default is not p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return {"name": block["name"], **_plain(defaults), **_plain({k: v for k, v in block.items() if k != "name"})}


def resolved_dict(cfg: Any) -> dict[str, Any]:
    """A config dataclass as the plain dict a run uses: every default, and every selected plugin's
    constructor defaults filled into its block (what ``--print_config`` prints)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if "kind" in f.metadata and isinstance(value, Mapping) and "name" in value:
            out[f.name] = plugin_block_with_defaults(f.metadata["kind"], value)
        elif dataclasses.is_dataclass(value):
            out[f.name] = resolved_dict(value)
        else:
            out[f.name] = _plain(value)
    return out
