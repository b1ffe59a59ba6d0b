"""The plugin registry: lookup, building, and every error it raises."""
from __future__ import annotations

import types

import pytest

from s2s_plugin import hookimpl
from s2s_plugin.errors import PluginError
from s2s_plugin.hookspecs import KINDS
from s2s_plugin.interleave.schedulers import StepScheduler


def _plugin(name: str, hook: str, classes: list[type], version: str = "9.9") -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__version__ = version

    def impl():
        return classes

    impl.__name__ = hook
    setattr(mod, hook, hookimpl(impl))
    return mod


class _SchedulerMethods:
    """What s2s_plugin.protocols.InterleaveScheduler asks of a scheduler class besides value()."""

    def value(self, step: int) -> float:
        return 0.0

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class HalfScheduler(_SchedulerMethods):
    name = "half"

    def __init__(self, p: float = 0.5, *, every: int = 1) -> None:
        self.p, self.every = p, every

    def value(self, step: int) -> float:
        return self.p


def test_builtin_schedulers_are_listed_with_provider(registry):
    infos = registry.infos("interleave_scheduler")
    assert set(infos) >= {"constant", "linear", "step", "cosine"}
    assert infos["step"].cls is StepScheduler
    assert infos["step"].provider == "s2s_plugin"
    assert infos["step"].version == __import__("s2s_plugin").__version__


def test_every_kind_has_a_hook(registry):
    for kind in KINDS:
        assert isinstance(registry.infos(kind), dict)


def test_build_passes_kwargs(registry):
    sched = registry.build("interleave_scheduler", {"name": "step", "every": 100, "p_init": 0.5})
    assert isinstance(sched, StepScheduler)
    assert (sched.every, sched.p_init) == (100, 0.5)


def test_unknown_name_lists_known_and_closest(registry):
    with pytest.raises(PluginError) as e:
        registry.build("interleave_scheduler", {"name": "cosin"})
    msg = str(e.value)
    assert "unknown interleave_scheduler 'cosin'" in msg
    assert "did you mean 'cosine'" in msg
    for known in ("constant", "cosine", "linear", "step"):
        assert known in msg


def test_unknown_kind(registry):
    with pytest.raises(PluginError, match="unknown plugin kind 'vocoders'; did you mean 'vocoder'"):
        registry.infos("vocoders")


def test_unexpected_kwarg_is_error_before_building(registry):
    with pytest.raises(PluginError) as e:
        registry.check("interleave_scheduler", {"name": "step", "evry": 10}, "conf/x.yaml:scheduler")
    msg = str(e.value)
    assert "does not accept 'evry' in conf/x.yaml:scheduler" in msg
    assert "did you mean 'every'" in msg
    assert "p_init" in msg  # lists what it accepts


def test_missing_name_key(registry):
    with pytest.raises(PluginError, match="must be a mapping with a 'name' key"):
        registry.build("interleave_scheduler", {"every": 3})


def test_missing_required_kwarg(registry):
    class NeedsArg(_SchedulerMethods):
        name = "needs"

        def __init__(self, path: str) -> None:
            self.path = path

    with registry.temporary(_plugin("needs_plugin", "register_interleave_schedulers", [NeedsArg])):
        with pytest.raises(PluginError, match="'needs' .* needs path"):
            registry.build("interleave_scheduler", {"name": "needs"})
        assert registry.build("interleave_scheduler", {"name": "needs", "path": "x"}).path == "x"


def test_duplicate_name_names_both_providers(registry):
    class Clash(_SchedulerMethods):
        name = "step"

    plug = _plugin("clashing_pkg", "register_interleave_schedulers", [Clash], version="1.2.3")
    with registry.temporary(plug, name="clashing_pkg"):
        with pytest.raises(PluginError) as e:
            registry.infos("interleave_scheduler")
    msg = str(e.value)
    assert "'step' is registered twice" in msg
    assert "s2s_plugin 0.1.0" in msg and "clashing_pkg 1.2.3" in msg


def test_class_without_name(registry):
    class Nameless:
        pass

    with registry.temporary(_plugin("nameless", "register_vocoders", [Nameless])):
        with pytest.raises(PluginError, match="has no string attribute 'name'"):
            registry.infos("vocoder")


def test_misspelt_hook_is_refused_naming_package_and_closest_hook(registry):
    plug = _plugin("typo_pkg", "register_interleave_scheduler", [HalfScheduler], version="0.3")
    with pytest.raises(PluginError) as e:
        registry.register(plug, name="typo_pkg")
    msg = str(e.value)
    assert "typo_pkg 0.3" in msg and "'register_interleave_scheduler' matches no s2s_plugin hook" in msg
    assert "did you mean 'register_interleave_schedulers'" in msg
    assert registry.pm.get_plugin("typo_pkg") is None          # not left registered
    registry.check_pending()                                  # and the registry is clean again


def test_misspelt_hook_of_an_entry_point_plugin_stops_create(monkeypatch):
    import pluggy

    from s2s_plugin.registry import Registry

    plug = _plugin("ep_pkg", "register_vocoder", [HalfScheduler])
    monkeypatch.setattr(pluggy.PluginManager, "load_setuptools_entrypoints",
                        lambda self, group, name=None: self.register(plug, name="ep_pkg") and 1)
    with pytest.raises(PluginError, match="'register_vocoder' matches no s2s_plugin hook.*register_vocoders"):
        Registry.create(entrypoints=True)


@pytest.mark.parametrize("kind,hook,missing", [
    ("interleave_scheduler", "register_interleave_schedulers", "load_state_dict, state_dict"),
    ("vocoder", "register_vocoders", "load, save, synthesize"),
    ("llm_decoder", "register_llm_decoders", "load_trained"),
])
def test_a_class_without_its_protocols_methods_is_refused(registry, kind, hook, missing):
    class Partial:
        name = "partial"

        def value(self, step):
            return 0.0

        def build(self, vocab):
            return None

    with registry.temporary(_plugin("partial_pkg", hook, [Partial], version="0.1"), name="partial_pkg"):
        with pytest.raises(PluginError) as e:
            registry.infos(kind)
    msg = str(e.value)
    assert f"partial_pkg 0.1: {kind} 'partial'" in msg and f"lacks {missing}, which s2s_plugin.protocols" in msg


def test_builtins_implement_their_protocols(registry):
    from s2s_plugin.protocols import PROTOCOLS

    assert set(PROTOCOLS) == set(KINDS)
    for kind in KINDS:
        assert registry.infos(kind)      # each built-in passed the check when listed


def test_temporary_plugin_is_removed_afterwards(registry):
    plug = _plugin("tmp_pkg", "register_interleave_schedulers", [HalfScheduler])
    with registry.temporary(plug, name="tmp_pkg"):
        info = registry.get("interleave_scheduler", "half")
        assert (info.provider, info.version) == ("tmp_pkg", "9.9")
        built = registry.build("interleave_scheduler", {"name": "half", "every": 3})
        assert built.every == 3
    assert "half" not in registry.infos("interleave_scheduler")


def test_table_is_sorted_by_kind_then_name(registry):
    rows = [(i.kind, i.name) for i in registry.table()]
    kinds = list(KINDS)
    assert rows == sorted(rows, key=lambda r: (kinds.index(r[0]), r[1]))


@pytest.mark.parametrize("kind,hook", [
    ("unit_tokenizer", "register_unit_tokenizers"),
    ("aligner", "register_aligners"),
    ("interleave_scheduler", "register_interleave_schedulers"),
    ("llm_decoder", "register_llm_decoders"),
    ("vocoder", "register_vocoders"),
    ("asr_model", "register_asr_models"),
    ("quality_scorer", "register_quality_scorers"),
])
def test_each_hook_registers_a_buildable_component(registry, kind, hook):
    from s2s_plugin.protocols import PROTOCOLS, required_methods

    class Thing:
        name = f"throwaway_{kind}"

        def __init__(self, size: int = 1) -> None:
            self.size = size

    for method in required_methods(PROTOCOLS[kind]):
        setattr(Thing, method, lambda self, *a, **k: None)

    with registry.temporary(_plugin(f"pkg_{kind}", hook, [Thing]), name=f"pkg_{kind}"):
        built = registry.build(kind, {"name": Thing.name, "size": 3})
        assert isinstance(built, Thing) and built.size == 3
        assert registry.get(kind, Thing.name).provider == f"pkg_{kind}"
    assert Thing.name not in registry.infos(kind)
