"""The aligners: CTC segmentation span extraction (exact), uniform spans (exact), CTM import."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from align_testutils import FS, HandMadeCTC, silence, tone

from s2s_plugin.align import AlignmentError, AlignmentWarning, CTCSegmentationAligner, CTMAligner, UniformAligner
from s2s_plugin.align.common import speech_bounds
from s2s_plugin.align.ctcseg import ctc_word_spans, refine_edges
from s2s_plugin.data.io import WordSpan
from s2s_plugin.errors import ConfigError, DataError
from s2s_plugin.protocols import Aligner, CTCModel

A, B, C, SP = 1, 2, 3, 4


def logp_of(spikes: dict[int, int], frames: int = 30) -> np.ndarray:
    return HandMadeCTC(spikes).log_posteriors(np.zeros(int(frames / 50 * FS)), FS)


def approx(spans):
    return [tuple(round(t, 6) for t in s) for s in spans]


def test_ctc_word_spans_exact():
    # "ab ca": a@5 b@8 <space>@10 c@15 a@18, 20 ms frames
    logp = logp_of({5: A, 8: B, 10: SP, 15: C, 18: A})
    words = [[A, B], [C, A]]
    assert approx(ctc_word_spans(logp, words, 50.0, SP, "separator")) == [(0.10, 0.20), (0.20, 0.38)]
    # midpoint: halfway between the end of b's frame (0.18) and c (0.30)
    assert approx(ctc_word_spans(logp, words, 50.0, SP, "midpoint")) == [(0.10, 0.24), (0.24, 0.38)]
    assert approx(ctc_word_spans(logp, words, 50.0, SP, "separator", time_offset=-0.01)) == \
        [(0.09, 0.19), (0.19, 0.37)]
    # no separator token in the vocabulary: a blank separates the words, boundaries by midpoint
    no_space = logp_of({5: A, 8: B, 15: C, 18: A})
    assert approx(ctc_word_spans(no_space, words, 50.0, None, "separator")) == [(0.10, 0.24), (0.24, 0.38)]
    # a repeated token within a word, and clipping to the audio duration
    assert approx(ctc_word_spans(logp_of({5: A, 7: A}), [[A, A]], 50.0, SP, duration=0.15)) == [(0.10, 0.15)]


def test_ctc_word_spans_needs_enough_frames():
    with pytest.raises(AlignmentError, match=r"audio too short for its text: 4 frames \(0.08 s at 50 frames/s\)"):
        ctc_word_spans(logp_of({}, frames=4), [[A, B], [C, A]], 50.0, SP)
    with pytest.raises(AlignmentError, match="no tokens"):
        ctc_word_spans(logp_of({}), [[A], []], 50.0, SP)


def test_refine_edges_moves_outer_edges_within_limits():
    spans = [(0.30, 0.50), (0.50, 0.70)]
    assert refine_edges(spans, (0.25, 0.78), 0.3, 0.02) == [(0.25, 0.50), (0.50, 0.78)]
    assert approx(refine_edges(spans, (0.0, 1.5), 0.1, 0.02)) == [(0.20, 0.50), (0.50, 0.80)]  # at most 0.1 out
    # speech found inside the first/last word (a spike in silence): moved in, up to one frame before its end
    assert approx(refine_edges(spans, (0.49, 0.51), 0.3, 0.02)) == [(0.48, 0.50), (0.50, 0.52)]


@pytest.fixture
def aligner():
    al = CTCSegmentationAligner(model=HandMadeCTC({5: A, 8: B, 10: SP, 15: C, 18: A}), vad_db=None)
    al.setup("dump/test_fr", "fr")
    return al


def test_ctc_segmentation_aligner(aligner):
    assert isinstance(aligner, Aligner) and isinstance(HandMadeCTC(), CTCModel)
    spans = aligner.align("u1", ["ab", "ca"], np.zeros(int(0.6 * FS), np.float32), FS)
    assert [s.word for s in spans] == ["ab", "ca"]
    assert approx([(s.start, s.end) for s in spans]) == [(0.10, 0.20), (0.20, 0.38)]
    # with the energy detector, the outer edges move to where the tone starts and ends
    al = CTCSegmentationAligner(model=aligner.model, vad_db=35.0, vad_max_shift=0.3)
    al.setup("d", "fr")
    wav = np.concatenate([silence(0.06), tone(0.38), silence(0.16)])
    spans = al.align("u1", ["ab", "ca"], wav, FS)
    assert abs(spans[0].start - 0.06) < 0.015 and abs(spans[-1].end - 0.44) < 0.015
    assert abs(spans[1].start - 0.20) < 1e-9


def test_unknown_characters_fail_or_warn(aligner):
    wav = np.zeros(int(0.6 * FS), np.float32)
    with pytest.raises(AlignmentError, match="word 'ad' has characters not in the model vocabulary"):
        aligner.align("u1", ["ad", "ca"], wav, FS)
    skip = CTCSegmentationAligner(model=aligner.model, unknown_chars="skip", vad_db=None)
    skip.setup("d", "fr")
    with pytest.warns(AlignmentWarning, match="word 'ad': characters not in the model vocabulary were left out"):
        spans = skip.align("u1", ["ad", "ca"], wav, FS)
    assert [s.word for s in spans] == ["ad", "ca"]
    # a word of no known character ('?' in Common Voice French) gets an empty span where it stands,
    # and the other words align as without it
    with pytest.warns(AlignmentWarning, match="none left: it gets an empty span"):
        spans = skip.align("u1", ["?", "ab", "?", "ca", "!"], wav, FS)
    assert [s.word for s in spans] == ["?", "ab", "?", "ca", "!"]
    assert approx([(s.start, s.end) for s in spans]) == [(0.10, 0.10), (0.10, 0.20), (0.20, 0.20), (0.20, 0.38),
                                                        (0.38, 0.38)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(AlignmentError, match="none of the words '\\? !' has a character"):
            skip.align("u1", ["?", "!"], wav, FS)


def test_ctc_segmentation_aligner_config_errors():
    with pytest.raises(ConfigError, match="boundary must be one of separator, midpoint"):
        CTCSegmentationAligner(boundary="middle")
    al = CTCSegmentationAligner(model={"fr": "exp/ctc_fr"})
    with pytest.raises(ConfigError, match="no model for language 'en'"):
        al.setup("dump/test_fr", "en")


def test_uniform_whole_and_chars_exact():
    wav = np.zeros(int(1.2 * FS), np.float32)
    spans = UniformAligner(span="whole").align("u", ["a", "bb", "c"], wav, FS)
    assert approx([(s.start, s.duration) for s in spans]) == [(0.0, 0.4), (0.4, 0.4), (0.8, 0.4)]
    spans = UniformAligner(span="whole", weights="chars").align("u", ["a", "bbb"], wav, FS)
    assert approx([(s.start, s.end) for s in spans]) == [(0.0, 0.3), (0.3, 1.2)]
    with pytest.raises(ConfigError, match="span must be"):
        UniformAligner(span="all")


def test_uniform_speech_spans_the_loud_part():
    wav = np.concatenate([silence(0.2), tone(1.0), silence(0.2)])
    start, end = speech_bounds(wav, FS)
    assert abs(start - 0.2) < 0.015 and abs(end - 1.2) < 0.015
    spans = UniformAligner().align("u", ["a", "b"], wav, FS)
    assert spans[0].start == start and abs(spans[1].end - end) < 1e-9
    assert abs(spans[0].duration - (end - start) / 2) < 1e-9 and spans[0].end == spans[1].start
    assert speech_bounds(silence(0.5), FS) == (0.0, 0.5)


def test_ctm_aligner(tmp_path):
    (tmp_path / "mfa.fr.ctm").write_text("u1 1 0.10 0.20 Le\nu1 1 0.30 0.05 sil\nu1 1 0.35 0.40 chat\n"
                                         "u2 1 0.10 0.20 le\nu2 1 0.30 0.40 chien\n"
                                         "u3 1 0.10 2.00 long\n")
    al = CTMAligner(path="{dir}/mfa.{lang}.ctm")
    al.setup(str(tmp_path), "fr")
    wav = np.zeros(FS, np.float32)
    assert al.align("u1", ["le", "chat"], wav, FS) == [WordSpan("le", 0.1, 0.2), WordSpan("chat", 0.35, 0.4)]
    with pytest.raises(DataError) as e:
        al.align("u2", ["le", "chat"], wav, FS)
    msg = str(e.value)
    assert "mfa.fr.ctm: utterance 'u2'" in msg and "at word 2: 'chien' in the CTM, 'chat' in the text" in msg
    with pytest.raises(AlignmentError, match="not in .*mfa.fr.ctm"):
        al.align("u9", ["le"], wav, FS)
    with pytest.raises(AlignmentError, match="after the end of the audio"):
        al.align("u3", ["long"], wav, FS)
    strict = CTMAligner(path="{dir}/mfa.{lang}.ctm", ignore_case=False)
    strict.setup(str(tmp_path), "fr")
    with pytest.raises(DataError, match="at word 1: 'Le' in the CTM, 'le' in the text"):
        strict.align("u1", ["le", "chat"], wav, FS)
    with pytest.raises(DataError, match="not found"):
        CTMAligner().setup(str(tmp_path), "fr")


def test_word_spans_from_token_spans_without_separator():
    # BPE-like: no separator; 'b' stays more likely than the blank for frames 8-10, so word 1 ends at 0.22;
    # the boundary is halfway to word 2's first token (0.30)
    logp = logp_of({5: A, 8: B, 9: B, 10: B, 15: C, 18: A})
    assert approx(ctc_word_spans(logp, [[A, B], [C, A]], 50.0, None)) == [(0.10, 0.26), (0.26, 0.38)]
    assert approx(ctc_word_spans(logp, [[A, B], [C, A]], 50.0, None, gap_split=1.0)) == [(0.10, 0.30), (0.30, 0.38)]
    assert approx(ctc_word_spans(logp, [[A, B], [C, A]], 50.0, None, gap_split=0.0)) == [(0.10, 0.22), (0.22, 0.38)]
    # adjacent words need no frame between them: 5 tokens in 7 frames (the package adds a start and an end)
    tight = logp_of({1: A, 2: B, 3: C, 4: A, 5: B}, frames=7)
    assert approx(ctc_word_spans(tight, [[A, B], [C], [A, B]], 50.0, None)) == \
        [(0.02, 0.06), (0.06, 0.08), (0.08, 0.12)]


def synthetic_posteriors(seconds: float, seed: int = 0, vocab: int = 20):
    """Confident posteriors of random words (1-5 tokens, 2-5 frames apart, pauses of 3-30 frames) at 50/s:
    ``(logp, word ids, first-token time of each word)``."""
    rng = np.random.default_rng(seed)
    n = int(seconds * 50)
    logits = rng.normal(0, 1, (n, vocab)).astype(np.float32)
    logits[:, 0] += 8
    words, starts, t = [], [], 5
    while True:
        ids = rng.integers(1, vocab, int(rng.integers(1, 6))).tolist()
        frames = (t + np.cumsum(rng.integers(2, 6, len(ids)))).tolist()
        if frames[-1] + 40 >= n:
            break
        words.append(ids)
        starts.append(frames[0] / 50)
        logits[frames, ids] += 14
        t = frames[-1] + int(rng.integers(3, 30))
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return logp, words, np.array(starts)


def test_windowed_alignment_equals_one_piece_on_a_long_input():
    logp, words, starts = synthetic_posteriors(150.0)
    whole = ctc_word_spans(logp, words, 50.0, None)
    windowed = ctc_word_spans(logp, words, 50.0, None, window=20.0, window_overlap=5.0)
    assert len(words) > 200 and np.allclose(windowed, whole)
    spans = np.array(whole)  # the first word starts at its first token; every first token is in its word
    assert spans[0, 0] == pytest.approx(starts[0]) and np.all((spans[:, 0] <= starts) & (starts < spans[:, 1]))
    # a window too short for the text it must take is an AlignmentError, not a crash
    with pytest.raises(AlignmentError, match="audio too short"):
        ctc_word_spans(logp[:3], [[A], [B], [C]], 50.0, SP, window=0.04, window_overlap=0.0)


def test_bpe_model_through_the_aligner():
    class BPEModel(HandMadeCTC):
        tokens = ["<blank>", "▁ab", "c", "▁c"]
        space_id = None

        def word_ids(self, word):
            return {"ab": [1], "abc": [1, 2], "c": [3]}[word]

    wav = silence(0.6)
    al = CTCSegmentationAligner(model=BPEModel({5: 1, 8: 2, 15: 3}), vad_db=None)
    al.setup("dump/test_fr", "fr")
    spans = al.align("u", ["abc", "c"], wav, FS)
    assert [(s.word, round(s.start, 6), round(s.end, 6)) for s in spans] == [("abc", 0.10, 0.24), ("c", 0.24, 0.32)]
    with pytest.raises(ConfigError, match="gap_split must be in"):
        CTCSegmentationAligner(gap_split=1.5)
    with pytest.raises(ConfigError, match="window_overlap must be in"):
        CTCSegmentationAligner(window=10.0, window_overlap=6.0)
