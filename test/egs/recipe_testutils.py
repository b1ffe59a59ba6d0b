"""Helpers of the recipe tests: a recipe dir copied the way setup.sh lays one out."""
from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def copy_recipe(recipe: Path, dest: Path, names: tuple[str, ...]) -> Path:
    """``names`` of ``recipe`` copied into ``dest``, with utils/ and s2st.sh linked as setup.sh links them."""
    dest.mkdir(parents=True)
    for name in names:
        src = recipe / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, dest / name)
    (dest / "utils").symlink_to(ROOT / "utils")
    (dest / "s2st.sh").symlink_to(ROOT / "egs" / "TEMPLATE" / "s2st1" / "s2st.sh")
    return dest
