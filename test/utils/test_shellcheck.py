"""Every shell script of utils/ and egs/ is shellcheck-clean (all severities)."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Recipe outputs (and the job scripts slurm.pl writes into them) are not sources.
SKIP_DIRS = {"data", "dump", "exp", "downloads", "q", "__pycache__"}


def shell_scripts() -> list[str]:
    found = []
    for top in ("utils", "egs"):
        for dirpath, dirnames, filenames in os.walk(ROOT / top):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
            for name in sorted(filenames):
                path = Path(dirpath) / name
                if path.is_symlink():
                    continue  # checked where it points
                if name.endswith(".sh") or (name.endswith(".pl") and _bash_shebang(path)):
                    found.append(str(path.relative_to(ROOT)))
    return found


def _bash_shebang(path: Path) -> bool:
    with open(path, "rb") as f:
        first = f.readline()
    return first.startswith(b"#!") and b"bash" in first


SCRIPTS = shell_scripts()


def test_the_framework_scripts_are_found():
    for expected in ("utils/run.pl", "utils/slurm.pl", "utils/queue.pl", "utils/ssh.pl",
                     "utils/parse_options.sh", "utils/split_scp.sh",
                     "utils/jobs_common.sh", "utils/log.sh", "egs/TEMPLATE/s2st1/s2st.sh",
                     "egs/TEMPLATE/s2st1/setup.sh", "egs/TEMPLATE/s2st1/path.sh", "egs/TEMPLATE/s2st1/cmd.sh",
                     "egs/TEMPLATE/s2st1/skel/run.sh", "egs/TEMPLATE/s2st1/skel/local/data.sh",
                     "egs/mini_s2st/s2st1/run.sh"):
        assert expected in SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS)
def test_shellcheck_clean(script):
    exe = shutil.which("shellcheck")
    assert exe, "shellcheck is not installed (tools/install.sh installs it)"
    proc = subprocess.run([exe, "-x", "--severity=style", script], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
