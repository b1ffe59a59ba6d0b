"""libespeak-ng through ctypes: struct layout, word timings, determinism, clear errors."""
from __future__ import annotations

import ctypes

import numpy as np
import pytest

from s2s_plugin.corpora.mini.espeak import Espeak, EspeakError, EspeakEvent, speech_bounds, word_spans

SR = 22050


@pytest.fixture(scope="module")
def engine():
    return Espeak()


def test_event_struct_matches_speak_lib_h():
    # espeak-ng 1.51 speak_lib.h on LP64: int type, unsigned uid, int text_position, length,
    # audio_position, sample; void *user_data; union id (8 bytes)
    assert ctypes.sizeof(EspeakEvent) == 40
    offsets = {name: getattr(EspeakEvent, name).offset for name, _ in EspeakEvent._fields_}
    assert offsets == {"type": 0, "unique_identifier": 4, "text_position": 8, "length": 12,
                       "audio_position": 16, "sample": 20, "user_data": 24, "id": 32}


def test_word_spans_split_a_shared_event_by_letters():
    words = "the man did not see".split()
    # positions (1-based) of the, man, did, see: espeak gives no event for "not"
    events = [(1, 0), (5, 1000), (9, 3000), (17, 5000)]
    spans = word_spans(words, events, speech_start=200, speech_end=8000)
    assert spans == [(200, 1000), (1000, 3000), (3000, 4000), (4000, 5000), (5000, 8000)]


def test_word_spans_ignore_events_inside_a_word_and_merge_close_starts():
    words = ["l'homme", "na", "aldeia"]
    events = [(1, 0), (3, 900), (9, 2000), (12, 2010)]  # a second event inside l'homme; na/aldeia 10 samples apart
    spans = word_spans(words, events, 0, 6000, min_gap=500)
    assert spans[0] == (0, 2000)
    assert spans[1] == (2000, 3000) and spans[2] == (3000, 6000)  # 2 : 6 letters of the shared span


def test_word_spans_are_contiguous_even_without_events():
    spans = word_spans(["a", "bb", "ccc"], [], 100, 700)
    assert spans == [(100, 200), (200, 400), (400, 700)]


def test_speech_bounds_skip_silence():
    x = np.zeros(SR, np.int16)
    x[5000:9000] = (3000 * np.sin(np.arange(4000) / 5)).astype(np.int16)
    start, end = speech_bounds(x, SR)
    assert abs(start - 5000) <= 110 and abs(end - 9000) <= 110
    assert speech_bounds(np.zeros(100, np.int16), SR) == (0, 100)


@pytest.mark.parametrize("voice,text", [
    ("en-us", "the man did not see a cat in the garden"),
    ("fr+m1", "l'homme n'a pas mangé d'œufs hier"),
    ("es+f2", "el agua no estaba fría"),
    ("pt+m3", "eles não pintarão os barcos azuis na aldeia"),
])
def test_word_timings_cover_every_word_with_speech(engine, voice, text):
    syn = engine.synthesize(text, voice, rate=170, pitch=50, seed=1)
    assert syn.sample_rate == SR and syn.samples.dtype == np.int16 and len(syn.samples) > SR // 2
    words = text.split()
    start, end = speech_bounds(syn.samples, SR)
    spans = word_spans(words, syn.word_events, start, end, min_gap=int(0.03 * SR))
    assert len(spans) == len(words)
    assert all(a < b for a, b in spans) and all(b == a2 for (_, b), (a2, _) in zip(spans, spans[1:]))
    assert 0 <= spans[0][0] and spans[-1][1] <= len(syn.samples)
    x = syn.samples.astype(np.float64)
    loudest = max(np.sqrt(np.mean(x[i:i + 220] ** 2)) for i in range(0, len(x) - 220, 220))
    for w, (a, b) in zip(words, spans):
        rms = np.sqrt(np.mean(x[a:b] ** 2))
        assert rms > loudest * 10 ** (-30 / 20), f"'{w}' [{a / SR:.3f}, {b / SR:.3f}] s is silent"


def test_synthesis_does_not_depend_on_what_was_said_before(engine):
    text = "le chat ne dort pas"
    first = engine.synthesize(text, "fr+f2", 175, 60, seed=3).samples
    engine.synthesize("el perro come la manzana", "es+m2", 150, 40, seed=9)
    engine.synthesize("the cat sleeps", "en-us", seed=4)
    again = engine.synthesize(text, "fr+f2", 175, 60, seed=3).samples
    assert np.array_equal(first, again)
    slower = engine.synthesize(text, "fr+f2", 120, 60, seed=3).samples
    assert len(slower) > len(first) * 1.2  # rate is applied


def test_unknown_voices_are_clear_errors(engine):
    engine.check_voice("fr+m1")
    with pytest.raises(EspeakError, match="no voice 'xx'"):
        engine.check_voice("xx")
    with pytest.raises(EspeakError, match="no voice variant 'nosuch'.*--voices=variant"):
        engine.check_voice("fr+nosuch")  # espeak itself would silently ignore it


def test_a_missing_library_says_what_to_install():
    with pytest.raises(EspeakError, match=r"libespeak-ng1: apt-get install espeak-ng"):
        Espeak(library="libespeak-ng-not-here.so.1")
