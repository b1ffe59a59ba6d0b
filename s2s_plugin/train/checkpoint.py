"""Checkpoint files: atomic writes, averaging of the best N, periodic snapshots, the final model directory.

    avg = average_checkpoints(["exp/x/checkpoints/best-0000400.ckpt", "exp/x/checkpoints/best-0000500.ckpt"])
    export_model(model, avg, vocab_path="exp/vocab/vocab.yaml", out_dir="exp/x/model")

With ``trainer.keep_every: N`` a run also keeps the model weights of every
N-th optimiser step as ``checkpoints/step0000100.ckpt`` (:class:`KeepEvery`),
so analyses over training (``s2s similarity``) have more than the best and
last checkpoints to look at.

The final model directory is what decoding loads: a transformers model
(``save_pretrained``, with its vocabulary layout recorded in ``config.json``)
plus ``vocab.yaml`` and the text tokenizer it names, copied next to it.
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
    """Copy ``vocab.yaml`` and its text tokenizer into ``out_dir`` (tokenizer path made relative)."""
    out_dir = Path(out_dir)
    vocab = Vocabulary.load(vocab_path)
    tok = Path(vocab.tokenizer["path"])
    dst = out_dir / tok.name
    if tok.is_dir():
        shutil.copytree(tok, dst, dirs_exist_ok=True)
    else:
        shutil.copy2(tok, dst)
        if tok.with_suffix(".vocab").is_file():
            shutil.copy2(tok.with_suffix(".vocab"), dst.with_suffix(".vocab"))
    vocab.tokenizer = dict(vocab.tokenizer, path=tok.name)
    vocab.save(out_dir / "vocab.yaml")
    return out_dir / "vocab.yaml"


def export_model(model: torch.nn.Module, weights: dict[str, torch.Tensor] | None, vocab_path: str | Path,
                 out_dir: str | Path) -> Path:
    """Write ``model`` (with ``weights`` loaded, if given) as a transformers model dir with its vocabulary.

    The directory is assembled under a temporary name and renamed into place.
    LoRA adapters are merged into the base weights first.
    """
    out_dir = Path(out_dir)
    if weights is not None:
        load_model_weights(model, weights, "the averaged checkpoints")
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    tmp = out_dir.with_name(f".{out_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save_pretrained(tmp)
    copy_vocab(vocab_path, tmp)
    mode = 0o666 & ~_umask()
    for f in tmp.rglob("*"):
        if f.is_file():
            os.chmod(f, mode)  # safetensors writes 0600; give the files the usual permissions
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
    return out_dir
