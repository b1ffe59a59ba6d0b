"""Strict config loading: duplicate keys, unknown keys, overrides, component blocks."""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import yaml

from s2s_plugin import hookimpl
from s2s_plugin.config import apply_overrides, component, load_config, load_yaml, save_resolved
from s2s_plugin.errors import ConfigError, PluginError


@dataclass
class Optim:
    lr: float = 1e-3
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])


@dataclass
class TrainLike:
    scheduler: dict = component("interleave_scheduler", {"name": "step"})
    optim: Optim = field(default_factory=Optim)
    max_steps: int = 100
    sides: list[str] = field(default_factory=lambda: ["src", "tgt"])
    tag: str | None = None


def write(tmp_path, text: str):
    p = tmp_path / "conf.yaml"
    p.write_text(text)
    return p


def test_duplicate_key_names_file_and_lines(tmp_path):
    p = write(tmp_path, "max_steps: 1\noptim:\n  lr: 1\n  lr: 2\n")
    with pytest.raises(ConfigError) as e:
        load_yaml(p)
    assert f"{p}:4: duplicate key 'lr' (first defined at line 3)" in str(e.value)


def test_yaml_syntax_error_names_line(tmp_path):
    p = write(tmp_path, "a: 1\nb: [1, 2\n")
    with pytest.raises(ConfigError, match=r"conf.yaml:\d+: invalid YAML"):
        load_yaml(p)


def test_missing_file():
    with pytest.raises(ConfigError, match="config file not found: nope.yaml"):
        load_yaml("nope.yaml")


def test_unknown_top_level_key_with_suggestion(tmp_path, registry):
    p = write(tmp_path, "max_step: 5\n")
    with pytest.raises(ConfigError) as e:
        load_config(TrainLike, p)
    assert "unknown key 'max_step'; did you mean 'max_steps'?" in str(e.value)
    assert str(p) in str(e.value)


def test_unknown_nested_key(tmp_path, registry):
    p = write(tmp_path, "optim:\n  learning_rate: 0.1\n")
    with pytest.raises(ConfigError, match=r"conf.yaml:optim: unknown key 'learning_rate'"):
        load_config(TrainLike, p)


def test_wrong_type(tmp_path, registry):
    p = write(tmp_path, "max_steps: lots\n")
    with pytest.raises(ConfigError, match="max_steps: expected int, got 'lots'"):
        load_config(TrainLike, p)


def test_component_kwargs_checked_at_load(tmp_path, registry):
    p = write(tmp_path, "scheduler:\n  name: step\n  evry: 3\n")
    with pytest.raises(PluginError, match=r"does not accept 'evry' in .*conf.yaml:scheduler"):
        load_config(TrainLike, p)
    p = write(tmp_path, "scheduler:\n  name: nosuch\n")
    with pytest.raises(PluginError, match="unknown interleave_scheduler 'nosuch'"):
        load_config(TrainLike, p)


def test_overrides_apply_and_are_validated(tmp_path, registry):
    p = write(tmp_path, "scheduler:\n  name: step\n")
    cfg = load_config(TrainLike, p, ["scheduler.p_init=0.8", "optim.lr=5e-5", "sides=[tgt]", "tag=null"])
    assert cfg.scheduler == {"name": "step", "p_init": 0.8}
    assert cfg.optim.lr == 5e-5 and cfg.sides == ["tgt"] and cfg.tag is None
    with pytest.raises(ConfigError, match="unknown key 'nope'"):
        load_config(TrainLike, p, ["nope=1"])
    with pytest.raises(PluginError, match="does not accept 'bogus'"):
        load_config(TrainLike, p, ["scheduler.bogus=1"])


def test_override_syntax_errors():
    with pytest.raises(ConfigError, match="must look like key.subkey=value"):
        apply_overrides({}, ["noequals"])
    with pytest.raises(ConfigError, match="'a' is 1, not a mapping"):
        apply_overrides({"a": 1}, ["a.b=2"])


def test_defaults_fill_in(tmp_path, registry):
    cfg = load_config(TrainLike, write(tmp_path, ""))
    assert cfg.scheduler == {"name": "step"} and cfg.max_steps == 100 and cfg.optim.betas == [0.9, 0.999]


def test_save_resolved_writes_config_and_plugin_versions(tmp_path, registry):
    cfg = load_config(TrainLike, write(tmp_path, "max_steps: 7\n"))
    out = save_resolved(cfg, tmp_path / "exp")
    assert yaml.safe_load(out.read_text())["max_steps"] == 7
    versions = yaml.safe_load((tmp_path / "exp" / "plugins.yaml").read_text())
    assert versions["interleave_scheduler"]["step"] == "s2s_plugin 0.1.0"


@dataclass
class Checked:
    scheduler: dict = component("interleave_scheduler", {"name": "step"}, build_check=True)


class _Picky:
    """A third-party scheduler whose constructor checks its value with a plain ValueError."""

    name = "picky"

    def __init__(self, p: float = 0.5) -> None:
        if not 0 <= p <= 1:
            raise ValueError(f"p out of range: {p}")
        self.p = p

    def value(self, step: int) -> float:
        return self.p

    def state_dict(self) -> dict:
        return {"p": self.p}

    def load_state_dict(self, state: dict) -> None:
        self.p = state["p"]


class _PickyPlugin:
    @hookimpl
    def register_interleave_schedulers(self) -> list[type]:
        return [_Picky]


def test_build_check_runs_the_plugins_own_value_checks_at_load(tmp_path, registry):
    p = write(tmp_path, "scheduler: {name: step, p_init: 1.5}\n")
    with pytest.raises(ConfigError, match=r"conf.yaml:scheduler: scheduler 'step': p_init must be a number in "
                                          r"\[0, 1\], got 1.5"):
        load_config(Checked, p)
    assert load_config(TrainLike, p).scheduler["p_init"] == 1.5  # without build_check: checked when built
    with registry.temporary(_PickyPlugin()):
        assert load_config(Checked, write(tmp_path, "scheduler: {name: picky, p: 0.2}\n")).scheduler["p"] == 0.2
        with pytest.raises(ConfigError, match=r"conf.yaml:scheduler: interleave_scheduler 'picky' refused its "
                                              r"values: p out of range: 2"):
            load_config(Checked, write(tmp_path, "scheduler: {name: picky, p: 2}\n"))


@dataclass
class Positive:
    n: int = 1

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ConfigError(f"n must be >= 1, got {self.n}")


@dataclass
class Outer:
    inner: Positive = field(default_factory=Positive)


def test_a_schema_check_names_the_file(tmp_path, registry):
    with pytest.raises(ConfigError, match=r"^\S*conf.yaml: n must be >= 1, got 0$"):
        load_config(Outer, write(tmp_path, "inner: {n: 0}\n"))
