"""Start a training verb on several processes: torchrun on one node, srun across Slurm nodes.

    s2s launch --ngpu 4 -- s2s train --config conf/train_scheduled.yaml --exp exp/s2st_scheduled
    s2s launch --ngpu 0 --nproc 2 -- s2s train ...      # 2 CPU processes (DDP over gloo)
    s2s launch --ngpu 8 --nnodes 4 --slurm "--partition=gpu --time=24:00:00" -- s2s train ...
    s2s launch --ngpu 2 --dry_run -- s2s train ...      # print the command, run nothing

One process per GPU (``--ngpu N``), or ``--nproc N`` processes on the CPU with
``--ngpu 0``. On one node the processes are started by torchrun
(``--standalone --nproc_per_node N``); with ``--nnodes M`` (or ``--slurm``) by
``srun --nodes M --ntasks-per-node N``, one task per process, where
Lightning's SLURM environment reads ranks and the rendezvous address from
Slurm. Inside an allocation (sbatch, salloc) srun runs in it; outside, srun
allocates. One process without Slurm runs the verb directly. The training
verb finds the process counts itself (``trainer.devices: auto``).
"""
from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys

COMMAND = "launch"
HELP = "run s2s train (or pretrain-text) on N processes: torchrun on one node, srun on Slurm"

PY_MAIN = [sys.executable, "-m", "s2s_plugin.bin.main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ngpu", type=int, default=0, help="GPUs per node, one process each (0: CPU)")
    parser.add_argument("--nproc", type=int, default=None, help="processes per node on the CPU (with --ngpu 0)")
    parser.add_argument("--nnodes", type=int, default=1, help="nodes (more than 1 needs Slurm)")
    parser.add_argument("--slurm", default=None, metavar="SRUN_ARGS",
                        help="run through srun, with these extra srun options (e.g. \"--partition=gpu\")")
    parser.add_argument("--cpus_per_task", type=int, default=None, help="srun --cpus-per-task")
    parser.add_argument("--dry_run", action="store_true", help="print the command instead of running it")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- s2s train ... (the verb and its arguments)")


def _verb(command: list[str]) -> list[str]:
    from s2s_plugin.errors import ConfigError

    if command and command[0] == "--":
        command = command[1:]
    if not command or command[0] != "s2s" or len(command) < 2:
        raise ConfigError("give the training command after '--', e.g. s2s launch --ngpu 2 -- s2s train "
                          "--config conf/train.yaml --exp exp/x")
    return command[1:]


def build_command(args: argparse.Namespace) -> list[str]:
    """The command line that starts every process."""
    from s2s_plugin.errors import ConfigError

    verb = _verb(args.command)
    if args.ngpu < 0 or args.nnodes < 1 or (args.nproc is not None and args.nproc < 1):
        raise ConfigError("--ngpu must be >= 0, --nnodes and --nproc >= 1")
    if args.ngpu > 0 and args.nproc not in (None, args.ngpu):
        raise ConfigError("--nproc is for CPU runs (--ngpu 0); with GPUs there is one process per GPU")
    per_node = args.ngpu if args.ngpu > 0 else (args.nproc or 1)
    if args.nnodes > 1 and args.slurm is None:
        raise ConfigError("--nnodes > 1 runs through Slurm: add --slurm \"\" (or extra srun options)")
    if args.slurm is not None:
        cmd = ["srun", f"--nodes={args.nnodes}", f"--ntasks-per-node={per_node}", "--kill-on-bad-exit=1"]
        if args.ngpu > 0:
            cmd.append(f"--gpus-per-node={args.ngpu}")
        if args.cpus_per_task:
            cmd.append(f"--cpus-per-task={args.cpus_per_task}")
        return [*cmd, *shlex.split(args.slurm), *PY_MAIN, *verb]
    if per_node == 1:
        return [*PY_MAIN, *verb]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={per_node}",
            "-m", "s2s_plugin.bin.main", *verb]


def launch_command_line(args: argparse.Namespace) -> str:
    """This launch as one shell line (written to the run's run.sh to resume through the launcher)."""
    opts = [f"--ngpu={args.ngpu}", f"--nnodes={args.nnodes}"]
    if args.nproc is not None:
        opts.append(f"--nproc={args.nproc}")
    if args.slurm is not None:
        opts.append(f"--slurm={args.slurm}")
    if args.cpus_per_task:
        opts.append(f"--cpus_per_task={args.cpus_per_task}")
    return shlex.join([*PY_MAIN, "launch", *opts, "--", "s2s", *_verb(args.command)])


def main(args: argparse.Namespace) -> int:
    import logging

    cmd = build_command(args)
    if args.dry_run:
        print(shlex.join(cmd))
        return 0
    env = dict(os.environ)
    from s2s_plugin.train.run import LAUNCH_ENV

    env[LAUNCH_ENV] = launch_command_line(args)
    if cmd[: len(PY_MAIN)] == PY_MAIN:  # the verb runs as the only process (no torchrun, no srun)
        from s2s_plugin.train.strategy import SINGLE_PROCESS_ENV

        env[SINGLE_PROCESS_ENV] = "1"
    logging.getLogger(__name__).info("launching: %s", shlex.join(cmd))
    return subprocess.call(cmd, env=env)
