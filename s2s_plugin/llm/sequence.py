"""Token sequences of the chain of thought, with scheduled interleaving.

One stream per utterance (PAPER.md; the token layout is ours)::

    <s_src> <lang_xx> I_src <t_src> T_src <t_tgt> T_tgt <s_tgt> I_tgt <eos>
    '--------- prompt (no loss) -------'  '-------- loss on every token ---------'

``I_src``/``I_tgt`` are the source/target units, interleaved with text at the
scheduler's ratio p on the configured sides; ``T_src``/``T_tgt`` are the whole
transcripts. Without chain of thought (``cot: false``) the stream is
``<s_src> <lang_xx> I_src <s_tgt> I_tgt <eos>``. Each token carries the segment
the model was producing when it predicted that token, for per-segment losses::

    builder = SequenceBuilder(vocab, SequenceConfig(interleave_sides=["src", "tgt"]))
    seq = builder.build(example, step=1200, p=0.5)
    batch = collate([seq, ...], pad_id=vocab.pad_id)   # input_ids, labels, attention_mask, segments
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from s2s_plugin.errors import ConfigError
import numpy as np

from s2s_plugin.interleave.interleaver import Interleaver, _stream_seed, check_spans, dedup_with_spans
from s2s_plugin.llm.vocab import Vocabulary, lang_token

IGNORE = -100
#: Segment names, indexed by the ``segments`` ids of a sequence.
SEGMENTS = ("src_speech", "src_text", "tgt_text", "tgt_speech")
SRC_SPEECH, SRC_TEXT, TGT_TEXT, TGT_SPEECH = range(4)


@dataclass
class Side:
    """One side (source or target) of an utterance.

    Attributes:
        lang: language code.
        units: unit labels ``0..K-1`` (not yet vocabulary ids).
        words: the transcript's words.
        spans: each word's unit frames ``[start, end)``; ``None`` when there is no alignment.
    """

    lang: str
    units: list[int]
    words: list[str]
    spans: list[tuple[int, int]] | None = None


@dataclass
class Example:
    """A parallel utterance: source and target sides sharing an id."""

    utt: str
    src: Side
    tgt: Side


@dataclass
class SequenceConfig:
    """How training sequences are laid out and interleaved (the paper's ablations are switches here).

    Attributes:
        cot: chain of thought (T_src and T_tgt between the speech segments).
        lang_tags: put ``<lang_xx>`` of the source language after ``<s_src>``.
        interleave_sides: which unit sequences are interleaved: ``[src, tgt]`` (the paper),
            ``[src]`` (input only), ``[tgt]`` (output only), ``[]`` (no interleaving: baseline).
        mode: ``text`` (words' text tokens) or ``mask`` (one ``<mask>`` per span).
        lam: Poisson mean of the extra span length.
        switch_tokens: mark modality changes inside interleaved segments with ``<to_text>``/``<to_speech>``.
        seed: base seed of the interleaving random stream; ``None`` (the default): stage 8's
            ``trainer.seed``, so one seed sets every random choice of a run (0 outside training).
        src_unit_noise: share of the source units (those left as units after interleaving) that
            training sequences replace by random units, in spans of ``src_unit_noise_span`` units:
            a regulariser in the spirit of SpecAugment's masks, against recalling a training
            transcript from the first units of its utterance. Validation and decoding sequences
            are never noised. 0 (the default): off, as in the paper.
        src_unit_noise_span: length, in units, of each noised span.
        dedup_sides: sides whose units are de-duplicated in the sequence (runs of a repeated
            unit collapsed to one, word spans carried over; stage 4's files keep every frame):
            ``[src]`` shortens the input the model reads, about 2-3x at 50 units/s. ``tgt``
            makes the model generate de-duplicated units, which only a vocoder that predicts
            durations can speak (``unit_hifigan`` with a duration predictor). ``[]`` (the
            default): every frame's unit, as in the paper.
    """

    cot: bool = True
    lang_tags: bool = True
    interleave_sides: list[str] = field(default_factory=lambda: ["src", "tgt"])
    mode: Literal["text", "mask"] = "text"
    lam: float = 1.0
    switch_tokens: bool = False
    seed: int | None = None
    src_unit_noise: float = 0.0
    src_unit_noise_span: int = 1
    dedup_sides: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for key in ("interleave_sides", "dedup_sides"):
            bad = [s for s in getattr(self, key) if s not in ("src", "tgt")]
            if bad:
                raise ConfigError(f"sequence.{key} may hold 'src' and 'tgt' only, got {bad}")
        if not 0.0 <= self.src_unit_noise < 1.0:
            raise ConfigError(f"sequence.src_unit_noise is a share of the source units in [0, 1), "
                              f"got {self.src_unit_noise}")
        if self.src_unit_noise_span < 1:
            raise ConfigError(f"sequence.src_unit_noise_span is a number of units >= 1, got {self.src_unit_noise_span}")


@dataclass
class TokenSequence:
    """One training (or prompt) sequence.

    Attributes:
        input_ids: vocabulary ids.
        labels: ``input_ids`` where the loss applies, ``-100`` elsewhere (unshifted).
        segments: per token, the index into :data:`SEGMENTS`.
        is_text: per token, True for text/special tokens, False for units (for display).
        n_prompt: length of the prompt (tokens without loss).
        p: the text ratio the sequence was built with.
    """

    input_ids: list[int]
    labels: list[int]
    segments: list[int]
    is_text: list[bool]
    n_prompt: int
    p: float = 0.0


class SequenceBuilder:
    """Builds :class:`TokenSequence` s from :class:`Example` s.

    Args:
        vocab: the joint vocabulary.
        cfg: the sequence layout and interleaving switches.
    """

    def __init__(self, vocab: Vocabulary, cfg: SequenceConfig | None = None) -> None:
        self.vocab = vocab
        self.cfg = cfg or SequenceConfig()
        sw = self.cfg.switch_tokens
        self.interleaver = Interleaver(
            lam=self.cfg.lam, mode=self.cfg.mode,
            mask_id=vocab.special("<mask>") if self.cfg.mode == "mask" else None,
            text_switch_id=vocab.special("<to_text>") if sw else None,
            speech_switch_id=vocab.special("<to_speech>") if sw else None,
            seed=0 if self.cfg.seed is None else self.cfg.seed)
        self.sp = {t: vocab.special(t) for t in ("<s_src>", "<t_src>", "<t_tgt>", "<s_tgt>", "<eos>")}
        # every step rebuilds its sequences: tokenize each sentence once (read-only lists)
        self._word_ids: dict[tuple[str, ...], list[list[int]]] = {}

    def _encode(self, words: Sequence[str], where: str) -> list[list[int]]:
        key = tuple(words)
        ids = self._word_ids.get(key)
        if ids is None:
            ids = self._word_ids[key] = self.vocab.encode_words(words, where)
        return ids

    def side_units(self, utt: str, side: Side, name: str) -> tuple[list[int], list[tuple[int, int]] | None]:
        """The vocabulary ids of a side's units as the sequence holds them, and its word spans there.

        With the side in ``dedup_sides`` both come from :func:`dedup_with_spans`; the frame
        spans are checked first.
        """
        units, spans = side.units, side.spans
        if name in self.cfg.dedup_sides:
            if spans is not None:
                check_spans(spans, len(units), key=f"{utt} ({name})")
            units, spans = dedup_with_spans(units, spans)
        return [self.vocab.unit_id(u) for u in units], spans

    def _speech(self, utt: str, side: Side, name: str, p: float, step: int,
                word_ids: list[list[int]]) -> tuple[list[int], list[bool]]:
        units, spans = self.side_units(utt, side, name)
        if name not in self.cfg.interleave_sides or p <= 0.0:
            return units, [False] * len(units)
        if spans is None:
            raise ConfigError(f"utterance '{utt}': interleaving the {name} side needs word alignments "
                              f"(align.{side.lang}.ctm from stage 5), but none were loaded")
        if name not in self.cfg.dedup_sides:  # de-duplicated spans may be empty: checked on frames above
            check_spans(spans, len(units), key=f"{utt} ({name})")
        out = self.interleaver(units, spans, word_ids, p, key=utt, step=step, side=name)
        return out.tokens, out.is_text

    def _noise(self, utt: str, step: int, tokens: list[int], is_text: list[bool]) -> list[int]:
        """``tokens`` with spans of its units replaced by random units (``src_unit_noise``).

        Span starts are drawn among the unit positions with probability ``share / span``, so
        about ``share`` of the units change (overlapping spans a little less); the draw is the
        run's seed, the utterance and the step, like the interleaver's, so a resumed run
        rebuilds the same sequences.
        """
        share, span = self.cfg.src_unit_noise, self.cfg.src_unit_noise_span
        rng = np.random.default_rng(_stream_seed(self.interleaver.seed, utt, step, "src_noise"))
        unit_pos = np.flatnonzero(~np.asarray(is_text, dtype=bool))
        starts = unit_pos[rng.random(len(unit_pos)) < share / span]
        if not len(starts):
            return tokens
        hit = np.zeros(len(tokens), dtype=bool)
        for a in starts:
            hit[a:a + span] = True
        hit &= ~np.asarray(is_text, dtype=bool)
        out = np.asarray(tokens)
        out[hit] = self.vocab.unit_offset + rng.integers(0, self.vocab.n_units, int(hit.sum()))
        return out.tolist()

    def prompt(self, ex: Example, p: float = 0.0, step: int = 0) -> list[int]:
        """The decoding prompt: source speech up to the first generated segment's marker."""
        return self.build(ex, step=step, p=p, prompt_only=True).input_ids

    def build(self, ex: Example, step: int, p: float, prompt_only: bool = False,
              train: bool = False) -> TokenSequence:
        """The sequence of ``ex`` at global step ``step`` with text ratio ``p``.

        ``train``: a training sequence, which gets the source unit noise if the layout has it.
        """
        where = f"utterance '{ex.utt}'"
        src_words = self._encode(ex.src.words, where)
        ids: list[int] = [self.sp["<s_src>"]]
        if self.cfg.lang_tags:
            ids.append(self.vocab.special(lang_token(ex.src.lang)))
        src_tokens, src_is_text = self._speech(ex.utt, ex.src, "src", p, step, src_words)
        if train and self.cfg.src_unit_noise > 0.0:
            src_tokens = self._noise(ex.utt, step, src_tokens, src_is_text)
        ids += src_tokens
        is_text = [True] * (len(ids) - len(src_tokens)) + src_is_text
        ids.append(self.sp["<t_src>"] if self.cfg.cot else self.sp["<s_tgt>"])
        is_text.append(True)
        n_prompt = len(ids)
        segments = [SRC_SPEECH] * n_prompt
        if prompt_only:
            return TokenSequence(ids, [IGNORE] * n_prompt, segments, is_text, n_prompt, p)

        def add(tokens: Sequence[int], seg: int, text: bool | Sequence[bool] = True) -> None:
            ids.extend(tokens)
            segments.extend([seg] * len(tokens))
            is_text.extend([text] * len(tokens) if isinstance(text, bool) else text)

        if self.cfg.cot:
            add([t for w in src_words for t in w] + [self.sp["<t_tgt>"]], SRC_TEXT)
            tgt_words = self._encode(ex.tgt.words, where)
            add([t for w in tgt_words for t in w] + [self.sp["<s_tgt>"]], TGT_TEXT)
        else:
            tgt_words = self._encode(ex.tgt.words, where) if ex.tgt.spans is not None else []
        tgt_tokens, tgt_is_text = self._speech(ex.utt, ex.tgt, "tgt", p, step, tgt_words)
        add(tgt_tokens, TGT_SPEECH, tgt_is_text)
        add([self.sp["<eos>"]], TGT_SPEECH)
        labels = [IGNORE] * n_prompt + ids[n_prompt:]
        return TokenSequence(ids, labels, segments, is_text, n_prompt, p)


def collate(seqs: Sequence[TokenSequence], pad_id: int) -> dict:
    """Right-pad sequences into a batch of tensors.

    Returns:
        ``input_ids``, ``labels`` (-100 on padding and prompts), ``attention_mask``,
        ``segments`` (-1 on padding), all ``(batch, max_len)`` int64 tensors.
    """
    import torch

    n = max(len(s.input_ids) for s in seqs)
    batch = {
        "input_ids": torch.full((len(seqs), n), pad_id, dtype=torch.long),
        "labels": torch.full((len(seqs), n), IGNORE, dtype=torch.long),
        "attention_mask": torch.zeros((len(seqs), n), dtype=torch.long),
        "segments": torch.full((len(seqs), n), -1, dtype=torch.long),
    }
    for i, s in enumerate(seqs):
        k = len(s.input_ids)
        batch["input_ids"][i, :k] = torch.tensor(s.input_ids)
        batch["labels"][i, :k] = torch.tensor(s.labels)
        batch["attention_mask"][i, :k] = 1
        batch["segments"][i, :k] = torch.tensor(s.segments)
    return batch
