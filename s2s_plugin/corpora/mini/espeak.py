"""Speech and word timings from libespeak-ng (the Debian package libespeak-ng1), through ctypes.

    from s2s_plugin.corpora.mini.espeak import Espeak, speech_bounds, word_spans

    engine = Espeak()                                   # loads libespeak-ng.so.1
    syn = engine.synthesize("le chat ne dort pas", "fr+m1", rate=170, pitch=50, seed=7)
    syn.samples, syn.sample_rate                        # int16 mono samples, 22050 Hz
    syn.word_events                                     # [(text_position, start_sample), ...]
    start, end = speech_bounds(syn.samples, syn.sample_rate)
    spans = word_spans("le chat ne dort pas".split(), syn.word_events, start, end)
    # [(0, 2580), (2580, 6750), ...]: [start, end) in samples, one per word

Synthesis runs in ``AUDIO_OUTPUT_SYNCHRONOUS`` mode: a synth callback
collects the samples and the ``espeakEVENT_WORD`` events (each gives the
word's character position in the text and its start in the audio).

Determinism: libespeak-ng keeps synthesis state from one call to the next
(its waveform generator's phase and pitch flutter, libc ``rand``), so the same
text comes out slightly different depending on what was said before, and
re-initialising the library in a process is not supported. Each utterance is
therefore synthesised in a forked child of a process whose engine was
initialised but has never spoken; the child seeds ``rand`` and exits. The
output then depends only on (text, voice, rate, pitch, seed), whatever the
order or the number of worker processes. A fork plus loading the voice costs about 25 ms.

Only the runtime library is needed (no headers); the ``espeak_EVENT`` layout
below is that of speak_lib.h in espeak-ng 1.51 (API revision 12).
"""
from __future__ import annotations

import bisect
import ctypes
import os
import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from s2s_plugin.errors import S2SError

LIBRARY = "libespeak-ng.so.1"
INSTALL_HINT = "install the Debian package libespeak-ng1: apt-get install espeak-ng"

# speak_lib.h constants
AUDIO_OUTPUT_SYNCHRONOUS = 2
POS_CHARACTER = 1
espeakCHARS_UTF8 = 1
espeakINITIALIZE_DONT_EXIT = 0x8000
espeakEVENT_LIST_TERMINATED = 0
espeakEVENT_WORD = 1
espeakRATE, espeakPITCH = 1, 3
EE_OK = 0


class EspeakError(S2SError, RuntimeError):
    """libespeak-ng is missing, lacks a voice, or failed to synthesise."""


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class EspeakEvent(ctypes.Structure):
    """``espeak_EVENT`` of speak_lib.h (espeak-ng 1.51): 40 bytes on x86-64."""

    _fields_ = [
        ("type", ctypes.c_int),                 # espeak_EVENT_TYPE
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),        # characters from the start of the text, 1-based
        ("length", ctypes.c_int),               # word length in characters (WORD events)
        ("audio_position", ctypes.c_int),       # milliseconds into the generated speech
        ("sample", ctypes.c_int),               # sample id (internal use)
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


class EspeakVoice(ctypes.Structure):
    """``espeak_VOICE`` of speak_lib.h."""

    _fields_ = [("name", ctypes.c_char_p), ("languages", ctypes.c_char_p), ("identifier", ctypes.c_char_p),
                ("gender", ctypes.c_ubyte), ("age", ctypes.c_ubyte), ("variant", ctypes.c_ubyte),
                ("xx1", ctypes.c_ubyte), ("score", ctypes.c_int), ("spare", ctypes.c_void_p)]


SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                                  ctypes.POINTER(EspeakEvent))


def load_library(name: str = LIBRARY) -> ctypes.CDLL:
    """Load libespeak-ng and declare the functions used.

    Raises:
        EspeakError: the library is not installed, with the package to install.
    """
    try:
        lib = ctypes.CDLL(name)
    except OSError as e:
        raise EspeakError(f"cannot load {name} ({e}); {INSTALL_HINT}") from None
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_SetSynthCallback.argtypes = [SYNTH_CALLBACK]
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_SetParameter.restype = ctypes.c_int
    lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                 ctypes.c_uint, ctypes.POINTER(ctypes.c_uint), ctypes.c_void_p]
    lib.espeak_Synth.restype = ctypes.c_int
    lib.espeak_Synchronize.restype = ctypes.c_int
    lib.espeak_ListVoices.argtypes = [ctypes.POINTER(EspeakVoice)]
    lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(EspeakVoice))
    return lib


@dataclass
class Synthesis:
    """One synthesised text.

    Attributes:
        samples: int16 mono samples.
        sample_rate: Hz (22050 for espeak-ng).
        word_events: ``(text_position, start_sample)`` of each word event, in
            order; ``text_position`` is 1-based, in characters.
    """

    samples: np.ndarray
    sample_rate: int
    word_events: list[tuple[int, int]]


def _run_in_child(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in a forked child; its result (or exception) comes back pickled through a pipe."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into the caller's code
        status = 0
        try:
            os.close(read_fd)
            try:
                payload = ("ok", fn(*args))
            except Exception as e:  # sent back and re-raised in the parent
                payload = ("error", e if isinstance(e, EspeakError) else EspeakError(f"{type(e).__name__}: {e}"))
            with os.fdopen(write_fd, "wb") as f:
                f.write(pickle.dumps(payload))
        except BaseException:
            status = 1
        finally:
            os._exit(status)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    if not data:
        raise EspeakError(f"the espeak-ng synthesis process died (wait status {status})")
    kind, value = pickle.loads(data)
    if kind == "error":
        raise value
    return value


class Espeak:
    """An initialised libespeak-ng; every synthesis runs in a fresh fork (see the module docstring).

    Args:
        library: the shared library to load.

    Raises:
        EspeakError: the library or its data (espeak-ng-data) is missing.
    """

    def __init__(self, library: str = LIBRARY) -> None:
        self._lib = load_library(library)
        rate = self._lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, None, espeakINITIALIZE_DONT_EXIT)
        if rate <= 0:
            raise EspeakError(f"libespeak-ng could not initialise (no espeak-ng-data?); {INSTALL_HINT}")
        self.sample_rate = int(rate)
        self._samples = bytearray()
        self._events: list[tuple[int, int]] = []
        self._callback = SYNTH_CALLBACK(self._on_synth)  # keep a reference: C holds a raw pointer
        self._lib.espeak_SetSynthCallback(self._callback)
        self._libc = ctypes.CDLL(None)
        self._variant_names: set[str] | None = None

    def _on_synth(self, wav: Any, n: int, events: Any) -> int:
        if wav and n > 0:
            self._samples += ctypes.string_at(wav, 2 * n)
        i = 0
        while events and events[i].type != espeakEVENT_LIST_TERMINATED:
            ev = events[i]
            # text_position 0 marks a trailing pseudo-event some voices emit at the end
            if ev.type == espeakEVENT_WORD and ev.text_position > 0:
                # audio_position is the documented start (ms); the internal "sample" field agrees with it
                start = int(round(ev.audio_position * self.sample_rate / 1000))
                self._events.append((ev.text_position, start))
            i += 1
        return 0

    # -- what runs in the child ---------------------------------------------------------------
    def _variants(self) -> set[str]:
        spec = EspeakVoice(languages=b"variant")
        voices = self._lib.espeak_ListVoices(ctypes.byref(spec))
        out, i = set(), 0
        while voices[i]:
            ident = (voices[i].contents.identifier or b"").decode("utf-8", "replace")
            out.add(ident.rsplit("/", 1)[-1])
            i += 1
        return out

    def _check(self, voice: str, variants: set[str]) -> None:
        name, _, variant = voice.partition("+")
        if self._lib.espeak_SetVoiceByName(name.encode("utf-8")) != EE_OK:
            raise EspeakError(f"espeak-ng has no voice '{name}' (of '{voice}'); list them with "
                              f"`espeak-ng --voices`")
        # espeak-ng silently ignores an unknown variant, so look it up
        if variant and variant not in variants:
            raise EspeakError(f"espeak-ng has no voice variant '{variant}' (of '{voice}'); list them with "
                              f"`espeak-ng --voices=variant` (the file names, e.g. m1, f2, klatt)")

    def _synthesize(self, text: str, voice: str, rate: int, pitch: int, seed: int) -> Synthesis:
        if self._lib.espeak_SetVoiceByName(voice.encode("utf-8")) != EE_OK:
            raise EspeakError(f"espeak-ng has no voice '{voice}'; list them with `espeak-ng --voices`")
        self._lib.espeak_SetParameter(espeakRATE, rate, 0)
        self._lib.espeak_SetParameter(espeakPITCH, pitch, 0)
        self._libc.srand(ctypes.c_uint(seed))
        self._samples.clear()
        self._events.clear()
        data = text.encode("utf-8") + b"\0"
        err = self._lib.espeak_Synth(data, len(data), 0, POS_CHARACTER, 0, espeakCHARS_UTF8, None, None)
        if err != EE_OK or self._lib.espeak_Synchronize() != EE_OK:
            raise EspeakError(f"espeak-ng failed (error {err}) on {text!r} with voice '{voice}'")
        samples = np.frombuffer(bytes(self._samples), dtype=np.int16).copy()
        return Synthesis(samples, self.sample_rate, list(self._events))

    # -- public API ----------------------------------------------------------------------------
    def variants(self) -> set[str]:
        """The voice variants (``m1``, ``f2``, ``klatt`` ...), listed once in a child and cached."""
        if self._variant_names is None:
            self._variant_names = _run_in_child(self._variants)
        return self._variant_names

    def check_voice(self, voice: str) -> None:
        """Raise :class:`EspeakError` unless ``voice`` (``lang[+variant]``) exists."""
        _run_in_child(self._check, voice, self.variants())

    def synthesize(self, text: str, voice: str, rate: int = 175, pitch: int = 50, seed: int = 0) -> Synthesis:
        """Speak ``text`` (UTF-8, no SSML) with ``voice``, ``rate`` (words/min) and ``pitch`` (0-100).

        ``seed`` seeds libc ``rand``, which some variants use for breath noise
        (f2, whisper). Check the voice once with :meth:`check_voice`: espeak-ng
        ignores an unknown variant.

        Raises:
            EspeakError: an unknown voice or a failed synthesis.
        """
        return _run_in_child(self._synthesize, text, voice, rate, pitch, seed)


def speech_bounds(samples: np.ndarray, sample_rate: int, threshold_db: float = -40.0,
                  frame_seconds: float = 0.005) -> tuple[int, int]:
    """``(first, end)`` sample of the frames louder than ``threshold_db`` below the loudest frame.

    Returns ``(0, len(samples))`` for silence.
    """
    frame = max(1, int(round(frame_seconds * sample_rate)))
    n = len(samples) // frame
    if n == 0:
        return 0, len(samples)
    x = samples[: n * frame].astype(np.float64).reshape(n, frame)
    rms = np.sqrt((x ** 2).mean(axis=1))
    if rms.max() <= 0:
        return 0, len(samples)
    active = np.flatnonzero(rms >= rms.max() * 10 ** (threshold_db / 20))
    return int(active[0] * frame), int(min(len(samples), (active[-1] + 1) * frame))


def word_spans(words: Sequence[str], word_events: Sequence[tuple[int, int]], speech_start: int,
               speech_end: int, min_gap: int = 0) -> list[tuple[int, int]]:
    """One ``[start, end)`` sample span per word, from espeak's word events.

    Events are mapped to words by text position (in ``" ".join(words)``); a
    word's first event gives its start, later events inside it are ignored.
    One event may cover several short words (espeak says "did not" as one
    word event), and a word event less than ``min_gap`` samples after the
    previous one is dropped (espeak runs words together across vowels, e.g.
    Portuguese "na aldeia", and gives both nearly the same start). A group's
    span, from its start to the next group's start, is split among its words
    in proportion to their letters. A word
    ends where the next begins; the last ends at ``speech_end`` (the end of
    speech, trailing silence excluded). The first word starts no earlier than
    ``speech_start``.

    Returns:
        ``len(words)`` spans, contiguous and non-decreasing.
    """
    if not words:
        return []
    offsets, pos = [], 0
    for w in words:
        offsets.append(pos)
        pos += len(w) + 1
    starts: list[int | None] = [None] * len(words)
    last_word, last_start = -1, 0
    for text_position, sample in word_events:
        idx = bisect.bisect_right(offsets, text_position - 1) - 1
        if idx <= last_word:  # before the first word, or inside a word that already has its start
            continue
        if last_word >= 0 and sample - last_start < min_gap:  # runs into the previous word
            continue
        starts[idx] = last_start = max(sample, last_start)
        last_word = idx
    later = next((s for s in starts[1:] if s is not None), speech_end)
    if starts[0] is None or starts[0] < speech_start < later:  # leading silence belongs to no word
        starts[0] = min(max(starts[0] or 0, speech_start), later)
    anchors = [i for i, s in enumerate(starts) if s is not None]
    spans: list[tuple[int, int]] = []
    for a, b in zip(anchors, anchors[1:] + [len(words)]):
        begin = starts[a]
        end = starts[b] if b < len(words) else speech_end
        end = max(end, begin + (b - a))  # never shorter than one sample per word
        letters = [len(w) for w in words[a:b]]
        total, acc = sum(letters), 0
        bounds = [begin]
        for n in letters:
            acc += n
            bounds.append(begin + round((end - begin) * acc / total))
        spans += list(zip(bounds[:-1], bounds[1:]))
    return spans
