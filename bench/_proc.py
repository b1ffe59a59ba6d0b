"""Helpers of the memory benchmarks: resident memory, and one measurement per fresh process."""
from __future__ import annotations

import json
import os
import subprocess
import sys


def rss() -> int:
    """Resident memory of this process now, in bytes."""
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss() -> int:
    """Peak resident memory of this process so far, in bytes."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def run_fresh(script: str, args: list[str]) -> dict:
    """Run ``script args`` in a new Python process; return the JSON object its last stdout line holds."""
    out = subprocess.run([sys.executable, script, *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])
