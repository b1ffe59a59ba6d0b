"""One training run (stage 7 or 8) in an experiment directory: setup, fit, final model.

    from s2s_plugin.train.run import Run
    Run(cfg, "exp/s2st_scheduled").fit()        # resumes from checkpoints/last.ckpt if there is one

What the exp dir holds afterwards::

    config.yaml, plugins.yaml     the resolved config and the plugin versions it ran with
    run.sh                        the command that resumes (or re-runs) this run
    train.log                     the log (other ranks: train.rank<N>.log)
    data.yaml                     items, tokens, batches and their padding shares (at several p in stage 8)
    tensorboard/                  losses per segment, p, learning rate (``tensorboard --logdir``)
    checkpoints/last.ckpt         resume point: model, optimiser, LR schedule, p scheduler, RNG, data position
                                  (read with weights_only=True: a file holding other objects is refused; a
                                  damaged one is refused naming the newest best-*.ckpt that can replace it)
    checkpoints/best-*.ckpt       the ``keep_best`` checkpoints of lowest validation loss
    checkpoints/step*.ckpt        with ``trainer.keep_every: N``: the model weights of every N-th step
    model/                        their average: a standard transformers model dir (config, weights, tokenizer
                                  with every unit and special token, generation config with our eos and pad),
                                  plus vocab.yaml, sequence.yaml and llm.yaml for ``s2s decode``

A resume whose config differs from ``config.yaml`` in anything but
:data:`RESUMABLE_KEYS` (logging, checkpoint and validation intervals, the
number of processes) is refused before anything is written, unless
``allow_changed_config`` (``--allow_changed_config``) says so.
"""
from __future__ import annotations

import dataclasses

import logging
import os
import shlex
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from s2s_plugin.config import save_resolved, to_dict
from s2s_plugin.data.io import atomic_write
from s2s_plugin.errors import ConfigError
from s2s_plugin.llm.vocab import Vocabulary
from s2s_plugin.registry import get_registry
from s2s_plugin.safe_load import check_resume_checkpoint
from s2s_plugin.train.schema import PretrainTextConfig, TrainConfig, check_recipe_paths, describe

logger = logging.getLogger(__name__)

#: the launcher puts its own command line here, so run.sh resumes through it
LAUNCH_ENV = "S2S_LAUNCH_CMD"
#: config keys that may change when a run resumes: they say how the run is watched and on how many
#: processes it runs, not what it computes; any other change needs ``allow_changed_config``
RESUMABLE_KEYS = ("trainer.log_every_n_steps", "trainer.num_sanity_val_steps", "trainer.save_every",
                  "trainer.keep_every", "trainer.keep_best", "trainer.val_check_interval", "trainer.devices",
                  "trainer.num_nodes")
#: the command-line option that lets a run resume with other config values
ALLOW_CHANGED_OPTION = "--allow_changed_config"


def text_only(vocab: Vocabulary) -> Vocabulary:
    """``vocab`` without unit tokens: the text LM's layout (text tokens + specials)."""
    out = replace(vocab, n_units=0)
    out._tok = vocab._tok
    return out


def _rank() -> int:
    return int(os.environ.get("RANK", os.environ.get("SLURM_PROCID", "0")))


_LOGGERS = ("s2s_plugin", "lightning.pytorch")


def _flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (empty mappings stay values)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def config_changes(stored: dict, now: dict) -> list[tuple[str, Any, Any]]:
    """``(dotted key, stored value, new value)`` for each leaf that differs (``"(absent)"`` where missing)."""
    a, b = _flatten(stored), _flatten(now)
    return [(k, a.get(k, "(absent)"), b.get(k, "(absent)")) for k in sorted(a.keys() | b.keys())
            if a.get(k, "(absent)") != b.get(k, "(absent)")]


def _log_to_file(exp: Path) -> tuple[logging.Handler, dict[str, int]]:
    """Log the run's INFO messages to ``exp/train.log``; returns the handler and the levels to restore."""
    rank = _rank()
    handler = logging.FileHandler(exp / ("train.log" if rank == 0 else f"train.rank{rank}.log"), encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s"))
    handler.setLevel(logging.INFO)
    levels = {}
    for name in _LOGGERS:
        log = logging.getLogger(name)
        levels[name] = log.level
        log.addHandler(handler)
        if log.getEffectiveLevel() > logging.INFO:
            log.setLevel(logging.INFO)
    return handler, levels


class Run:
    """A training run of ``cfg`` (:class:`TrainConfig` or :class:`PretrainTextConfig`) in ``exp_dir``.

    Args:
        cfg: the validated config.
        exp_dir: the experiment directory (created).
        vocab_path: the vocabulary; default: ``cfg.vocab``.
        command: the command line that started the run (written to ``run.sh``).
        callbacks: extra Lightning callbacks (tests).
        allow_changed_config: resume even where ``cfg`` differs from the run's stored
            ``config.yaml`` in keys other than :data:`RESUMABLE_KEYS` (``--allow_changed_config``);
            without it such a resume is refused before anything is written.
    """

    def __init__(self, cfg: TrainConfig | PretrainTextConfig, exp_dir: str | Path, vocab_path: str | None = None,
                 command: Sequence[str] | None = None, callbacks: Sequence[Any] = (),
                 allow_changed_config: bool = False) -> None:
        if vocab_path and cfg.vocab != str(vocab_path):  # exp/config.yaml records the vocabulary that ran
            cfg = dataclasses.replace(cfg, vocab=str(vocab_path))
        check_recipe_paths(cfg)
        self.cfg, self.exp = cfg, Path(exp_dir)
        self.vocab_path = Path(cfg.vocab)
        self.command, self.extra_callbacks = command, list(callbacks)
        self.allow_changed_config = allow_changed_config
        if not self.vocab_path.is_file():
            raise ConfigError(f"vocabulary not found: {self.vocab_path}; run stage 6 (s2s vocab) first")

    # -- setup --------------------------------------------------------------------------------
    def _check_resume_config(self) -> None:
        """Refuse to resume with config values other than the stored ones, unless allowed.

        Runs on every process, before anything is written, so all of them stop alike.
        """
        stored = self.exp / "config.yaml"
        if not (stored.is_file() and (self.exp / "checkpoints" / "last.ckpt").is_file()):
            return
        try:
            before = yaml.safe_load(stored.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, yaml.YAMLError) as e:
            raise ConfigError(f"{stored}: cannot read the config this run was started with ({type(e).__name__}); "
                              f"restore it, or start a new exp dir") from None
        if not isinstance(before, dict):
            raise ConfigError(f"{stored}: not the config this run was started with (not a mapping); restore it, "
                              f"or start a new exp dir")
        changes = config_changes(before, yaml.safe_load(yaml.safe_dump(to_dict(self.cfg))))
        if not changes:
            return
        shown = "; ".join(f"{k}: {a!r} -> {b!r}" for k, a, b in changes[:8]) + ("; ..." if len(changes) > 8 else "")
        if self.allow_changed_config or all(k in RESUMABLE_KEYS for k, _, _ in changes):
            logger.warning("resuming %s with a config that differs from %s: %s", self.exp, stored, shown)
            return
        raise ConfigError(
            f"{self.exp}: refusing to resume: the config differs from the one this run was started with "
            f"({stored}) in {shown}. Resume with the stored values, start a new exp dir, or pass "
            f"{ALLOW_CHANGED_OPTION} to continue from checkpoints/last.ckpt with the new values")

    def _setup_exp(self) -> None:
        self.exp.mkdir(parents=True, exist_ok=True)
        self._handler, self._levels = _log_to_file(self.exp)
        if _rank() != 0:
            return
        save_resolved(self.cfg, self.exp)
        cmd = os.environ.get(LAUNCH_ENV) or shlex.join(self.command or [sys.executable, *sys.argv])
        with atomic_write(self.exp / "run.sh") as f:
            f.write("#!/usr/bin/env bash\n"
                    f"# Resumes this run from {self.exp}/checkpoints/last.ckpt (or starts it); written "
                    f"{time.strftime('%Y-%m-%d %H:%M:%S')}.\n# Extra arguments are appended (overrides).\n"
                    f"cd {shlex.quote(os.getcwd())}\n{cmd} \"$@\"\n")
        os.chmod(self.exp / "run.sh", 0o755)

    def _setup_components(self) -> None:
        reg = get_registry()
        cfg = self.cfg
        self.vocab = Vocabulary.load(self.vocab_path)
        self.decoder = reg.build("llm_decoder", cfg.llm, "llm")
        from s2s_plugin.train.datamodule import S2STTask, TextTask

        if isinstance(cfg, PretrainTextConfig):
            self.model_vocab = text_only(self.vocab)
            self.task: Any = TextTask(cfg.text, self.vocab)
            self.p_scheduler, self.batching, self.valid_p = None, cfg.text, 0.0
            self.has_valid = any(cfg.text.files("valid"))
        else:
            self.model_vocab = self.vocab
            self.task = S2STTask(cfg.data, cfg.sequence, self.vocab)
            self.p_scheduler = reg.build("interleave_scheduler", cfg.scheduler, "scheduler")
            self.batching, self.valid_p = cfg.data, cfg.data.valid_p
            self.has_valid = bool(cfg.data.valid)
        if self.cfg.trainer.max_steps % self.cfg.trainer.val_check_interval and self.has_valid:
            logger.warning("trainer.max_steps (%d) is not a multiple of val_check_interval (%d): the last "
                           "steps are never validated, so never averaged", self.cfg.trainer.max_steps,
                           self.cfg.trainer.val_check_interval)

    def _setup_trainer(self, model: Any) -> Any:
        import lightning as L
        from lightning.pytorch.callbacks import ModelCheckpoint
        from lightning.pytorch.loggers import TensorBoardLogger

        from s2s_plugin.train.checkpoint import AtomicCheckpointIO, KeepEvery
        from s2s_plugin.train.progress import ProgressLog
        from s2s_plugin.train.strategy import plan_run

        t = self.cfg.trainer
        plan = plan_run(t, model)
        ckpt_dir = self.exp / "checkpoints"
        self.last_cb = ModelCheckpoint(dirpath=ckpt_dir, every_n_train_steps=t.save_every, save_top_k=0,
                                       save_last=True, enable_version_counter=False)
        callbacks = [self.last_cb, ProgressLog(t.log_every_n_steps, t.max_steps)]
        if t.keep_every:
            callbacks.append(KeepEvery(ckpt_dir, t.keep_every))
        self.best_cb = None
        if self.has_valid:
            # save_last: last.ckpt is rewritten after each validation too, so that the resume point
            # knows the best-N checkpoints that validation just kept
            self.best_cb = ModelCheckpoint(dirpath=ckpt_dir, filename="best-step{step:07d}", monitor="valid/loss",
                                           mode="min", save_top_k=t.keep_best, auto_insert_metric_name=False,
                                           enable_version_counter=False, save_last=True)
            callbacks.append(self.best_cb)
        return L.Trainer(
            accelerator=plan.accelerator, devices=plan.devices, num_nodes=plan.num_nodes, strategy=plan.strategy,
            precision=plan.precision, plugins=[*plan.plugins, AtomicCheckpointIO()],
            max_steps=t.max_steps, max_epochs=-1, accumulate_grad_batches=t.accumulate,
            gradient_clip_val=t.gradient_clip or None, val_check_interval=t.val_check_interval * t.accumulate,
            check_val_every_n_epoch=None, limit_val_batches=None if self.has_valid else 0,
            num_sanity_val_steps=t.num_sanity_val_steps if self.has_valid else 0,
            log_every_n_steps=t.log_every_n_steps, callbacks=[*callbacks, *self.extra_callbacks],
            logger=TensorBoardLogger(save_dir=str(self.exp), name="tensorboard", version="",
                                     default_hp_metric=False),
            use_distributed_sampler=False, enable_progress_bar=sys.stderr.isatty(), default_root_dir=str(self.exp),
            enable_model_summary=_rank() == 0)

    # -- run ------------------------------------------------------------------------------------
    def fit(self, average: bool = True) -> Path | None:
        """Train (or resume) to ``trainer.max_steps``; then write ``model/`` (rank 0).

        Returns:
            The final model directory (rank 0), else ``None``.
        """
        self._check_resume_config()
        last = self.exp / "checkpoints" / "last.ckpt"
        if last.is_file():
            # vetted first, before anything is written (and whatever the strategy: FSDP's loader of full
            # checkpoints ignores weights_only); best-*.ckpt hold the full state too (step*.ckpt only
            # weights), so the newest readable one is named as a replacement
            check_resume_checkpoint(last, "best-*.ckpt", fix=f"move it away to start the run afresh in {self.exp}")
        self._setup_exp()
        try:
            with warnings.catch_warnings():
                # intended: batches are built by the module's on_before_batch_transfer, at the current step
                warnings.filterwarnings("ignore", message=".*overridden `on_before_batch_transfer`.*")
                warnings.filterwarnings("ignore", message=".*litlogger.*")
                warnings.filterwarnings("ignore", message="Checkpoint directory .* exists and is not empty")
                return self._fit(average)
        finally:
            for name, level in self._levels.items():
                logging.getLogger(name).removeHandler(self._handler)
                logging.getLogger(name).setLevel(level)
            self._handler.close()

    def _fit(self, average: bool) -> Path | None:
        import lightning as L

        from s2s_plugin.train.datamodule import S2SDataModule
        from s2s_plugin.train.module import S2STModule

        logger.info("%s in %s", describe(self.cfg), self.exp)
        L.seed_everything(self.cfg.trainer.seed, workers=True, verbose=False)
        self._setup_components()
        model = self.decoder.build(self.model_vocab)
        self.module = S2STModule(model, self.task, self.vocab.pad_id, self.cfg.optim, self.cfg.trainer.max_steps,
                                 scheduler=self.p_scheduler, valid_p=self.valid_p,
                                 loss_chunk_tokens=self.cfg.trainer.loss_chunk_tokens)
        self.datamodule = S2SDataModule(self.task, self.batching, seed=self.cfg.trainer.seed,
                                        schedule=None if self.p_scheduler is None else self.p_scheduler.value)
        self.trainer = self._setup_trainer(model)
        last = self.exp / "checkpoints" / "last.ckpt"
        if last.is_file():
            logger.info("resuming from %s", last)
        self.trainer.fit(self.module, datamodule=self.datamodule, ckpt_path=str(last) if last.is_file() else None,
                         weights_only=True)
        if self.trainer.global_step % self.cfg.trainer.save_every:
            self.trainer.save_checkpoint(last)
        if self.trainer.is_global_zero:
            self._write_data_stats()
        if not average or not self.trainer.is_global_zero:
            return None
        return self.export()

    def _write_data_stats(self) -> None:
        dm = self.datamodule
        if dm.train_sampler is None:
            return
        with atomic_write(self.exp / "data.yaml") as f:
            yaml.safe_dump(dm.stats(), f, sort_keys=False)

    def best_checkpoints(self) -> list[Path]:
        """The ``keep_best`` checkpoints of lowest validation loss (else the last checkpoint)."""
        best = getattr(self.best_cb, "best_k_models", None) or {}
        paths = [Path(p) for p, _ in sorted(best.items(), key=lambda kv: float(kv[1]))][:self.cfg.trainer.keep_best]
        paths = [p for p in paths if p.is_file()]
        return paths or [self.exp / "checkpoints" / "last.ckpt"]

    def export(self) -> Path:
        """Average the best checkpoints into ``exp/model`` (a transformers dir + vocabulary)."""
        from s2s_plugin.train.checkpoint import average_checkpoints, export_model, model_weights

        paths = self.best_checkpoints()
        logger.info("averaging %d checkpoint(s): %s", len(paths), ", ".join(p.name for p in paths))
        weights = model_weights(average_checkpoints(paths))
        fresh = self.decoder.build(self.model_vocab)
        out = export_model(fresh, weights, self.vocab_path, self.exp / "model", model_vocab=self.model_vocab,
                           lora_export=getattr(self.decoder, "lora_export", "merged"))
        with atomic_write(out / "averaged.yaml") as f:
            yaml.safe_dump({"checkpoints": [str(p) for p in paths]}, f)
        with atomic_write(out / "llm.yaml") as f:  # which llm_decoder plugin loads it for decoding
            yaml.safe_dump({"name": self.cfg.llm["name"]}, f, sort_keys=False)
        if getattr(self.cfg, "sequence", None) is not None:  # the layout decoding must prompt with
            with atomic_write(out / "sequence.yaml") as f:
                yaml.safe_dump(dataclasses.asdict(self.cfg.sequence), f, sort_keys=False)
        logger.info("final model: %s", out)
        return out
