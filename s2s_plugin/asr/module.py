"""The LightningModule of CTC training (stages 3 and 11): a CTCNet, its loss, CER on the valid sets.

    module = CTCModule(net, tokens, valid_items, lr=2e-3, warmup_steps=60, weight_decay=0.0)
    trainer.fit(module, datamodule=CTCDataModule(...))
    module.history                  # one record per finished epoch: losses, lr, CER per set and language

Adam with espnet2's ``WarmupLR`` (linear warm-up to ``lr`` at ``warmup_steps``, then
``lr * sqrt(warmup_steps / step)``), stepped per optimiser step. The training loss
is the CTC loss summed over the utterances of the global batch (all processes)
divided by their number, so a run on N processes follows the gradient of one
process on the union of their batches. After each epoch's validation the module
gathers every process's greedy transcripts and scores CER per set and language;
``on_epoch_end`` (rank 0 writes files there) gets the epoch's record.

Checkpoints carry, besides Lightning's model/optimiser/LR-schedule/loop state,
the history, the running loss sums of the epoch and every process's RNG states
(restored right before the first step, so dropout and SpecAugment masks continue
exactly).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import lightning as L
import torch

from s2s_plugin.asr.data import Item

logger = logging.getLogger(__name__)


def cer(refs: list[str], hyps: list[str], measure: str = "cer") -> float:
    """Character error rate (spaces count as characters), over a whole list; ``measure="wer"``: word error rate."""
    import jiwer

    if not refs:
        return float("nan")
    return float(getattr(jiwer, measure)(refs, hyps))


def cer_table(items: Sequence[Item], hyps: dict[int, str], measure: str = "cer") -> dict:
    """CER per set and language, and per language over all sets (items without a hypothesis are left out).

    ``measure="wer"`` gives the same table of word error rates (keys ``wer``, ``wer_by_lang``).
    """
    by_set: dict[str, dict[str, tuple[list, list]]] = {}
    by_lang: dict[str, tuple[list, list]] = {}
    for i, it in enumerate(items):
        if i not in hyps:
            continue
        for refs, out in (by_set.setdefault(it.set, {}).setdefault(it.lang, ([], [])),
                          by_lang.setdefault(it.lang, ([], []))):
            refs.append(it.text)
            out.append(hyps[i])
    return {measure: {s: {lang: round(cer(*v, measure), 4) for lang, v in d.items()} for s, d in by_set.items()},
            f"{measure}_by_lang": {lang: round(cer(*v, measure), 4) for lang, v in by_lang.items()}}


class CTCModule(L.LightningModule):
    """Trains a :class:`~s2s_plugin.asr.model.CTCNet` on character targets.

    Args:
        net: the network.
        tokens: the token list (``CharTokenList`` or ``BPETokenList``; decodes validation transcripts).
        valid_items: the valid utterances, in the valid loader's index order.
        lr: peak learning rate (reached at ``warmup_steps``).
        warmup_steps: optimiser steps of linear warm-up (>= 1).
        weight_decay: Adam's weight decay.
        on_epoch_end: called on every process with each finished epoch's record.
    """

    def __init__(self, net: torch.nn.Module, tokens: Any, valid_items: Sequence[Item], lr: float,
                 warmup_steps: int, weight_decay: float = 0.0,
                 on_epoch_end: Callable[[dict], None] | None = None) -> None:
        super().__init__()
        # Lightning keeps each module's mode; espnet's feed-forward blocks share one default activation
        # module, which another model's .eval() may have switched
        net.train()
        self.net, self.tokens, self.valid_items = net, tokens, list(valid_items)
        self.lr, self.warmup_steps, self.weight_decay = lr, warmup_steps, weight_decay
        self.on_epoch_end = on_epoch_end
        self.history: list[dict] = []
        self.epochs_this_run = 0
        self._sums = [0.0, 0.0]  # this epoch's summed training loss and utterances, all processes
        self._sums_epoch = -1  # the epoch those sums belong to
        self._t0 = 0.0
        self._valid: dict | None = None
        self._val_sums: torch.Tensor | None = None
        self._hyps: dict[int, str] = {}
        self._rng_to_restore: list[dict[str, Any]] | None = None

    # -- training -----------------------------------------------------------------------------
    def _global(self, stats: torch.Tensor) -> torch.Tensor:
        if self._trainer is None or self.trainer.world_size == 1:
            return stats
        return self.trainer.strategy.reduce(stats.clone(), reduce_op="sum")

    def on_train_epoch_start(self) -> None:
        self._t0 = time.time()
        if self._sums_epoch != self.current_epoch:  # not an epoch resumed in its middle
            self._sums, self._sums_epoch = [0.0, 0.0], self.current_epoch

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        sampler = getattr(getattr(self.trainer, "datamodule", None), "train_sampler", None)
        if sampler is not None and isinstance(batch, dict) and "position" in batch:
            sampler.mark_consumed(batch["epoch"], batch["position"])

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor | None:
        loss = self.net(batch["speech"], batch["speech_lengths"], batch["ys"], batch["ys_lengths"])
        n = len(batch["index"])
        stats = self._global(torch.stack([loss.detach().double() * n,
                                          torch.tensor(float(n), dtype=torch.float64, device=loss.device)]))
        total, count = float(stats[0]), float(stats[1])
        if not torch.isfinite(stats[0]):  # the same decision on every process
            logger.warning("epoch %d step %d: non-finite loss in a batch of %d (first %s); skipped",
                           self.current_epoch + 1, self.global_step, n, batch["index"][0])
            return None
        self._sums = [self._sums[0] + total, self._sums[1] + count]
        kw = dict(on_step=True, on_epoch=False, batch_size=1, rank_zero_only=True)
        self.log("train/loss", total / count, **kw)
        self.log("train/lr", self.trainer.optimizers[0].param_groups[0]["lr"], **kw)
        world = self.trainer.world_size
        # DDP averages gradients over processes: scaled, the result is the global batch's mean loss
        return loss if world == 1 else loss * (n * world / count)

    def on_train_epoch_end(self) -> None:
        record = {"epoch": self.current_epoch + 1, "step": self.global_step,
                  "train_loss": self._sums[0] / max(self._sums[1], 1.0),
                  "lr": self.trainer.optimizers[0].param_groups[0]["lr"]}
        if self._valid is not None:
            record.update(self._valid)
        record["seconds"] = round(time.time() - self._t0, 1)
        self._valid = None
        self.history.append(record)
        self.epochs_this_run += 1
        self.log("epochs_done", float(record["epoch"]), on_step=False, on_epoch=True, batch_size=1)
        if self.on_epoch_end is not None:
            self.on_epoch_end(record)

    # -- validation -----------------------------------------------------------------------------
    def on_validation_epoch_start(self) -> None:
        self._val_sums = torch.zeros(2, dtype=torch.float64, device=self.device)
        self._hyps = {}

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        from s2s_plugin.asr.common import greedy_tokens

        hs, hlens = self.net.encode(batch["speech"], batch["speech_lengths"])
        loss = self.net.ctc(hs, hlens, batch["ys"], batch["ys_lengths"])
        n = len(batch["index"])
        self._val_sums += torch.stack([loss.detach().double() * n, loss.new_tensor(n, dtype=torch.float64)])
        logp = self.net.ctc.log_softmax(hs).float().cpu().numpy()
        for row, i in enumerate(batch["index"]):
            self._hyps[i] = self.tokens.decode(greedy_tokens(logp[row, : int(hlens[row])]))

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            return
        sums = self._global(self._val_sums)
        hyps = dict(self._hyps)
        if self.trainer.world_size > 1:
            parts: list[Any] = [None] * self.trainer.world_size
            torch.distributed.all_gather_object(parts, self._hyps)
            hyps = {i: h for part in parts for i, h in part.items()}
        loss = float(sums[0] / sums[1].clamp(min=1))
        self._valid = {"valid_loss": loss, **cer_table(self.valid_items, hyps)}
        self.log("valid/loss", loss, on_step=False, on_epoch=True, batch_size=1)
        for lang, value in sorted(self._valid["cer_by_lang"].items()):
            self.log(f"valid/cer_{lang}", value, on_step=False, on_epoch=True, batch_size=1)

    # -- optimiser ------------------------------------------------------------------------------
    def configure_optimizers(self) -> dict[str, Any]:
        from espnet2.schedulers.warmup_lr import WarmupLR

        params = [p for p in self.net.parameters() if p.requires_grad]  # frozen layers stay out
        opt = torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
        sched = WarmupLR(opt, warmup_steps=self.warmup_steps)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step", "frequency": 1}}

    # -- checkpoints ----------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        from s2s_plugin.train.module import collect_rng

        rng = [collect_rng()]
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            rng = [None] * torch.distributed.get_world_size()  # type: ignore[list-item]
            torch.distributed.all_gather_object(rng, collect_rng())
        checkpoint["ctc"] = {"rng": rng, "history": self.history, "sums": list(self._sums),
                             "sums_epoch": self._sums_epoch}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("ctc", {})
        self.history = list(state.get("history", []))
        self._sums, self._sums_epoch = list(state.get("sums", [0.0, 0.0])), int(state.get("sums_epoch", -1))
        self._rng_to_restore = state.get("rng")

    def on_train_start(self) -> None:
        from s2s_plugin.train.module import restore_rng

        # restored last, right before the first step, so nothing in between draws from them
        if self._rng_to_restore:
            states = self._rng_to_restore
            restore_rng(states[self.global_rank if len(states) == self.trainer.world_size else 0])
            self._rng_to_restore = None
