"""The ``ctc_segmentation`` aligner: word spans from CTC segmentation on the stage-3 CTC model.

    # conf/align.yaml
    aligner:
      name: ctc_segmentation
      model: exp/ctc            # or per language: {fr: exp/ctc_fr, en: exp/ctc_en}

For each utterance the words become one token sequence: each word's tokens
from ``model.word_ids`` (its characters, or its word pieces as the model's
tokenizer cuts them: SentencePiece BPE, WordPiece), words separated by the
model's word-separator token (``<space>``, ``|``) when it has one, else
following each other. The ``ctc_segmentation`` package finds the best path of
that sequence through the model's log posteriors; each token's span runs from
the frame where the path enters it to the last frame, before the next token,
where it is more likely than the blank. Word spans come from those token spans:
a word starts where its first token starts; the boundary between two words is

- ``separator``: where the path enters the separator between them; for a model
  without one (BPE and word-piece models, whose word starts are marked inside
  their tokens), halfway between the end of the word's last token span and the
  start of the next word's first token;
- ``midpoint``: that halfway point for every model.

``gap_split`` moves that point: 0 puts it at the end of the word's last token
span, 1 at the start of the next word's first token (0.5: halfway).

Long recordings: the package's trellis holds (frames x tokens) cells. With
``window`` (seconds) set, posteriors longer than that are aligned window by
window, words carried over to the next window when they start in the last
``window_overlap`` seconds, so memory stays bounded by the window whatever the
length (``bench/align_memory.py``: a 10-minute input).

The first word starts at its first token, the last word ends after its last
token frame. CTC spikes come late in a word's first sound and early in its
last, so (with ``vad_db`` set) these two outer edges move to where an energy
detector finds the speech starts and ends, by at most ``vad_max_shift``
seconds outwards (and never past the neighbouring word edge inwards).
``time_offset`` (seconds) shifts every time, to remove a model's constant
latency. Spans are contiguous, clipped to the audio.

An utterance fails (reported by the stage, left out of the CTM) when a word has
characters the vocabulary lacks (``unknown_chars: fail``; ``skip`` aligns on
the known ones and warns, and a word with none, such as a free-standing ``?``
in Common Voice French, gets an empty span where it stands) or the audio has
fewer frames than the tokens need.
"""
from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from s2s_plugin.align.common import AlignmentError, AlignmentWarning, speech_bounds
from s2s_plugin.data.io import WordSpan
from s2s_plugin.errors import ConfigError

BOUNDARIES = ("separator", "midpoint")
#: share of a window's predicted labels that a window gets (see _windowed_entries)
FILL = 0.5


def _segment(logp: np.ndarray, gt: Sequence[int], tokens: Sequence[str] | None) -> np.ndarray:
    """Frame where the best path of ``ctc_segmentation`` enters each label of ``gt`` (one piece).

    The package's trellis holds ``min(8000, T) x len(gt)`` float32 cells (doubling its 8000-frame
    band when the path leaves it).

    Raises:
        AlignmentError: ctc_segmentation found no path.
    """
    from ctc_segmentation import CtcSegmentationParameters, ctc_segmentation

    config = CtcSegmentationParameters()
    config.char_list = list(tokens) if tokens is not None else [str(i) for i in range(logp.shape[1])]
    config.index_duration = 1.0  # timings come back in frames
    config.blank = 0
    logging.getLogger("ctc_segmentation").setLevel(logging.WARNING)
    full = np.array([-1, *gt, 0], dtype=np.int64).reshape(-1, 1)  # start state ... closing blank
    try:
        timings, _, _ = ctc_segmentation(config, np.asarray(logp, dtype=np.float32), full)
    except (AssertionError, IndexError) as e:
        raise AlignmentError(f"CTC segmentation failed: {e}") from None
    return np.rint(np.asarray(timings[1:-1])).astype(np.int64)


def _windowed_entries(logp: np.ndarray, pieces: list[list[int]], window: int, overlap: int,
                      tokens: Sequence[str] | None) -> np.ndarray:
    """Entry frames of the labels of ``pieces`` (one list per word), aligned window by window.

    Each window of ``window`` frames gets the next words: ``FILL`` (a half) of the labels the
    remaining audio's mean rate predicts for it. Too little text for a window is harmless (the
    path leaves the text where its speech ends and the rest of the window is left unexplained);
    too much would be crammed into its last frames. The words whose successor starts before the
    window's last ``overlap`` frames are kept (at least one, never the window's last word), and the
    next window starts where the last kept word's path left its last label. The last window takes
    every word left and the rest of the audio. The trellis never holds more than ``window`` labels
    (the package's band caps its frames at 8000, and at ``window`` but in the last window).
    """
    n_frames = logp.shape[0]
    out: list[int] = []
    k, f0 = 0, 0
    while k < len(pieces):
        left_frames = n_frames - f0
        left_labels = sum(len(p) for p in pieces[k:])
        budget = min(window - 1, max(int(FILL * window * left_labels / max(left_frames, 1)), 1))
        m, used = k, 0
        while m < len(pieces) and (m == k or used + len(pieces[m]) <= budget or left_frames <= window):
            used += len(pieces[m])
            m += 1
        last = m == len(pieces)
        part = logp[f0:] if last else logp[f0:f0 + window]
        gt = [t for p in pieces[k:m] for t in p]
        if len(gt) + 2 > part.shape[0]:
            raise AlignmentError(f"audio too short for its text in the window at frame {f0}: {part.shape[0]} "
                                 f"frames for {len(gt)} labels")
        entries = _segment(part, gt, tokens) + f0
        if last:
            out += entries.tolist()
            break
        starts = np.cumsum([0] + [len(p) for p in pieces[k:m]])  # index in gt of each word's first label
        keep = 1  # word j is kept when word j + 1 starts before the overlap; the window's last word never is
        while keep < m - k - 1 and entries[starts[keep + 1]] < f0 + window - overlap:
            keep += 1
        out += entries[: starts[keep]].tolist()
        nxt = int(entries[starts[keep]]) if keep < m - k else f0 + window
        f0 = min(max(_label_end(logp, int(entries[starts[keep] - 1]), nxt, gt[starts[keep] - 1]), f0 + 1), nxt)
        k += keep
    return np.asarray(out, dtype=np.int64)


def _label_end(logp: np.ndarray, entry: int, next_entry: int, label: int) -> int:
    """One past the last frame of ``[entry, next_entry)`` where ``label`` beats the blank (at least entry + 1)."""
    seg = logp[entry:max(next_entry, entry + 1)]
    on = np.flatnonzero(seg[:, label] >= seg[:, 0])
    return int(entry + (on[-1] + 1 if len(on) else 1))


def ctc_word_spans(logp: np.ndarray, word_ids: Sequence[Sequence[int]], frame_rate: float,
                   separator: int | None = None, boundary: str = "separator", time_offset: float = 0.0,
                   duration: float | None = None, tokens: Sequence[str] | None = None,
                   window: float | None = None, window_overlap: float = 10.0,
                   gap_split: float = 0.5) -> list[tuple[float, float]]:
    """``(start, end)`` seconds of each word, by CTC segmentation of ``logp``.

    Args:
        logp: ``(T, V)`` log posteriors, blank in column 0.
        word_ids: the token ids of each word (each non-empty).
        frame_rate: frames per second of ``logp``.
        separator: the token between words (e.g. ``<space>``); None: the words' tokens follow each
            other (BPE: word starts are marked inside the tokens) and each boundary comes from the
            token spans around it.
        boundary: ``separator`` or ``midpoint`` (see the module docstring).
        time_offset: seconds added to every time.
        duration: the audio length; times are clipped to ``[0, duration]``.
        tokens: token names (only used in ctc_segmentation's debug output).
        window: align in windows of this many seconds when the posteriors are longer (bounded
            memory for long recordings); None: in one piece.
        window_overlap: seconds at the end of each window whose words go to the next window.
        gap_split: where a boundary without a separator goes in the gap between a word's last token span
            and the next word's first token: 0 at the end of the one, 1 at the start of the other.

    Raises:
        AlignmentError: too few frames for the tokens, or ctc_segmentation found no path.
    """
    if boundary not in BOUNDARIES:
        raise ConfigError(f"boundary must be one of {', '.join(BOUNDARIES)}, got {boundary!r}")
    if not word_ids or any(len(w) == 0 for w in word_ids):
        raise AlignmentError("a word has no tokens to align")
    pieces = [([int(separator)] if i and separator is not None else []) + [int(t) for t in ids]
              for i, ids in enumerate(word_ids)]
    gt = [t for p in pieces for t in p]
    n_frames = logp.shape[0]
    if len(gt) + 2 > n_frames:  # ctc_segmentation adds a start state and a closing blank
        raise AlignmentError(f"audio too short for its text: {n_frames} frames "
                             f"({n_frames / frame_rate:.2f} s at {frame_rate:g} frames/s) for {len(gt)} "
                             "tokens and separators")
    win = None if window is None else max(int(round(window * frame_rate)), 2)
    if win is not None and n_frames > win:
        ov = min(max(int(round(window_overlap * frame_rate)), 0), win // 2)
        entries = _windowed_entries(logp, pieces, win, ov, tokens)
    else:
        entries = _segment(logp, gt, tokens)
    nexts = np.append(entries[1:], n_frames)
    pos, first, last, seps = 0, [], [], []
    for i, p in enumerate(pieces):
        if i and separator is not None:
            seps.append(pos)
        first.append(pos + (1 if i and separator is not None else 0))
        pos += len(p)
        last.append(pos - 1)
    frame = 1.0 / frame_rate
    starts = [entries[i] * frame for i in first]
    ends = [_label_end(logp, entries[i], nexts[i], gt[i]) * frame for i in last]
    bounds = []
    for i in range(len(word_ids) - 1):
        if boundary == "separator" and separator is not None:
            bounds.append(entries[seps[i]] * frame)
        else:
            bounds.append(ends[i] + gap_split * max(starts[i + 1] - ends[i], 0.0))
    edges = [starts[0], *bounds, ends[-1]]
    edges = np.maximum.accumulate(np.asarray(edges, dtype=np.float64) + time_offset)
    edges = np.clip(edges, 0.0, duration if duration is not None else np.inf)
    return [(float(a), float(b)) for a, b in zip(edges[:-1], edges[1:])]


def refine_edges(spans: list[tuple[float, float]], speech: tuple[float, float], max_shift: float,
                 min_dur: float = 0.0) -> list[tuple[float, float]]:
    """Move the first start and the last end to the detected ``speech`` bounds.

    The first start may move up to ``max_shift`` earlier, or later up to ``min_dur`` before the
    first word's end; the last end likewise, mirrored.
    """
    spans = list(spans)
    (s0, e0), (s1, e1) = spans[0], spans[-1]
    new_start = min(max(speech[0], s0 - max_shift), max(s0, e0 - min_dur))
    spans[0] = (new_start, e0)
    if len(spans) == 1:
        s1 = new_start
    new_end = max(min(speech[1], e1 + max_shift), min(e1, s1 + min_dur))
    spans[-1] = (spans[-1][0], new_end)
    return spans


class CTCSegmentationAligner:
    """Align words with the ``ctc_segmentation`` package on a CTC model's posteriors.

    Example::

        al = CTCSegmentationAligner(model="exp/ctc")
        al.setup("dump/test_fr", "fr")
        al.align("utt1", ["le", "chat", "noir"], wave, 16000)

    Args:
        model: the CTC model's exp dir (``s2s ctc train`` / ``s2s ctc import``), a mapping
            language -> exp dir, or a loaded model (implementing ``s2s_plugin.protocols.CTCModel``);
            a recipe passes its stage-3 exp dir (``s2s align --ctc_exp``, see ``recipe_paths``).
        boundary: ``separator`` or ``midpoint``.
        time_offset: seconds added to every time (a model's constant latency, negative to move earlier).
        unknown_chars: ``fail`` (the utterance is reported and left out) or ``skip`` (align the
            word on its known characters, with a warning in the report).
        vad_db: move the outer edges to the speech found by an energy detector (frames within
            this many dB of the loudest); None: keep the CTC edges.
        vad_max_shift: at most this many seconds outwards from the CTC edges.
        device: where the model runs (``cpu``, ``cuda``, ``auto``).
        window: align posteriors longer than this many seconds window by window (None: in one piece).
        window_overlap: seconds at the end of a window whose words move on to the next.
        gap_split: where a boundary from token spans goes in the gap between two words (0: the end of the
            word's last token, 1: the start of the next word's first token, 0.5: halfway).
    """

    name: ClassVar[str] = "ctc_segmentation"

    #: the recipe's stage-3 model is this plugin's model (``s2s_plugin.config.fill_recipe_paths``)
    recipe_paths: ClassVar[dict[str, str]] = {"model": "ctc_exp"}

    def __init__(self, model: Any = None, boundary: str = "separator", time_offset: float = 0.0,
                 unknown_chars: str = "fail", vad_db: float | None = 35.0, vad_max_shift: float = 0.3,
                 device: str = "cpu", window: float | None = 60.0, window_overlap: float = 10.0,
                 gap_split: float = 0.5) -> None:
        if boundary not in BOUNDARIES:
            raise ConfigError(f"aligner 'ctc_segmentation': boundary must be one of {', '.join(BOUNDARIES)}, "
                              f"got {boundary!r}")
        if unknown_chars not in ("fail", "skip"):
            raise ConfigError(f"aligner 'ctc_segmentation': unknown_chars must be 'fail' or 'skip', "
                              f"got {unknown_chars!r}")
        if model is not None and not isinstance(model, (str, dict)) and not hasattr(model, "log_posteriors"):
            raise ConfigError(f"aligner 'ctc_segmentation': model must be an exp dir or a mapping "
                              f"language -> exp dir, got {model!r}")
        self.model_spec = model
        self.boundary, self.time_offset = boundary, float(time_offset)
        self.unknown_chars, self.device = unknown_chars, device
        self.vad_db = None if vad_db is None else float(vad_db)
        self.vad_max_shift = float(vad_max_shift)
        if window is not None and not 0 <= window_overlap <= window / 2:
            raise ConfigError(f"aligner 'ctc_segmentation': window_overlap must be in [0, window / 2], got "
                              f"{window_overlap} for window {window}")
        if not 0 <= gap_split <= 1:
            raise ConfigError(f"aligner 'ctc_segmentation': gap_split must be in [0, 1], got {gap_split}")
        self.gap_split = float(gap_split)
        if model is None:
            raise ConfigError("aligner 'ctc_segmentation': no CTC model (key 'aligner.model'): give --ctc_exp DIR "
                              "(s2st.sh passes stage 3's exp/ctc) or the override aligner.model=DIR")
        self.window = None if window is None else float(window)
        self.window_overlap = float(window_overlap)
        self._cache: dict[str, Any] = {}
        self.model = None

    def setup(self, data_dir: str, lang: str) -> None:
        spec = self.model_spec
        if isinstance(spec, dict):
            if lang not in spec:
                raise ConfigError(f"aligner 'ctc_segmentation': no model for language '{lang}' "
                                  f"(model has {', '.join(sorted(spec))})")
            spec = spec[lang]
        if not isinstance(spec, str):
            self.model = spec
            return
        if spec not in self._cache:
            from s2s_plugin.asr.ctc import load_ctc_model

            self._cache[spec] = load_ctc_model(spec, device=self.device)
        self.model = self._cache[spec]

    def _word_ids(self, word: str) -> list[int]:
        """The word's token ids; ``[]`` (with ``skip``) for a word of no known character, e.g. ``?``."""
        try:
            return list(self.model.word_ids(word))
        except ValueError as e:
            if self.unknown_chars == "fail":
                raise AlignmentError(str(e)) from None
        known = []
        for c in word:
            try:
                known += list(self.model.word_ids(c))
            except ValueError:
                continue
        warnings.warn(AlignmentWarning(
            f"word '{word}': characters not in the model vocabulary were left out of its alignment"
            + ("" if known else " (none left: it gets an empty span where it stands)")), stacklevel=2)
        return known

    def align(self, utt_id: str, words: list[str], wav: np.ndarray, sr: int) -> list[WordSpan]:
        if self.model is None:
            raise ConfigError("aligner 'ctc_segmentation': setup() was not called")
        if not words:
            raise AlignmentError("no words")
        ids, problems = [], []
        for w in words:  # every word that cannot be aligned is named, not only the first
            try:
                ids.append(self._word_ids(w))
            except AlignmentError as e:
                problems.append(str(e))
        if problems:
            raise AlignmentError("; ".join(problems))
        spoken = [i for i, t in enumerate(ids) if t]  # punctuation-only words (skip mode) have no tokens
        if not spoken:
            raise AlignmentError(f"none of the words {' '.join(words)!r} has a character in the model vocabulary")
        try:
            logp = self.model.log_posteriors(wav, sr)
        except ValueError as e:  # e.g. audio shorter than the model's receptive field
            raise AlignmentError(str(e)) from None
        spans = ctc_word_spans(logp, [ids[i] for i in spoken], self.model.frame_rate, self.model.space_id,
                               self.boundary, self.time_offset, len(wav) / sr, self.model.tokens, self.window,
                               self.window_overlap, self.gap_split)
        if self.vad_db is not None:
            spans = refine_edges(spans, speech_bounds(wav, sr, self.vad_db), self.vad_max_shift,
                                 1.0 / self.model.frame_rate)
        # a word with no tokens gets an empty span at the end of the word before it (or the first's start)
        edge, k, out = spans[0][0], 0, []
        for i, w in enumerate(words):
            if k < len(spoken) and spoken[k] == i:
                (a, b), k = spans[k], k + 1
                out.append(WordSpan(w, a, b - a))
                edge = b
            else:
                out.append(WordSpan(w, edge, 0.0))
        return out
