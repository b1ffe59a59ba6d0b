"""Checkpoint files: atomic writes, averaging of the best N, periodic snapshots, the final model directory.

    avg = average_checkpoints(["exp/x/checkpoints/best-0000400.ckpt", "exp/x/checkpoints/best-0000500.ckpt"])
    export_model(model, avg, vocab_path="exp/vocab/vocab.yaml", out_dir="exp/x/model")

With ``trainer.keep_every: N`` a run also keeps the model weights of every
N-th optimiser step as ``checkpoints/step0000100.ckpt`` (:class:`KeepEvery`),
so analyses over training (``s2s similarity``) have more than the best and
last checkpoints to look at.

The final model directory is a standard transformers model directory that plain
transformers loads (:func:`export_model`): weights stored once, the joint
tokenizer, a generation config with our ``<eos>`` and ``<pad>``; the vocabulary
layout is recorded in ``config.json`` and ``vocab.yaml`` with its text tokenizer
sits next to them for ``s2s decode``.
"""
from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO

from s2s_plugin.errors import ConfigError
from s2s_plugin.llm.vocab import Vocabulary
from s2s_plugin.safe_load import load_checkpoint

logger = logging.getLogger(__name__)

#: the LightningModule holds the LLM as ``self.model``
MODEL_PREFIX = "model."
#: file name (without ``.ckpt``) of the periodic snapshots of ``trainer.keep_every``
PERIODIC_NAME = "step{step:07d}"


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes a checkpoint under a temporary name and renames it: no half-written ``.ckpt`` ever."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp")
        super().save_checkpoint(checkpoint, tmp, storage_options)
        os.replace(tmp, path)


class KeepEvery(ModelCheckpoint):
    """Keeps the model weights of every ``every``-th optimiser step as ``step<7 digits>.ckpt``.

    Weights only (no optimiser state: a snapshot is as large as the model, not
    three times), none ever deleted. A class of its own so that Lightning keeps
    its state apart from the ``last.ckpt`` callback's even when both run at
    the same interval.

    Args:
        dirpath: the run's ``checkpoints/`` directory.
        every: optimiser steps between snapshots.
    """

    def __init__(self, dirpath: str | Path, every: int) -> None:
        super().__init__(dirpath=dirpath, filename=PERIODIC_NAME, every_n_train_steps=every, save_top_k=-1,
                         save_weights_only=True, auto_insert_metric_name=False, enable_version_counter=False)


def load_model_weights(model: torch.nn.Module, weights: dict[str, torch.Tensor], where: str) -> None:
    """Load the LLM ``weights`` (see :func:`model_weights`) into ``model``.

    A missing ``lm_head.weight`` is fine (tied heads are not saved twice).

    Raises:
        ConfigError: the weights do not fit the model, naming ``where`` they come from.
    """
    missing, unexpected = model.load_state_dict(weights, strict=False)
    real_missing = [k for k in missing if not k.endswith("lm_head.weight")]
    if real_missing or unexpected:
        raise ConfigError(f"{where}: the weights do not fit the model: missing {real_missing[:3]}, "
                          f"unexpected {unexpected[:3]}")


def average_checkpoints(paths: Sequence[str | Path]) -> dict[str, torch.Tensor]:
    """The element-wise mean of the model weights of Lightning checkpoints.

    Floating-point tensors are averaged (in float64, then cast back); others
    (integer buffers) are taken from the last checkpoint.

    Raises:
        ConfigError: no paths, or checkpoints with different weights.
    """
    if not paths:
        raise ConfigError("no checkpoints to average")
    total: dict[str, torch.Tensor] = {}
    last: dict[str, torch.Tensor] = {}
    for path in paths:
        state = load_checkpoint(path, "checkpoint to average", error=ConfigError)["state_dict"]
        if total and set(state) != set(total):
            raise ConfigError(f"{path}: its weights differ from {paths[0]}'s; average checkpoints of one run only")
        for k, v in state.items():
            if v.is_floating_point():
                total[k] = total[k] + v.double() if k in total else v.double()
            else:
                total.setdefault(k, v)
        last = state
    return {k: (total[k] / len(paths)).to(last[k].dtype) if last[k].is_floating_point() else last[k] for k in total}


def model_weights(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The LLM's own weights of a LightningModule state dict."""
    return {k[len(MODEL_PREFIX):]: v for k, v in state_dict.items() if k.startswith(MODEL_PREFIX)}


def copy_vocab(vocab_path: str | Path, out_dir: str | Path) -> Path:
    """Copy ``vocab.yaml`` and its text tokenizer's files into ``out_dir`` (tokenizer path made relative)."""
    from s2s_plugin.llm.export import copy_text_tokenizer

    return copy_text_tokenizer(vocab_path, out_dir)


def _parameter_bytes(model: torch.nn.Module) -> int:
    """Bytes of the model's parameters, each tensor counted once (tied weights are one tensor)."""
    seen: dict[int, int] = {}
    for p in model.parameters():
        seen[p.data_ptr()] = p.numel() * p.element_size()
    return sum(seen.values())


def export_model(model: torch.nn.Module, weights: dict[str, torch.Tensor] | None, vocab_path: str | Path,
                 out_dir: str | Path, model_vocab: Vocabulary | None = None, lora_export: str = "merged") -> Path:
    """Write ``model`` (with ``weights`` loaded, if given) as a standard transformers model directory.

    ``out_dir`` loads with plain transformers (``AutoTokenizer``/``AutoModelForCausalLM.from_pretrained``):
    ``config.json`` and the weights (stored once), ``generation_config.json`` with the vocabulary's
    ``<eos>`` and ``<pad>``, and the joint tokenizer (text tokens, specials and units at the ids the
    model was trained with; :mod:`s2s_plugin.llm.export`). ``vocab.yaml`` and a copy of its text
    tokenizer's files (never a base model's weights) serve ``s2s decode``.

    LoRA adapters are merged into the base weights (``lora_export: merged``), or saved as a
    peft adapter (``adapter``: ``adapter_config.json`` naming the base model's directory,
    whose weights are not copied; the adapter holds the LoRA matrices and the embedding and
    output rows, which training extends). The directory is assembled under a temporary name and
    renamed into place.

    Args:
        model: the model as built for training.
        weights: the LLM weights to load into it (see :func:`model_weights`); ``None``: as it is.
        vocab_path: the run's ``vocab.yaml``.
        out_dir: the directory to write (replaced).
        model_vocab: the model's layout (stage 7's has no units); default: the vocabulary of ``vocab_path``.
        lora_export: ``merged`` or ``adapter``; without LoRA it does not matter.
    """
    from s2s_plugin.llm.export import set_token_ids, write_hf_files

    out_dir = Path(out_dir)
    if lora_export not in ("merged", "adapter"):
        raise ConfigError(f"lora export must be 'merged' or 'adapter', got {lora_export!r}")
    if model_vocab is None:
        model_vocab = Vocabulary.load(vocab_path)
    if weights is not None:
        load_model_weights(model, weights, "the averaged checkpoints")
    adapter = hasattr(model, "merge_and_unload") and lora_export == "adapter"
    if hasattr(model, "merge_and_unload") and not adapter:
        model = model.merge_and_unload()
    base = model.get_base_model() if adapter else model
    set_token_ids(base, model_vocab)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if adapter:
        cfg = model.peft_config["default"]
        cfg.base_model_name_or_path = str(Path(base.name_or_path).resolve())
        model.save_pretrained(tmp)
        base.generation_config.save_pretrained(tmp)
    else:
        model.save_pretrained(tmp)
    write_hf_files(tmp, model_vocab, vocab_path, getattr(base.config, "max_position_embeddings", None))
    mode = 0o666 & ~_umask()
    for f in tmp.rglob("*"):
        if f.is_file():
            os.chmod(f, mode)  # safetensors writes 0600; give the files the usual permissions
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
    size = sum(f.stat().st_size for f in out_dir.rglob("*") if f.is_file())
    if adapter:
        logger.info("exported %s: a LoRA adapter of %.1f MB on %s", out_dir, size / 1e6,
                    model.peft_config["default"].base_model_name_or_path)
    else:
        logger.info("exported %s: %.1f MB on disk for %.1f MB of parameters", out_dir, size / 1e6,
                    _parameter_bytes(model) / 1e6)
    return out_dir
