"""Train the in-recipe CTC model (stages 3 and 11) on the Lightning stack of stage 8, and score it by CER.

    s2s ctc train --config conf/ctc.yaml --exp exp/ctc \\
        --train_dirs dump/train_fr dump/train_es --valid_dirs dump/dev_fr dump/dev_es max_epoch=20
    s2s launch --ngpu 0 --nproc 2 -- s2s ctc train ...      # 2 CPU processes (DDP over gloo)
    s2s ctc eval --exp exp/ctc --dirs dump/dev_fr dump/dev_es

The config (:class:`CTCTrainConfig`) says which side of each set it learns
(``sides: [src, tgt]``, optionally only some ``langs``), the network (espnet2
frontend, encoder and CTC blocks, ESPnet-style ``*_conf`` keys; or ``encoder: hf``,
a transformers SSL encoder such as w2v-BERT 2.0 from a local directory, fine-tuned
with a CTC head on the BPE pieces, see :mod:`s2s_plugin.asr.hf_net`) and the
optimisation: Adam with espnet2's ``WarmupLR`` (linear warm-up, then inverse
square-root decay), gradient clipping and accumulation, batches of
length-bucketed utterances filling a budget of padded feature frames
(:class:`~s2s_plugin.train.sampler.TokenBudgetBatchSampler`), their audio read
in ``num_workers`` loader processes. Devices, DDP and precision are chosen as
in stage 8 (:func:`~s2s_plugin.train.strategy.plan_run`): ``precision: auto``
is bf16-mixed on a GPU that has bf16, else fp32. The exp dir gets::

    config.yaml, plugins.yaml   the resolved config (+ type: s2s, the data dirs)
    tokens.txt                  the tokens in id order; 0 = <blank> (characters of the training transcripts,
                                or with token_type: bpe the pieces of bpe.model)
    bpe.model                   token_type bpe: the SentencePiece BPE model trained on the training transcripts
    model.pth                   weights of the epoch with the lowest valid loss (the last without valid dirs)
    model/                      encoder: hf: that epoch's model as a save_pretrained dir instead (model, tokenizer
                                with the training ids, feature extractor; :mod:`s2s_plugin.asr.hf_net`)
    scores.json                 loss and CER per epoch, per valid set and language
    train.log, run.sh           the log (other processes: train.rank<N>.log); the command that resumes this run
    tensorboard/                train loss and lr per step, valid loss and CER per language per epoch
    checkpoints/last.ckpt       resume point: model, optimiser, LR schedule, RNG, data position, history
    checkpoints/epoch<N>.ckpt   the state after epoch N (the newest keep_checkpoints kept)

Rerunning the same command resumes from ``checkpoints/last.ckpt`` -- after the
last finished epoch, or mid-epoch with ``save_every_steps`` -- and gives the
weights an uninterrupted run gives; raising ``max_epoch`` continues a finished
run. Checkpoints are loaded with ``weights_only=True``: a ``last.ckpt`` holding
other Python objects is refused before anything reads it (s2s_plugin.safe_load).
"""
from __future__ import annotations

import json
import logging
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s2s_plugin.asr.data import Item, first_per_group, list_items, load_wave, min_frames_needed, subsample
from s2s_plugin.asr.module import cer, cer_table
from s2s_plugin.config import to_dict
from s2s_plugin.data.io import PathLike, atomic_write
from s2s_plugin.errors import ConfigError, DataError
from s2s_plugin.safe_load import check_resume_checkpoint

logger = logging.getLogger(__name__)

SIDES = ("src", "tgt")
DEVICES = {"auto": "auto", "cpu": "cpu", "cuda": "gpu", "gpu": "gpu"}
TOKEN_TYPES = ("char", "bpe")
HF_INITS = ("torch", "transformers")
PRECISIONS = ("auto", "32-true", "bf16-mixed", "16-mixed", "bf16-true")
#: keys that may change when a run is resumed (they change neither the data order nor the arithmetic)
RESUMABLE_KEYS = ("max_epoch", "num_workers", "keep_checkpoints", "save_every_steps", "log_every_n_steps")

__all__ = ["CTCTrainConfig", "CTCTrainer", "Item", "cer", "cer_table", "evaluate", "format_cer_table",
           "list_items", "load_wave", "min_frames_needed"]


@dataclass
class CTCTrainConfig:
    """The schema of ``conf/ctc.yaml``.

    Example::

        sides: [src, tgt]
        encoder: conformer
        encoder_conf: {output_size: 144, num_blocks: 4, input_layer: conv2d2}
        max_epoch: 20

    Attributes:
        sides: which side(s) of each set to learn: ``src``, ``tgt`` or both.
        langs: learn only these languages (None: every language of the chosen sides).
        tgt_lang: the target language of the sets (the other language is the source).
        max_duration: leave out training utterances longer than this (seconds).
        max_utts: train on at most this many utterances per training set and language, chosen
            at random with ``seed`` (None: all).
        token_type: ``char`` (characters, words separated by ``<space>``) or ``bpe`` (a SentencePiece BPE
            model of ``bpe_size`` pieces trained on the training transcripts, saved as ``bpe.model``;
            words start with the ``▁`` marker, no separator token).
        bpe_size: the BPE vocabulary size (with ``token_type: bpe``).
        sample_rate: the model's audio rate; other rates are resampled.
        frontend_conf: ``DefaultFrontend`` arguments (n_fft, win_length, hop_length, n_mels, ...).
        normalize: ``utterance_mvn`` or ``none``.
        stack_frames: stack this many feature frames into one before the encoder.
        specaug_conf: ``SpecAug`` arguments, or None for no SpecAugment.
        encoder: ``conformer``, ``transformer`` or ``e_branchformer`` (espnet2 encoders on log-mel features),
            or ``hf``: a transformers SSL encoder (w2v-BERT 2.0, wav2vec 2.0, HuBERT, WavLM) with a CTC head
            on our tokens (:mod:`s2s_plugin.asr.hf_net`); the frontend, normalisation, stacking, SpecAugment,
            encoder and CTC keys above and below do not apply to it.
        encoder_conf: the encoder's arguments (``input_layer`` sets the output rate).
        ctc_conf: ``espnet2.asr.ctc.CTC`` arguments.
        hf_model: ``encoder: hf``: a local directory written by ``save_pretrained`` (a pretrained encoder or a
            ``*ForCTC`` model; its ``config.json`` model_type picks the class); never downloaded.
        hf_config: ``encoder: hf`` instead of ``hf_model``: a randomly initialised encoder built from
            ``{model_type: wav2vec2-bert|wav2vec2|hubert|wavlm, <its config keys>}`` (the embedded recipe).
        hf_init: ``encoder: hf`` with ``hf_config``: ``torch`` draws the linear and convolution layers as PyTorch
            does (uniform in +-1/sqrt(fan_in); a small encoder trained from scratch learns), ``transformers``
            keeps the model class's own initialisation (N(0, 0.02) linear layers, made for loading pretrained
            weights; at the mini recipe's size it stays on the CTC blank plateau).
        hf_conf: keys of the transformers config to override: SpecAugment (``mask_time_prob``,
            ``mask_time_length``, ``mask_feature_prob``, ...), dropouts, ``layerdrop`` (0 under DDP).
        freeze_feature_encoder: ``encoder: hf``: do not train the feature encoder (the convolutions of
            wav2vec 2.0/HuBERT/WavLM, the feature projection of w2v-BERT).
        freeze_layers: ``encoder: hf``: do not train the lowest N transformer layers nor what comes before them.
        max_epoch: epochs to train.
        batch_frames: padded feature frames (one per hop) per batch, all processes together.
        max_batch_size: at most this many utterances per batch.
        num_workers: DataLoader worker processes that read and prepare the audio (0: the training process).
        lr: peak learning rate (reached after ``warmup_steps``).
        warmup_steps: optimiser steps of linear warm-up (espnet2's WarmupLR); then lr decays as 1/sqrt(step).
        weight_decay: Adam weight decay.
        grad_clip: clip the gradient norm to this.
        accum_grad: batches per optimiser step (gradient accumulation).
        seed: the seed of weights, batch order, dropout and SpecAugment.
        device: ``auto``, ``cpu`` or ``cuda`` (``s2s launch`` sets how many processes).
        precision: ``auto`` (bf16-mixed on a GPU with bf16, else 32-true), ``32-true``, ``bf16-mixed``,
            ``16-mixed`` or ``bf16-true``.
        keep_checkpoints: keep this many newest epoch checkpoints (``checkpoints/epoch<N>.ckpt``).
        save_every_steps: also write the resume point every this many optimiser steps (0: only after
            each epoch).
        log_every_n_steps: TensorBoard interval of the training loss and lr.
        max_valid_utts: score at most this many utterances per valid set and language (None: all).
    """

    sides: list[str] = field(default_factory=lambda: ["src", "tgt"])
    langs: list[str] | None = None
    tgt_lang: str = "en"
    max_duration: float = 30.0
    max_utts: int | None = None
    token_type: str = "char"
    bpe_size: int = 100
    sample_rate: int = 16000
    frontend_conf: dict = field(default_factory=dict)
    normalize: str = "utterance_mvn"
    stack_frames: int = 1
    specaug_conf: dict | None = None
    encoder: str = "conformer"
    encoder_conf: dict = field(default_factory=lambda: {
        "output_size": 144, "attention_heads": 4, "linear_units": 576, "num_blocks": 4, "input_layer": "conv2d2",
        "cnn_module_kernel": 15, "rel_pos_type": "latest", "pos_enc_layer_type": "rel_pos",
        "selfattention_layer_type": "rel_selfattn"})
    ctc_conf: dict = field(default_factory=dict)
    hf_model: str | None = None
    hf_config: dict | None = None
    hf_init: str = "torch"
    hf_conf: dict = field(default_factory=dict)
    freeze_feature_encoder: bool = False
    freeze_layers: int = 0
    max_epoch: int = 20
    batch_frames: int = 20000
    max_batch_size: int = 64
    num_workers: int = 0
    lr: float = 2e-3
    warmup_steps: int = 300
    weight_decay: float = 0.0
    grad_clip: float = 5.0
    accum_grad: int = 1
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    keep_checkpoints: int = 2
    save_every_steps: int = 0
    log_every_n_steps: int = 10
    max_valid_utts: int | None = 200

    def __post_init__(self) -> None:
        bad = [s for s in self.sides if s not in SIDES]
        if not self.sides or bad:
            raise ConfigError(f"ctc config: sides must be a non-empty list of {', '.join(SIDES)}, got {self.sides}")
        for key in ("max_epoch", "batch_frames", "max_batch_size", "sample_rate", "keep_checkpoints", "accum_grad",
                    "warmup_steps", "log_every_n_steps"):
            if getattr(self, key) < 1:
                raise ConfigError(f"ctc config: {key} must be >= 1, got {getattr(self, key)}")
        for key in ("num_workers", "save_every_steps"):
            if getattr(self, key) < 0:
                raise ConfigError(f"ctc config: {key} must be >= 0, got {getattr(self, key)}")
        if self.lr <= 0 or self.grad_clip <= 0:
            raise ConfigError(f"ctc config: need lr > 0 and grad_clip > 0, got lr={self.lr}, "
                              f"grad_clip={self.grad_clip}")
        if self.token_type not in TOKEN_TYPES:
            raise ConfigError(f"ctc config: token_type must be one of {', '.join(TOKEN_TYPES)}, got "
                              f"{self.token_type!r}")
        if self.token_type == "bpe" and self.bpe_size < 2:
            raise ConfigError(f"ctc config: bpe_size must be >= 2, got {self.bpe_size}")
        if self.device not in DEVICES:
            raise ConfigError(f"ctc config: device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"ctc config: precision must be one of {', '.join(PRECISIONS)}, got "
                              f"{self.precision!r}")
        for key in ("max_utts", "max_valid_utts"):
            if getattr(self, key) is not None and getattr(self, key) < 1:
                raise ConfigError(f"ctc config: {key} must be >= 1 or null (all), got {getattr(self, key)}")
        self._check_hf()

    def _check_hf(self) -> None:
        if self.encoder != "hf":
            given = [k for k in ("hf_model", "hf_config") if getattr(self, k)] + \
                [k for k in ("hf_conf", "freeze_feature_encoder", "freeze_layers") if getattr(self, k)] + \
                (["hf_init"] if self.hf_init != "torch" else [])
            if given:
                raise ConfigError(f"ctc config: {', '.join(given)} apply to encoder: hf only (encoder is "
                                  f"{self.encoder!r})")
            return
        if bool(self.hf_model) == bool(self.hf_config):
            raise ConfigError("ctc config: encoder: hf needs either hf_model (a local save_pretrained dir, e.g. "
                              "downloads/w2v-bert-2.0) or hf_config (a randomly initialised encoder, {model_type: "
                              "wav2vec2-bert, ...}), not both and not neither")
        if self.hf_init not in HF_INITS:
            raise ConfigError(f"ctc config: hf_init must be one of {', '.join(HF_INITS)}, got {self.hf_init!r}")
        if self.specaug_conf:
            raise ConfigError("ctc config: specaug_conf is espnet's SpecAugment; with encoder: hf set the model's "
                              "own in hf_conf (mask_time_prob, mask_time_length, mask_feature_prob, ...)")
        if self.freeze_layers < 0:
            raise ConfigError(f"ctc config: freeze_layers must be >= 0, got {self.freeze_layers}")


def run_plan(cfg: CTCTrainConfig, **hardware: Any) -> Any:
    """Accelerator, processes, precision and DDP strategy of a run, as stage 8 chooses them.

    Args:
        cfg: the config (``device``, ``precision``).
        hardware: facts to use instead of this machine's (``cuda``, ``n_gpus``, ``bf16_supported``, ``env``).

    Returns:
        The :class:`~s2s_plugin.train.strategy.RunPlan`.
    """
    from s2s_plugin.train.schema import TrainerConfig
    from s2s_plugin.train.strategy import plan_run

    return plan_run(TrainerConfig(max_steps=1, precision=cfg.precision, accelerator=DEVICES[cfg.device]), **hardware)


def _rank() -> int:
    return int(os.environ.get("RANK", os.environ.get("SLURM_PROCID", "0")))


_LOGGERS = ("s2s_plugin", "lightning.pytorch")


def _progress_interval() -> float:
    return 1.0 if sys.stderr.isatty() else 30.0


class CTCTrainer:
    """Train a :class:`~s2s_plugin.asr.model.CTCNet` on characters with Lightning: setup, train, cleanup.

    Example::

        trainer = CTCTrainer(cfg, ["dump/train_fr"], ["dump/dev_fr"], "exp/ctc")
        trainer.setup(); trainer.train(); trainer.cleanup()

    Args:
        cfg: the training config.
        train_dirs: the training sets (dump or data dirs).
        valid_dirs: the sets scored after each epoch (may be empty).
        exp_dir: where everything is written.
        command: the command line that resumes this run (written to run.sh).
        callbacks: extra Lightning callbacks (tests).
    """

    def __init__(self, cfg: CTCTrainConfig, train_dirs: list[PathLike], valid_dirs: list[PathLike],
                 exp_dir: PathLike, command: str | None = None, callbacks: list[Any] | tuple = ()) -> None:
        self.cfg = cfg
        self.train_dirs = [str(d) for d in train_dirs]
        self.valid_dirs = [str(d) for d in valid_dirs]
        self.exp_dir = Path(exp_dir)
        self.command = command
        self.extra_callbacks = list(callbacks)
        self.rank = _rank()
        self.history: list[dict] = []
        self._handler: logging.Handler | None = None
        self._levels: dict[str, int] = {}

    @property
    def last_checkpoint(self) -> Path:
        return self.exp_dir / "checkpoints" / "last.ckpt"

    # -- setup ----------------------------------------------------------------
    def setup(self) -> None:
        self.exp_dir.mkdir(parents=True, exist_ok=True)
        self._setup_logging()
        self._check_resume()
        self._setup_data()
        self._setup_model()
        self._write_exp()

    def _setup_logging(self) -> None:
        name = "train.log" if self.rank == 0 else f"train.rank{self.rank}.log"
        self._handler = logging.FileHandler(self.exp_dir / name, encoding="utf-8")
        self._handler.setFormatter(logging.Formatter("%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: "
                                                     "%(message)s"))
        self._handler.setLevel(logging.INFO)
        for name in _LOGGERS:
            log = logging.getLogger(name)
            self._levels[name] = log.level
            log.addHandler(self._handler)
            if log.getEffectiveLevel() > logging.INFO:
                log.setLevel(logging.INFO)

    def _saved_config(self) -> dict:
        return {"type": "s2s", **to_dict(self.cfg), "train_dirs": self.train_dirs, "valid_dirs": self.valid_dirs}

    def _check_resume(self) -> None:
        """Refuse to resume checkpoints of other settings, or of the trainer before Lightning."""
        import yaml

        if not self.last_checkpoint.is_file():
            if any((self.exp_dir / "checkpoints").glob("epoch*.pth")):
                raise ConfigError(f"{self.exp_dir} holds checkpoints of an older CTC trainer (epoch*.pth), which "
                                  f"this one cannot resume; use another --exp or remove {self.exp_dir}/checkpoints")
            return
        stored = self.exp_dir / "config.yaml"
        old = yaml.safe_load(stored.read_text(encoding="utf-8")) if stored.is_file() else {}
        new = yaml.safe_load(yaml.safe_dump(self._saved_config()))
        differ = sorted(k for k in set(old) | set(new) if k not in RESUMABLE_KEYS and old.get(k) != new.get(k))
        if differ:
            raise ConfigError(f"{self.exp_dir} holds checkpoints of a training with other settings "
                              f"({', '.join(differ)} differ); use another --exp or remove {self.exp_dir}")

    def _setup_data(self) -> None:
        from humanfriendly import format_timespan

        from s2s_plugin.asr.tokens import BPETokenList, CharTokenList, load_token_list

        cfg = self.cfg
        items = list_items(self.train_dirs, cfg.sides, cfg.langs, cfg.tgt_lang, cfg.sample_rate)
        if not items:
            raise DataError(f"no training utterances in {', '.join(self.train_dirs)} for sides {cfg.sides}"
                            + (f" and languages {cfg.langs}" if cfg.langs else ""))
        if cfg.max_utts is not None:
            items = subsample(items, cfg.max_utts, cfg.seed)
        if self.last_checkpoint.is_file():
            self.tokens = load_token_list(self.exp_dir, cfg.token_type)
        elif cfg.token_type == "bpe":  # every rank trains the same model; rank 0 writes it
            self.tokens = BPETokenList.train((it.text for it in items), cfg.bpe_size)
        else:
            self.tokens = CharTokenList.build(it.text for it in items)
        self.valid_items = first_per_group(list_items(self.valid_dirs, cfg.sides, cfg.langs, cfg.tgt_lang,
                                                      cfg.sample_rate), cfg.max_valid_utts)
        langs = sorted({it.lang for it in items})
        logger.info("CTC training data: %d utterances (%s of audio) in %s from %s; %d %s tokens",
                    len(items), format_timespan(sum(it.num_samples for it in items) / cfg.sample_rate),
                    ", ".join(langs), ", ".join(self.train_dirs), len(self.tokens), cfg.token_type)
        self.items = items

    def _filter(self, items: list[Item], train: bool) -> tuple[list[Item], list[list[int]]]:
        """Drop utterances the model cannot learn from: too long, or too short for their text."""
        kept, targets, too_long, too_short = [], [], [], []
        for it in items:
            ids = self.tokens.encode(it.text)
            if train and it.num_samples > self.cfg.max_duration * self.cfg.sample_rate:
                too_long.append(it)
            elif int(self.net.output_lengths(it.num_samples)) < max(1, min_frames_needed(ids)):
                too_short.append(it)
            else:
                kept.append(it)
                targets.append(ids)
        what = "training" if train else "valid"
        if too_long:
            logger.warning("left out %d %s utterances longer than max_duration %.1f s (e.g. %s %s)",
                           len(too_long), what, self.cfg.max_duration, too_long[0].set, too_long[0].utt_id)
        if too_short:
            logger.warning("left out %d %s utterances whose audio is too short for their text at %.0f "
                           "frames/s (e.g. %s %s '%s')", len(too_short), what, self.net.frame_rate,
                           too_short[0].set, too_short[0].utt_id, too_short[0].text)
        return kept, targets

    def _setup_model(self) -> None:
        import lightning as L

        from s2s_plugin.asr.ctc import net_kwargs
        from s2s_plugin.asr.model import CTCNet

        cfg = self.cfg
        L.seed_everything(cfg.seed, verbose=False)
        if cfg.encoder == "hf":
            from s2s_plugin.asr.hf_net import build_hf_net

            self.net = build_hf_net(cfg, len(self.tokens))
        else:
            self.net = CTCNet(len(self.tokens), **net_kwargs(to_dict(cfg)))
        self.items, self.targets = self._filter(self.items, train=True)
        self.valid_items, self.valid_targets = self._filter(self.valid_items, train=False)
        if not self.items:
            raise DataError("no training utterance is left after the length filters; see the warnings above")
        nparams = sum(p.numel() for p in self.net.parameters())
        trained = sum(p.numel() for p in self.net.parameters() if p.requires_grad)
        encoder = cfg.encoder if cfg.encoder != "hf" else f"hf {self.net.model_type}"
        logger.info("CTC model: %s encoder, %.2f M parameters (%.2f M trained), %.1f output frames/s", encoder,
                    nparams / 1e6, trained / 1e6, self.net.frame_rate)

    def _write_exp(self) -> None:
        from s2s_plugin.config import save_resolved
        from s2s_plugin.train.run import LAUNCH_ENV

        if self.rank != 0:
            return
        if not self.last_checkpoint.is_file():
            self.tokens.save(self.exp_dir if self.cfg.token_type == "bpe" else self.exp_dir / "tokens.txt")
        save_resolved(self._saved_config(), self.exp_dir)  # max_epoch may have changed
        command = os.environ.get(LAUNCH_ENV) or self.command
        if command:
            with atomic_write(self.exp_dir / "run.sh") as f:
                f.write(f"#!/usr/bin/env bash\n# Resumes (or reruns) this training.\ncd {Path.cwd()} && "
                        f"{command}\n")
            os.chmod(self.exp_dir / "run.sh", 0o755)

    # -- training -------------------------------------------------------------
    def _setup_trainer(self) -> Any:
        import lightning as L
        from lightning.pytorch.callbacks import ModelCheckpoint
        from lightning.pytorch.loggers import TensorBoardLogger

        from s2s_plugin.train.checkpoint import AtomicCheckpointIO

        cfg = self.cfg
        plan = run_plan(cfg)
        if cfg.encoder == "hf" and plan.devices * plan.num_nodes > 1 and getattr(self.net.model.config, "layerdrop",
                                                                                  0.0) > 0:
            raise ConfigError(f"ctc config: the encoder's layerdrop is {self.net.model.config.layerdrop}: LayerDrop "
                              "leaves layers without gradients in some steps, which DDP cannot reduce; set "
                              "hf_conf: {layerdrop: 0.0}")
        ckpt_dir = self.exp_dir / "checkpoints"
        callbacks = [ModelCheckpoint(dirpath=ckpt_dir, filename="epoch{epochs_done:.0f}", monitor="epochs_done",
                                     mode="max", save_top_k=cfg.keep_checkpoints, save_last=True,
                                     save_on_train_epoch_end=True, auto_insert_metric_name=False,
                                     enable_version_counter=False)]
        if cfg.save_every_steps:
            callbacks.append(ModelCheckpoint(dirpath=ckpt_dir, every_n_train_steps=cfg.save_every_steps,
                                             save_top_k=0, save_last=True, enable_version_counter=False))
        has_valid = bool(self.valid_items)
        return L.Trainer(
            accelerator=plan.accelerator, devices=plan.devices, num_nodes=plan.num_nodes, strategy=plan.strategy,
            precision=plan.precision, plugins=[*plan.plugins, AtomicCheckpointIO()], max_epochs=cfg.max_epoch,
            accumulate_grad_batches=cfg.accum_grad, gradient_clip_val=cfg.grad_clip,
            limit_val_batches=None if has_valid else 0, num_sanity_val_steps=0,
            log_every_n_steps=cfg.log_every_n_steps, callbacks=[*callbacks, *self.extra_callbacks],
            logger=TensorBoardLogger(save_dir=str(self.exp_dir), name="tensorboard", version="",
                                     default_hp_metric=False),
            use_distributed_sampler=False, enable_progress_bar=sys.stderr.isatty(),
            default_root_dir=str(self.exp_dir), enable_model_summary=False)

    def train(self) -> dict:
        """Train (or resume) to ``max_epoch``; returns :meth:`scores`."""
        from humanfriendly import format_timespan

        from s2s_plugin.asr.data import CTCDataModule
        from s2s_plugin.asr.module import CTCModule

        cfg = self.cfg
        start = time.time()
        self.module = CTCModule(self.net, self.tokens, self.valid_items, lr=cfg.lr, warmup_steps=cfg.warmup_steps,
                                weight_decay=cfg.weight_decay, on_epoch_end=self._epoch_done)
        self.datamodule = CTCDataModule(self.items, self.targets, self.valid_items, self.valid_targets,
                                        cfg.sample_rate, self.net.hop_length, cfg.batch_frames, cfg.max_batch_size,
                                        cfg.num_workers, cfg.seed)
        self.trainer = self._setup_trainer()
        last = self.last_checkpoint if self.last_checkpoint.is_file() else None
        if last is not None:
            logger.info("resuming from %s", last)
            check_resume_checkpoint(last, "epoch*.ckpt",  # the kept epoch checkpoints hold the full state too
                                    fix=f"move it away to start the run afresh in {self.exp_dir}")
        with warnings.catch_warnings():
            for message in (".*does not have many workers.*", ".*sync_dist=True.*", ".*litlogger.*",
                            "Checkpoint directory .* exists and is not empty", ".*is smaller than the logging "
                            "interval.*", ".*overridden `on_before_batch_transfer`.*"):
                warnings.filterwarnings("ignore", message=message)
            self.trainer.fit(self.module, datamodule=self.datamodule, ckpt_path=last, weights_only=True)
        self.history = self.module.history
        if not self.module.epochs_this_run and self.history:
            logger.info("training already finished (%d of %d epochs); raise max_epoch to continue",
                        len(self.history), cfg.max_epoch)
        total = sum(r["seconds"] for r in self.history)
        logger.info("CTC training done: %d epochs in %s (this run %s)", len(self.history), format_timespan(total),
                    format_timespan(time.time() - start))
        return self.scores()

    def _epoch_done(self, record: dict) -> None:
        """After each epoch: model.pth when it is the best, scores.json, the log line (rank 0)."""
        import torch
        from humanfriendly import format_timespan

        self.history = self.module.history
        if self.rank != 0:
            return
        if self.best_epoch() == record["epoch"] and self.cfg.encoder == "hf":
            from s2s_plugin.asr.hf_net import HF_MODEL_DIR, export_hf_model

            out = export_hf_model(self.net, self.tokens, self.exp_dir / HF_MODEL_DIR)
            logger.info("epoch %d is the best so far: wrote %s", record["epoch"], out)
        elif self.best_epoch() == record["epoch"]:
            state = {k: v.detach().cpu() for k, v in self.net.state_dict().items()}
            with atomic_write(self.exp_dir / "model.pth", "wb") as f:
                torch.save(state, f)
            logger.info("epoch %d is the best so far: wrote %s", record["epoch"], self.exp_dir / "model.pth")
        with atomic_write(self.exp_dir / "scores.json") as f:
            json.dump(self.scores(), f, indent=2)
        logger.info("epoch %d/%d: train loss %.3f%s, lr %.2e (%s)", record["epoch"], self.cfg.max_epoch,
                    record["train_loss"], _valid_summary(record), record["lr"], format_timespan(record["seconds"]))

    def best_epoch(self) -> int:
        """The epoch with the lowest valid loss (the last one without valid data)."""
        with_valid = [r for r in self.history if "valid_loss" in r]
        if not with_valid:
            return self.history[-1]["epoch"]
        return min(with_valid, key=lambda r: (r["valid_loss"], r["epoch"]))["epoch"]

    def scores(self) -> dict:
        best = self.best_epoch() if self.history else None
        rec = next((r for r in self.history if r["epoch"] == best), {})
        return {"best_epoch": best, "cer": rec.get("cer", {}), "cer_by_lang": rec.get("cer_by_lang", {}),
                "train_seconds": round(sum(r["seconds"] for r in self.history), 1), "epochs": self.history}

    def cleanup(self) -> None:
        if self._handler is not None:
            for name, level in self._levels.items():
                logging.getLogger(name).removeHandler(self._handler)
                logging.getLogger(name).setLevel(level)
            self._handler.close()
            self._handler = None


def _valid_summary(record: dict) -> str:
    if "valid_loss" not in record:
        return ""
    cers = ", ".join(f"{lang} {100 * v:.1f}%" for lang, v in sorted(record["cer_by_lang"].items()))
    return f", valid loss {record['valid_loss']:.3f}, CER {cers}"


def evaluate(model, dirs: list[PathLike], sides: list[str], langs: list[str] | None, tgt_lang: str,
             out_dir: PathLike | None = None, max_utts: int | None = None) -> dict:
    """Transcribe ``dirs`` with any CTC model and score CER and WER (greedy, no LM) per set and language.

    Writes ``out_dir/<set>/hyp.<lang>`` (Kaldi text) and ``out_dir/cer.json`` when ``out_dir`` is given.
    """
    from tqdm import tqdm

    from s2s_plugin.data.io import write_kaldi_text

    items = first_per_group(list_items(dirs, sides, langs, tgt_lang, model.sample_rate), max_utts)
    if not items:
        raise DataError(f"nothing to score in {', '.join(map(str, dirs))} for sides {sides}")
    hyps: dict[int, str] = {}
    for i, it in enumerate(tqdm(items, desc="ctc eval", unit="utt", mininterval=_progress_interval())):
        hyps[i] = model.transcribe([load_wave(it, model.sample_rate)], model.sample_rate)[0]
    table = {**cer_table(items, hyps), **cer_table(items, hyps, "wer")}
    table["utterances"] = len(items)
    if out_dir is not None:
        out_dir = Path(out_dir)
        for s in sorted({it.set for it in items}):
            for lang in sorted({it.lang for it in items if it.set == s}):
                write_kaldi_text(out_dir / s / f"hyp.{lang}",
                                 {it.utt_id: hyps[i] or "<empty>" for i, it in enumerate(items)
                                  if it.set == s and it.lang == lang})
        with atomic_write(out_dir / "cer.json") as f:
            json.dump(table, f, indent=2)
    return table


def format_cer_table(table: dict) -> str:
    """A small text table: CER (and WER, when the table has it) per set and language, then per language."""
    names = ["cer"] + (["wer"] if "wer" in table else [])
    rows = [("set", "lang", *(f"{n.upper()} %" for n in names))]
    for s, d in sorted(table["cer"].items()):
        for lang in sorted(d):
            rows.append((s, lang, *(f"{100 * table[n][s][lang]:.2f}" for n in names)))
    for lang in sorted(table["cer_by_lang"]):
        rows.append(("(all)", lang, *(f"{100 * table[f'{n}_by_lang'][lang]:.2f}" for n in names)))
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows)
