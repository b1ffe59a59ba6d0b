"""The example plugin package, found only through its ``s2s_plugin`` entry point.

It is pip-installed into a temporary directory and used from fresh ``s2s``
processes, exactly as a third-party package would be.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "s2s_plugin_example"


@pytest.fixture(scope="module")
def example_env(tmp_path_factory):
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "--target", str(target), str(EXAMPLE)],
                   check=True, capture_output=True)
    env = dict(os.environ)
    env.pop("S2S_PLUGIN_DISABLE_ENTRYPOINTS", None)
    env["PYTHONPATH"] = os.pathsep.join([str(target), env.get("PYTHONPATH", "")])
    return env


def s2s(env, *args):
    return subprocess.run([sys.executable, "-m", "s2s_plugin.bin.main", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_entry_point_plugin_is_listed(example_env):
    res = s2s(example_env, "plugins", "--json")
    assert res.returncode == 0, res.stderr
    rows = {(d["kind"], d["name"]): d for d in json.loads(res.stdout)}
    exp = rows[("interleave_scheduler", "exponential")]
    assert (exp["provider"], exp["version"]) == ("s2s-plugin-example", "0.2.0")
    assert exp["class"] == "s2s_plugin_example.plugin.ExponentialScheduler"
    assert rows[("interleave_scheduler", "step")]["provider"] == "s2s_plugin"


def test_config_selects_entry_point_scheduler(example_env, tmp_path):
    conf = tmp_path / "exp.yaml"
    conf.write_text("scheduler:\n  name: exponential\n  half_life: 400\n")
    res = s2s(example_env, "schedule", str(conf), "--steps", "0", "400", "800")
    assert res.returncode == 0, res.stderr
    assert [float(line.split()[-1]) for line in res.stdout.splitlines()] == [0.9, 0.45, 0.225]


def test_entry_points_can_be_disabled(example_env):
    env = dict(example_env, S2S_PLUGIN_DISABLE_ENTRYPOINTS="1")
    res = s2s(env, "plugins", "--json")
    assert "exponential" not in {d["name"] for d in json.loads(res.stdout)}


def test_suite_does_not_see_installed_entry_points(registry):
    # the conftest disables entry points: only built-ins are visible in-process
    assert {i.provider for i in registry.table()} == {"s2s_plugin"}
