"""Devices, strategy and precision selection for GPU and cluster configs, checked on the CPU."""
from __future__ import annotations

import pytest
from lightning.pytorch.strategies import DDPStrategy, FSDPStrategy

from s2s_plugin.errors import ConfigError
from s2s_plugin.llm.hf import HFDecoder
from s2s_plugin.train.schema import FSDPConfig, TrainerConfig
from s2s_plugin.train.strategy import decoder_layer_classes, plan_run

TINY = {"model_type": "llama", "vocab_size": 50, "hidden_size": 16, "intermediate_size": 32,
        "num_hidden_layers": 2, "num_attention_heads": 2, "max_position_embeddings": 64}
GPU = dict(cuda=True, n_gpus=4, bf16_supported=True)


@pytest.fixture(scope="module")
def model():
    return HFDecoder(config=TINY).load_base()


def test_cpu_defaults():
    plan = plan_run(TrainerConfig(max_steps=10), env={}, cuda=False)
    assert (plan.accelerator, plan.devices, plan.num_nodes, plan.precision, plan.strategy) == \
        ("cpu", 1, 1, "32-true", "auto")
    with pytest.raises(ConfigError, match="needs a GPU"):
        plan_run(TrainerConfig(max_steps=10, precision="bf16-mixed"), env={}, cuda=False)
    with pytest.raises(ConfigError, match="no CUDA device"):
        plan_run(TrainerConfig(max_steps=10, accelerator="gpu"), env={}, cuda=False)


def test_gpu_auto_is_bf16_ddp_over_nccl_on_all_gpus():
    plan = plan_run(TrainerConfig(max_steps=10), env={}, **GPU)
    assert (plan.accelerator, plan.devices, plan.precision) == ("gpu", 4, "bf16-mixed")
    assert isinstance(plan.strategy, DDPStrategy) and plan.strategy._process_group_backend == "nccl"
    old = plan_run(TrainerConfig(max_steps=10), env={}, cuda=True, n_gpus=1, bf16_supported=False)
    assert old.precision == "32-true" and old.strategy == "auto"
    with pytest.raises(ConfigError, match="no bfloat16"):
        plan_run(TrainerConfig(max_steps=10, precision="bf16-mixed"), env={}, cuda=True, n_gpus=1,
                 bf16_supported=False)


def test_fsdp_wraps_each_decoder_layer(model):
    from transformers.models.llama.modeling_llama import LlamaDecoderLayer

    assert decoder_layer_classes(model) == {LlamaDecoderLayer}
    cfg = TrainerConfig(max_steps=10, strategy="fsdp", fsdp=FSDPConfig(sharding="SHARD_GRAD_OP",
                                                                        activation_checkpointing=True))
    plan = plan_run(cfg, model, env={}, **GPU)
    s = plan.strategy
    assert isinstance(s, FSDPStrategy) and plan.precision == "bf16-mixed"
    assert s._state_dict_type == "full"  # single-file checkpoints: they can be averaged
    assert str(s.sharding_strategy).endswith("SHARD_GRAD_OP")
    policy = s.kwargs["auto_wrap_policy"]
    assert LlamaDecoderLayer in policy._module_classes and s._activation_checkpointing_kwargs
    # the policy selects exactly the decoder layers of the model
    wrapped = [m for m in model.modules() if isinstance(m, tuple(policy._module_classes))]
    assert len(wrapped) == TINY["num_hidden_layers"]
    with pytest.raises(ConfigError, match="FSDP needs GPUs|fsdp needs GPUs"):
        plan_run(cfg, model, env={}, cuda=False)


def test_world_from_torchrun_and_slurm():
    torchrun = {"TORCHELASTIC_RUN_ID": "x", "LOCAL_WORLD_SIZE": "2", "WORLD_SIZE": "2"}
    plan = plan_run(TrainerConfig(max_steps=10), env=torchrun, cuda=False)
    assert (plan.devices, plan.num_nodes) == (2, 1)
    assert isinstance(plan.strategy, DDPStrategy) and plan.strategy._process_group_backend == "gloo"
    srun = {"SLURM_NTASKS": "16", "SLURM_STEP_ID": "0", "SLURM_JOB_NAME": "train", "SLURM_NTASKS_PER_NODE": "8",
            "SLURM_NNODES": "2"}
    plan = plan_run(TrainerConfig(max_steps=10), env=srun, cuda=True, n_gpus=8, bf16_supported=True)
    assert (plan.devices, plan.num_nodes, plan.world_size) == (8, 2, 16) and not plan.plugins
    # torchrun inside an srun step: the processes are torchrun's
    both = {**srun, **torchrun, "WORLD_SIZE": "4"}
    plan = plan_run(TrainerConfig(max_steps=10), env=both, cuda=True, n_gpus=2, bf16_supported=True)
    assert (plan.devices, plan.num_nodes) == (2, 2) and type(plan.plugins[0]).__name__ == "TorchElasticEnvironment"
    with pytest.raises(ConfigError, match="disagree with the launcher"):
        plan_run(TrainerConfig(max_steps=10, devices=4), env=torchrun, cuda=False)
    # `s2s launch --ngpu 1` on a 4-GPU machine: one process on one GPU, not DDP over all four
    single = {"S2S_LAUNCH_SINGLE": "1"}
    plan = plan_run(TrainerConfig(max_steps=10), env=single, cuda=True, n_gpus=4, bf16_supported=True)
    assert (plan.devices, plan.num_nodes, plan.world_size) == (1, 1, 1)
    assert plan_run(TrainerConfig(max_steps=10), env={}, cuda=True, n_gpus=4, bf16_supported=True).devices == 4
