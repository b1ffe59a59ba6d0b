"""The utterances of CTC training and scoring, and their Lightning DataModule.

    items = list_items(["dump/train_fr"], sides=["tgt"], langs=["en"], tgt_lang="en", sample_rate=16000)
    wave = load_wave(items[0], 16000)          # float32 mono samples at 16 kHz
    dm = CTCDataModule(train, train_targets, valid, valid_targets, sample_rate=16000, hop_length=160,
                       batch_frames=2000, max_batch_size=64, num_workers=2, seed=0)

Lengths come from ``utt2num_samples.<lang>`` (stage 2) or the audio headers, so
batches are planned without reading any audio. The DataModule's loaders read
and prepare the audio of each batch in ``num_workers`` worker processes (0: in
the training process) and batch it with the shared
:class:`~s2s_plugin.train.sampler.TokenBudgetBatchSampler`: the lengths are
feature frames (one per hop), a batch holds at most ``batch_frames`` padded
frames (all processes together) and ``max_batch_size`` utterances, utterances
of similar length are bucketed together, and every epoch visits the batches in
a new seeded order. The train loader's position is saved with each checkpoint
(:class:`~s2s_plugin.train.datamodule.ResumableLoader`), so a run resumes mid-epoch
at the batch it stopped at.
"""
from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from s2s_plugin.data.io import PathLike
from s2s_plugin.errors import DataError

logger = logging.getLogger(__name__)


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


def list_items(dirs: Sequence[PathLike], sides: Sequence[str], langs: Sequence[str] | None, tgt_lang: str,
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
                    if utt.utt_id not in lengths:
                        raise DataError(f"{counts}: no line for utterance '{utt.utt_id}'; rerun stage 2")
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
    """The mono float32 samples of ``item`` at ``sample_rate``.

    Raises:
        DataError: the audio cannot be read (naming the set, utterance and file).
    """
    from s2s_plugin.asr.common import prepare_wave
    from s2s_plugin.data.datadir import read_audio

    try:
        wav, fs = read_audio(item.audio, item.segment)
    except Exception as e:
        raise DataError(f"{item.set}: utterance '{item.utt_id}' ({item.lang}): cannot read audio "
                        f"'{item.audio}': {e}") from None
    return prepare_wave(wav, fs, sample_rate)


def subsample(items: list[Item], per_group: int, seed: int) -> list[Item]:
    """At most ``per_group`` items of each (set, language), a seeded random choice, in the original order."""
    groups: dict[tuple[str, str], list[int]] = {}
    for i, it in enumerate(items):
        groups.setdefault((it.set, it.lang), []).append(i)
    keep: set[int] = set()
    for key in sorted(groups):
        idx = groups[key]
        keep.update(idx if len(idx) <= per_group else random.Random(f"{seed}:{key}").sample(idx, per_group))
    return [it for i, it in enumerate(items) if i in keep]


def first_per_group(items: list[Item], per_group: int | None) -> list[Item]:
    """The first ``per_group`` items of each (set, language) (None: all)."""
    if per_group is None:
        return items
    seen: dict[tuple[str, str], int] = {}
    kept = []
    for it in items:
        key = (it.set, it.lang)
        seen[key] = seen.get(key, 0) + 1
        if seen[key] <= per_group:
            kept.append(it)
    return kept


def min_frames_needed(ids: Sequence[int]) -> int:
    """Frames CTC needs for a label sequence: one per label plus a blank between repeats."""
    return len(ids) + sum(1 for a, b in zip(ids, ids[1:]) if a == b)


# -- loaders ---------------------------------------------------------------------------------------

class AudioItems(Dataset):
    """Maps ``(index, epoch, position)`` keys of the batch sampler to loaded utterances.

    Runs in the loader's worker processes: reading, downmixing and resampling happen there.
    """

    def __init__(self, items: Sequence[Item], targets: Sequence[Sequence[int]], sample_rate: int) -> None:
        self.items, self.targets, self.sample_rate = items, targets, sample_rate

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, key: tuple[int, int, int]) -> tuple[int, np.ndarray, Sequence[int], int, int]:
        i, epoch, pos = key
        return i, load_wave(self.items[i], self.sample_rate), self.targets[i], epoch, pos


def collate(rows: list[tuple[int, np.ndarray, Sequence[int], int, int]]) -> dict[str, Any]:
    """Zero-padded waves and ``-1``-padded targets of one batch, with the batch's item indices and position."""
    n = max(len(r[1]) for r in rows)
    m = max(len(r[2]) for r in rows)
    speech = torch.zeros(len(rows), n)
    ys = torch.full((len(rows), m), -1, dtype=torch.long)
    for row, (_, wave, target, _, _) in enumerate(rows):
        speech[row, : len(wave)] = torch.from_numpy(wave)
        ys[row, : len(target)] = torch.as_tensor(target, dtype=torch.long)
    return {"speech": speech, "speech_lengths": torch.tensor([len(r[1]) for r in rows]),
            "ys": ys, "ys_lengths": torch.tensor([len(r[2]) for r in rows]),
            "index": [r[0] for r in rows], "epoch": rows[0][3], "position": rows[0][4]}


class CTCDataModule(L.LightningDataModule):
    """Train and valid loaders of prepared utterances, batched under a budget of padded frames.

    Args:
        train: training utterances (already filtered) and ``train_targets`` their token ids.
        valid: valid utterances and ``valid_targets`` (may be empty).
        sample_rate: the model's rate.
        hop_length: samples per feature frame (the batch budget counts frames).
        batch_frames: padded frames per global batch (all processes together).
        max_batch_size: at most this many utterances per global batch.
        num_workers: loader worker processes (0: load in the training process).
        seed: seeds the packing and the epoch orders.
    """

    def __init__(self, train: Sequence[Item], train_targets: Sequence[Sequence[int]], valid: Sequence[Item],
                 valid_targets: Sequence[Sequence[int]], sample_rate: int, hop_length: int, batch_frames: int,
                 max_batch_size: int, num_workers: int = 0, seed: int = 0) -> None:
        super().__init__()
        self.train_items, self.train_targets = list(train), list(train_targets)
        self.valid_items, self.valid_targets = list(valid), list(valid_targets)
        self.sample_rate, self.hop_length = sample_rate, hop_length
        self.batch_frames, self.max_batch_size = batch_frames, max_batch_size
        self.num_workers, self.seed = num_workers, seed
        self.train_sampler: Any = None
        self.padding: dict[str, float] = {}

    def frames(self, items: Sequence[Item]) -> list[int]:
        return [int(it.num_samples) // self.hop_length + 1 for it in items]

    def _world(self) -> tuple[int, int]:
        trainer = getattr(self, "trainer", None)
        return (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)

    def _sampler(self, lengths: list[int], shuffle: bool) -> Any:
        from s2s_plugin.train.sampler import TokenBudgetBatchSampler

        world, rank = self._world()
        return TokenBudgetBatchSampler(lengths, max_tokens=self.batch_frames, max_batch_size=self.max_batch_size,
                                       bucketing=True, shuffle=shuffle, seed=self.seed, num_replicas=world,
                                       rank=rank)

    def setup(self, stage: str | None = None) -> None:
        from s2s_plugin.train.sampler import padding_share

        if self.train_sampler is not None:
            return
        lengths = self.frames(self.train_items)
        self.train_sampler = self._sampler(lengths, shuffle=True)
        self.padding = {"train": padding_share(lengths, self.train_sampler.batches)}
        logger.info("CTC batches: %d per epoch of <= %d padded frames and <= %d utterances (padding %.1f%%), "
                    "%d loader worker(s)", len(self.train_sampler), self.batch_frames, self.max_batch_size,
                    100 * self.padding["train"], self.num_workers)

    def _loader(self, items: list[Item], targets: list[Sequence[int]], sampler: Any, cls: type) -> DataLoader:
        # its own generator: making the iterator must not draw from the global RNG (dropout's, SpecAugment's)
        return cls(AudioItems(items, targets, self.sample_rate), batch_sampler=sampler, collate_fn=collate,
                   num_workers=self.num_workers, generator=torch.Generator().manual_seed(self.seed))

    def train_dataloader(self) -> DataLoader:
        from s2s_plugin.train.datamodule import ResumableLoader

        assert self.train_sampler is not None, "call setup() first"
        return self._loader(self.train_items, self.train_targets, self.train_sampler, ResumableLoader)

    def val_dataloader(self) -> DataLoader | list:
        if not self.valid_items:
            return []
        sampler = self._sampler(self.frames(self.valid_items), shuffle=False)
        return self._loader(self.valid_items, self.valid_targets, sampler, DataLoader)
