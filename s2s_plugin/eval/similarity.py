"""Speech-text similarity of an S2ST model's last layer, per checkpoint, over training.

    s2s similarity exp/s2st_baseline exp/s2st_scheduled --out exp/compare/similarity

    from s2s_plugin.eval.similarity import paired_input, pool_spans, word_cosines
    pair = paired_input(builder, example, side="src")       # the word's positions in both inputs
    speech = pool_spans(h_speech, pair.speech_spans)          # (words, hidden): mean over each word's units
    text = pool_spans(h_text, pair.text_spans)                # (words, hidden): mean over its BPE tokens
    word_cosines(speech, text)                                # one cosine per word

The question (PAPER.md: interleaving is there to adapt a text LLM to speech,
modality adaptation): does the model represent a word the same way whether it
reads the word's speech units or the word's text? For every utterance the model
reads the same segment twice, each time in a layout it is trained on:

- speech input: the side's speech segment as pure units (p = 0, as at inference).
  Source side: the decoding prompt ``<s_src> <lang_xx> u1 .. uN <t_src>``.
- text input: the same sequence with every word's unit span replaced by the
  word's BPE tokens, i.e. the interleaver's output at p = 1 (the limit the
  schedule starts next to, p = 0.9) with one-word spans. Units outside every
  word (pauses, leading and trailing silence) stay, as in every interleaved
  training sequence, and so do the run's switch tokens if it uses them.

The text goes into the speech segment rather than being read off the chain of
thought's T_src: the two inputs then share everything but the modality of the
words (the same segment after the same prompt tokens, the same words in the
same order). A baseline run never reads text in that segment; how close it gets
anyway is the reference the interleaved runs are measured against. With
``side="tgt"`` the segment is the target speech I_tgt, read after the whole
chain of thought (``... <s_tgt> I_tgt <eos>``, T_src and T_tgt as context).

Speech spans come from the word alignment (``dump/<set>/align.<lang>.ctm``,
seconds) converted to unit positions at the units' frame rate
(``units.<lang>.info``) by :func:`s2s_plugin.llm.examples.load_examples`, exactly
as for training. The representation is the last hidden layer (the decoder's
output after its final norm: the input of the LM head), mean-pooled over a
word's unit positions and over its BPE tokens; the cosine of the two is the
word's similarity. Per checkpoint this module reports the mean over utterances
of their words' mean cosine, its standard deviation over utterances, the mean
over all words, and a control: the same cosine between the speech of word i
and the text of word i+1 of the same utterance (``mismatched``), the level any
two words reach in this hidden space. The gap between the two is what is
specific to the word.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from s2s_plugin.errors import ConfigError, DataError
from s2s_plugin.llm.sequence import TGT_SPEECH, Example, SequenceBuilder, SequenceConfig, TokenSequence
from s2s_plugin.llm.vocab import Vocabulary

logger = logging.getLogger(__name__)

SIDES = ("src", "tgt")
#: the step in a checkpoint file name: ``step0000100.ckpt``, ``best-step0000750.ckpt``
_STEP_IN_NAME = re.compile(r"step(\d+)")


# -- the two inputs of one utterance ----------------------------------------------------------------

@dataclass
class PairedInput:
    """One utterance side read twice: as units and as text, with each word's positions in both.

    Attributes:
        utt: the utterance id.
        words: the side's words.
        speech_ids: the sequence with the side's speech segment as units.
        text_ids: the same sequence with every word's units replaced by its text tokens.
        speech_spans: per word, its unit positions ``[start, end)`` in ``speech_ids``.
        text_spans: per word, its text token positions ``[start, end)`` in ``text_ids``.
    """

    utt: str
    words: list[str]
    speech_ids: list[int]
    text_ids: list[int]
    speech_spans: list[tuple[int, int]]
    text_spans: list[tuple[int, int]]


def pair_builder(vocab: Vocabulary, sequence: SequenceConfig, side: str) -> SequenceBuilder:
    """The run's sequence layout, interleaving ``side`` with text (whatever the run trained with).

    Spans of one word each (``lam = 0``): at p = 1 every word's own units become its text, and
    the units between words stay, whatever span lengths the run drew in training.
    """
    if side not in SIDES:
        raise ConfigError(f"side must be one of {', '.join(SIDES)}, got {side!r}")
    return SequenceBuilder(vocab, dataclasses.replace(sequence, interleave_sides=[side], mode="text", lam=0.0))


def _segment(seq: TokenSequence, side: str, header: int) -> tuple[int, int]:
    """Positions ``[start, end)`` of the side's speech segment (without its closing marker)."""
    if side == "src":  # <s_src> [<lang_xx>] ... <t_src> (or <s_tgt> without chain of thought)
        return header, seq.n_prompt - 1
    start = seq.segments.index(TGT_SPEECH)
    return start, len(seq.input_ids) - 1  # ... <eos>


def paired_input(builder: SequenceBuilder, ex: Example, side: str = "src") -> PairedInput:
    """Build the speech and the text input of ``ex``'s ``side`` and locate each word in both.

    Args:
        builder: from :func:`pair_builder` (the run's layout, ``side`` interleaved in text mode).
        ex: an example loaded with the side's word spans (``align_sides`` holding ``side``).
        side: ``src`` or ``tgt``.

    Raises:
        DataError: the example has no word spans for the side, or a word has no text token.
    """
    s = getattr(ex, side)
    if s.spans is None:
        raise DataError(f"utterance '{ex.utt}': no word spans for the {side} side; load the examples with "
                        f"align_sides=['{side}']")
    vocab = builder.vocab
    word_ids = vocab.encode_words(s.words, f"utterance '{ex.utt}'")
    for w, ids in zip(s.words, word_ids):
        if not ids:
            raise DataError(f"utterance '{ex.utt}': the word {w!r} has no text tokens; check the {side} text")
    prompt_only = side == "src"  # a causal model's prompt states do not depend on what follows
    speech = builder.build(ex, step=0, p=0.0, prompt_only=prompt_only)
    text = builder.build(ex, step=0, p=1.0, prompt_only=prompt_only)
    header = 2 if builder.cfg.lang_tags else 1
    a, b = _segment(speech, side, header)
    unit_ids, spans = builder.side_units(ex.utt, s, side)  # de-duplicated if the run's layout says so
    if speech.input_ids[a:b] != unit_ids:
        raise DataError(f"utterance '{ex.utt}': the {side} speech segment is not where the sequence layout "
                        "puts it; the sequence builder and this analysis disagree (a bug: please report)")
    speech_spans = [(a + u0, a + u1) for u0, u1 in spans]
    a, b = _segment(text, side, header)
    positions = [i for i in range(a, b) if vocab.is_text(text.input_ids[i])]
    flat = [t for ids in word_ids for t in ids]
    if [text.input_ids[i] for i in positions] != flat:
        raise DataError(f"utterance '{ex.utt}': at p = 1 the {side} segment does not hold every word's text "
                        "tokens in order; the interleaver and this analysis disagree (a bug: please report)")
    text_spans, k = [], 0
    for ids in word_ids:  # a word's tokens are consecutive: the interleaver copies them as one piece
        text_spans.append((positions[k], positions[k + len(ids) - 1] + 1))
        k += len(ids)
    # a de-duplicated side can leave a word no unit of its own (its sound continues the run of the
    # word before): such words have no speech vector and are left out
    keep = [i for i, (u0, u1) in enumerate(speech_spans) if u1 > u0]
    return PairedInput(ex.utt, [s.words[i] for i in keep], speech.input_ids, text.input_ids,
                       [speech_spans[i] for i in keep], [text_spans[i] for i in keep])


# -- pooling and cosines -----------------------------------------------------------------------------

def pool_spans(hidden: torch.Tensor, spans: Sequence[tuple[int, int]]) -> torch.Tensor:
    """Mean of ``hidden`` (positions x dims) over each span ``[start, end)``: (spans x dims).

    Raises:
        ValueError: an empty span or one beyond ``hidden``.
    """
    for a, b in spans:
        if not 0 <= a < b <= hidden.shape[0]:
            raise ValueError(f"span [{a}, {b}) is empty or outside the {hidden.shape[0]} positions")
    return torch.stack([hidden[a:b].mean(dim=0) for a, b in spans])


def word_cosines(speech: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
    """Cosine of each word's pooled speech and text vectors (both words x dims): one value per word."""
    if speech.shape != text.shape:
        raise ValueError(f"speech {tuple(speech.shape)} and text {tuple(text.shape)} vectors differ in shape")
    return F.cosine_similarity(speech.double(), text.double(), dim=-1)


def mismatched_cosines(speech: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
    """The control: speech of word i against text of word i+1 (cyclically); empty for one word."""
    if speech.shape[0] < 2:
        return speech.new_zeros(0, dtype=torch.float64)
    return word_cosines(speech, text.roll(-1, dims=0))


@dataclass
class Similarity:
    """The similarity of one model on a set of utterances.

    Attributes:
        mean: the mean over utterances of their words' mean cosine.
        std: its standard deviation over utterances.
        word_mean: the mean over all words (long utterances weigh more).
        mismatched: ``mean`` of the control (speech of word i vs text of word i+1); ``None``
            when no utterance has two words.
        n_utts, n_words: what was measured.
    """

    mean: float
    std: float
    word_mean: float
    mismatched: float | None
    n_utts: int
    n_words: int


def summarize(matched: Sequence[torch.Tensor], mismatched: Sequence[torch.Tensor] = ()) -> Similarity:
    """Aggregate per-utterance word cosines (one tensor per utterance) into a :class:`Similarity`.

    Raises:
        ValueError: no utterance, or an utterance without words.
    """
    if not matched:
        raise ValueError("no utterances to summarise")
    if any(m.numel() == 0 for m in matched):
        raise ValueError("an utterance has no words")
    per_utt = np.array([float(m.mean()) for m in matched])
    words = torch.cat([m.double() for m in matched])
    ctrl = [float(m.mean()) for m in mismatched if m.numel()]
    return Similarity(mean=float(per_utt.mean()), std=float(per_utt.std()), word_mean=float(words.mean()),
                      mismatched=float(np.mean(ctrl)) if ctrl else None, n_utts=len(matched),
                      n_words=int(words.numel()))


def last_hidden_states(model: Any, seqs: Sequence[Sequence[int]], pad_id: int,
                       device: str | torch.device = "cpu") -> list[torch.Tensor]:
    """The last hidden layer of ``model`` for each sequence (length x dims, float32 on the CPU).

    The decoder's output after its final norm (``get_decoder()``, as the training loss's chunked
    path uses it); models without ``get_decoder`` give ``hidden_states[-1]``. Sequences are
    right-padded into one batch: with causal attention padding changes nothing before it.
    """
    n = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), n), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), n), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(list(s), dtype=torch.long)
        mask[i, :len(s)] = 1
    ids, mask = ids.to(device), mask.to(device)
    with torch.inference_mode():
        if hasattr(model, "get_decoder"):
            hidden = model.get_decoder()(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
        else:
            hidden = model(input_ids=ids, attention_mask=mask, use_cache=False, output_hidden_states=True
                           ).hidden_states[-1]
    return [hidden[i, :len(s)].float().cpu() for i, s in enumerate(seqs)]


def measure(model: Any, pairs: Sequence[PairedInput], pad_id: int, device: str | torch.device = "cpu",
            batch_size: int = 8, desc: str = "similarity") -> Similarity:
    """The :class:`Similarity` of ``model`` on ``pairs`` (batches of similar length)."""
    from tqdm import tqdm

    model.eval()
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i].speech_ids))
    matched: list[torch.Tensor] = []
    control: list[torch.Tensor] = []
    for start in tqdm(range(0, len(order), batch_size), desc=desc, unit="batch", leave=False):
        batch = [pairs[i] for i in order[start:start + batch_size]]
        h_speech = last_hidden_states(model, [p.speech_ids for p in batch], pad_id, device)
        h_text = last_hidden_states(model, [p.text_ids for p in batch], pad_id, device)
        for p, hs, ht in zip(batch, h_speech, h_text):
            speech, text = pool_spans(hs, p.speech_spans), pool_spans(ht, p.text_spans)
            matched.append(word_cosines(speech, text))
            control.append(mismatched_cosines(speech, text))
    return summarize(matched, control)


# -- checkpoints of a run ----------------------------------------------------------------------------

def list_checkpoints(exp: str | Path) -> list[Path]:
    """The ``.ckpt`` files of ``exp/checkpoints``: named by step first (in step order), then the others.

    Raises:
        DataError: no checkpoint directory, or no checkpoint in it.
    """
    d = Path(exp) / "checkpoints"
    hint = ("train the system first (stage 8); set trainer.keep_every in its training config to keep the "
            "weights of every N-th step for this analysis")
    if not d.is_dir():
        raise DataError(f"{d}: no checkpoint directory; {hint}")
    files = [p for p in d.glob("*.ckpt") if p.is_file() and not p.name.startswith(".")]
    if not files:
        raise DataError(f"{d}: no .ckpt files; {hint}")

    def key(p: Path) -> tuple[int, int, str]:
        m = _STEP_IN_NAME.search(p.stem)
        return (0, int(m.group(1)), p.name) if m else (1, 0, p.name)

    return sorted(files, key=key)


def read_checkpoint(path: str | Path) -> tuple[int, dict[str, torch.Tensor]]:
    """The global step and the LLM weights of a Lightning checkpoint, read with ``weights_only=True``.

    Raises:
        DataError: a file that cannot be read that way, or one without ``state_dict``.
    """
    from s2s_plugin.train.checkpoint import model_weights

    try:
        # mmap: of a full resume checkpoint only the model's tensors are read, not the optimiser's
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as e:  # torch raises many kinds: truncated zip, unpickling refused, ...
        raise DataError(f"{path}: cannot be read as a checkpoint with torch.load(weights_only=True) "
                        f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); is it a stage-8 "
                        "checkpoint, completely written?") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise DataError(f"{path}: not a Lightning checkpoint (no state_dict)")
    weights = model_weights(ckpt["state_dict"])
    if not weights:
        raise DataError(f"{path}: its state_dict holds no weights under 'model.' (the S2ST module's LLM)")
    return int(ckpt.get("global_step", -1)), weights


# -- systems: stage-8 exp dirs -----------------------------------------------------------------------

@dataclass
class System:
    """A trained S2ST system: its exp dir, resolved training config and vocabulary.

    Attributes:
        name: the label in tables and plots (the exp dir's name).
        exp: the exp dir.
        cfg: its :class:`~s2s_plugin.train.schema.TrainConfig` (``exp/config.yaml``).
        vocab: the vocabulary it was trained with.
    """

    name: str
    exp: Path
    cfg: Any
    vocab: Vocabulary


def load_system(exp: str | Path) -> System:
    """Read a stage-8 exp dir's ``config.yaml`` and vocabulary.

    Paths in the config (``vocab``, ``llm.path``) are relative to the recipe directory,
    as in training: run from there.

    Raises:
        ConfigError: not a stage-8 exp dir, or its vocabulary or base model not found from here.
    """
    from s2s_plugin.config import load_config, load_yaml
    from s2s_plugin.train.schema import TrainConfig

    exp = Path(exp)
    path = exp / "config.yaml"
    if not path.is_file():
        raise ConfigError(f"{exp}: no config.yaml; give the exp dirs of stage-8 S2ST runs (exp/s2st_<tag>)")
    raw = load_yaml(path)
    if "sequence" not in raw and "text" in raw:
        raise ConfigError(f"{path}: a text pretraining run (stage 7); speech-text similarity needs an S2ST run "
                          "(stage 8)")
    cfg = load_config(TrainConfig, path)
    where = f"run s2s similarity in the recipe directory {exp} was trained in (its config's paths are relative)"
    if not Path(cfg.vocab).is_file():
        raise ConfigError(f"{path}: its vocabulary {cfg.vocab} is not found from here; {where}")
    base = cfg.llm.get("path")
    if base is not None and not (Path(base) / "config.json").is_file():
        raise ConfigError(f"{path}: its base model {base} (llm.path, the weights the run started from) is not "
                          f"found from here; {where}")
    return System(exp.name, exp, cfg, Vocabulary.load(cfg.vocab))


def load_eval_examples(dirs: Sequence[str | Path], side: str = "src", tgt_lang: str = "en",
                       frame_rate: float | None = None, ctm: str | None = None, max_utts: int | None = None,
                       skip_bad: bool = False) -> list[Example]:
    """The examples of ``dirs`` with the word spans of ``side``, the first ``max_utts`` of each dir.

    Args:
        dirs: ``dump/<set>`` dirs (units, texts, CTMs and ``units.<lang>.info`` of stages 2-5).
        side: whose words are measured: ``src`` or ``tgt``.
        tgt_lang: the target language.
        frame_rate: units per second; default: ``units.<lang>.info``.
        ctm: CTM name pattern (``align.{lang}.ctm``, stage 5's; ``oracle.{lang}.ctm`` for espeak's times).
        max_utts: per dir, the first this many utterances (id order); ``None``: all.
        skip_bad: leave out utterances that cannot be measured (no CTM entry, CTM words that
            are not the transcript, spans beyond the units) instead of stopping.

    Raises:
        DataError: a missing dir or CTM, or (unless ``skip_bad``) an utterance that cannot be
            measured, naming the file and the utterance.
    """
    from s2s_plugin.llm.examples import DEFAULT_CTM, detect_source_lang, load_examples

    if side not in SIDES:
        raise ConfigError(f"side must be one of {', '.join(SIDES)}, got {side!r}")
    ctm = ctm or DEFAULT_CTM
    if "{lang}" not in ctm:
        raise ConfigError(f"the CTM name pattern must contain '{{lang}}', got {ctm!r}")
    out: list[Example] = []
    for d in map(Path, dirs):
        if not d.is_dir():
            raise DataError(f"{d}: dump directory not found; run stages 2-5 for this set first")
        src = detect_source_lang(d, tgt_lang)
        ctm_path = d / ctm.format(lang=src if side == "src" else tgt_lang)
        if not ctm_path.is_file():
            raise DataError(f"{ctm_path}: word alignment not found; the {side} side's word times come from "
                            "stage 5 (s2s align), or name another CTM with --ctm")
        examples, report = load_examples(d, tgt_lang=tgt_lang, src_lang=src, frame_rate=frame_rate, ctm=ctm,
                                         align_sides=(side,), skip_bad=True)
        bad = [kind for kind in report.skipped if kind != "alignment failed"]  # stage 5 reported those itself
        if bad and not skip_bad:
            raise DataError(f"{d}: {sum(report.skipped[k] for k in bad)} utterance(s) cannot be measured: "
                            + " | ".join(report.first[k] for k in bad)
                            + ". Fix them (stage 5 re-aligns) or pass --skip_bad to leave them out")
        out += examples[:max_utts] if max_utts else examples
    if not out:
        raise DataError(f"no utterance to measure in {', '.join(map(str, dirs))}")
    return out


@dataclass
class Point:
    """The similarity of one checkpoint of one system.

    Attributes:
        system: the system's name.
        checkpoint: the checkpoint's file name, or ``init`` (the model as stage 8 builds it, before step 1).
        step: the global optimiser step it was saved at.
        p: the run's text ratio on the measured side at that step (0 where the side is not interleaved).
        sim: the measurement.
    """

    system: str
    checkpoint: str
    step: int
    p: float
    sim: Similarity

    def row(self) -> dict[str, Any]:
        return {"system": self.system, "checkpoint": self.checkpoint, "step": self.step, "p": self.p,
                **dataclasses.asdict(self.sim)}


def text_ratio(system: System, side: str) -> Any:
    """A function step -> the run's text ratio p on ``side`` (0 throughout where it is not interleaved)."""
    from s2s_plugin.registry import get_registry

    if side not in system.cfg.sequence.interleave_sides:
        return lambda step: 0.0
    sched = get_registry().build("interleave_scheduler", system.cfg.scheduler, f"{system.exp}/config.yaml:scheduler")
    return lambda step: float(sched.value(step))


def measure_system(system: System, examples: Sequence[Example], side: str = "src", device: str = "cpu",
                   dtype: torch.dtype = torch.float32, batch_size: int = 8, include_init: bool = True) -> list[Point]:
    """Measure every checkpoint of ``system`` (and the model it started from) on ``examples``.

    Checkpoints saved at a step already measured (``last.ckpt`` next to ``best-step...`` of the
    same step) are measured once.

    Raises:
        DataError: no checkpoints, an unreadable one, or weights that do not fit the config's model.
    """
    import lightning as L
    from tqdm import tqdm

    from s2s_plugin.registry import get_registry
    from s2s_plugin.train.checkpoint import load_model_weights

    ckpts = list_checkpoints(system.exp)
    builder = pair_builder(system.vocab, system.cfg.sequence, side)
    pairs = [paired_input(builder, ex, side) for ex in examples]
    p_at = text_ratio(system, side)
    L.seed_everything(system.cfg.trainer.seed, verbose=False)  # as stage 8 does before building: the same init
    decoder = get_registry().build("llm_decoder", system.cfg.llm, f"{system.exp}/config.yaml:llm")
    model = decoder.build(system.vocab).to(device=device, dtype=dtype)
    pad = system.vocab.pad_id
    points = []
    if include_init:
        points.append(Point(system.name, "init", 0, p_at(0), measure(model, pairs, pad, device, batch_size,
                                                                     f"{system.name} init")))
    done: dict[int, str] = {}
    for path in tqdm(ckpts, desc=f"similarity {system.name}", unit="ckpt"):
        step, weights = read_checkpoint(path)
        if step in done:
            logger.info("%s: step %d was measured from %s already", path, step, done[step])
            continue
        try:
            load_model_weights(model, weights, str(path))
        except ConfigError as e:
            raise DataError(f"{e}; is it a checkpoint of this run ({system.exp}/config.yaml)?") from None
        done[step] = path.name
        points.append(Point(system.name, path.name, step, p_at(step),
                            measure(model, pairs, pad, device, batch_size, f"{system.name} {path.name}")))
    if len(done) < 3:
        logger.warning("%s: only %d checkpoint(s) over training; set trainer.keep_every in its config to keep "
                       "the weights of every N-th step", system.exp, len(done))
    return sorted(points, key=lambda pt: (pt.step, pt.checkpoint != "init"))


def output_paths(out: str | Path) -> dict[str, Path]:
    """``out`` as a name prefix: ``{png, tsv, json}`` paths (a given .png/.tsv/.json suffix is dropped)."""
    out = Path(out)
    if out.suffix in (".png", ".tsv", ".json"):
        out = out.with_suffix("")
    return {ext: out.with_name(f"{out.name}.{ext}") for ext in ("png", "tsv", "json")}


TSV_COLUMNS = ("system", "checkpoint", "step", "p", "mean", "std", "word_mean", "mismatched", "n_utts", "n_words")


def write_tsv(path: str | Path, points: Sequence[Point]) -> Path:
    """One row per (system, checkpoint), :data:`TSV_COLUMNS`, floats with 4 decimals, atomically."""
    from s2s_plugin.data.io import atomic_write

    def fmt(v: Any) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return "NA"
        return f"{v:.4f}" if isinstance(v, float) else str(v)

    with atomic_write(path) as f:
        f.write("\t".join(TSV_COLUMNS) + "\n")
        for pt in points:
            row = pt.row()
            f.write("\t".join(fmt(row[c]) for c in TSV_COLUMNS) + "\n")
    return Path(path)


def plot_similarity(series: Mapping[str, Sequence[Mapping[str, Any]]], out: str | Path, title: str = "",
                    p_curves: Mapping[str, Sequence[tuple[int, float]]] | None = None) -> Path:
    """Speech-text similarity over training steps, one line per system (``s2s similarity``).

    Args:
        series: ``system -> points``, each point a mapping with ``step``, ``mean``, ``std`` and
            ``mismatched`` (``None`` allowed), in step order.
        title: the figure title.
        p_curves: ``system -> [(step, p)]``: the text ratio each system trained with, drawn in a
            lower panel (steps-post); left out when ``None`` or empty.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from s2s_plugin.data.io import atomic_write

    panels = 2 if p_curves else 1
    fig, axes = plt.subplots(panels, 1, figsize=(7, 3.4 + 1.6 * (panels - 1)), dpi=110, sharex=True,
                             squeeze=False, gridspec_kw={"height_ratios": [3, 1][:panels]})
    ax = axes[0, 0]
    for i, (system, points) in enumerate(series.items()):
        color = f"C{i % 10}"
        steps = [pt["step"] for pt in points]
        mean = np.array([pt["mean"] for pt in points], dtype=float)
        std = np.array([pt["std"] for pt in points], dtype=float)
        ax.plot(steps, mean, "o-", color=color, ms=3.5, label=f"{system}: same word")
        ax.fill_between(steps, mean - std, mean + std, color=color, alpha=0.15, lw=0)
        ctrl = [(s, pt["mismatched"]) for s, pt in zip(steps, points) if pt.get("mismatched") is not None]
        if ctrl:
            ax.plot([s for s, _ in ctrl], [v for _, v in ctrl], "--", color=color, lw=1, alpha=0.8,
                    label=f"{system}: next word (control)")
    ax.set_ylabel("cosine, last layer\n(speech vs text)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(title or "speech-text similarity over training (band: sd over utterances)", fontsize=9)
    if p_curves:
        pax = axes[1, 0]
        for i, system in enumerate(series):  # series order: a system keeps its colour in both panels
            curve = p_curves.get(system) or []
            pax.plot([s for s, _ in curve], [v for _, v in curve], color=f"C{i % 10}", drawstyle="steps-post",
                     label=system)
        pax.set_ylim(-0.05, 1.05)
        pax.set_ylabel("text ratio p")
        pax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("global optimiser step")
    fig.tight_layout()
    with atomic_write(out, "wb") as f:
        fig.savefig(f, format="png")
    plt.close(fig)
    return Path(out)


# -- the whole analysis ------------------------------------------------------------------------------

#: what the two inputs are, for the JSON output (the module docstring explains why)
INPUTS = {"speech": "the side's speech segment as units (p = 0), in the run's sequence layout",
          "text": "the same sequence with every word's units replaced by its text tokens (interleaver, p = 1)",
          "representation": "last hidden layer (after the final norm), mean over a word's units / BPE tokens",
          "mismatched": "control: speech of word i vs text of word i+1 of the same utterance"}


def p_curve(system: System, side: str, last_step: int, points: int = 2000) -> list[tuple[int, float]]:
    """The text ratio ``system`` trained ``side`` with, at up to ``points`` steps from 0 to ``last_step``."""
    p_at = text_ratio(system, side)
    steps = sorted(set(np.linspace(0, max(last_step, 1), points).round().astype(int).tolist()))
    return [(s, p_at(s)) for s in steps]


def run_similarity(exps: Sequence[str | Path], out: str | Path, data: Sequence[str | Path] | None = None,
                   side: str = "src", ctm: str | None = None, max_utts: int | None = 200, batch_size: int = 8,
                   device: str = "auto", dtype: str = "float32", include_init: bool = True, skip_bad: bool = False,
                   command: str = "") -> dict[str, Any]:
    """Measure every checkpoint of every system on the same utterances; write the plot, TSV and JSON.

    Args:
        exps: stage-8 exp dirs, one per system.
        out: output name prefix: writes ``<out>.png``, ``<out>.tsv``, ``<out>.json``.
        data: ``dump/<set>`` dirs; default: the first system's ``data.valid``.
        side, ctm, max_utts, skip_bad: see :func:`load_eval_examples`.
        batch_size: sequences per forward pass.
        device, dtype: as ``s2s decode``'s (``auto``: the GPU if torch sees one).
        include_init: also measure the model each system starts from (step 0).
        command: the command line, recorded in the JSON.

    Returns:
        What the JSON holds.

    Raises:
        ConfigError, DataError: bad exp dirs, data or checkpoints, before anything is measured
            where they can be seen up front.
    """
    from s2s_plugin.decode.generate import resolve_device_dtype
    from s2s_plugin.eval.score import write_json
    from s2s_plugin.llm.examples import DEFAULT_CTM

    if not exps:
        raise ConfigError("give at least one exp dir")
    if batch_size < 1 or (max_utts is not None and max_utts < 1):
        raise ConfigError(f"batch size and max utterances must be >= 1, got {batch_size} and {max_utts}")
    systems = [load_system(e) for e in exps]
    if len({s.name for s in systems}) < len(systems):
        for s in systems:
            s.name = str(s.exp)
    for s in systems:
        list_checkpoints(s.exp)  # every system has checkpoints before anything is measured
    first = systems[0].cfg
    if len({s.cfg.data.tgt_lang for s in systems}) > 1:
        raise ConfigError("the systems translate into different target languages: "
                          + ", ".join(f"{s.exp}: {s.cfg.data.tgt_lang}" for s in systems))
    dirs = list(data) if data else list(first.data.valid)
    if not dirs:
        raise ConfigError(f"{systems[0].exp}/config.yaml has no data.valid; name the sets with --data dump/<set>")
    examples = load_eval_examples(dirs, side, first.data.tgt_lang, first.data.frame_rate, ctm, max_utts, skip_bad)
    logger.info("measuring %d system(s) on %d utterances of %s (%s side)", len(systems), len(examples),
                ", ".join(map(str, dirs)), side)
    dev, dt = resolve_device_dtype(device, dtype)
    points = {s.name: measure_system(s, examples, side, dev, dt, batch_size, include_init) for s in systems}
    paths = output_paths(out)
    rows = {name: [pt.row() for pt in pts] for name, pts in points.items()}
    last = max(pt.step for pts in points.values() for pt in pts)
    curves = {s.name: p_curve(s, side, max(last, s.cfg.trainer.max_steps)) for s in systems}
    plot_similarity(rows, paths["png"], p_curves=curves,
                    title=f"speech-text similarity of the same words ({side} side, {len(examples)} utterances; "
                          "band: sd over utterances)")
    write_tsv(paths["tsv"], [pt for pts in points.values() for pt in pts])
    result = {"command": command, "side": side, "data": [str(d) for d in dirs], "ctm": ctm or DEFAULT_CTM,
              "n_utts": len(examples), "inputs": INPUTS,
              "systems": {s.name: {"exp": str(s.exp), "points": rows[s.name]} for s in systems}}
    write_json(paths["json"], result)
    return result
