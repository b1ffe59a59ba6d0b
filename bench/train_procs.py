"""Stage 8 on a 2-core machine: one process with 1 or 2 threads against 2 DDP processes (gloo).

    python bench/train_procs.py [--recipe egs/mini_s2st/s2st1] [--steps 60] [--rounds 2]

It needs the recipe's stage 1-7 outputs (the dumps, exp/vocab, exp/lm/model): run
``make demo`` (or ``./run.sh --stop_stage 7`` in the recipe) first.

Each variant runs the recipe's real stage-8 command for ``--steps`` optimiser
steps (no validation, no checkpoint before the end) in a scratch exp dir:

- ``1 proc x 1 thread``: ``s2s launch --nproc 1`` with ``OMP_NUM_THREADS=1`` (what path.sh sets);
- ``1 proc x 2 threads``: the same with ``OMP_NUM_THREADS=2``;
- ``2 procs x 1 thread``: ``s2s launch --nproc 2`` (torchrun, DDP over gloo).

The global batches are the same in every variant (the sampler splits each
global batch over the processes), so seconds per optimiser step compare
directly. They are measured from the run's own progress lines in train.log
(from the first logged step to the last), so start-up (imports, data loading,
torchrun's rendezvous) is left out and printed separately. The variants
alternate ``--rounds`` times and the best round of each is kept, since other
processes may share the cores. Prints seconds per step and the speed-up of
each variant over the first.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import yaml

VARIANTS = (("1 proc x 1 thread", 1, 1), ("1 proc x 2 threads", 1, 2), ("2 procs x 1 thread", 2, 1))
STEP_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .* step (\d+)/\d+ ")


def step_times(log: Path) -> list[tuple[int, float]]:
    """(step, time) of every progress line of a train.log."""
    out = []
    for line in log.read_text(encoding="utf-8").splitlines():
        m = STEP_LINE.match(line)
        if m:
            t = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
            out.append((int(m.group(2)), t))
    return out


def run_variant(config: str, procs: int, threads: int, steps: int, every: int, exp: Path) -> tuple[float, float]:
    """Seconds per step between the first and last progress line, and the whole command's wall time."""
    shutil.rmtree(exp, ignore_errors=True)
    cmd = [sys.executable, "-m", "s2s_plugin.bin.main", "launch", "--ngpu", "0", "--nproc", str(procs), "--",
           "s2s", "train", "--config", config, "--exp", str(exp), f"trainer.max_steps={steps}",
           f"trainer.val_check_interval={steps}", f"trainer.save_every={steps}", f"trainer.log_every_n_steps={every}",
           "data.valid=[]"]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"the {procs}-process run failed ({' '.join(cmd)}):\n{p.stderr[-3000:]}")
    times = step_times(exp / "train.log")
    if len(times) < 2:
        sys.exit(f"{exp / 'train.log'}: fewer than two progress lines; raise --steps")
    (s0, t_first), (s1, t_last) = times[0], times[-1]
    return (t_last - t_first) / (s1 - s0), wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", default=str(Path(__file__).resolve().parents[1] / "egs" / "mini_s2st" / "s2st1"),
                    help="the recipe dir whose stage-8 config and data are used")
    ap.add_argument("--config", default="conf/train_scheduled.yaml", help="the stage-8 config (recipe-relative)")
    ap.add_argument("--steps", type=int, default=60, help="optimiser steps per run")
    ap.add_argument("--every", type=int, default=10, help="steps between progress lines (the timing grid)")
    ap.add_argument("--rounds", type=int, default=2, help="times each variant runs (the best is kept)")
    args = ap.parse_args()
    os.chdir(args.recipe)
    cfg = yaml.safe_load(Path(args.config).read_text())
    needed = [Path(cfg["vocab"]), Path(cfg["llm"].get("path") or "."), *map(Path, cfg["data"]["train"])]
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        sys.exit(f"{args.recipe}: {', '.join(missing)} missing: run the recipe's stages 1-7 first "
                 "(make demo, or ./run.sh --stop_stage 7 there)")
    best: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="train_procs.", dir=".") as tmp:
        for r in range(args.rounds):
            for name, procs, threads in VARIANTS:
                sec, wall = run_variant(args.config, procs, threads, args.steps, args.every, Path(tmp) / "exp")
                print(f"round {r + 1}: {name}: {sec:.3f} s/step ({wall:.1f} s in all)", flush=True)
                if name not in best or sec < best[name][0]:
                    best[name] = (sec, wall)
    base = best[VARIANTS[0][0]][0]
    print(f"\nstage 8 ({args.config}), {args.steps} steps, best of {args.rounds} rounds, {os.cpu_count()} CPUs:")
    for name, _, _ in VARIANTS:
        sec, wall = best[name]
        print(f"  {name:<20} {sec:6.3f} s/step  {base / sec:4.2f}x   (command {wall:5.1f} s with start-up)")
    fastest = min(best, key=lambda k: best[k][0])
    print(f"fastest: {fastest}")


if __name__ == "__main__":
    main()
