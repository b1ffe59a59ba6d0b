"""Print or plot the interleaving text ratio p that a scheduler gives over training.

    s2s schedule conf/scheduler.yaml --steps 0 299 300 2700
    s2s schedule conf/train.yaml --plot p.png --total_steps 4000
    s2s schedule conf/scheduler.yaml scheduler.every=100 --steps 100

CONFIG is any YAML file with a ``scheduler`` block ``{name: ..., **kwargs}``
(a scheduler config or a training config; other top-level keys are left to
the verb that owns them). Dotted overrides change the block before use.
"""
from __future__ import annotations

import argparse
from pathlib import Path

COMMAND = "schedule"
HELP = "print or plot p over training for a scheduler config"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", type=Path, help="YAML file with a 'scheduler' block")
    parser.add_argument("overrides", nargs="*", help="dotted overrides, e.g. scheduler.every=100")
    parser.add_argument("--steps", type=int, nargs="+", default=None, help="print p at these global steps")
    parser.add_argument("--plot", type=Path, default=None, help="write a PNG of p over training here")
    parser.add_argument("--total_steps", type=int, default=None,
                        help="steps to plot (default: the config's total_steps, or 3000)")


def main(args: argparse.Namespace) -> int:
    from s2s_plugin.config import apply_overrides, load_yaml
    from s2s_plugin.errors import ConfigError
    from s2s_plugin.registry import get_registry

    data = apply_overrides(load_yaml(args.config), args.overrides)
    if "scheduler" not in data:
        raise ConfigError(f"{args.config}: no 'scheduler' block; add e.g. 'scheduler: {{name: step}}'")
    sched = get_registry().build("interleave_scheduler", data["scheduler"], f"{args.config}:scheduler")
    total = args.total_steps or int(data.get("total_steps", 0) or 3000)
    steps = args.steps if args.steps is not None else ([] if args.plot else list(range(0, total + 1, total // 10)))
    for s in steps:
        if s < 0:
            raise ConfigError(f"--steps: steps must be >= 0, got {s}")
        print(f"step {s:>8d}  p = {sched.value(s):.4f}")
    if args.plot:
        plot_schedule(sched, total, args.plot, title=f"{args.config.name}: {sched!r}")
        print(f"wrote {args.plot}")
    return 0


def plot_schedule(sched, total_steps: int, out: Path, title: str = "") -> None:
    """Draw p over ``total_steps`` global steps into a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from s2s_plugin.data.io import atomic_write

    xs = list(range(total_steps + 1))
    fig, ax = plt.subplots(figsize=(7, 3.2), dpi=110)
    ax.plot(xs, [sched.value(x) for x in xs], drawstyle="steps-post", color="tab:blue")
    ax.set_xlabel("global optimiser step")
    ax.set_ylabel("text ratio p")
    ax.set_ylim(-0.03, 1.03)
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    with atomic_write(out, "wb") as f:
        fig.savefig(f, format="png")
    plt.close(fig)
