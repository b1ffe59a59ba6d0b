"""The LightningModule of stages 7 and 8: an LLM decoder trained on token sequences.

    module = S2STModule(model, task, optim=cfg.optim, max_steps=cfg.trainer.max_steps,
                        scheduler=p_scheduler, valid_p=0.0)
    trainer.fit(module, datamodule=S2SDataModule(task, cfg.data))

Each optimiser step t trains on sequences built at batch time with
``p = scheduler.value(t)`` (``t`` = Lightning's ``global_step``, the number of
optimiser steps taken, the same for every micro-batch of an accumulation
window). That is the schedule's only clock: the trainer never calls the
scheduler's ``step()``, so a resumed run, the batch planner
(:mod:`s2s_plugin.train.sampler`) and the logged ``train/p`` all read p from
the same step. The loss is the summed NLL of every label token divided by the
number of label tokens of the global batch (all processes), so a run on N
processes computes the gradient of one process on the union of their
batches. Per-segment losses (``src_text``, ``tgt_text``, ``tgt_speech``) are
logged next to it, with p and the learning rate. Validation sequences use a
fixed p (``valid_p``, 0 = pure units as at inference).

Checkpoints carry, besides Lightning's model/optimiser/LR-schedule/loop
state, the interleaving scheduler's state (its name and parameters, which a
resume must match) and every process's RNG states; the
train loader's position is stored by Lightning through
:class:`~s2s_plugin.train.datamodule.ResumableLoader`.
"""
from __future__ import annotations

import math
import random
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F

from s2s_plugin.llm.sequence import IGNORE, SEGMENTS, collate
from s2s_plugin.train.schema import OptimConfig
from s2s_plugin.train.datamodule import RawBatch


def lr_factor(step: int, warmup_steps: int, total_steps: int, decay: str, min_ratio: float) -> float:
    """The learning rate at optimiser step ``step`` as a share of the peak."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    t = min((step - warmup_steps) / max(1, total_steps - warmup_steps), 1.0)
    shape = {"constant": 1.0, "linear": 1.0 - t, "cosine": 0.5 * (1.0 + math.cos(math.pi * t))}[decay]
    return min_ratio + (1.0 - min_ratio) * shape


def collect_rng() -> dict[str, Any]:
    """This process's RNG states as plain Python values (bytes, ints): they survive
    ``all_gather_object`` and ``torch.load(weights_only=True)``."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {"torch": torch.get_rng_state().numpy().tobytes(), "python": random.getstate(),
                             "numpy": [np_state[0], np_state[1].astype(np.uint32).tobytes(), *map(float, np_state[2:])]}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = [s.numpy().tobytes() for s in torch.cuda.get_rng_state_all()]
    return state


def _byte_tensor(b: bytes) -> torch.Tensor:
    return torch.frombuffer(bytearray(b), dtype=torch.uint8)


def restore_rng(state: dict[str, Any]) -> None:
    """Set this process's RNG states from :func:`collect_rng` output."""
    torch.set_rng_state(_byte_tensor(state["torch"]))
    random.setstate(state["python"])
    name, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, np.frombuffer(keys, dtype=np.uint32).copy(), int(pos), int(has_gauss), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([_byte_tensor(b) for b in state["cuda"]])


def no_decay(name: str) -> bool:
    """Biases and normalisation weights get no weight decay (by name: FSDP flattens shapes)."""
    return name.endswith("bias") or "norm" in name.lower()


def chunked_nll(hidden: torch.Tensor, labels: torch.Tensor, head: torch.nn.Module, chunk: int) -> torch.Tensor:
    """Per-position NLL (0 where ``labels`` is ``IGNORE``) of ``head(hidden)``, ``chunk`` positions at a time.

    Only positions with a label go through ``head``; each chunk's logits (upcast to fp32) live
    only inside a checkpointed function, recomputed in the backward pass, so the peak is one
    chunk's ``chunk x vocabulary`` logits instead of the batch's.
    """
    from torch.utils.checkpoint import checkpoint

    keep = labels != IGNORE
    h, y = hidden[keep], labels[keep]

    def piece(h_chunk: torch.Tensor, y_chunk: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(head(h_chunk).float(), y_chunk, reduction="none")

    parts = [checkpoint(piece, h[i:i + chunk], y[i:i + chunk], use_reentrant=False)
             for i in range(0, h.shape[0], chunk)]
    nll = torch.zeros(labels.shape, dtype=torch.float32, device=hidden.device)
    return nll.masked_scatter(keep, torch.cat(parts)) if parts else nll + 0.0 * hidden.sum()


class S2STModule(L.LightningModule):
    """Trains ``model`` on the sequences ``task`` builds, with text ratio p from ``scheduler``.

    Args:
        model: a causal LM taking ``input_ids``/``attention_mask`` and returning ``.logits``.
        task: builds token sequences from items (:class:`~s2s_plugin.train.datamodule.S2STTask`, ``TextTask``).
        pad_id: the padding token id.
        optim: AdamW and LR schedule settings.
        max_steps: the run's optimiser steps (the LR schedule's end).
        scheduler: the interleaving scheduler (``None``: p = 0 throughout, not logged).
        valid_p: text ratio of validation sequences.
        loss_chunk_tokens: > 0: output layer and loss on this many label positions at a time
            (:func:`chunked_nll`); 0: from the model's full logits.
    """

    def __init__(self, model: torch.nn.Module, task: Any, pad_id: int, optim: OptimConfig, max_steps: int,
                 scheduler: Any = None, valid_p: float = 0.0, loss_chunk_tokens: int = 0) -> None:
        super().__init__()
        # from_pretrained returns a model in eval mode, and Lightning keeps each module's mode: without
        # this, a model loaded from a directory would train without dropout
        model.train()
        self.model, self.task, self.pad_id = model, task, pad_id
        self.optim_cfg, self.max_steps = optim, max_steps
        self.p_scheduler, self.valid_p = scheduler, valid_p
        self._rng_to_restore: list[dict[str, Any]] | None = None
        self._val_stats: torch.Tensor | None = None
        self.loss_chunk_tokens = loss_chunk_tokens
        if loss_chunk_tokens and not (hasattr(model, "get_decoder") and hasattr(model, "get_output_embeddings")):
            raise ValueError(f"trainer.loss_chunk_tokens needs a model with get_decoder() and "
                             f"get_output_embeddings() (a transformers causal LM); {type(model).__name__} has not")

    # -- batches: built here, at the step they are trained in -------------------------------
    def p_at(self, step: int) -> float:
        return float(self.p_scheduler.value(step)) if self.p_scheduler is not None else 0.0

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        if not isinstance(batch, RawBatch):
            return batch
        train = self._trainer is not None and self.trainer.training
        if train:
            step = self.trainer.global_step
            p = self.p_at(step)
        else:
            step, p = 0, self.valid_p
        out = collate(self.task.build(batch.items, step=step, p=p, train=train), pad_id=self.pad_id)
        out.update(p=p, epoch=batch.epoch, position=batch.position)
        return out

    # -- loss ---------------------------------------------------------------------------------
    def segment_nll(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """The summed NLL of the batch's label tokens, and per segment ``[nll sum, tokens]`` (4 x 2, no grad)."""
        labels, segs = batch["labels"][:, 1:], batch["segments"][:, 1:]
        if self.loss_chunk_tokens:
            hidden = self.model.get_decoder()(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                              use_cache=False).last_hidden_state
            nll = chunked_nll(hidden[:, :-1], labels, self.model.get_output_embeddings(), self.loss_chunk_tokens)
        else:
            logits = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                use_cache=False).logits
            nll = F.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]), labels.reshape(-1),
                                  ignore_index=IGNORE, reduction="none").view_as(labels)
        mask = labels != IGNORE
        stats = []
        for s in range(len(SEGMENTS)):  # masks by multiplication: no data-dependent shapes, no device syncs
            m = (mask & (segs == s)).to(nll.dtype)
            stats.append(torch.stack([(nll.detach() * m).sum(), m.sum()]))
        return nll.sum(), torch.stack(stats)  # cross_entropy gives 0 where the label is ignored

    def _global(self, stats: torch.Tensor) -> torch.Tensor:
        if self._trainer is None or self.trainer.world_size == 1:
            return stats
        return self.trainer.strategy.reduce(stats.clone(), reduce_op="sum")

    def _log_segments(self, prefix: str, stats: torch.Tensor, **kw: Any) -> torch.Tensor:
        total = stats[:, 0].sum() / stats[:, 1].sum().clamp(min=1)
        self.log(f"{prefix}/loss", total, **kw)
        for s, name in enumerate(SEGMENTS):
            if stats[s, 1] > 0:
                self.log(f"{prefix}/loss_{name}", stats[s, 0] / stats[s, 1], **kw)
        return total

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        dm = getattr(self.trainer, "datamodule", None)
        sampler = getattr(dm, "train_sampler", None)
        if sampler is not None and isinstance(batch, dict) and "position" in batch:
            sampler.mark_consumed(batch["epoch"], batch["position"])

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        nll_sum, stats = self.segment_nll(batch)
        n_input = batch["attention_mask"].sum().to(stats.dtype)
        stats = self._global(torch.cat([stats, torch.stack([n_input, n_input.new_zeros(())])[None]]))
        stats, n_input = stats[:-1], stats[-1, 0]
        n_tokens = stats[:, 1].sum().clamp(min=1)
        # DDP/FSDP average gradients over processes: scale so the result is sum(NLL) / global tokens
        loss = nll_sum * self.trainer.world_size / n_tokens
        kw = dict(on_step=True, on_epoch=False, batch_size=1, rank_zero_only=True)
        self._log_segments("train", stats, prog_bar=False, **kw)
        if self.p_scheduler is not None:
            self.log("train/p", float(batch["p"]), **kw)
        self.log("train/lr", self.trainer.optimizers[0].param_groups[0]["lr"], **kw)
        self.log("train/tokens", n_input, **kw)  # all processes' tokens, padding excluded
        return loss

    # -- validation ---------------------------------------------------------------------------
    def on_validation_epoch_start(self) -> None:
        self._val_stats = torch.zeros(len(SEGMENTS), 2, dtype=torch.float64, device=self.device)

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        _, stats = self.segment_nll(batch)
        self._val_stats += stats.to(torch.float64)

    def on_validation_epoch_end(self) -> None:
        stats = self._global(self._val_stats)
        # already summed over processes: every process logs the same value
        self._log_segments("valid", stats.float(), on_step=False, on_epoch=True, batch_size=1)

    # -- optimiser ------------------------------------------------------------------------------
    def configure_optimizers(self) -> dict[str, Any]:
        o = self.optim_cfg
        params = [(n, p) for n, p in self.named_parameters() if p.requires_grad]
        groups = [{"params": [p for n, p in params if not no_decay(n)], "weight_decay": o.weight_decay},
                  {"params": [p for n, p in params if no_decay(n)], "weight_decay": 0.0}]
        opt = torch.optim.AdamW([g for g in groups if g["params"]], lr=o.lr, betas=tuple(o.betas), eps=o.eps)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda step: lr_factor(step, o.warmup_steps, self.max_steps, o.decay, o.min_lr_ratio))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step", "frequency": 1}}

    # -- checkpoints ----------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        rng = [collect_rng()]
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            rng = [None] * torch.distributed.get_world_size()  # type: ignore[list-item]
            torch.distributed.all_gather_object(rng, collect_rng())
        checkpoint["s2s"] = {"rng": rng, "scheduler": None if self.p_scheduler is None
                             else self.p_scheduler.state_dict()}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("s2s", {})
        if self.p_scheduler is not None and state.get("scheduler") is not None:
            self.p_scheduler.load_state_dict(state["scheduler"])
        self._rng_to_restore = state.get("rng")

    def on_train_start(self) -> None:
        # restored last, right before the first step, so nothing in between draws from them
        if self._rng_to_restore:
            states = self._rng_to_restore
            rank = self.global_rank if len(states) == self.trainer.world_size else 0
            restore_rng(states[rank])
            self._rng_to_restore = None
