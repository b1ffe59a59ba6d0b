"""Chain-of-thought decoding: S_src -> T_src -> T_tgt -> S_tgt, each segment constrained.

Batched generation through transformers' ``generate`` (KV cache, greedy, beam
search or sampling) with a logits processor that lets each segment emit only
its token class: text tokens (and the next segment's marker) in the text
segments, units (and ``<eos>``) in the speech segment. Length guards force a
segment to end when it reaches its budget::

    dec = ChainDecoder(model, vocab, DecodeConfig(num_beams=4))
    hyps = dec.decode([prompt_ids_1, prompt_ids_2, ...])
    hyps[0].src_text, hyps[0].tgt_text, hyps[0].units
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from s2s_plugin.errors import ConfigError
from s2s_plugin.llm.vocab import Vocabulary

NEG_INF = float("-inf")


@dataclass
class DecodeConfig:
    """Search settings of stage 9.

    Attributes:
        cot: the model was trained with chain of thought (prompt ends with ``<t_src>``).
        num_beams: 1 = greedy (or sampling), > 1 = beam search.
        do_sample: sample instead of searching; with ``temperature`` and ``top_p``.
        max_text_tokens: budget of each text segment; at the budget its end marker is forced.
        max_unit_ratio: budget of the speech segment, as units per source unit.
        min_units: minimum number of target units before ``<eos>`` is allowed.
        batch_size: utterances per ``generate`` call.
        constrain: restrict each segment to its token class (switch off only to study the model).
        device: ``cpu``, ``cuda`` (``cuda:N``) or ``auto`` (a GPU when one is visible).
        dtype: weights and activations: ``float32``, ``bfloat16``, ``float16``, or ``auto``
            (bfloat16 on a GPU, float32 on the CPU).
    """

    cot: bool = True
    num_beams: int = 1
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    max_text_tokens: int = 64
    max_unit_ratio: float = 2.0
    min_units: int = 1
    batch_size: int = 16
    constrain: bool = True
    seed: int = 0
    device: str = "auto"
    dtype: str = "auto"

    DTYPES = ("auto", "float32", "bfloat16", "float16")

    def __post_init__(self) -> None:
        if self.dtype not in self.DTYPES:
            raise ConfigError(f"decode: dtype {self.dtype!r} is not one of {', '.join(self.DTYPES)}")
        if not (self.device in ("auto", "cpu") or self.device.startswith("cuda")):
            raise ConfigError(f"decode: device {self.device!r}: use cpu, cuda, cuda:N or auto")
        if self.num_beams < 1 or self.batch_size < 1:
            raise ConfigError("decode: num_beams and batch_size must be >= 1")
        if self.do_sample and self.num_beams > 1:
            raise ConfigError("decode: choose sampling (do_sample) or beam search (num_beams > 1), not both")


def resolve_device_dtype(device: str = "auto", dtype: str = "auto") -> tuple[str, torch.dtype]:
    """The device and torch dtype that ``DecodeConfig.device``/``dtype`` name on this machine.

    ``auto`` picks the first GPU and bfloat16 when torch sees one, else the CPU and float32;
    asking for ``cuda`` where there is none is an error saying so.
    """
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"decode: device {device!r} asked for, but torch sees no GPU here; use device=cpu or auto")
    if dtype == "auto":
        dtype = "bfloat16" if device.startswith("cuda") else "float32"
    return device, getattr(torch, dtype)


@dataclass
class Hypothesis:
    """One decoded utterance."""

    src_text: str
    tgt_text: str
    units: list[int]
    token_ids: list[int]


class SegmentConstraint:
    """A transformers ``LogitsProcessor``: masks tokens that do not belong to the current segment.

    The segment of each row is read off the tokens generated so far (the last
    segment marker), so it works unchanged for greedy, sampling and beam search.

    Args:
        vocab: the joint vocabulary.
        prompt_len: the (padded) prompt length; generated tokens start there.
        cot: chain-of-thought layout.
        max_text_tokens: force the text segment's end marker at this many tokens.
        max_units: per row, force ``<eos>`` at this many units.
        min_units: forbid ``<eos>`` before this many units.
    """

    def __init__(self, vocab: Vocabulary, prompt_len: int, cot: bool, max_text_tokens: int,
                 max_units: Sequence[int], min_units: int = 1) -> None:
        self.vocab, self.prompt_len, self.cot = vocab, prompt_len, cot
        self.max_text, self.min_units = max_text_tokens, min_units
        self.max_units = torch.tensor(list(max_units))
        n = len(vocab)
        self.t_tgt, self.s_tgt, self.eos = (vocab.special(t) for t in ("<t_tgt>", "<s_tgt>", "<eos>"))
        self.pad = vocab.pad_id
        text = torch.zeros(n, dtype=torch.bool)
        text[: vocab.n_text] = True
        units = torch.zeros(n, dtype=torch.bool)
        units[vocab.unit_offset:] = True
        self.allowed = {  # segment -> allowed tokens
            "src_text": text.clone().index_fill_(0, torch.tensor([self.t_tgt]), True),
            "tgt_text": text.clone().index_fill_(0, torch.tensor([self.s_tgt]), True),
            "tgt_speech": units.clone().index_fill_(0, torch.tensor([self.eos]), True),
            "done": torch.zeros(n, dtype=torch.bool).index_fill_(0, torch.tensor([self.eos, self.pad]), True),
        }
        self._table = torch.stack([self.allowed[name] for name in self.SEGMENT_NAMES])

    def segment(self, generated: list[int]) -> tuple[str, int]:
        """The current segment of one row and how many tokens it has so far (for inspection)."""
        seg, count = self._segments(torch.tensor([generated], dtype=torch.long))
        return self.SEGMENT_NAMES[int(seg[0])], int(count[0])

    SEGMENT_NAMES = ("src_text", "tgt_text", "tgt_speech", "done")

    def _segments(self, gen: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per row: segment index (into SEGMENT_NAMES) and tokens generated in it, vectorised."""
        n_rows, length = gen.shape
        if length == 0:
            return (torch.full((n_rows,), 0 if self.cot else 2, dtype=torch.long, device=gen.device),
                    torch.zeros(n_rows, dtype=torch.long, device=gen.device))
        pos = torch.arange(length, device=gen.device)

        def first(token: int) -> tuple[torch.Tensor, torch.Tensor]:
            hit = gen == token
            return hit.any(1), torch.where(hit, pos, length).min(1).values

        has_eos, _ = first(self.eos)
        has_s, at_s = first(self.s_tgt)
        has_t, at_t = first(self.t_tgt)
        seg = torch.full((n_rows,), 0 if self.cot else 2, dtype=torch.long, device=gen.device)
        count = torch.full((n_rows,), length, dtype=torch.long, device=gen.device)
        if self.cot:
            seg = torch.where(has_t, 1, seg)
            count = torch.where(has_t, length - 1 - at_t, count)
        seg = torch.where(has_s, 2, seg)
        count = torch.where(has_s, length - 1 - at_s, count)
        seg = torch.where(has_eos, 3, seg)
        count = torch.where(has_eos, 0, count)
        return seg, count

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        n_rows = input_ids.shape[0]
        if self._table.device != input_ids.device:  # tables follow the model (built on the CPU)
            self._table, self.max_units = self._table.to(input_ids.device), self.max_units.to(input_ids.device)
        beams = n_rows // len(self.max_units)
        seg, count = self._segments(input_ids[:, self.prompt_len:])
        mask = self._table[:, : scores.shape[1]][seg]  # advanced indexing: a new tensor
        # Forced tokens without data-dependent branches: no host sync per step on a GPU.
        token = torch.arange(mask.shape[1], device=mask.device)
        text_full = (seg <= 1) & (count >= self.max_text)
        forced = torch.where(seg == 0, self.t_tgt, self.s_tgt)
        mask = torch.where(text_full[:, None], token[None, :] == forced[:, None], mask)
        budget = self.max_units.repeat_interleave(beams)
        speech = seg == 2
        over = speech & (count >= budget)
        mask = torch.where(over[:, None], token[None, :] == self.eos, mask)
        under = speech & (count < self.min_units)
        mask[:, self.eos] &= ~under
        return scores.masked_fill(~mask, NEG_INF)


class ChainDecoder:
    """Batched chain-of-thought decoding with a transformers causal LM.

    Args:
        model: the trained causal LM (its vocabulary laid out as ``vocab``).
        vocab: the joint vocabulary.
        cfg: search settings.
    """

    def __init__(self, model: Any, vocab: Vocabulary, cfg: DecodeConfig | None = None) -> None:
        self.model, self.vocab, self.cfg = model.eval(), vocab, cfg or DecodeConfig()

    def _budget(self, prompt: Sequence[int]) -> int:
        n_src_units = sum(self.vocab.is_unit(t) for t in prompt)
        return max(self.cfg.min_units + 1, int(self.cfg.max_unit_ratio * max(n_src_units, 1)))

    @torch.no_grad()
    def decode_batch(self, prompts: Sequence[Sequence[int]]) -> list[Hypothesis]:
        """Decode prompts together (left-padded); see :meth:`decode` for any number."""
        from transformers import LogitsProcessorList

        cfg, pad = self.cfg, self.vocab.pad_id
        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), pad, dtype=torch.long)
        attn = torch.zeros_like(ids)
        for i, p in enumerate(prompts):
            ids[i, width - len(p):] = torch.tensor(list(p))
            attn[i, width - len(p):] = 1
        budgets = [self._budget(p) for p in prompts]
        max_new = (2 * (cfg.max_text_tokens + 1) if cfg.cot else 0) + max(budgets) + 1
        processors = LogitsProcessorList()
        if cfg.constrain:
            processors.append(SegmentConstraint(self.vocab, width, cfg.cot, cfg.max_text_tokens, budgets,
                                                cfg.min_units))
        gen_kwargs: dict[str, Any] = dict(
            input_ids=ids.to(self.model.device), attention_mask=attn.to(self.model.device),
            max_new_tokens=max_new, logits_processor=processors,
            num_beams=cfg.num_beams, do_sample=cfg.do_sample, pad_token_id=pad,
            eos_token_id=self.vocab.special("<eos>"), use_cache=True)
        if cfg.do_sample:
            gen_kwargs.update(temperature=cfg.temperature, top_p=cfg.top_p, top_k=0)
            torch.manual_seed(cfg.seed)
        out = self.model.generate(**gen_kwargs)
        return [self._split(row[width:].tolist()) for row in out.cpu()]

    def decode(self, prompts: Sequence[Sequence[int]], progress: bool = False) -> list[Hypothesis]:
        """Decode any number of prompts in batches of ``batch_size`` (similar lengths together)."""
        from tqdm import tqdm

        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        hyps: list[Hypothesis | None] = [None] * len(prompts)
        bs = self.cfg.batch_size
        for start in tqdm(range(0, len(order), bs), desc="decode", unit="batch", disable=not progress):
            idx = order[start:start + bs]
            for i, h in zip(idx, self.decode_batch([prompts[i] for i in idx])):
                hyps[i] = h
        return hyps  # type: ignore[return-value]

    def _split(self, gen: list[int]) -> Hypothesis:
        v = self.vocab
        t_tgt, s_tgt, eos = v.special("<t_tgt>"), v.special("<s_tgt>"), v.special("<eos>")
        if eos in gen:
            gen = gen[: gen.index(eos) + 1]
        src, tgt, speech = [], [], gen
        if self.cfg.cot:
            cut1 = gen.index(t_tgt) if t_tgt in gen else len(gen)
            src = gen[:cut1]
            rest = gen[cut1 + 1:]
            cut2 = rest.index(s_tgt) if s_tgt in rest else len(rest)
            tgt, speech = rest[:cut2], rest[cut2 + 1:]
        units = [t - v.unit_offset for t in speech if v.is_unit(t)]
        return Hypothesis(v.decode_text(src), v.decode_text(tgt), units, gen)
