"""Meta-test: every hook has a docstring, a documentation section and a test."""
from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from s2s_plugin import hookspecs

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("kind,hook", sorted(hookspecs.KINDS.items()))
def test_hook_is_specified_documented_and_tested(kind, hook):
    spec = getattr(hookspecs, hook)
    assert "Returns:" in (inspect.getdoc(spec) or ""), f"{hook} needs a docstring with Returns:"
    docs = (ROOT / "docs" / "plugins.md").read_text()
    assert f"### `{hook}`" in docs, f"docs/plugins.md needs a section '### `{hook}`'"
    tests = "\n".join(p.read_text() for p in (ROOT / "test").rglob("test_*.py") if p.name != "test_hookspecs.py")
    assert hook in tests or f'"{kind}"' in tests, f"no test mentions hook {hook} or kind '{kind}'"
