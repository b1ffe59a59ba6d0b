"""Devices, distributed strategy and precision of a run, chosen from the ``trainer`` block.

    plan = plan_run(cfg.trainer, model)     # what the Trainer gets
    plan.accelerator, plan.devices, plan.num_nodes, plan.precision, plan.strategy

- precision ``auto``: ``bf16-mixed`` on a GPU that supports bfloat16, else ``32-true``;
- strategy ``auto``: DDP when the run has more than one process, else one device;
  DDP uses gloo on the CPU and NCCL on GPUs;
- ``fsdp``: shards the model by decoder layer (the classes a transformers model
  lists in ``_no_split_modules``), optionally with activation checkpointing of
  the same layers; checkpoints are full state dicts, so they can be averaged;
- devices and nodes ``auto``: 1 when ``s2s launch`` runs a single process, else the
  counts torchrun (``LOCAL_WORLD_SIZE``,
  ``WORLD_SIZE``) or Slurm (``SLURM_NTASKS_PER_NODE``, ``SLURM_NNODES``) give the
  process, else every GPU of the machine or one CPU process.

Nothing here needs a GPU to run: the selection is plain logic, tested on CPU.
"""
from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from s2s_plugin.errors import ConfigError
from s2s_plugin.train.schema import TrainerConfig

logger = logging.getLogger(__name__)


@dataclass
class RunPlan:
    """The resolved Trainer arguments of a run."""

    accelerator: str
    devices: int
    num_nodes: int
    precision: str
    strategy: Any
    plugins: list[Any] = field(default_factory=list)

    @property
    def world_size(self) -> int:
        return self.devices * self.num_nodes


def under_torchrun(env: Mapping[str, str]) -> bool:
    return "TORCHELASTIC_RUN_ID" in env and "LOCAL_WORLD_SIZE" in env


def under_srun(env: Mapping[str, str]) -> bool:
    """A Slurm job step (``srun``), as Lightning's SLURM environment detects it."""
    return "SLURM_NTASKS" in env and "SLURM_STEP_ID" in env and env.get("SLURM_JOB_NAME") not in ("bash",
                                                                                                     "interactive")


def _slurm_tasks_per_node(env: Mapping[str, str]) -> int:
    # SLURM_NTASKS_PER_NODE is set with --ntasks-per-node; SLURM_TASKS_PER_NODE looks like "4(x2)"
    raw = env.get("SLURM_NTASKS_PER_NODE") or env.get("SLURM_TASKS_PER_NODE", "1")
    m = re.match(r"\d+", raw)
    return int(m.group(0)) if m else 1


def select_accelerator(requested: str, cuda: bool) -> str:
    if requested == "auto":
        return "gpu" if cuda else "cpu"
    if requested == "gpu" and not cuda:
        raise ConfigError("trainer.accelerator is 'gpu' but no CUDA device is visible; use 'cpu' or 'auto'")
    return requested


def select_precision(requested: str, accelerator: str, bf16_supported: bool) -> str:
    """``auto``: bf16-mixed on a bf16-capable GPU, else full precision.

    Raises:
        ConfigError: 16-bit precision asked for on the CPU, or bf16 on a GPU without it.
    """
    if requested == "auto":
        return "bf16-mixed" if accelerator == "gpu" and bf16_supported else "32-true"
    if accelerator == "cpu" and requested != "32-true":
        raise ConfigError(f"trainer.precision {requested!r} needs a GPU; use 32-true (or auto) on the CPU")
    if requested.startswith("bf16") and not bf16_supported:
        raise ConfigError(f"trainer.precision {requested!r}: this GPU has no bfloat16; use 16-mixed or 32-true")
    return requested


#: Set by ``s2s launch`` when it runs the training verb as its only process (``--ngpu 1`` or one CPU
#: process): ``devices: auto`` is then 1, not every GPU the machine has.
SINGLE_PROCESS_ENV = "S2S_LAUNCH_SINGLE"


def select_world(cfg: TrainerConfig, accelerator: str, env: Mapping[str, str], n_gpus: int) -> tuple[int, int]:
    """Processes per node and nodes: the config's numbers, else the launcher's, else this machine's."""
    if under_torchrun(env):
        local = int(env["LOCAL_WORLD_SIZE"])
        launched = (local, max(1, int(env.get("WORLD_SIZE", local)) // local))
    elif under_srun(env):
        launched = (_slurm_tasks_per_node(env), int(env.get("SLURM_NNODES", "1")))
    elif SINGLE_PROCESS_ENV in env:  # `s2s launch --ngpu 1` runs the verb itself: one process, one GPU
        launched = (1, 1)
    else:
        launched = None
    devices = cfg.devices if cfg.devices != "auto" else (launched[0] if launched else
                                                          (max(1, n_gpus) if accelerator == "gpu" else 1))
    num_nodes = cfg.num_nodes or (launched[1] if launched else 1)
    if launched and (devices, num_nodes) != launched:
        raise ConfigError(f"trainer.devices={devices} and num_nodes={num_nodes} disagree with the launcher "
                          f"({launched[0]} processes per node on {launched[1]} nodes); set them to 'auto' and 0")
    return int(devices), int(num_nodes)


def decoder_layer_classes(model: torch.nn.Module) -> set[type]:
    """The model's repeated block classes (transformers' ``_no_split_modules``) found among its modules."""
    names: set[str] = set()
    for m in model.modules():
        names.update(getattr(m, "_no_split_modules", None) or [])
    classes = {type(m) for m in model.modules() if type(m).__name__ in names}
    if not classes:
        raise ConfigError(f"FSDP: cannot find the decoder layer classes of {type(model).__name__} (it lists no "
                          "_no_split_modules); use strategy ddp, or a transformers model that does")
    return classes


def select_strategy(cfg: TrainerConfig, accelerator: str, world_size: int, model: torch.nn.Module | None,
                    env: Mapping[str, str], find_unused_parameters: bool = False) -> tuple[Any, list[Any]]:
    """The Lightning strategy object (or ``"auto"``) and cluster plugins.

    ``find_unused_parameters`` is DDP's: true for a module whose backward passes leave some
    parameters without gradients (a GAN's discriminator step never reaches the generator).
    """
    from lightning.pytorch.plugins.environments import TorchElasticEnvironment
    from lightning.pytorch.strategies import DDPStrategy, FSDPStrategy

    backend = "nccl" if accelerator == "gpu" else "gloo"
    # torchrun inside an srun step: both are visible; the processes are torchrun's
    plugins = [TorchElasticEnvironment()] if under_torchrun(env) and "SLURM_NTASKS" in env else []
    name = cfg.strategy
    if name == "auto":
        name = "ddp" if world_size > 1 else "single"
    if name == "single":
        return "auto", plugins
    if name == "ddp":
        return DDPStrategy(process_group_backend=backend, find_unused_parameters=find_unused_parameters,
                           gradient_as_bucket_view=True), plugins
    if accelerator != "gpu":
        raise ConfigError("trainer.strategy fsdp needs GPUs (NCCL); use ddp (gloo) on the CPU")
    layers = decoder_layer_classes(model) if model is not None else set()
    f = cfg.fsdp
    kwargs: dict[str, Any] = dict(auto_wrap_policy=layers, sharding_strategy=f.sharding, state_dict_type="full",
                                  limit_all_gathers=True, use_orig_params=True, process_group_backend=backend)
    if f.activation_checkpointing:
        kwargs["activation_checkpointing_policy"] = layers
    if f.cpu_offload:
        kwargs["cpu_offload"] = True
    return FSDPStrategy(**kwargs), plugins


def plan_run(cfg: TrainerConfig, model: torch.nn.Module | None = None, env: Mapping[str, str] | None = None,
             cuda: bool | None = None, n_gpus: int | None = None, bf16_supported: bool | None = None,
             find_unused_parameters: bool = False) -> RunPlan:
    """Resolve accelerator, world size, precision and strategy (hardware facts can be given, for tests).

    ``find_unused_parameters`` is passed to DDP (see :func:`select_strategy`).
    """
    env = os.environ if env is None else env
    cuda = torch.cuda.is_available() if cuda is None else cuda
    n_gpus = (torch.cuda.device_count() if cuda else 0) if n_gpus is None else n_gpus
    if bf16_supported is None:
        bf16_supported = bool(cuda and torch.cuda.is_bf16_supported())
    accelerator = select_accelerator(cfg.accelerator, cuda)
    devices, num_nodes = select_world(cfg, accelerator, env, n_gpus)
    precision = select_precision(cfg.precision, accelerator, bf16_supported)
    strategy, plugins = select_strategy(cfg, accelerator, devices * num_nodes, model, env, find_unused_parameters)
    plan = RunPlan(accelerator, devices, num_nodes, precision, strategy, plugins)
    logger.info("run: %s x %d device(s) x %d node(s), precision %s, strategy %s", accelerator, devices,
                num_nodes, precision, type(strategy).__name__ if not isinstance(strategy, str) else strategy)
    return plan
