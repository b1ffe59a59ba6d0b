"""Shared fixtures. Plugins installed on the machine never leak into tests:
entry-point loading is disabled for the whole suite (tests that exercise entry
points run ``s2s`` in a subprocess with their own environment)."""
from __future__ import annotations

import os

os.environ["S2S_PLUGIN_DISABLE_ENTRYPOINTS"] = "1"
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest  # noqa: E402

from s2s_plugin.registry import Registry, reset_registry  # noqa: E402


@pytest.fixture
def registry():
    """A fresh registry with the built-ins only, also installed as the process-wide one."""
    import s2s_plugin.registry as reg_mod

    reset_registry()
    reg = Registry.create(entrypoints=False)
    reg_mod._REGISTRY = reg
    yield reg
    reset_registry()
