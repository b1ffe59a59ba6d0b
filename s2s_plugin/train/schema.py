"""The strict configs of stage 8 (S2ST training) and stage 7 (text pretraining).

    from s2s_plugin.config import load_config
    cfg = load_config(TrainConfig, "conf/train_scheduled.yaml", ["optim.lr=1e-4"])

A training config has these blocks (see ``egs/mini_s2st/s2st1/conf/train_*.yaml``)::

    vocab: exp/vocab/vocab.yaml     # stage 6's vocabulary
    llm: {name: hf, path: exp/lm/model, dropout: 0.2}      # component "llm_decoder"
    scheduler: {name: step, p_init: 0.9, every: 40}       # component "interleave_scheduler"
    sequence: {cot: true, interleave_sides: [src, tgt], mode: text, lam: 1.0}
    data: {train: [dump/train_fr], valid: [dump/dev_fr], max_tokens: 8000, frame_rate: 50}
    optim: {lr: 5.0e-4, warmup_steps: 50, decay: cosine}
    trainer: {max_steps: 600, val_check_interval: 100, precision: auto, strategy: auto}

The text pretraining config (stage 7) shares ``llm``, ``optim`` and
``trainer`` and has a ``text`` block instead of ``scheduler``/``sequence``/``data``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from s2s_plugin.config import component
from s2s_plugin.errors import ConfigError
from s2s_plugin.llm.examples import DEFAULT_CTM
from s2s_plugin.llm.sequence import SequenceConfig


@dataclass
class DataConfig:
    """Where the S2ST examples come from and how they are batched.

    Attributes:
        train: training dump dirs (``dump/train_fr``, ...); one source language each. s2st.sh passes
            those of its ``--train_sets`` (``data.train=[...]``); a config leaves them out.
        valid: validation dump dirs (s2st.sh: those of ``--valid_sets``).
        tgt_lang: the target language (the source language of a dir is the other ``units.*``).
        frame_rate: units per second; ``null``: read what stage 4 recorded next to the units.
        ctm: CTM file name pattern in each dump dir (``align.{lang}.ctm``; the uniform-alignment
            ablation names the ``uniform`` aligner's CTM here).
        skip_bad: skip (and report) inconsistent utterances instead of stopping.
        max_tokens: token budget of one global batch (all devices together, padding included),
            counted at the lengths the sequences have at the batch's step and p (interleaving
            shortens them: more utterances fit at high p); the batch is split over devices.
        max_batch_size: optional cap on utterances per global batch.
        bucketing: group utterances of similar length into batches (less padding).
        shuffle: draw utterances in a new seeded order on every pass over the data (``trainer.seed``).
        max_len: drop training examples longer than this many tokens (at p = 0); ``null``: keep all.
        valid_p: the fixed text ratio of validation sequences (0: pure units, as at inference).
    """

    train: list[str] = field(default_factory=list)
    valid: list[str] = field(default_factory=list)
    tgt_lang: str = "en"
    frame_rate: float | None = None
    ctm: str = DEFAULT_CTM
    skip_bad: bool = False
    max_tokens: int = 8000
    max_batch_size: int | None = None
    bucketing: bool = True
    shuffle: bool = True
    max_len: int | None = None
    valid_p: float = 0.0

    def __post_init__(self) -> None:
        if "{lang}" not in self.ctm:
            raise ConfigError(f"data.ctm must contain '{{lang}}', got {self.ctm!r}")
        if self.max_tokens <= 0:
            raise ConfigError(f"data.max_tokens must be > 0, got {self.max_tokens}")
        if not 0.0 <= self.valid_p <= 1.0:
            raise ConfigError(f"data.valid_p must be in [0, 1], got {self.valid_p}")


@dataclass
class TextDataConfig:
    """The text-only corpus of stage 7 (Kaldi-style ``id words...`` files).

    A recipe names its corpus dirs once (run.sh's ``lm_train_text`` and ``lm_valid_text``,
    passed as ``text.train_dir`` and ``text.valid_dir``) and the config names languages:
    ``pairs: [[fr, en]]`` reads ``<train_dir>/text.fr`` and ``<train_dir>/text.en`` (and the
    same files of ``valid_dir`` for validation). Files outside such dirs can be listed
    explicitly in ``mono``/``parallel``; both ways add up.

    Attributes:
        pairs: ``[source_lang, target_lang]`` translation pairs read from ``train_dir`` / ``valid_dir``.
        langs: monolingual languages read from ``train_dir`` / ``valid_dir``.
        train_dir, valid_dir: dirs of ``text.<lang>`` files sharing ids; the recipe passes them.
        mono: monolingual ``text.<lang>`` files.
        parallel: ``[source_file, target_file]`` pairs with shared ids (translation pairs).
        valid_mono, valid_parallel: the same for validation.
        tgt_lang: the target language: its monolingual sentences are laid out as target text.
        lang_tags: start each item with ``<lang_xx>`` of its (source) language, as stage 8 does.
        max_tokens, max_batch_size, bucketing, shuffle, max_len: as in the S2ST ``data`` block.
    """

    pairs: list[list[str]] = field(default_factory=list)
    langs: list[str] = field(default_factory=list)
    train_dir: str | None = None
    valid_dir: str | None = None
    mono: list[str] = field(default_factory=list)
    parallel: list[list[str]] = field(default_factory=list)
    valid_mono: list[str] = field(default_factory=list)
    valid_parallel: list[list[str]] = field(default_factory=list)
    tgt_lang: str = "en"
    lang_tags: bool = True
    max_tokens: int = 4000
    max_batch_size: int | None = None
    bucketing: bool = True
    shuffle: bool = True
    max_len: int | None = None

    def __post_init__(self) -> None:
        if not (self.mono or self.parallel or self.pairs or self.langs):
            raise ConfigError("text: give languages (langs) and/or language pairs (pairs) of the recipe's text "
                              "dirs, or files (mono, parallel)")
        for pair in self.pairs:
            if len(pair) != 2:
                raise ConfigError(f"text.pairs: each entry must be [source_lang, target_lang], got {pair}")
        if self.max_tokens <= 0:
            raise ConfigError(f"text.max_tokens must be > 0, got {self.max_tokens}")

    def files(self, split: str) -> tuple[list[str], list[list[str]]]:
        """The monolingual files and translation-pair files of ``split`` (``train`` or ``valid``).

        Raises:
            ConfigError: ``pairs``/``langs`` are given but the split's dir is not (training only:
                without ``valid_dir`` there is no validation from the dirs).
        """
        mono, parallel = (self.mono, self.parallel) if split == "train" else (self.valid_mono, self.valid_parallel)
        directory = self.train_dir if split == "train" else self.valid_dir
        if not (self.pairs or self.langs) or (split != "train" and not directory):
            return list(mono), [list(p) for p in parallel]
        if not directory:
            raise ConfigError("text.pairs/text.langs name languages of the recipe's text corpus, but no dir holds "
                              "them: give text.train_dir=DIR (a dir of text.<lang> files; s2st.sh passes run.sh's "
                              "lm_train_text, and lm_valid_text as text.valid_dir)")
        base = Path(directory)
        return ([str(base / f"text.{lang}") for lang in self.langs] + list(mono),
                [[str(base / f"text.{s}"), str(base / f"text.{t}")] for s, t in self.pairs] + [list(p) for p in parallel])


@dataclass
class OptimConfig:
    """AdamW with linear warm-up and a decay to ``min_lr_ratio * lr`` at ``trainer.max_steps``.

    Attributes:
        lr: peak learning rate (the paper: 5e-5 for Llama-3.2-1B).
        betas, eps, weight_decay: AdamW's (no decay on biases, norms and other 1-D weights).
        warmup_steps: optimiser steps of linear warm-up from 0.
        decay: ``cosine``, ``linear`` or ``constant`` after the warm-up.
        min_lr_ratio: the final learning rate as a share of ``lr``.
    """

    lr: float = 5.0e-5
    betas: list[float] = field(default_factory=lambda: [0.9, 0.98])
    eps: float = 1.0e-8
    weight_decay: float = 0.01
    warmup_steps: int = 100
    decay: Literal["cosine", "linear", "constant"] = "cosine"
    min_lr_ratio: float = 0.1

    def __post_init__(self) -> None:
        if self.lr <= 0 or self.warmup_steps < 0 or not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ConfigError(f"optim: need lr > 0, warmup_steps >= 0, min_lr_ratio in [0, 1]; got lr={self.lr}, "
                              f"warmup_steps={self.warmup_steps}, min_lr_ratio={self.min_lr_ratio}")
        if len(self.betas) != 2:
            raise ConfigError(f"optim.betas must be two numbers, got {self.betas}")


@dataclass
class FSDPConfig:
    """Options of the FSDP strategy (used when ``trainer.strategy`` is ``fsdp``).

    Attributes:
        sharding: ``FULL_SHARD`` (ZeRO-3), ``SHARD_GRAD_OP`` (ZeRO-2), ``HYBRID_SHARD`` or ``NO_SHARD``.
        activation_checkpointing: recompute each decoder layer's activations in the backward pass.
        cpu_offload: keep parameters on the CPU between uses.
    """

    sharding: Literal["FULL_SHARD", "SHARD_GRAD_OP", "HYBRID_SHARD", "NO_SHARD"] = "FULL_SHARD"
    activation_checkpointing: bool = False
    cpu_offload: bool = False


@dataclass
class TrainerConfig:
    """The training loop: length, devices, precision, validation and checkpoints.

    Attributes:
        max_steps: optimiser steps of the run (the LR schedule ends here).
        accumulate: micro-batches per optimiser step (gradient accumulation).
        precision: ``auto`` (bf16-mixed on a GPU with bf16, else 32-true), ``32-true``,
            ``bf16-mixed``, ``16-mixed`` or ``bf16-true``.
        strategy: ``auto`` (DDP when more than one process, else single device), ``ddp`` or ``fsdp``.
        accelerator: ``auto``, ``cpu`` or ``gpu``.
        devices: processes per node: ``auto`` (torchrun's or Slurm's count, else all GPUs or 1 CPU process).
        num_nodes: nodes; ``0``: from torchrun or Slurm, else 1.
        val_check_interval: validate (and keep a best-N candidate) every this many optimiser steps.
        save_every: write the resume checkpoint ``checkpoints/last.ckpt`` every this many steps.
        keep_every: also keep the model weights of every this many steps as
            ``checkpoints/step<7 digits>.ckpt`` (weights only, never deleted), for analyses over
            training such as ``s2s similarity``; 0 (the default): keep none, only ``last.ckpt``
            and the ``keep_best`` ones.
        keep_best: the N checkpoints of lowest validation loss kept and averaged into the final model.
        gradient_clip: clip the gradient norm to this (0: off).
        seed: the run's one seed: weights' random init (a model built from ``llm.config``, new
            embedding rows with ``init_new: normal``), dropout, the batch order and, unless
            ``sequence.seed`` is set, the interleaving draws.
        log_every_n_steps: TensorBoard logging interval.
        num_sanity_val_steps: validation batches run before training, to fail early.
        fsdp: options of the FSDP strategy.
        loss_chunk_tokens: 0 = the model's full logits, upcast to fp32, for the loss; N > 0 = the
            output layer and the loss run on N label positions at a time, recomputed in the backward
            pass, so no (tokens x vocabulary) logits tensor is ever whole, and only the positions that
            carry a loss get logits. For models whose logits are ``output_embeddings(last hidden
            state)`` (Llama, Qwen, Mistral; not logit soft-capping ones such as Gemma 2). Same loss
            and gradients, less memory: 16k tokens x 128k vocabulary is 8 GB of fp32 logits.
    """

    max_steps: int
    accumulate: int = 1
    precision: str = "auto"
    strategy: Literal["auto", "ddp", "fsdp"] = "auto"
    accelerator: Literal["auto", "cpu", "gpu"] = "auto"
    devices: int | str = "auto"
    num_nodes: int = 0
    val_check_interval: int = 100
    save_every: int = 100
    keep_every: int = 0
    keep_best: int = 3
    gradient_clip: float = 1.0
    seed: int = 0
    log_every_n_steps: int = 10
    num_sanity_val_steps: int = 1
    fsdp: FSDPConfig = field(default_factory=FSDPConfig)
    loss_chunk_tokens: int = 0

    def __post_init__(self) -> None:
        if self.loss_chunk_tokens < 0:
            raise ConfigError(f"trainer.loss_chunk_tokens must be >= 0 (0: off), got {self.loss_chunk_tokens}")
        if self.keep_every < 0:
            raise ConfigError(f"trainer.keep_every must be >= 0 (0: keep no periodic checkpoints), "
                              f"got {self.keep_every}")
        for name in ("max_steps", "accumulate", "val_check_interval", "save_every", "keep_best",
                     "log_every_n_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"trainer.{name} must be >= 1, got {getattr(self, name)}")
        if self.precision not in ("auto", "32-true", "bf16-mixed", "16-mixed", "bf16-true"):
            raise ConfigError(f"trainer.precision: unknown {self.precision!r}; use auto, 32-true, bf16-mixed, "
                              "16-mixed or bf16-true")
        if isinstance(self.devices, str) and self.devices != "auto":
            raise ConfigError(f"trainer.devices must be a number or 'auto', got {self.devices!r}")


@dataclass
class TrainConfig:
    """Stage 8: S2ST training of an LLM decoder with scheduled interleaving.

    Attributes:
        vocab: the joint vocabulary of stage 6 (``--vocab``; s2st.sh passes it).
        llm: the decoder (plugin kind ``llm_decoder``), e.g. ``{name: hf, path: exp/lm/model}``.
        scheduler: the text ratio p over optimiser steps (plugin kind ``interleave_scheduler``).
        sequence: the chain-of-thought layout and interleaving switches (the paper's ablations).
        data: examples and batching.
        optim: optimiser and LR schedule.
        trainer: loop, devices, precision, checkpoints.
    """

    llm: dict = component("llm_decoder")
    scheduler: dict = component("interleave_scheduler", build_check=True)
    data: DataConfig
    trainer: TrainerConfig
    vocab: str | None = None
    sequence: SequenceConfig = field(default_factory=SequenceConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)

    def __post_init__(self) -> None:
        if self.sequence.seed is None:  # one seed for the whole run: interleaving draws follow trainer.seed
            self.sequence.seed = self.trainer.seed


@dataclass
class PretrainTextConfig:
    """Stage 7: text-only pretraining of the embedded recipe's small LLM.

    Attributes:
        vocab: the joint vocabulary of stage 6 (its text tokens and specials are used; no units); ``--vocab``.
        llm: the decoder, usually ``{name: hf, config: {model_type: llama, ...}}`` (random init).
        text: the text-only corpus and batching.
        optim, trainer: as in stage 8.
    """

    llm: dict = component("llm_decoder")
    text: TextDataConfig
    trainer: TrainerConfig
    vocab: str | None = None
    optim: OptimConfig = field(default_factory=OptimConfig)


def check_recipe_paths(cfg: TrainConfig | PretrainTextConfig, where: str = "the config") -> None:
    """Refuse a config that lacks the paths the recipe passes (configs leave them out: s2st.sh says them).

    Raises:
        ConfigError: naming the missing key and the option or override that sets it.
    """
    if not cfg.vocab:
        raise ConfigError(f"{where}: no vocabulary (key 'vocab'): give --vocab exp/vocab/vocab.yaml (stage 6's "
                          "output; s2st.sh passes it) or the override vocab=FILE")
    if isinstance(cfg, PretrainTextConfig):
        cfg.text.files("train")  # pairs/langs without text.train_dir: the error says what to give
    if isinstance(cfg, TrainConfig) and not cfg.data.train:
        raise ConfigError(f"{where}: no training data (key 'data.train'): give the override "
                          "data.train=[dump/<set>,...] (s2st.sh passes the dump dirs of --train_sets, and of "
                          "--valid_sets as data.valid)")


def describe(cfg: Any) -> str:
    """One line naming what a config trains (for logs)."""
    if isinstance(cfg, TrainConfig):
        s = cfg.sequence
        return (f"S2ST: llm={cfg.llm.get('name')} scheduler={cfg.scheduler.get('name')} cot={s.cot} "
                f"sides={s.interleave_sides} mode={s.mode} max_steps={cfg.trainer.max_steps}")
    return f"text pretraining: llm={cfg.llm.get('name')} max_steps={cfg.trainer.max_steps}"
