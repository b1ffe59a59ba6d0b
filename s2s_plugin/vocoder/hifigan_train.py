"""Training of the unit HiFi-GAN (stage 10) on target speech and its frame-level units, with Lightning.

    s2s vocoder fit --config conf/tuning/vocoder_unit_hifigan.yaml --dirs dump/train_fr --lang en --exp exp/vocoder
    s2s launch --ngpu 4 -- s2s vocoder fit --config ... --exp exp/vocoder     # DDP, as stage 8
    s2s launch --ngpu 0 --nproc 2 -- s2s vocoder fit ...                       # 2 CPU processes (gloo)

The vocoder block names the training (``vocoder: {name: unit_hifigan, train: {...}}``,
:class:`UnitHiFiGANTrainConfig`). The generator is the ParallelWaveGAN-layout
:class:`~s2s_plugin.vocoder.generators.PwgUnitGenerator` (``DiscreteSymbolHiFiGANGenerator``,
or ``DiscreteSymbolDurationGenerator`` with a CodeHiFiGAN-style duration predictor
trained on the de-duplicated units of each segment with a log-duration MSE), its
convolutions weight-normalised as ParallelWaveGAN trains them. The discriminator
and the losses are espnet2's (``espnet2.gan_tts.hifigan``): the multi-scale +
multi-period discriminator, the adversarial losses of both players, feature
matching and the log-mel L1 loss. Each step draws ``batch_size`` utterances and a
random ``segment_frames``-frame segment of each (units and the matching
``segment_frames * hop`` samples) from a generator seeded by ``trainer.seed`` and
the step, so a resumed run draws the batches an uninterrupted one draws. Two
optimisers (Adam, each with a MultiStepLR schedule) are stepped by hand
(Lightning's manual optimisation): the discriminator, then the generator.

Devices, DDP, precision and the launcher are stage 8's
(:func:`s2s_plugin.train.strategy.plan_run`, ``s2s launch``). The exp dir gets::

    config.yml                      ParallelWaveGAN's config: generator_type, generator_params, sampling_rate,
                                    hop_size, discriminator and loss settings
    checkpoint-<N>steps.pkl         {"model": {"generator", "discriminator"}, "optimizer", "scheduler", "steps",
                                    "epochs"}: loads with parallel_wavegan.utils.load_model, ESPnet's vocoder
                                    loader and ``unit_hifigan`` (the newest ``keep_checkpoints`` kept)
    speakers.txt                    with speaker embeddings: ``<speaker> <id>`` of the training utt2spk
    checkpoints/last.ckpt           the Lightning resume point (weights, both optimisers and schedules, step)
    unit_hifigan_train.yaml         the training settings a resume must share
    train.log, run.sh, tensorboard/ the log, the command that resumes, the loss curves
"""
from __future__ import annotations

import inspect
import logging
import os
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from s2s_plugin.data.io import PathLike, atomic_write
from s2s_plugin.errors import ConfigError, DataError
from s2s_plugin.train.schema import TrainerConfig

logger = logging.getLogger(__name__)

GENERATOR_TYPES = ("DiscreteSymbolHiFiGANGenerator", "DiscreteSymbolDurationGenerator")
TRAIN_YAML = "unit_hifigan_train.yaml"
SPEAKERS_TXT = "speakers.txt"
#: training settings that may change when a run resumes (how it is watched, where it stops, how many processes)
RESUMABLE = ("trainer.save_every", "trainer.log_every_n_steps", "trainer.max_steps", "trainer.devices",
             "trainer.num_nodes", "keep_checkpoints", "num_workers")
_DURATION_KEYS = ("duration_layers", "duration_chans", "duration_kernel_size", "duration_offset",
                  "duration_dropout_rate")


@dataclass
class HiFiGANOptimConfig:
    """Adam and a MultiStepLR schedule for one of the two players (ParallelWaveGAN's HiFi-GAN defaults).

    Attributes:
        lr: initial learning rate.
        betas, weight_decay: Adam's.
        milestones: steps at which the learning rate is multiplied by ``gamma``.
        gamma: the decay factor.
        grad_norm: clip the gradient norm to this (<= 0: no clipping).
    """

    lr: float = 2.0e-4
    betas: list[float] = field(default_factory=lambda: [0.5, 0.9])
    weight_decay: float = 0.0
    milestones: list[int] = field(default_factory=lambda: [200000, 400000, 600000, 800000])
    gamma: float = 0.5
    grad_norm: float = -1.0

    def __post_init__(self) -> None:
        if self.lr <= 0 or len(self.betas) != 2 or not 0 < self.gamma <= 1:
            raise ConfigError(f"unit_hifigan train optimiser: need lr > 0, two betas and 0 < gamma <= 1; got "
                              f"lr={self.lr}, betas={self.betas}, gamma={self.gamma}")


@dataclass
class UnitHiFiGANTrainConfig:
    """The ``train`` block of ``vocoder: {name: unit_hifigan, train: {...}}``.

    Example::

        train:
          generator_params: {in_channels: 512, channels: 512, upsample_scales: [10, 8, 2, 2],
                             upsample_kernel_sizes: [20, 16, 4, 4]}
          batch_size: 16
          segment_frames: 32
          trainer: {max_steps: 400000, save_every: 10000, precision: auto}

    Attributes:
        generator_type: ``DiscreteSymbolHiFiGANGenerator`` (one unit per hop) or
            ``DiscreteSymbolDurationGenerator`` (adds a duration predictor for de-duplicated units).
        generator_params: ParallelWaveGAN ``generator_params``; omitted keys take its defaults except
            ``num_spk_embs`` (0: one speaker) and ``num_embs`` (the units' vocabulary, from stage 4).
        discriminator_params: ``espnet2.gan_tts.hifigan.HiFiGANMultiScaleMultiPeriodDiscriminator`` arguments.
        sampling_rate: the waveform rate (audio at another rate is resampled); ``sampling_rate / hop``
            must be the units' frame rate.
        generator_adv_loss_params, discriminator_adv_loss_params, feat_match_loss_params: espnet2's
            ``GeneratorAdversarialLoss``, ``DiscriminatorAdversarialLoss``, ``FeatureMatchLoss`` arguments.
        mel_loss_params: ``MelSpectrogramLoss`` arguments (``fs`` is ``sampling_rate``).
        lambda_adv, lambda_feat_match, lambda_mel, lambda_dur: loss weights of the generator.
        generator_optim, discriminator_optim: :class:`HiFiGANOptimConfig` of each player.
        discriminator_train_start_steps: train the generator on the mel (and duration) loss alone before this step.
        batch_size: utterances per step, all processes together (a multiple of the process count).
        segment_frames: units per training segment (``segment_frames * hop`` samples); shorter
            utterances are left out.
        max_length_mismatch: units and audio may differ by this many frames (feature extractors
            drop or add a frame at the ends); a larger difference is an error naming the utterance.
        num_workers: DataLoader processes that read the audio.
        keep_checkpoints: keep the newest this many ``checkpoint-<N>steps.pkl`` (0: all).
        trainer: stage 8's trainer block: ``max_steps``, ``save_every``, ``precision``, ``strategy``
            (``auto`` or ``ddp``), ``accelerator``, ``devices``, ``num_nodes``, ``seed``,
            ``log_every_n_steps`` (the validation, averaging, accumulation and FSDP keys do not apply).
    """

    trainer: TrainerConfig
    generator_type: str = "DiscreteSymbolHiFiGANGenerator"
    generator_params: dict = field(default_factory=dict)
    discriminator_params: dict = field(default_factory=dict)
    sampling_rate: int = 16000
    generator_adv_loss_params: dict = field(default_factory=lambda: {"average_by_discriminators": False})
    discriminator_adv_loss_params: dict = field(default_factory=lambda: {"average_by_discriminators": False})
    feat_match_loss_params: dict = field(default_factory=lambda: {
        "average_by_discriminators": False, "average_by_layers": False, "include_final_outputs": False})
    mel_loss_params: dict = field(default_factory=lambda: {
        "n_fft": 1024, "hop_length": 256, "win_length": None, "window": "hann", "n_mels": 80, "fmin": 0,
        "fmax": None, "log_base": None})
    lambda_adv: float = 1.0
    lambda_feat_match: float = 2.0
    lambda_mel: float = 45.0
    lambda_dur: float = 1.0
    generator_optim: HiFiGANOptimConfig = field(default_factory=HiFiGANOptimConfig)
    discriminator_optim: HiFiGANOptimConfig = field(default_factory=HiFiGANOptimConfig)
    discriminator_train_start_steps: int = 0
    batch_size: int = 16
    segment_frames: int = 32
    max_length_mismatch: int = 2
    num_workers: int = 0
    keep_checkpoints: int = 3

    def __post_init__(self) -> None:
        if self.generator_type not in GENERATOR_TYPES:
            raise ConfigError(f"unit_hifigan train: generator_type must be one of {', '.join(GENERATOR_TYPES)}, "
                              f"got {self.generator_type!r}")
        for key in ("batch_size", "segment_frames", "sampling_rate"):
            if getattr(self, key) < 1:
                raise ConfigError(f"unit_hifigan train: {key} must be >= 1, got {getattr(self, key)}")
        for key in ("max_length_mismatch", "num_workers", "keep_checkpoints", "discriminator_train_start_steps"):
            if getattr(self, key) < 0:
                raise ConfigError(f"unit_hifigan train: {key} must be >= 0, got {getattr(self, key)}")
        if self.trainer.strategy == "fsdp" or self.trainer.accumulate != 1:
            raise ConfigError("unit_hifigan train: trainer.strategy fsdp and trainer.accumulate > 1 do not apply "
                              "to the GAN's two hand-stepped optimisers; use strategy auto or ddp, accumulate 1")
        from s2s_plugin.vocoder.generators import PwgUnitGenerator

        known = set(inspect.signature(PwgUnitGenerator).parameters) - {"duration"}
        if self.generator_type == "DiscreteSymbolHiFiGANGenerator":
            known -= set(_DURATION_KEYS)
        unknown = sorted(set(self.generator_params) - known)
        if unknown:
            raise ConfigError(f"unit_hifigan train: generator_params: unknown key(s) {', '.join(unknown)} of a "
                              f"{self.generator_type}; known: {', '.join(sorted(known))}")
        if self.duration and self.generator_params.get("num_spk_embs", 0) > 0:
            raise ConfigError("unit_hifigan train: DiscreteSymbolDurationGenerator with num_spk_embs > 0 cannot be "
                              "trained in ParallelWaveGAN's layout (its duration predictor expects in_channels + "
                              "spk_emb_dim inputs, which its forward never gives); use "
                              "DiscreteSymbolHiFiGANGenerator for several speakers")

    @property
    def duration(self) -> bool:
        return self.generator_type == "DiscreteSymbolDurationGenerator"

    def full_generator_params(self, n_units: int | None) -> dict[str, Any]:
        """Every ``generator_params`` key of the ParallelWaveGAN class, with ``num_embs`` filled in.

        Raises:
            ConfigError: no ``num_embs`` and no vocabulary size from stage 4, or one that is too small.
        """
        from s2s_plugin.vocoder.generators import PwgUnitGenerator

        params = {k: p.default for k, p in inspect.signature(PwgUnitGenerator).parameters.items()
                  if k != "duration" and (self.duration or k not in _DURATION_KEYS)}
        params["num_spk_embs"] = 0
        params["nonlinear_activation_params"] = {"negative_slope": 0.1}
        params.update(self.generator_params)
        params["num_embs"] = self.generator_params.get("num_embs", n_units)
        if params["num_embs"] is None:
            raise ConfigError("unit_hifigan train: generator_params.num_embs is not set and the units carry no "
                              "vocabulary size (units.<lang>.info of stage 4); set num_embs")
        if n_units is not None and int(params["num_embs"]) < int(n_units):
            raise ConfigError(f"unit_hifigan train: generator_params.num_embs {params['num_embs']} is smaller than "
                              f"the units' vocabulary ({n_units})")
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()}


# -- data -------------------------------------------------------------------------------------------------

@dataclass
class TrainItem:
    """One training utterance: where its audio is, its frame-level units and its speaker id."""

    data_dir: Any
    utt: str
    units: np.ndarray
    speaker: int


def _num_samples(dd: Any, utt: str, lang: str) -> tuple[int, int]:
    from s2s_plugin.data.datadir import audio_info

    u = dd.utterance(utt, lang)
    if u.segment is not None:
        _, fs = audio_info(u.audio, allow_pipes=dd.allow_pipes)
        return int(round(u.segment.duration * fs)), fs
    return audio_info(u.audio, allow_pipes=dd.allow_pipes)


def check_lengths(items: Sequence[TrainItem], lang: str, hop: int, sampling_rate: int, tolerance: int) -> None:
    """Every utterance's audio must last as long as its units (within ``tolerance`` frames).

    Raises:
        DataError: naming the units file, the utterance, both lengths and what to do.
    """
    from s2s_plugin.data.format import resampled_length

    for it in items:
        try:
            n, fs = _num_samples(it.data_dir, it.utt, lang)
        except DataError:
            raise
        except Exception as e:  # soundfile raises many kinds
            raise DataError(f"{it.data_dir.path}/wav.scp.{lang}: utterance '{it.utt}': cannot read the audio "
                            f"header ({type(e).__name__}: {e})") from None
        n = resampled_length(n, fs, sampling_rate)
        frames = n / hop
        if abs(frames - len(it.units)) > tolerance:
            raise DataError(f"{it.data_dir.path}/units.{lang}: utterance '{it.utt}' has {len(it.units)} units but "
                            f"its audio has {n} samples at {sampling_rate} Hz, {frames:.1f} frames of hop {hop} "
                            f"(max_length_mismatch {tolerance}); the units were not made from this audio: rerun "
                            f"stage 4 on {it.data_dir.path}, or check the vocoder's hop and sampling_rate")


class StepBatches:
    """Map-style dataset: item ``step`` is this process's batch of training step ``step``.

    The utterances and segment offsets of a step come from ``numpy.random.default_rng([seed, step, rank])``,
    so a batch depends on nothing but its step: a resumed run sees the batches of an uninterrupted one.

    Args:
        items: the training utterances (each at least ``segment_frames`` units long).
        lang: the language of their audio.
        per_process: utterances per batch on this process.
        segment_frames: units per segment.
        hop: samples per unit.
        sampling_rate: the waveform rate.
        seed: ``trainer.seed``.
        rank: this process's rank.
        duration: also give the de-duplicated units and their durations of each segment.
        pad_id: the padding unit of de-duplicated sequences.
    """

    def __init__(self, items: Sequence[TrainItem], lang: str, per_process: int, segment_frames: int, hop: int,
                 sampling_rate: int, seed: int, rank: int, duration: bool, pad_id: int) -> None:
        self.items, self.lang = list(items), lang
        self.per_process, self.segment_frames, self.hop = per_process, segment_frames, hop
        self.sampling_rate, self.seed, self.rank = sampling_rate, seed, rank
        self.duration, self.pad_id = duration, pad_id

    def _wave(self, it: TrainItem) -> np.ndarray:
        from s2s_plugin.vocoder.common import resample

        wave, fs = it.data_dir.load_audio(it.utt, self.lang)
        wave = resample(np.asarray(wave, dtype=np.float32), int(fs), self.sampling_rate)
        need = len(it.units) * self.hop
        return np.pad(wave, (0, max(0, need - len(wave))))[:need]

    def __getitem__(self, step: int) -> dict[str, Any]:
        import torch

        rng = np.random.default_rng([self.seed, int(step), self.rank])
        picks = rng.integers(0, len(self.items), size=self.per_process)
        units, waves, speakers = [], [], []
        n, hop = self.segment_frames, self.hop
        for i in picks:
            it = self.items[int(i)]
            start = int(rng.integers(0, len(it.units) - n + 1))
            units.append(it.units[start:start + n])
            waves.append(self._wave(it)[start * hop:(start + n) * hop])
            speakers.append(it.speaker)
        batch = {"units": torch.as_tensor(np.stack(units), dtype=torch.long),
                 "wave": torch.as_tensor(np.stack(waves), dtype=torch.float32).unsqueeze(1),
                 "speakers": torch.as_tensor(speakers, dtype=torch.long)}
        if self.duration:
            runs = [torch.unique_consecutive(u, return_counts=True) for u in batch["units"]]
            width = max(len(r[0]) for r in runs)
            batch["dedup"] = torch.full((len(runs), width), self.pad_id, dtype=torch.long)
            batch["durations"] = torch.zeros((len(runs), width), dtype=torch.long)
            for b, (u, d) in enumerate(runs):
                batch["dedup"][b, :len(u)], batch["durations"][b, :len(d)] = u, d
        return batch


class _StepsFrom:
    """The sampler of :class:`StepBatches`: steps from the module's current one on, without end.

    Read when iteration starts, so a resumed run (whose step Lightning restores first) continues
    where the checkpoint left off; the module stops the run at ``trainer.max_steps``.
    """

    def __init__(self, module: Any) -> None:
        self.module = module

    def __iter__(self):
        import itertools

        return itertools.count(int(self.module.steps))


# -- model --------------------------------------------------------------------------------------------------

def build_generator(params: dict[str, Any], duration: bool) -> Any:
    """The ParallelWaveGAN-layout generator, initialised as HiFi-GAN (N(0, 0.01) convolutions), weight-normed."""
    import torch

    from s2s_plugin.vocoder.generators import PwgUnitGenerator

    kwargs = {k: v for k, v in params.items() if k != "use_weight_norm"}
    try:
        gen = PwgUnitGenerator(**kwargs, duration=duration)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"unit_hifigan train: generator_params: {e}") from None
    for m in gen.modules():
        if isinstance(m, (torch.nn.Conv1d, torch.nn.ConvTranspose1d)):
            m.weight.data.normal_(0.0, 0.01)
    if params.get("use_weight_norm", True):
        gen.apply_weight_norm()
    return gen


def _lightning_module_class() -> type:
    import lightning as L
    import torch

    class UnitHiFiGANModule(L.LightningModule):
        """The GAN: generator and discriminator, espnet2's losses, two hand-stepped optimisers.

        Args:
            cfg: the training config.
            generator_params: the full ``generator_params`` (see :meth:`UnitHiFiGANTrainConfig.full_generator_params`).
        """

        def __init__(self, cfg: UnitHiFiGANTrainConfig, generator_params: dict[str, Any]) -> None:
            super().__init__()
            from espnet2.gan_tts.hifigan import HiFiGANMultiScaleMultiPeriodDiscriminator
            from espnet2.gan_tts.hifigan.loss import (DiscriminatorAdversarialLoss, FeatureMatchLoss,
                                                      GeneratorAdversarialLoss, MelSpectrogramLoss)

            self.automatic_optimization = False
            self.cfg = cfg
            self.generator = build_generator(generator_params, cfg.duration)
            try:
                self.discriminator = HiFiGANMultiScaleMultiPeriodDiscriminator(**cfg.discriminator_params)
            except TypeError as e:
                raise ConfigError(f"unit_hifigan train: discriminator_params: {e}") from None
            self.gen_adv = GeneratorAdversarialLoss(**cfg.generator_adv_loss_params)
            self.dis_adv = DiscriminatorAdversarialLoss(**cfg.discriminator_adv_loss_params)
            self.feat_match = FeatureMatchLoss(**cfg.feat_match_loss_params)
            self.mel = MelSpectrogramLoss(fs=cfg.sampling_rate, **cfg.mel_loss_params)
            self.offset = float(generator_params.get("duration_offset", 1.0))
            self.steps = 0

        def configure_optimizers(self) -> Any:
            out = []
            for module, o in ((self.generator, self.cfg.generator_optim),
                              (self.discriminator, self.cfg.discriminator_optim)):
                opt = torch.optim.Adam(module.parameters(), lr=o.lr, betas=tuple(o.betas),
                                       weight_decay=o.weight_decay)
                out.append((opt, torch.optim.lr_scheduler.MultiStepLR(opt, o.milestones, o.gamma)))
            return [o for o, _ in out], [s for _, s in out]

        def _mel_loss(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            with torch.autocast(y.device.type, enabled=False):  # the STFT in full precision
                return self.mel(y_hat.float(), y.float())

        def _duration_loss(self, batch: dict[str, torch.Tensor], speakers: Any) -> torch.Tensor:
            x = self.generator.embed(batch["dedup"], speakers)
            log_d = self.generator.duration_predictor.log_durations(x).float()
            mask = batch["durations"] > 0
            target = torch.log(batch["durations"].float() + self.offset)
            return ((log_d - target) ** 2)[mask].mean()

        def _step(self, opt: Any, sched: Any, loss: torch.Tensor, grad_norm: float) -> None:
            opt.zero_grad()
            self.manual_backward(loss)
            if grad_norm > 0:
                self.clip_gradients(opt, gradient_clip_val=grad_norm, gradient_clip_algorithm="norm")
            opt.step()
            sched.step()

        def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
            cfg = self.cfg
            # dropout draws depend on the step only: a resumed run continues as an uninterrupted one
            torch.manual_seed(cfg.trainer.seed * 1_000_003 + self.steps * 1009 + self.global_rank)
            opt_g, opt_d = self.optimizers()
            sched_g, sched_d = self.lr_schedulers()
            y = batch["wave"]
            speakers = batch["speakers"] if self.generator.num_spk_embs > 0 else None
            # an odd kernel - scale difference gives a sample more per upsampling: keep frames * hop, as synthesis
            y_hat = self.generator.decode(self.generator.embed(batch["units"], speakers))[..., :y.shape[-1]]
            adversarial = self.steps >= cfg.discriminator_train_start_steps
            logs = {}
            if adversarial:
                real, fake = self.dis_adv(self.discriminator(y_hat.detach()), self.discriminator(y))
                self._step(opt_d, sched_d, real + fake, cfg.discriminator_optim.grad_norm)
                logs.update({"train/dis_real": real.detach(), "train/dis_fake": fake.detach()})
            mel = self._mel_loss(y_hat, y)
            loss = cfg.lambda_mel * mel
            logs["train/mel"] = mel.detach()
            if cfg.duration:
                dur = self._duration_loss(batch, speakers)
                loss = loss + cfg.lambda_dur * dur
                logs["train/duration"] = dur.detach()
            if adversarial:
                p_hat = self.discriminator(y_hat)
                with torch.no_grad():
                    p = self.discriminator(y)
                adv, fm = self.gen_adv(p_hat), self.feat_match(p_hat, p)
                loss = loss + cfg.lambda_adv * adv + cfg.lambda_feat_match * fm
                logs.update({"train/gen_adv": adv.detach(), "train/feat_match": fm.detach()})
            self._step(opt_g, sched_g, loss, cfg.generator_optim.grad_norm)
            logs["train/gen_loss"] = loss.detach()
            logs["train/lr"] = torch.tensor(sched_g.get_last_lr()[0])
            self.steps += 1
            self.log_dict(logs, on_step=True, prog_bar=False, batch_size=y.shape[0])
            self.last_logs = {k: float(v) for k, v in logs.items()}
            if self.steps >= cfg.trainer.max_steps:
                self.trainer.should_stop = True

        def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
            checkpoint["unit_hifigan_steps"] = self.steps

        def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
            self.steps = int(checkpoint["unit_hifigan_steps"])

    return UnitHiFiGANModule


def _saver_class() -> type:
    import lightning as L

    class SaveEvery(L.Callback):
        """Every ``save_every`` steps and at the end: ``checkpoints/last.ckpt`` and ``checkpoint-<N>steps.pkl``."""

        def __init__(self, trainer: UnitHiFiGANTrainer) -> None:
            self.owner = trainer

        def on_train_batch_end(self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any,
                               batch_idx: int) -> None:
            cfg = self.owner.cfg.trainer
            steps = pl_module.steps
            if trainer.is_global_zero and (steps % cfg.log_every_n_steps == 0 or steps == 1):
                shown = " ".join(f"{k.split('/')[1]} {v:.4g}" for k, v in pl_module.last_logs.items())
                logger.info("unit_hifigan step %d/%d: %s", steps, cfg.max_steps, shown)
            if steps % cfg.save_every == 0 or steps >= cfg.max_steps:
                self.owner.save(trainer, pl_module)

    return SaveEvery


# -- the run ------------------------------------------------------------------------------------------------

def _rank() -> int:
    return int(os.environ.get("RANK", os.environ.get("SLURM_PROCID", "0")))


def pwg_config(cfg: UnitHiFiGANTrainConfig, generator_params: dict[str, Any], hop: int) -> dict[str, Any]:
    """The ``config.yml`` ParallelWaveGAN's ``load_model`` (and ESPnet's vocoder loader) reads."""
    return {"sampling_rate": cfg.sampling_rate, "hop_size": hop, "format": "npy",
            "generator_type": cfg.generator_type, "generator_params": generator_params,
            "discriminator_type": "HiFiGANMultiScaleMultiPeriodDiscriminator",
            "discriminator_params": cfg.discriminator_params,
            "lambda_adv": cfg.lambda_adv, "lambda_feat_match": cfg.lambda_feat_match, "lambda_aux": cfg.lambda_mel,
            "batch_size": cfg.batch_size, "batch_max_steps": cfg.segment_frames * hop,
            "train_max_steps": cfg.trainer.max_steps, "save_interval_steps": cfg.trainer.save_every,
            "discriminator_train_start_steps": cfg.discriminator_train_start_steps,
            "trained_with": "s2s_plugin (s2s vocoder fit, unit_hifigan)"}


class UnitHiFiGANTrainer:
    """Train a unit HiFi-GAN in ``exp_dir``: setup, train, cleanup (one call: :meth:`run`).

    Example::

        UnitHiFiGANTrainer(cfg, items, "en", "exp/vocoder", n_units=100, frame_rate=50.0).run()

    Args:
        cfg: the ``train`` block.
        items: ``(DataDir, utterance, units)`` of the training speech (frame-level units).
        lang: the language of the speech.
        exp_dir: where everything is written.
        n_units: the units' vocabulary size (fills ``generator_params.num_embs``).
        frame_rate: the units' frame rate, checked against ``sampling_rate / hop``.
        callbacks: extra Lightning callbacks (tests).
    """

    def __init__(self, cfg: UnitHiFiGANTrainConfig, items: Sequence[tuple[Any, str, Sequence[int]]], lang: str,
                 exp_dir: PathLike, n_units: int | None = None, frame_rate: float | None = None,
                 callbacks: Sequence[Any] = ()) -> None:
        self.cfg, self.lang, self.exp = cfg, lang, Path(exp_dir)
        self.raw_items, self.extra_callbacks = list(items), list(callbacks)
        self.params = cfg.full_generator_params(n_units)
        self.hop = int(np.prod(self.params["upsample_scales"]))
        if frame_rate is not None and abs(cfg.sampling_rate / self.hop - float(frame_rate)) > 1e-6:
            raise ConfigError(f"unit_hifigan train: sampling_rate {cfg.sampling_rate} / hop {self.hop} (the product "
                              f"of upsample_scales) is {cfg.sampling_rate / self.hop:g} frames per second, but the "
                              f"units come at {float(frame_rate):g}; change upsample_scales or sampling_rate")
        self.last = self.exp / "checkpoints" / "last.ckpt"

    # -- setup ---------------------------------------------------------------------------------------------
    def _settings(self) -> dict[str, Any]:
        from s2s_plugin.config import to_dict

        return yaml.safe_load(yaml.safe_dump({**to_dict(self.cfg), "generator_params": self.params,
                                              "lang": self.lang}))

    def _check_resume(self) -> None:
        from s2s_plugin.safe_load import check_resume_checkpoint
        from s2s_plugin.train.run import config_changes

        if not self.last.is_file():
            return
        stored = self.exp / TRAIN_YAML
        before = yaml.safe_load(stored.read_text(encoding="utf-8")) if stored.is_file() else {}
        changes = [c for c in config_changes(before or {}, self._settings()) if c[0] not in RESUMABLE]
        if changes:
            shown = "; ".join(f"{k}: {a!r} -> {b!r}" for k, a, b in changes[:6])
            raise ConfigError(f"{self.exp}: refusing to resume the unit HiFi-GAN training of {stored}: the "
                              f"settings differ ({shown}); resume with the stored values or use another --exp")
        # no other file holds the Lightning state (checkpoint-*.pkl are ParallelWaveGAN's): no replacement to name
        check_resume_checkpoint(self.last, "last.ckpt.none", fix=f"move it away to start afresh in {self.exp}")

    def _speakers(self) -> dict[str, int]:
        if self.params["num_spk_embs"] <= 0:
            return {}
        names = sorted({dd.utt2spk[utt] for dd, utt, _ in self.raw_items})
        if len(names) > self.params["num_spk_embs"]:
            raise ConfigError(f"unit_hifigan train: the training sets have {len(names)} speakers (utt2spk) but "
                              f"generator_params.num_spk_embs is {self.params['num_spk_embs']}; raise it")
        return {n: i for i, n in enumerate(names)}

    def _setup_data(self) -> None:
        from humanfriendly import format_timespan

        cfg = self.cfg
        self.speakers = self._speakers()
        n_embs = int(self.params["num_embs"])
        items = []
        for dd, utt, units in self.raw_items:
            arr = np.asarray(units, dtype=np.int64)
            if arr.size and (arr.min() < 0 or arr.max() >= n_embs):
                raise DataError(f"{dd.path}/units.{self.lang}: utterance '{utt}': unit {int(arr.max())} is outside "
                                f"the generator's 0..{n_embs - 1} (generator_params.num_embs)")
            items.append(TrainItem(dd, utt, arr, self.speakers.get(dd.utt2spk[utt], 0)))
        check_lengths(items, self.lang, self.hop, cfg.sampling_rate, cfg.max_length_mismatch)
        short = [it for it in items if len(it.units) < cfg.segment_frames]
        self.items = [it for it in items if len(it.units) >= cfg.segment_frames]
        if short:
            logger.warning("unit_hifigan train: left out %d utterances shorter than segment_frames %d (e.g. %s)",
                           len(short), cfg.segment_frames, short[0].utt)
        if not self.items:
            raise DataError(f"unit_hifigan train: no utterance has segment_frames ({cfg.segment_frames}) units; "
                            f"lower segment_frames")
        self.seconds = seconds = sum(len(it.units) for it in self.items) * self.hop / cfg.sampling_rate
        logger.info("unit_hifigan train: %d utterances (%s), %d speaker(s), segments of %d frames (%d samples)",
                    len(self.items), format_timespan(seconds), max(1, len(self.speakers)), cfg.segment_frames,
                    cfg.segment_frames * self.hop)

    def _write_exp(self) -> None:
        from s2s_plugin.train.run import LAUNCH_ENV

        if _rank() != 0:
            return
        with atomic_write(self.exp / TRAIN_YAML) as f:
            yaml.safe_dump(self._settings(), f, sort_keys=False)
        with atomic_write(self.exp / "config.yml") as f:
            yaml.safe_dump(pwg_config(self.cfg, self.params, self.hop), f, sort_keys=False)
        if self.speakers:
            with atomic_write(self.exp / SPEAKERS_TXT) as f:
                f.writelines(f"{name} {i}\n" for name, i in self.speakers.items())
        cmd = os.environ.get(LAUNCH_ENV) or shlex.join([sys.executable, *sys.argv])
        with atomic_write(self.exp / "run.sh") as f:
            f.write(f"#!/usr/bin/env bash\n# Resumes this unit HiFi-GAN training from {self.last} (or starts it).\n"
                    f"cd {shlex.quote(os.getcwd())}\n{cmd} \"$@\"\n")
        os.chmod(self.exp / "run.sh", 0o755)

    def _setup_trainer(self) -> Any:
        import lightning as L
        from lightning.pytorch.loggers import TensorBoardLogger

        from s2s_plugin.train.checkpoint import AtomicCheckpointIO
        from s2s_plugin.train.strategy import plan_run

        t = self.cfg.trainer
        plan = plan_run(t, find_unused_parameters=True)  # the discriminator step leaves the generator gradient-free
        if self.cfg.batch_size % plan.world_size:
            raise ConfigError(f"unit_hifigan train: batch_size {self.cfg.batch_size} is not a multiple of the "
                              f"{plan.world_size} processes")
        self.world_size = plan.world_size
        return L.Trainer(
            accelerator=plan.accelerator, devices=plan.devices, num_nodes=plan.num_nodes, strategy=plan.strategy,
            precision=plan.precision, plugins=[*plan.plugins, AtomicCheckpointIO()], max_epochs=-1, max_steps=-1,
            num_sanity_val_steps=0, limit_val_batches=0, log_every_n_steps=t.log_every_n_steps,
            callbacks=[_saver_class()(self), *self.extra_callbacks],
            logger=TensorBoardLogger(save_dir=str(self.exp), name="tensorboard", version="", default_hp_metric=False),
            use_distributed_sampler=False, enable_progress_bar=sys.stderr.isatty(),
            enable_checkpointing=False, default_root_dir=str(self.exp), enable_model_summary=_rank() == 0)

    # -- train ---------------------------------------------------------------------------------------------
    def _dataloader(self, module: Any, trainer: Any) -> Any:
        import torch

        cfg = self.cfg
        data = StepBatches(self.items, self.lang, cfg.batch_size // self.world_size, cfg.segment_frames, self.hop,
                           cfg.sampling_rate, cfg.trainer.seed, trainer.global_rank, cfg.duration,
                           int(self.params["num_embs"]))
        return torch.utils.data.DataLoader(data, batch_size=None, sampler=_StepsFrom(module),
                                           num_workers=cfg.num_workers)

    def save(self, trainer: Any, module: Any) -> None:
        """Write the resume point (all processes take part) and, on rank 0, ``checkpoint-<N>steps.pkl``."""
        import torch

        trainer.save_checkpoint(self.last)
        if not trainer.is_global_zero:
            return
        opts, scheds = trainer.optimizers, trainer.lr_scheduler_configs
        state = {"model": {"generator": module.generator.pwg_state_dict(),
                           "discriminator": {k: v.detach().clone() for k, v in
                                             module.discriminator.state_dict().items()}},
                 "optimizer": {"generator": opts[0].state_dict(), "discriminator": opts[1].state_dict()},
                 "scheduler": {"generator": scheds[0].scheduler.state_dict(),
                               "discriminator": scheds[1].scheduler.state_dict()},
                 "steps": int(module.steps), "epochs": 0}
        with atomic_write(self.exp / f"checkpoint-{module.steps}steps.pkl", "wb") as f:
            torch.save(state, f)
        if self.cfg.keep_checkpoints:
            def steps_of(path: Path) -> int:
                return int(path.name[len("checkpoint-"):-len("steps.pkl")])

            for old in sorted(self.exp.glob("checkpoint-*steps.pkl"), key=steps_of)[:-self.cfg.keep_checkpoints]:
                old.unlink()
        logger.info("unit_hifigan: wrote %s", self.exp / f"checkpoint-{module.steps}steps.pkl")

    def run(self) -> dict[str, Any]:
        """Train (or resume) to ``trainer.max_steps``; returns the statistics of the run."""
        import lightning as L

        self.exp.mkdir(parents=True, exist_ok=True)
        self._check_resume()
        self._setup_data()
        self._write_exp()
        L.seed_everything(self.cfg.trainer.seed, verbose=False)
        module = _lightning_module_class()(self.cfg, self.params)
        trainer = self._setup_trainer()
        module.train_dataloader = lambda: self._dataloader(module, trainer)
        done = 0
        if self.last.is_file():
            import torch

            done = int(torch.load(self.last, map_location="cpu", weights_only=True, mmap=True)["unit_hifigan_steps"])
            logger.info("unit_hifigan: resuming from %s (step %d)", self.last, done)
        if done >= self.cfg.trainer.max_steps:
            logger.info("unit_hifigan: %s has reached trainer.max_steps (%d); nothing to train", self.last, done)
            module.steps = done
        else:
            self._fit(trainer, module)
        n_params = sum(p.numel() for p in module.generator.parameters())
        return {"steps": int(module.steps), "utterances": len(self.items), "audio_seconds": self.seconds,
                "speakers": len(self.speakers),
                "generator_parameters": n_params, "hop": self.hop, "last_losses": getattr(module, "last_logs", {})}

    def _fit(self, trainer: Any, module: Any) -> None:
        import warnings

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*litlogger.*")
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
            trainer.fit(module, ckpt_path=str(self.last) if self.last.is_file() else None, weights_only=True)
