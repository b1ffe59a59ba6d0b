"""Train the in-recipe CTC model (stage 3) with plain PyTorch, and score it by CER.

    s2s ctc train --config conf/ctc.yaml --exp exp/ctc \\
        --train_dirs dump/train_fr dump/train_es --valid_dirs dump/dev_fr dump/dev_es max_epoch=20
    s2s ctc eval --exp exp/ctc --dirs dump/dev_fr dump/dev_es

The config (:class:`CTCTrainConfig`) says which side of each set it learns
(``sides: [src, tgt]``, optionally only some ``langs``), the network (espnet2
frontend, encoder and CTC blocks, ESPnet-style ``*_conf`` keys) and the
optimisation: Adam with linear warm-up then inverse square-root decay, gradient
clipping, batches of length-sorted utterances filling a budget of padded
feature frames, shuffled per epoch. The exp dir gets::

    config.yaml, plugins.yaml   the resolved config (+ type: s2s, the data dirs)
    tokens.txt                  characters of the training transcripts; 0 = <blank>
    model.pth                   weights of the epoch with the lowest valid loss (the last without valid dirs)
    checkpoints/epoch<N>.pth    full training state after epoch N (the newest keep_checkpoints kept)
    train.log, run.sh           the log; the command that resumes or reruns this training
    scores.json                 loss and CER per epoch, per valid set and language

Rerunning the same command resumes after the last finished epoch (raising
``max_epoch`` continues a finished run); the per-epoch seeds make a resumed run
match an uninterrupted one.
"""
from __future__ import annotations

import json
import logging
import math
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from s2s_plugin.config import to_dict
from s2s_plugin.data.io import PathLike, atomic_write
from s2s_plugin.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

SIDES = ("src", "tgt")


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
        sample_rate: the model's audio rate; other rates are resampled.
        frontend_conf: ``DefaultFrontend`` arguments (n_fft, win_length, hop_length, n_mels, ...).
        normalize: ``utterance_mvn`` or ``none``.
        stack_frames: stack this many feature frames into one before the encoder.
        specaug_conf: ``SpecAug`` arguments, or None for no SpecAugment.
        encoder: ``conformer``, ``transformer`` or ``e_branchformer``.
        encoder_conf: the encoder's arguments (``input_layer`` sets the output rate).
        ctc_conf: ``espnet2.asr.ctc.CTC`` arguments.
        max_epoch: epochs to train.
        batch_frames: padded feature frames (one per hop) per batch.
        max_batch_size: at most this many utterances per batch.
        lr: peak learning rate (reached after ``warmup_steps``).
        warmup_steps: linear warm-up steps; then lr decays as 1/sqrt(step).
        weight_decay: Adam weight decay.
        grad_clip: clip the gradient norm to this.
        seed: the seed of batch order, dropout and SpecAugment.
        device: ``auto``, ``cpu`` or ``cuda``.
        keep_checkpoints: keep this many newest epoch checkpoints.
        max_valid_utts: score at most this many utterances per valid set and language (None: all).
    """

    sides: list[str] = field(default_factory=lambda: ["src", "tgt"])
    langs: list[str] | None = None
    tgt_lang: str = "en"
    max_duration: float = 30.0
    max_utts: int | None = None
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
    max_epoch: int = 20
    batch_frames: int = 20000
    max_batch_size: int = 64
    lr: float = 2e-3
    warmup_steps: int = 300
    weight_decay: float = 0.0
    grad_clip: float = 5.0
    seed: int = 0
    device: str = "auto"
    keep_checkpoints: int = 2
    max_valid_utts: int | None = 200

    def __post_init__(self) -> None:
        bad = [s for s in self.sides if s not in SIDES]
        if not self.sides or bad:
            raise ConfigError(f"ctc config: sides must be a non-empty list of {', '.join(SIDES)}, got {self.sides}")
        for key in ("max_epoch", "batch_frames", "max_batch_size", "sample_rate", "keep_checkpoints"):
            if getattr(self, key) < 1:
                raise ConfigError(f"ctc config: {key} must be >= 1, got {getattr(self, key)}")
        if self.lr <= 0 or self.warmup_steps < 0 or self.grad_clip <= 0:
            raise ConfigError("ctc config: need lr > 0, warmup_steps >= 0 and grad_clip > 0")


@dataclass(frozen=True)
class Item:
    """One training or evaluation utterance in one language."""

    set: str
    lang: str
    utt_id: str
    audio: str
    segment: object
    text: str
    num_samples: int  # at the model's sample rate


def list_items(dirs: list[PathLike], sides: list[str], langs: list[str] | None, tgt_lang: str,
               sample_rate: int) -> list[Item]:
    """Every (set, language, utterance) of ``dirs`` on the chosen sides.

    Lengths come from ``utt2num_samples.<lang>`` (written by stage 2) when present, else
    from the audio headers.
    """
    from s2s_plugin.data.datadir import DataDir, audio_info
    from s2s_plugin.data.format import resampled_length
    from s2s_plugin.data.io import read_kaldi_text

    items: list[Item] = []
    for d in dirs:
        dd = DataDir(d, tgt_lang=tgt_lang)
        for side in sides:
            lang = dd.src_lang if side == "src" else dd.tgt_lang
            if langs is not None and lang not in langs:
                continue
            counts = dd.path / f"utt2num_samples.{lang}"
            lengths = read_kaldi_text(counts) if counts.is_file() else None
            fs = None
            for utt in dd.utterances(lang):
                if lengths is not None and utt.segment is None:
                    if fs is None:
                        fs = audio_info(utt.audio)[1]
                    n = int(lengths[utt.utt_id])
                else:
                    n, fs_u = audio_info(utt.audio)
                    if utt.segment is not None:
                        n = int(round(utt.segment.duration * fs_u))
                    fs = fs_u
                items.append(Item(dd.path.name, lang, utt.utt_id, utt.audio, utt.segment, utt.text,
                                  resampled_length(n, fs, sample_rate)))
    return items


def load_wave(item: Item, sample_rate: int) -> np.ndarray:
    from s2s_plugin.asr.ctc import prepare_wave
    from s2s_plugin.data.datadir import read_audio

    try:
        wav, fs = read_audio(item.audio, item.segment)
    except Exception as e:
        raise DataError(f"{item.set}: utterance '{item.utt_id}' ({item.lang}): cannot read audio "
                        f"'{item.audio}': {e}") from None
    return prepare_wave(wav, fs, sample_rate)


def _subsample(items: list[Item], per_group: int, seed: int) -> list[Item]:
    """At most ``per_group`` items of each (set, language), a seeded random choice, in the original order."""
    groups: dict[tuple[str, str], list[int]] = {}
    for i, it in enumerate(items):
        groups.setdefault((it.set, it.lang), []).append(i)
    keep: set[int] = set()
    for key in sorted(groups):
        idx = groups[key]
        keep.update(idx if len(idx) <= per_group else random.Random(f"{seed}:{key}").sample(idx, per_group))
    return [it for i, it in enumerate(items) if i in keep]


def make_batches(lengths: list[int], budget: int, max_size: int) -> list[list[int]]:
    """Indices sorted by length, cut into batches whose padded size (count x longest) fits ``budget``."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    batches: list[list[int]] = []
    cur: list[int] = []
    for i in order:
        if cur and ((len(cur) + 1) * lengths[i] > budget or len(cur) >= max_size):
            batches.append(cur)
            cur = []
        cur.append(i)
    if cur:
        batches.append(cur)
    return batches


def min_frames_needed(ids: list[int]) -> int:
    """Frames CTC needs for a label sequence: one per label plus a blank between repeats."""
    return len(ids) + sum(1 for a, b in zip(ids, ids[1:]) if a == b)


def warmup_lr(step: int, warmup: int) -> float:
    """Multiplier of the peak lr at optimiser step ``step`` (1-based): linear up, then 1/sqrt down."""
    step = max(step, 1)
    if warmup == 0:
        return 1.0
    return min(step / warmup, math.sqrt(warmup / step))


def _collate(waves: list[np.ndarray], targets: list[list[int]]):
    import torch

    n = max(len(w) for w in waves)
    x = torch.zeros(len(waves), n)
    for row, w in enumerate(waves):
        x[row, : len(w)] = torch.from_numpy(w)
    lens = torch.tensor([len(w) for w in waves])
    m = max(len(t) for t in targets)
    ys = torch.full((len(targets), m), -1, dtype=torch.long)
    for row, t in enumerate(targets):
        ys[row, : len(t)] = torch.tensor(t)
    ylens = torch.tensor([len(t) for t in targets])
    return x, lens, ys, ylens


def cer(refs: list[str], hyps: list[str]) -> float:
    """Character error rate (spaces count as characters), over a whole list."""
    import jiwer

    if not refs:
        return float("nan")
    return float(jiwer.cer(refs, hyps))


def _progress_interval() -> float:
    return 1.0 if sys.stderr.isatty() else 30.0


class CTCTrainer:
    """Train a :class:`~s2s_plugin.asr.model.CTCNet` on characters: setup, train, cleanup.

    Example::

        trainer = CTCTrainer(cfg, ["dump/train_fr"], ["dump/dev_fr"], "exp/ctc")
        trainer.setup(); trainer.train(); trainer.cleanup()

    Args:
        cfg: the training config.
        train_dirs: the training sets (dump or data dirs).
        valid_dirs: the sets scored after each epoch (may be empty).
        exp_dir: where everything is written.
        command: the command line that resumes this run (written to run.sh).
    """

    def __init__(self, cfg: CTCTrainConfig, train_dirs: list[PathLike], valid_dirs: list[PathLike],
                 exp_dir: PathLike, command: str | None = None) -> None:
        self.cfg = cfg
        self.train_dirs = [str(d) for d in train_dirs]
        self.valid_dirs = [str(d) for d in valid_dirs]
        self.exp_dir = Path(exp_dir)
        self.command = command
        self.history: list[dict] = []
        self.epoch = 0
        self.step = 0
        self._handler: logging.Handler | None = None
        self._saved_level = logging.NOTSET

    # -- setup ----------------------------------------------------------------
    def setup(self) -> None:
        self.exp_dir.mkdir(parents=True, exist_ok=True)
        self._setup_logging()
        self._setup_data()
        self._setup_model()
        self._resume()

    def _setup_logging(self) -> None:
        self._handler = logging.FileHandler(self.exp_dir / "train.log", encoding="utf-8")
        self._handler.setFormatter(logging.Formatter("%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: "
                                                     "%(message)s"))
        root = logging.getLogger()
        root.addHandler(self._handler)
        self._saved_level = root.level
        if root.level > logging.INFO or root.level == logging.NOTSET:
            root.setLevel(logging.INFO)
        if self.command:
            with atomic_write(self.exp_dir / "run.sh") as f:
                f.write(f"#!/usr/bin/env bash\n# Resumes (or reruns) this training.\ncd {Path.cwd()} && "
                        f"{self.command}\n")

    def _saved_config(self) -> dict:
        return {"type": "s2s", **to_dict(self.cfg), "train_dirs": self.train_dirs, "valid_dirs": self.valid_dirs}

    def _setup_data(self) -> None:
        from humanfriendly import format_timespan

        from s2s_plugin.asr.tokens import CharTokenList

        cfg = self.cfg
        items = list_items(self.train_dirs, cfg.sides, cfg.langs, cfg.tgt_lang, cfg.sample_rate)
        if not items:
            raise DataError(f"no training utterances in {', '.join(self.train_dirs)} for sides {cfg.sides}"
                            + (f" and languages {cfg.langs}" if cfg.langs else ""))
        if cfg.max_utts is not None:
            items = _subsample(items, cfg.max_utts, cfg.seed)
        tok_path = self.exp_dir / "tokens.txt"
        self.tokens = CharTokenList.load(tok_path) if tok_path.is_file() and self._checkpoints() else \
            CharTokenList.build(it.text for it in items)
        self.valid_items = self._valid_items()
        langs = sorted({it.lang for it in items})
        logger.info("CTC training data: %d utterances (%s of audio) in %s from %s; %d tokens",
                    len(items), format_timespan(sum(it.num_samples for it in items) / cfg.sample_rate),
                    ", ".join(langs), ", ".join(self.train_dirs), len(self.tokens))
        self.items = items

    def _valid_items(self) -> list[Item]:
        cfg = self.cfg
        items = list_items(self.valid_dirs, cfg.sides, cfg.langs, cfg.tgt_lang, cfg.sample_rate)
        if cfg.max_valid_utts is None:
            return items
        kept: dict[tuple[str, str], int] = {}
        out = []
        for it in items:
            key = (it.set, it.lang)
            if kept.get(key, 0) < cfg.max_valid_utts:
                kept[key] = kept.get(key, 0) + 1
                out.append(it)
        return out

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
        import torch

        from s2s_plugin.asr.ctc import net_kwargs, pick_device
        from s2s_plugin.asr.model import CTCNet

        cfg = self.cfg
        torch.manual_seed(cfg.seed)
        self.device = pick_device(cfg.device)
        self.net = CTCNet(len(self.tokens), **net_kwargs(to_dict(cfg))).to(self.device)
        self.items, self.targets = self._filter(self.items, train=True)
        self.valid_items, self.valid_targets = self._filter(self.valid_items, train=False)
        if not self.items:
            raise DataError("no training utterance is left after the length filters; see the warnings above")
        frames = [int(n) // self.net.hop_length + 1 for n in (it.num_samples for it in self.items)]
        self.batches = make_batches(frames, cfg.batch_frames, cfg.max_batch_size)
        vframes = [int(it.num_samples) // self.net.hop_length + 1 for it in self.valid_items]
        self.valid_batches = make_batches(vframes, cfg.batch_frames, cfg.max_batch_size)
        self.optim = torch.optim.Adam(self.net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.optim, lambda s: warmup_lr(s + 1, cfg.warmup_steps))
        nparams = sum(p.numel() for p in self.net.parameters())
        logger.info("CTC model: %s encoder, %.2f M parameters, %.1f output frames/s, %d batches per epoch "
                    "on %s", cfg.encoder, nparams / 1e6, self.net.frame_rate, len(self.batches), self.device)

    def _checkpoints(self) -> list[tuple[int, Path]]:
        found = []
        for p in (self.exp_dir / "checkpoints").glob("epoch*.pth"):
            try:
                found.append((int(p.stem[5:]), p))
            except ValueError:
                continue
        return sorted(found)

    def _resume(self) -> None:
        import torch

        from s2s_plugin.config import load_yaml

        cps = self._checkpoints()
        if not cps:
            self.tokens.save(self.exp_dir / "tokens.txt")
            from s2s_plugin.config import save_resolved

            save_resolved(self._saved_config(), self.exp_dir)
            return
        old = load_yaml(self.exp_dir / "config.yaml")
        new = self._saved_config()
        differ = sorted(k for k in set(old) | set(new) if k != "max_epoch" and old.get(k) != new.get(k))
        if differ:
            raise ConfigError(f"{self.exp_dir} holds checkpoints of a training with other settings "
                              f"({', '.join(differ)} differ); use another --exp or remove {self.exp_dir}")
        epoch, path = cps[-1]
        state = torch.load(path, map_location=self.device, weights_only=False)
        self.net.load_state_dict(state["model"])
        self.optim.load_state_dict(state["optimizer"])
        self.sched.load_state_dict(state["scheduler"])
        self.epoch, self.step, self.history = state["epoch"], state["step"], state["history"]
        from s2s_plugin.config import save_resolved

        save_resolved(new, self.exp_dir)  # max_epoch may have changed
        logger.info("resumed from %s (epoch %d, step %d)", path, self.epoch, self.step)

    # -- training -------------------------------------------------------------
    def train(self) -> dict:
        from humanfriendly import format_timespan

        start = time.time()
        if self.epoch >= self.cfg.max_epoch:
            logger.info("training already finished (%d of %d epochs); raise max_epoch to continue",
                        self.epoch, self.cfg.max_epoch)
        while self.epoch < self.cfg.max_epoch:
            t0 = time.time()
            self.epoch += 1
            train_loss = self._train_epoch()
            record = {"epoch": self.epoch, "step": self.step, "train_loss": train_loss,
                      "lr": self.optim.param_groups[0]["lr"], "train_seconds": round(time.time() - t0, 1)}
            if self.valid_items:
                record.update(self._validate())
            record["seconds"] = round(time.time() - t0, 1)
            self.history.append(record)
            self._save_checkpoint()
            logger.info("epoch %d/%d: train loss %.3f%s (%s)", self.epoch, self.cfg.max_epoch, train_loss,
                        _valid_summary(record), format_timespan(record["seconds"]))
        total = sum(r["seconds"] for r in self.history)
        logger.info("CTC training done: %d epochs in %s (this run %s)", self.epoch, format_timespan(total),
                    format_timespan(time.time() - start))
        return self.scores()

    def _train_epoch(self) -> float:
        import torch
        from tqdm import tqdm

        cfg = self.cfg
        torch.manual_seed(cfg.seed * 1000 + self.epoch)
        order = list(range(len(self.batches)))
        random.Random(cfg.seed * 1000 + self.epoch).shuffle(order)
        self.net.train()
        total, count = 0.0, 0
        bar = tqdm(order, desc=f"ctc epoch {self.epoch}/{cfg.max_epoch}", unit="batch",
                   mininterval=_progress_interval(), leave=False)
        for b in bar:
            batch = self.batches[b]
            waves = [load_wave(self.items[i], cfg.sample_rate) for i in batch]
            x, lens, ys, ylens = (t.to(self.device) for t in _collate(waves, [self.targets[i] for i in batch]))
            loss = self.net(x, lens, ys, ylens)
            if not torch.isfinite(loss):
                logger.warning("epoch %d: non-finite loss in a batch of %d (first %s); skipped", self.epoch,
                               len(batch), self.items[batch[0]].utt_id)
                self.optim.zero_grad()
                continue
            self.optim.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.net.parameters(), cfg.grad_clip)
            self.optim.step()
            self.sched.step()
            self.step += 1
            value = loss.item()
            total += value * len(batch)
            count += len(batch)
            bar.set_postfix(loss=f"{value:.2f}", refresh=False)
        bar.close()
        return total / max(count, 1)

    def _validate(self) -> dict:
        import torch

        from s2s_plugin.asr.ctc import greedy_tokens

        self.net.eval()
        total, count = 0.0, 0
        hyps: dict[int, str] = {}
        with torch.inference_mode():
            for batch in self.valid_batches:
                waves = [load_wave(self.valid_items[i], self.cfg.sample_rate) for i in batch]
                x, lens, ys, ylens = (t.to(self.device) for t in
                                      _collate(waves, [self.valid_targets[i] for i in batch]))
                hs, hlens = self.net.encode(x, lens)
                loss = self.net.ctc(hs, hlens, ys, ylens)
                total += float(loss) * len(batch)
                count += len(batch)
                logp = self.net.ctc.log_softmax(hs).float().cpu().numpy()
                for row, i in enumerate(batch):
                    hyps[i] = self.tokens.decode(greedy_tokens(logp[row, : int(hlens[row])]))
        return {"valid_loss": total / max(count, 1), **cer_table(self.valid_items, hyps)}

    def _save_checkpoint(self) -> None:
        import torch

        ckdir = self.exp_dir / "checkpoints"
        ckdir.mkdir(exist_ok=True)
        state = {"model": self.net.state_dict(), "optimizer": self.optim.state_dict(),
                 "scheduler": self.sched.state_dict(), "epoch": self.epoch, "step": self.step,
                 "history": self.history}
        with atomic_write(ckdir / f"epoch{self.epoch}.pth", "wb") as f:
            torch.save(state, f)
        for _, old in self._checkpoints()[: -self.cfg.keep_checkpoints]:
            old.unlink()
        best = self.best_epoch()
        if best == self.epoch:
            with atomic_write(self.exp_dir / "model.pth", "wb") as f:
                torch.save(self.net.state_dict(), f)
            logger.info("epoch %d is the best so far: wrote %s", self.epoch, self.exp_dir / "model.pth")
        with atomic_write(self.exp_dir / "scores.json") as f:
            json.dump(self.scores(), f, indent=2)

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
            logging.getLogger().removeHandler(self._handler)
            logging.getLogger().setLevel(self._saved_level)
            self._handler.close()
            self._handler = None


def cer_table(items: list[Item], hyps: dict[int, str]) -> dict:
    """CER per set and language, and per language over all sets."""
    by_set: dict[str, dict[str, tuple[list, list]]] = {}
    by_lang: dict[str, tuple[list, list]] = {}
    for i, it in enumerate(items):
        if i not in hyps:
            continue
        for refs, out in (by_set.setdefault(it.set, {}).setdefault(it.lang, ([], [])),
                          by_lang.setdefault(it.lang, ([], []))):
            refs.append(it.text)
            out.append(hyps[i])
    return {"cer": {s: {lang: round(cer(*v), 4) for lang, v in d.items()} for s, d in by_set.items()},
            "cer_by_lang": {lang: round(cer(*v), 4) for lang, v in by_lang.items()}}


def _valid_summary(record: dict) -> str:
    if "valid_loss" not in record:
        return ""
    cers = ", ".join(f"{lang} {100 * v:.1f}%" for lang, v in sorted(record["cer_by_lang"].items()))
    return f", valid loss {record['valid_loss']:.3f}, CER {cers}"


def evaluate(model, dirs: list[PathLike], sides: list[str], langs: list[str] | None, tgt_lang: str,
             out_dir: PathLike | None = None, max_utts: int | None = None) -> dict:
    """Transcribe ``dirs`` with any CTC model and score CER per set and language.

    Writes ``out_dir/<set>/hyp.<lang>`` (Kaldi text) and ``out_dir/cer.json`` when ``out_dir`` is given.
    """
    from tqdm import tqdm

    from s2s_plugin.data.io import write_kaldi_text

    items = list_items(dirs, sides, langs, tgt_lang, model.sample_rate)
    if max_utts is not None:
        seen: dict[tuple[str, str], int] = {}
        kept = []
        for it in items:
            seen[(it.set, it.lang)] = seen.get((it.set, it.lang), 0) + 1
            if seen[(it.set, it.lang)] <= max_utts:
                kept.append(it)
        items = kept
    if not items:
        raise DataError(f"nothing to score in {', '.join(map(str, dirs))} for sides {sides}")
    hyps: dict[int, str] = {}
    for i, it in enumerate(tqdm(items, desc="ctc eval", unit="utt", mininterval=_progress_interval())):
        hyps[i] = model.transcribe([load_wave(it, model.sample_rate)], model.sample_rate)[0]
    table = cer_table(items, hyps)
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
    """A small text table: CER per set and language, then per language."""
    rows = [("set", "lang", "CER %")]
    for s, d in sorted(table["cer"].items()):
        for lang, v in sorted(d.items()):
            rows.append((s, lang, f"{100 * v:.2f}"))
    for lang, v in sorted(table["cer_by_lang"].items()):
        rows.append(("(all)", lang, f"{100 * v:.2f}"))
    widths = [max(len(r[c]) for r in rows) for c in range(3)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows)
