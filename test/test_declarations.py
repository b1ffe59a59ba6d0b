"""setup.py declares what the package imports, and the pinned stack satisfies it.

Every third-party module imported anywhere in s2s_plugin (top level or inside a
function) must belong to a distribution named in setup.py's INSTALL_REQUIRES or
EXTRAS, except imports guarded by ``except ImportError`` (optional helpers). The
installed versions must satisfy the declared bounds, and ranges declared both in
setup.py and tools/requirements.txt must be the same.
"""
from __future__ import annotations

import ast
import importlib.metadata as md
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def _setup_lists(path: Path = ROOT / "setup.py") -> tuple[list[str], dict[str, list[str]]]:
    values = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id in ("INSTALL_REQUIRES", "EXTRAS"):
                values[node.targets[0].id] = ast.literal_eval(node.value)
    return values["INSTALL_REQUIRES"], values["EXTRAS"]


def _declared() -> dict[str, Requirement]:
    core, extras = _setup_lists()
    reqs = [Requirement(r) for r in core + [r for group in extras.values() for r in group]]
    return {canonicalize_name(r.name): r for r in reqs}


def _guarded(tree: ast.AST) -> set[int]:
    """ids of import nodes inside a ``try`` whose handlers catch ImportError (optional imports)."""
    out = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Try):
            continue
        names = set()
        for h in node.handlers:
            for t in (h.type.elts if isinstance(h.type, ast.Tuple) else [h.type]) if h.type else []:
                if isinstance(t, ast.Name):
                    names.add(t.id)
        if names & {"ImportError", "ModuleNotFoundError"}:
            out |= {id(n) for stmt in node.body for n in ast.walk(stmt) if isinstance(n, (ast.Import, ast.ImportFrom))}
    return out


def imported_modules(package: Path) -> dict[str, set[str]]:
    """Top-level third-party module -> files of ``package`` that import it unguarded."""
    found: dict[str, set[str]] = {}
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        optional = _guarded(tree)
        for node in ast.walk(tree):
            if id(node) in optional:
                continue
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != package.name:
                    found.setdefault(top, set()).add(str(path.relative_to(package.parent)))
    return found


def test_every_imported_package_is_declared():
    owners = md.packages_distributions()
    declared = _declared()
    modules = imported_modules(ROOT / "s2s_plugin")
    assert {"torch", "numpy", "yaml", "threadpoolctl", "torchaudio"} <= set(modules)   # the scan sees imports
    missing = {}
    for module, files in sorted(modules.items()):
        dists = {canonicalize_name(d) for d in owners.get(module, [])}
        assert dists, f"module {module} (imported by {sorted(files)}) belongs to no installed distribution"
        if not dists & set(declared):
            missing[module] = (sorted(dists), sorted(files)[:3])
    assert not missing, f"imported but not declared in setup.py: {missing}"


def test_optional_imports_are_recognised(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "m.py").write_text("import yaml\ntry:\n    import nltk\nexcept ImportError:\n    nltk = None\n"
                              "def f():\n    from scipy import signal\n    import os\n")
    assert imported_modules(pkg) == {"yaml": {"pkg/m.py"}, "scipy": {"pkg/m.py"}}


@pytest.mark.parametrize("name", sorted(_declared()))
def test_installed_versions_satisfy_the_declared_bounds(name):
    req = _declared()[name]
    try:
        version = md.version(req.name)
    except md.PackageNotFoundError:
        pytest.fail(f"{req.name} is declared in setup.py but tools/install.sh did not install it")
    assert req.specifier.contains(version, prereleases=True), f"installed {req.name} {version} does not satisfy {req}"


def test_ranges_in_setup_and_requirements_agree():
    declared = _declared()
    pinned = {}
    for line in (ROOT / "tools" / "requirements.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            pinned[canonicalize_name(req.name)] = req
    # a range (not an exact pin) in both places must be the same range
    for name, req in pinned.items():
        if name in declared and "==" not in str(req.specifier) and "==" not in str(declared[name].specifier):
            if str(req.specifier) and str(declared[name].specifier):
                assert req.specifier == declared[name].specifier, f"{name}: setup.py {declared[name]}, " \
                                                                  f"tools/requirements.txt {req}"
    assert str(pinned["lightning"].specifier) == str(declared["lightning"].specifier)
    # every upper bound that is not an exact pin says why, on the line above
    lines = (ROOT / "tools" / "requirements.txt").read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        spec = line.split("#", 1)[0].strip()
        if spec and "<" in spec and "==" not in spec:
            assert i > 0 and lines[i - 1].startswith("#"), f"tools/requirements.txt: '{spec}' has no reason above it"
