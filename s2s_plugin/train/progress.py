"""A progress line in the log every few optimiser steps (for log files, where a bar is noise).

    step 200/600 (33%) loss 3.412 [src_text 2.10 tgt_text 2.95 tgt_speech 3.71] p 0.70 lr 4.8e-04
    | 5.1k tok/s | 0:41 elapsed, 1:22 left
"""
from __future__ import annotations

import logging
import time
from typing import Any

import humanfriendly
import lightning as L

logger = logging.getLogger("s2s_plugin.train")


class ProgressLog(L.Callback):
    """Logs loss, per-segment losses, p, learning rate and throughput every ``every`` steps (rank 0).

    Args:
        every: optimiser steps between lines.
        max_steps: the run's length (for the ETA).
    """

    def __init__(self, every: int, max_steps: int) -> None:
        self.every, self.max_steps = every, max_steps
        self._t0 = self._t = 0.0
        self._step0 = 0
        self._tokens = 0.0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._t0 = self._t = time.perf_counter()
        self._step0 = trainer.global_step
        self._tokens = 0.0

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        m = trainer.callback_metrics
        self._tokens += float(m.get("train/tokens", 0.0))
        step = trainer.global_step
        if not trainer.is_global_zero or step == 0 or step % self.every or batch_idx % trainer.accumulate_grad_batches \
                != trainer.accumulate_grad_batches - 1:
            return
        now = time.perf_counter()
        segs = " ".join(f"{k.split('loss_')[1]} {float(v):.3f}" for k, v in sorted(m.items())
                        if k.startswith("train/loss_"))
        p = f" p {float(m['train/p']):.2f}" if "train/p" in m else ""
        rate = self._tokens / max(now - self._t, 1e-9)
        done = step - self._step0
        left = (now - self._t0) / max(done, 1) * (self.max_steps - step)
        logger.info("step %d/%d (%d%%) loss %.3f [%s]%s lr %.2e | %.0f tok/s | %s elapsed, %s left", step,
                    self.max_steps, 100 * step // self.max_steps, float(m.get("train/loss", float("nan"))), segs, p,
                    float(m.get("train/lr", 0.0)), rate, humanfriendly.format_timespan(now - self._t0, max_units=2),
                    humanfriendly.format_timespan(left, max_units=2))
        self._t, self._tokens = now, 0.0

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        m = trainer.callback_metrics
        segs = " ".join(f"{k.split('loss_')[1]} {float(v):.3f}" for k, v in sorted(m.items())
                        if k.startswith("valid/loss_"))
        if "valid/loss" in m:
            logger.info("step %d validation (p = %s): loss %.3f [%s]", trainer.global_step,
                        getattr(pl_module, "valid_p", 0.0), float(m["valid/loss"]), segs)
