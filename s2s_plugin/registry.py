"""The plugin registry: find components by kind and name, build them from config.

Usage::

    from s2s_plugin.registry import get_registry

    reg = get_registry()
    sched = reg.build("interleave_scheduler", {"name": "step", "every": 300})
    reg.infos("interleave_scheduler")["step"].provider   # 's2s_plugin'

Built-in components and third-party packages register through the same
pluggy hooks (``s2s_plugin/hookspecs.py``). Third-party plugin modules are
found through the entry-point group ``s2s_plugin``; set the environment
variable ``S2S_PLUGIN_DISABLE_ENTRYPOINTS=1`` to ignore them (the test suite
does, so packages installed on a machine never leak into it).
"""
from __future__ import annotations

import difflib
import importlib
import inspect
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pluggy

from s2s_plugin import __version__, hookspecs
from s2s_plugin.errors import PluginError

PROJECT = "s2s_plugin"
ENTRYPOINT_GROUP = "s2s_plugin"
DISABLE_ENV = "S2S_PLUGIN_DISABLE_ENTRYPOINTS"

#: Modules of this package that implement hooks (built-ins are plugins too).
#: Each concern adds its module here when it provides components.
BUILTIN_PLUGIN_MODULES: tuple[str, ...] = (
    "s2s_plugin.interleave.schedulers",
    "s2s_plugin.units",
    "s2s_plugin.llm",
    "s2s_plugin.asr",
    "s2s_plugin.align",
    "s2s_plugin.vocoder",
    "s2s_plugin.quality",
)


@dataclass(frozen=True)
class PluginInfo:
    """One registered component: what ``s2s plugins`` prints."""

    kind: str
    name: str
    cls: type
    provider: str
    version: str

    @property
    def qualname(self) -> str:
        return f"{self.cls.__module__}.{self.cls.__qualname__}"


def _closest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    return f"; did you mean '{close[0]}'?" if close else ""


def _check_protocol(kind: str, klass: type, provider: str, version: str) -> None:
    """Refuse a class that lacks a method its kind's protocol (``s2s_plugin.protocols``) requires."""
    from s2s_plugin.protocols import PROTOCOLS, required_methods

    protocol = PROTOCOLS.get(kind)
    if protocol is None:
        return
    missing = [m for m in required_methods(protocol) if not callable(getattr(klass, m, None))]
    if missing:
        raise PluginError(f"{provider} {version}: {kind} '{getattr(klass, 'name', klass)}' "
                          f"({klass.__module__}.{klass.__qualname__}) lacks {', '.join(missing)}, which "
                          f"s2s_plugin.protocols.{protocol.__name__} requires; add them to the class")


class Registry:
    """Components of every kind, from built-ins and plugin packages.

    Args:
        pm: the pluggy plugin manager holding the hook implementations.
    """

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm
        self._cache: dict[str, dict[str, PluginInfo]] = {}

    @classmethod
    def create(cls, entrypoints: bool | None = None) -> Registry:
        """Build a registry with the built-ins and (optionally) entry-point plugins.

        Args:
            entrypoints: load third-party plugins from the ``s2s_plugin``
                entry-point group; default: unless ``S2S_PLUGIN_DISABLE_ENTRYPOINTS`` is set.
        """
        pm = pluggy.PluginManager(PROJECT)
        pm.add_hookspecs(hookspecs)
        for modname in BUILTIN_PLUGIN_MODULES:
            pm.register(importlib.import_module(modname), name=modname)
        if entrypoints is None:
            entrypoints = not os.environ.get(DISABLE_ENV)
        if entrypoints:
            pm.load_setuptools_entrypoints(ENTRYPOINT_GROUP)
        reg = cls(pm)
        reg.check_pending()
        return reg

    def check_pending(self) -> None:
        """Refuse hook implementations that match no hook of ours (a misspelt hook would be ignored).

        Raises:
            PluginError: naming the package, the hook implementation and the closest known hook.
        """
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError:
            known = sorted(hookspecs.KINDS.values())
            for name, caller in sorted(vars(self.pm.hook).items()):
                if caller.has_spec():
                    continue
                for impl in caller.get_hookimpls():
                    if not impl.optionalhook:
                        provider, version = self._provider(impl.plugin)
                        raise PluginError(
                            f"{provider} {version}: hook implementation '{name}' matches no {PROJECT} hook, so "
                            f"it would never be called{_closest(name, known)} Known hooks: {', '.join(known)}. "
                            "Rename it in the plugin package (or mark it optionalhook=True).") from None
            raise

    # -- registration -------------------------------------------------------
    def register(self, plugin: object, name: str | None = None) -> None:
        """Register a plugin object (a module or any object with hookimpls).

        Raises:
            PluginError: the plugin implements a hook that does not exist (it is not registered then).
        """
        self.pm.register(plugin, name=name)
        self._cache.clear()
        try:
            self.check_pending()
        except PluginError:
            self.pm.unregister(plugin)
            raise

    def unregister(self, plugin: object) -> None:
        self.pm.unregister(plugin)
        self._cache.clear()

    @contextmanager
    def temporary(self, plugin: object, name: str | None = None) -> Iterator[None]:
        """Register ``plugin`` for the duration of a ``with`` block (tests)."""
        self.register(plugin, name=name)
        try:
            yield
        finally:
            self.unregister(plugin)

    # -- lookup -------------------------------------------------------------
    def _provider(self, plugin: object) -> tuple[str, str]:
        for plug, dist in self.pm.list_plugin_distinfo():
            if plug is plugin:
                return dist.project_name, dist.version
        modname = getattr(plugin, "__name__", "")
        if modname.split(".")[0] == PROJECT:
            return PROJECT, __version__
        name = self.pm.get_name(plugin) or repr(plugin)
        return name, str(getattr(plugin, "__version__", "unknown"))

    def infos(self, kind: str) -> dict[str, PluginInfo]:
        """All components of ``kind``, by name.

        Raises:
            PluginError: ``kind`` is unknown, a class has no ``name``, or two
                providers register the same name.
        """
        if kind not in hookspecs.KINDS:
            raise PluginError(f"unknown plugin kind '{kind}'{_closest(kind, list(hookspecs.KINDS))} "
                              f"Known kinds: {', '.join(hookspecs.KINDS)}")
        if kind in self._cache:
            return self._cache[kind]
        hook = getattr(self.pm.hook, hookspecs.KINDS[kind])
        found: dict[str, PluginInfo] = {}
        # Call each implementation separately so every class knows its provider.
        for impl in reversed(hook.get_hookimpls()):  # registration order
            provider, version = self._provider(impl.plugin)
            for klass in impl.function() or []:
                name = getattr(klass, "name", None)
                if not isinstance(name, str) or not name:
                    raise PluginError(f"{provider}: {kind} class {klass!r} has no string attribute 'name'")
                _check_protocol(kind, klass, provider, version)
                if name in found:
                    prev = found[name]
                    raise PluginError(
                        f"{kind} '{name}' is registered twice: by {prev.provider} {prev.version} "
                        f"({prev.qualname}) and by {provider} {version} "
                        f"({klass.__module__}.{klass.__qualname__}). Uninstall one of the two packages "
                        "or rename one of the plugins.")
                found[name] = PluginInfo(kind, name, klass, provider, version)
        self._cache[kind] = found
        return found

    def get(self, kind: str, name: str) -> PluginInfo:
        """The component ``name`` of ``kind``.

        Raises:
            PluginError: no such name; the message lists the known names.
        """
        infos = self.infos(kind)
        if name not in infos:
            known = sorted(infos)
            raise PluginError(f"unknown {kind} '{name}'{_closest(name, known)} "
                              f"Known {kind} names: {', '.join(known) or '(none)'}. "
                              "Run 's2s plugins' to see every registered component.")
        return infos[name]

    def check(self, kind: str, block: Mapping[str, Any], where: str = "") -> tuple[PluginInfo, dict]:
        """Validate a config block ``{name: ..., **kwargs}`` without building it.

        Args:
            kind: the plugin kind, e.g. ``"interleave_scheduler"``.
            block: the config block.
            where: where the block comes from (file and key), for messages.

        Returns:
            The plugin info and the keyword arguments.

        Raises:
            PluginError: missing/unknown name (naming ``where``), unknown or missing arguments.
        """
        at = f" in {where}" if where else ""
        if not isinstance(block, Mapping) or "name" not in block:
            raise PluginError(f"a {kind} block{at} must be a mapping with a 'name' key, got {block!r}")
        try:
            info = self.get(kind, str(block["name"]))
        except PluginError as e:
            if where:
                raise PluginError(f"{where}: {e}") from None
            raise
        kwargs = {k: v for k, v in block.items() if k != "name"}
        sig = inspect.signature(info.cls)
        params = sig.parameters
        takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
        accepted = [n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        if not takes_any:
            for key in kwargs:
                if key not in accepted:
                    raise PluginError(
                        f"{kind} '{info.name}' ({info.provider}) does not accept '{key}'{at}"
                        f"{_closest(key, accepted)} It accepts: {', '.join(accepted) or '(nothing)'}")
        missing = [n for n in accepted
                   if params[n].default is inspect.Parameter.empty and n not in kwargs]
        if missing:
            raise PluginError(f"{kind} '{info.name}' ({info.provider}) needs {', '.join(missing)}{at}")
        return info, kwargs

    def build(self, kind: str, block: Mapping[str, Any], where: str = "") -> Any:
        """Validate a config block and construct the component it names."""
        info, kwargs = self.check(kind, block, where)
        return info.cls(**kwargs)

    def table(self) -> list[PluginInfo]:
        """Every component of every kind, in kind order then name order."""
        return [info for kind in hookspecs.KINDS for _, info in sorted(self.infos(kind).items())]


_REGISTRY: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry (created on first use)."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = Registry.create()
    return _REGISTRY


def reset_registry() -> None:
    """Forget the process-wide registry, so the next use rebuilds it (tests)."""
    global _REGISTRY
    _REGISTRY = None
