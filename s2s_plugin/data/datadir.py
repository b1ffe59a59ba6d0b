"""A Kaldi/ESPnet-style S2ST data directory: read utterances and their audio.

    from s2s_plugin.data.datadir import DataDir

    dd = DataDir("data/train_fr", tgt_lang="en")   # finds the languages from the file suffixes
    dd.src_lang, dd.tgt_lang                        # ('fr', 'en')
    for utt in dd.utterances("fr"):                 # Utterance records, sorted by id
        wave, fs = dd.load_audio(utt.utt_id, "fr")  # float32 mono samples in [-1, 1]

A directory holds, for exactly two languages (a source and the target):

- ``wav.scp.<lang>``: ``utt entry``, where ``entry`` is an audio file soundfile
  can read (wav, flac, mp3, ...), a kaldiio ark entry ``file.ark:offset``
  (optionally with a ``[start:end]`` sample slice), or a Kaldi pipe entry: a
  shell command ending in ``|`` that writes audio to its stdout
  (``sox in.sph -t wav - |``, ``ffmpeg -i clip.mp3 -f wav -ar 16000 -ac 1 - |``).
  A pipe entry runs a command from the data file, as in Kaldi, so only
  ``s2s data validate`` and ``s2s data format`` (stage 2) run them, and only
  when asked (``allow_pipes=True``; ``--no_pipes`` refuses them); stage 2 writes
  plain files, so later stages never run a pipe. Utterance and recording ids
  are never put into a shell. An ark entry's file name may not contain ``|``
  and is opened as a plain file; look-alikes such as ``cmd |:0`` are refused;
- ``text.<lang>``: ``utt words ...``;
- ``utt2spk``: ``utt speaker``;
- optional ``segments`` (``utt recording start end``, seconds): then every
  ``wav.scp.<lang>`` is keyed by recording id. ``segments.<lang>`` applies to
  one language only and takes precedence over ``segments``;
- optional oracle word timings ``oracle.<lang>.ctm``.

Source and target share utterance ids. Ids are sorted in Kaldi order (the C
locale's byte order; for UTF-8 this is Python's ``sorted`` on ``str``).
:class:`DataDir` is strict and stops at the first inconsistency; run
``s2s data validate DIR`` to see every problem at once. Audio goes through
soundfile or kaldiio, never ``torchaudio.load``.
"""
from __future__ import annotations

import io
import os
import re
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from s2s_plugin.data.io import PathLike, WordSpan, iter_kaldi_lines, read_ctm, read_kaldi_text, space_in_id_message
from s2s_plugin.errors import DataError

#: ``wav.scp.<lang>`` / ``text.<lang>``: the files that name a set's languages.
LANG_FILE_RE = re.compile(r"^(wav\.scp|text)\.([A-Za-z0-9][A-Za-z0-9_-]*)$")
#: ``file.ark:offset[slice]``; the file name holds no ``|`` (a Kaldi pipe) and no brackets
_ARK_RE = re.compile(r"^(?P<ark>[^|\[\]]+):(?P<offset>\d+)(?:\[(?P<slice>[0-9:,]*)\])?$")
#: an optional ``:offset[slice]`` tail, removed before looking for a pipe at either end
_OFFSET_TAIL_RE = re.compile(r":\d+(\[[^\]]*\])?$")
#: a failing pipe's message quotes at most this many of the last lines of its stderr
PIPE_STDERR_LINES = 10
#: why a pipe entry is refused: ``--no_pipes`` was given ...
NO_PIPES = "--no_pipes refuses pipe entries, which run a command from the data file (docs/security.md)"
#: ... or the reader is not stage 1-2
PIPES_NOT_HERE = ("only `s2s data validate` and `s2s data format` (stage 2) run pipe entries; give this "
                  "step the dump dir that stage 2 writes")


@dataclass(frozen=True)
class Segment:
    """A span of a recording, in seconds (one line of a ``segments`` file)."""

    recording: str
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Utterance:
    """One utterance in one language.

    Example::

        Utterance(utt_id="spk1_0003", lang="fr", audio="wav/fr/spk1_0003.wav",
                  text="le chat ne dort pas", speaker="spk1")

    Attributes:
        utt_id: the utterance id, shared by source and target.
        lang: the language code (the file suffix).
        audio: the ``wav.scp`` value: a file path, ``file.ark:offset`` or a pipe
            command ``cmd |``; with segments, the recording's entry.
        text: the transcript.
        speaker: the speaker id from ``utt2spk``.
        segment: the span of the recording, when the set has segments.
    """

    utt_id: str
    lang: str
    audio: str
    text: str
    speaker: str
    segment: Segment | None = None


def kaldi_sorted(ids: Sequence[str]) -> list[str]:
    """Ids in Kaldi order: the C locale's byte order (UTF-8 bytes order like code points)."""
    return sorted(ids)


def split_ids(ids: Sequence[str], nj: int, job: int) -> list[str]:
    """Part ``job`` (1-based) of ``nj`` contiguous parts of ``ids``.

    Part j of n over L ids is ``ids[floor((j-1)*L/n) : floor(j*L/n)]``, the
    contract of ``utils/split_scp.sh``; some parts are empty when n > L.

    Raises:
        DataError: ``nj < 1`` or ``job`` outside ``1..nj``.
    """
    if nj < 1 or not 1 <= job <= nj:
        raise DataError(f"job {job} of {nj}: need nj >= 1 and 1 <= job <= nj")
    n = len(ids)
    return list(ids[(job - 1) * n // nj: job * n // nj])


def find_languages(path: PathLike) -> dict[str, set[str]]:
    """The languages of a directory: ``{lang: {"wav.scp", "text"} ∩ files present}``."""
    langs: dict[str, set[str]] = {}
    for f in Path(path).iterdir():
        m = LANG_FILE_RE.match(f.name)
        if m and f.is_file():
            langs.setdefault(m.group(2), set()).add(m.group(1))
    return langs


def is_ark_entry(spec: str) -> bool:
    """True for a kaldiio ark entry ``file.ark:offset[slice]`` whose ark is an existing regular file.

    The file name may not contain ``|`` or brackets, and is opened by Python as a
    file: no form of entry is ever handed to a shell (see :func:`read_audio`).
    """
    m = _ARK_RE.match(spec)
    return bool(m) and m.group("ark").strip() not in ("", "-") and Path(m.group("ark")).is_file()


def is_pipe_entry(spec: str) -> bool:
    """True for a Kaldi pipe entry: a command ending in ``|`` (``sox in.sph -t wav - |``).

    A ``|`` followed by an ark offset or range (``cmd |:0``) or at the start
    (``| cmd``) does not make a pipe entry: :func:`read_audio` refuses those.
    """
    s = spec.strip()
    return s.endswith("|") and not s.startswith("|") and bool(s[:-1].strip())


def pipe_command(spec: str) -> str:
    """The command of a pipe entry: the entry without its trailing ``|``."""
    return spec.strip()[:-1].strip()


def _check_spec(spec: str, allow_pipes: bool, refusal: str = PIPES_NOT_HERE) -> None:
    if is_pipe_entry(spec):
        if not allow_pipes:
            raise DataError(f"the pipe entry '{spec}' is not run: {refusal}")
        return
    s = _OFFSET_TAIL_RE.sub("", spec.strip()).strip()
    if s.endswith("|") or s.startswith("|"):
        raise DataError(f"'{spec}': not a pipe entry (a command ending in '|', read as in Kaldi) nor an "
                        f"ark entry; ark offsets or ranges on pipes and leading '|' are not supported")
    if s == "-":
        raise DataError(f"'{spec}': reading audio from standard input is not supported; name a file")


def read_pipe(spec: str) -> tuple[np.ndarray, int]:
    """Run a pipe entry's command through ``/bin/sh`` (as Kaldi does) and read the audio it writes.

    The command is the data file's value and nothing else: no id or other text
    is ever put into it. We run it ourselves rather than through kaldiio
    (``kaldiio.load_mat("cmd |")``), because kaldiio lets the command's stderr
    through unseen and does not say which command failed; here stderr is
    captured and quoted in the error.

    Returns:
        ``(samples, sample_rate)``: float32 ``(frames, channels)``.

    Raises:
        DataError: the command exits with a nonzero status, is killed, or writes
            no audio soundfile can read; naming the command and the end of its stderr.
    """
    import soundfile as sf

    cmd = pipe_command(spec)
    proc = subprocess.run(cmd, shell=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, check=False)
    if proc.returncode != 0:
        how = (f"was killed by signal {-proc.returncode}" if proc.returncode < 0
               else f"exited with status {proc.returncode}")
        raise DataError(f"the pipe command `{cmd}` {how}{_stderr_tail(proc.stderr)}")
    if not proc.stdout:
        raise DataError(f"the pipe command `{cmd}` wrote no audio to its stdout{_stderr_tail(proc.stderr)}")
    try:
        data, fs = sf.read(io.BytesIO(proc.stdout), dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises several kinds for bytes that are not audio
        why = getattr(e, "error_string", None) or str(e)  # LibsndfileError's str names the BytesIO object
        raise DataError(f"the pipe command `{cmd}` wrote {len(proc.stdout)} bytes that are not audio "
                        f"soundfile can read ({why}){_stderr_tail(proc.stderr)}") from None
    return data, int(fs)


def _stderr_tail(stderr: bytes) -> str:
    lines = [line.rstrip() for line in stderr.decode("utf-8", errors="replace").splitlines() if line.strip()]
    if not lines:
        return "; its stderr is empty"
    cut = f" (last {PIPE_STDERR_LINES} of {len(lines)} lines)" if len(lines) > PIPE_STDERR_LINES else ""
    return f"; its stderr{cut}:\n" + "\n".join(f"    {line[:500]}" for line in lines[-PIPE_STDERR_LINES:])


def _parse_slice(text: str, spec: str) -> tuple[slice, ...]:
    """Kaldi's ``[a:b,c:d]`` ranges (ends inclusive, as kaldiio reads them) as Python slices."""
    out = []
    for part in text.split(","):
        if part in ("", ":"):
            out.append(slice(None))
            continue
        bounds = part.split(":")
        if len(bounds) > 3 or not all(bounds):
            raise DataError(f"'{spec}': bad range [{text}]; expected [start:end] (inclusive), e.g. [0:15999]")
        b = [int(x) for x in bounds]
        out.append(slice(b[0], b[0] + 1) if len(b) == 1 else slice(b[0], b[1] + 1, b[2] if len(b) == 3 else None))
    return tuple(out)


def _load_ark(spec: str) -> tuple[np.ndarray, int]:
    """Read one entry of a kaldiio ark: the file is opened here, never through kaldiio's pipe/shell path."""
    from kaldiio.matio import read_kaldi

    m = _ARK_RE.match(spec)
    if m is None:  # only called after is_ark_entry
        raise DataError(f"'{spec}': not an ark entry 'file.ark:offset[start:end]'")
    slices = _parse_slice(m.group("slice"), spec) if m.group("slice") is not None else None
    with open(m.group("ark"), "rb") as fd:
        fd.seek(int(m.group("offset")))
        loaded = read_kaldi(fd)
    if not isinstance(loaded, tuple):
        raise DataError(f"'{spec}' holds a matrix of shape {np.shape(loaded)}, not audio "
                        f"(expected a wav entry written as (rate, samples))")
    fs, data = loaded
    data = np.asarray(data)
    if slices is not None:
        data = data[slices]
    if np.issubdtype(data.dtype, np.integer):
        data = data.astype(np.float32) / float(np.iinfo(data.dtype).max + 1)
    return data.astype(np.float32, copy=False), int(fs)


def wav_truncation(path: PathLike) -> str | None:
    """How a RIFF/WAVE file is cut short, or ``None`` (also for other formats).

    libsndfile reads the samples a truncated WAV still holds without a word, so
    the sizes are compared here: the ``data`` chunk's declared size against the
    bytes after its header. Only the chunk headers are read.
    """
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        size = os.fstat(f.fileno()).st_size
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            chunk = f.read(8)
            n = int.from_bytes(chunk[4:8], "little")
            if chunk[:4] == b"data":
                have = size - pos - 8
                if n != 0xFFFFFFFF and have < n:  # 0xFFFFFFFF: a streaming writer that never knew the size
                    return (f"the file is truncated: its header declares {n} bytes of samples but only {have} "
                            f"follow; copy or export it again")
                return None
            pos += 8 + n + (n & 1)
    return None


def id_with_space(spec: str) -> tuple[str, str] | None:
    """``(first, rest)`` when a wav.scp value is no file but its part after the first space is one.

    That is what an utterance id with a space leaves in the value: the id ends
    at the first space, so the rest of the id comes first.
    """
    first, _, rest = spec.partition(" ")
    rest = rest.strip()
    if not rest or os.path.exists(spec) or not (os.path.isfile(rest) or is_ark_entry(rest)):
        return None
    return first, rest


def id_with_space_message(key: str, spec: str, what: str = "utterance") -> str:
    """The message for a wav.scp value that :func:`id_with_space` recognises (``what``: utterance or recording)."""
    first, rest = id_with_space(spec) or ("", "")
    return (f"{what} '{key}': the audio entry '{spec}' is not a file, but '{rest}' is: the {what} id seems "
            f"to be '{key} {first}', and ids cannot contain spaces; replace them (e.g. with '_') in every file "
            f"of the set")


def _check_samples(data: np.ndarray, fs: int, spec: str) -> None:
    """Refuse NaN and infinite samples (a damaged float recording), naming where the first one is."""
    finite = np.isfinite(data)
    if finite.all():
        return
    n_nan, n_inf = int(np.isnan(data).sum()), int(np.isinf(data).sum())
    kinds = " and ".join(k for k, n in ((f"{n_nan} NaN", n_nan), (f"{n_inf} infinite (Inf)", n_inf)) if n)
    first = int(np.argmin(finite.reshape(finite.shape[0], -1).all(axis=1)))
    raise DataError(f"'{spec}': the audio holds {kinds} sample(s), the first at sample {first} ({first / fs:.3f} s); "
                    f"the recording is damaged: export it again or remove the utterance")


def audio_info(spec: str, allow_pipes: bool = False, refusal: str = PIPES_NOT_HERE) -> tuple[int, int]:
    """``(num_frames, sample_rate)`` of a wav.scp entry, reading only the header of a file.

    Args:
        spec: the entry.
        allow_pipes: run a pipe entry's command (and read all its output); else refuse it.
        refusal: why a pipe entry is refused, for the message.

    Raises:
        DataError: a refused or failing pipe entry, or a WAV file shorter than its header says.
            Anything soundfile or kaldiio raises passes through.
    """
    _check_spec(spec, allow_pipes, refusal)
    if is_pipe_entry(spec):
        data, fs = read_pipe(spec)
        return data.shape[0], fs
    if is_ark_entry(spec):
        data, fs = _load_ark(spec)
        return data.shape[0], fs
    import soundfile as sf

    info = sf.info(spec)
    cut = wav_truncation(spec)
    if cut:
        raise DataError(f"'{spec}': {cut}")
    return info.frames, info.samplerate


def read_audio(spec: str, segment: Segment | None = None, mono: bool = True, allow_pipes: bool = False,
               refusal: str = PIPES_NOT_HERE) -> tuple[np.ndarray, int]:
    """Read a wav.scp entry (file, ark or pipe), optionally one segment of it.

    Args:
        spec: a path soundfile can read, ``file.ark:offset[slice]`` or ``cmd |``.
        segment: read only ``[start, end)`` seconds of the recording.
        mono: average the channels; else return ``(frames, channels)``.
        allow_pipes: run a pipe entry's command (see :func:`read_pipe`); else refuse it.
        refusal: why a pipe entry is refused, for the message.

    Returns:
        ``(samples, sample_rate)``: float32, in [-1, 1] unless a float file holds
        larger values; 1-D when ``mono``.

    Raises:
        DataError: a refused or failing pipe entry, a segment outside the recording, a WAV
            file shorter than its header says, or NaN or infinite samples.
    """
    _check_spec(spec, allow_pipes, refusal)
    if is_pipe_entry(spec):
        return cut_audio(*read_pipe(spec), segment, spec, mono)
    if is_ark_entry(spec):
        data, fs = _load_ark(spec)
        return cut_audio(data.reshape(data.shape[0], -1), fs, segment, spec, mono)
    import soundfile as sf

    cut = wav_truncation(spec)
    if cut:
        raise DataError(f"'{spec}': {cut}")
    start = stop = None
    if segment is not None:
        info = sf.info(spec)
        start, stop = _segment_frames(segment, info.samplerate, info.frames, spec)
    data, fs = sf.read(spec, dtype="float32", always_2d=True, start=start or 0, stop=stop)
    return cut_audio(data, int(fs), None, spec, mono)


def cut_audio(data: np.ndarray, fs: int, segment: Segment | None, spec: str,
              mono: bool = True) -> tuple[np.ndarray, int]:
    """``segment`` of a whole recording ``(frames, channels)``, downmixed when ``mono``.

    Raises:
        DataError: a segment outside the recording, or NaN or infinite samples in what is kept.
    """
    if segment is not None:
        start, stop = _segment_frames(segment, fs, data.shape[0], spec)
        data = data[start:stop]
    _check_samples(data, int(fs), spec)
    if mono:
        data = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    return data, int(fs)


def _segment_frames(seg: Segment, fs: int, frames: int, spec: str) -> tuple[int, int]:
    start, stop = int(round(seg.start * fs)), int(round(seg.end * fs))
    # Kaldi tolerates segment ends slightly past the end of the recording.
    if start >= frames or stop > frames + int(0.1 * fs):
        raise DataError(f"segment {seg.start:.3f}-{seg.end:.3f} s of recording '{seg.recording}' lies "
                        f"outside its audio '{spec}' ({frames / fs:.3f} s)")
    return start, min(stop, frames)


def read_segments(path: PathLike) -> dict[str, Segment]:
    """Read a ``segments`` file (``utt recording start end``).

    Raises:
        DataError: a malformed line, non-numeric or reversed times (file and line named).
    """
    out: dict[str, Segment] = {}
    first: dict[str, int] = {}
    for lineno, utt, value in iter_kaldi_lines(path):
        seg = parse_segment(value)
        if isinstance(seg, str):
            raise DataError(f"{path}:{lineno}: utterance '{utt}': {seg}")
        if utt in out:
            raise DataError(f"{path}:{lineno}: utterance '{utt}' appears twice (first at line {first[utt]})")
        out[utt], first[utt] = seg, lineno
    return out


def parse_segment(value: str) -> Segment | str:
    """Parse ``recording start end``; return a :class:`Segment` or a message saying what is wrong."""
    fields = value.split()
    if len(fields) != 3:
        return f"expected 'recording start end', got {value!r}"
    try:
        start, end = float(fields[1]), float(fields[2])
    except ValueError:
        return f"start/end are not numbers: {value!r}"
    if not 0 <= start < end < float("inf"):
        return f"need 0 <= start < end (finite seconds), got start {start} end {end}"
    return Segment(fields[0], start, end)


class DataDir:
    """A read-only view of ``data/<set>/`` (see the module docstring for the files).

    Example::

        dd = DataDir("data/test_fr")
        utt = dd.utterance(dd.utt_ids[0], dd.tgt_lang)
        wave, fs = dd.load_audio(utt.utt_id, dd.tgt_lang)

    Args:
        path: the directory.
        tgt_lang: the target language; the other language is the source.
        allow_pipes: :meth:`load_audio` runs pipe entries (``cmd |``); else it
            refuses them. Stage 2 sets it; later stages read stage 2's dumps.

    Raises:
        DataError: a missing or malformed file, languages other than exactly
            two including ``tgt_lang``, or utterance ids that differ between files.
    """

    def __init__(self, path: PathLike, tgt_lang: str = "en", allow_pipes: bool = False) -> None:
        self.path = Path(path)
        self.allow_pipes = allow_pipes
        #: per language, the last pipe recording read for a segment: (entry, samples, rate), so that
        #: a recording's segments read one after another run its command once
        self._pipe_cache: dict[str, tuple[str, np.ndarray, int]] = {}
        if not self.path.is_dir():
            raise DataError(f"{self.path}: data directory not found")
        self.src_lang, self.tgt_lang = _source_target(self.path, tgt_lang)
        self.langs = (self.src_lang, self.tgt_lang)
        self._text = {lang: read_kaldi_text(self.path / f"text.{lang}") for lang in self.langs}
        self._wav = {lang: read_kaldi_text(self.path / f"wav.scp.{lang}") for lang in self.langs}
        self.utt2spk = read_kaldi_text(self.path / "utt2spk", one_token="speaker id")
        self._segments = {lang: self._read_segments(lang) for lang in self.langs}
        self.utt_ids = kaldi_sorted(list(self._text[self.src_lang]))
        self._check_ids()

    def _read_segments(self, lang: str) -> dict[str, Segment] | None:
        path = self.segments_file(lang)
        return read_segments(path) if path else None

    def segments_file(self, lang: str) -> Path | None:
        """The segments file that applies to ``lang`` (``segments.<lang>`` or ``segments``), if any."""
        for name in (f"segments.{lang}", "segments"):
            if (self.path / name).is_file():
                return self.path / name
        return None

    def _check_ids(self) -> None:
        ref = set(self.utt_ids)
        keyed: list[tuple[str, set[str]]] = [("utt2spk", set(self.utt2spk))]
        for lang in self.langs:
            keyed.append((f"text.{lang}", set(self._text[lang])))
            segs = self._segments[lang]
            if segs is None:
                keyed.append((f"wav.scp.{lang}", set(self._wav[lang])))
            else:
                keyed.append((self.segments_file(lang).name, set(segs)))
                lost = sorted({s.recording for s in segs.values()} - set(self._wav[lang]))
                if lost:
                    raise DataError(f"{self.path}/wav.scp.{lang}: recording '{lost[0]}' used in "
                                    f"{self.segments_file(lang).name} is missing ({len(lost)} recordings "
                                    f"missing); run `s2s data validate {self.path}`")
        src_text = f"text.{self.src_lang}"
        for name, ids in keyed:
            missing, extra = sorted(ref - ids), sorted(ids - ref)
            if missing:
                raise DataError(f"{self.path}/{name}: utterance '{missing[0]}' of {src_text} is missing "
                                f"({len(missing)} missing); run `s2s data validate {self.path}`")
            if extra:
                raise DataError(f"{self.path}/{name}: utterance '{extra[0]}' is not in {src_text} "
                                f"({len(extra)} extra); run `s2s data validate {self.path}`")

    def __len__(self) -> int:
        return len(self.utt_ids)

    def __repr__(self) -> str:
        return f"DataDir({str(self.path)!r}, {self.src_lang}->{self.tgt_lang}, {len(self)} utterances)"

    def utterance(self, utt_id: str, lang: str) -> Utterance:
        """The record of ``utt_id`` in ``lang``.

        Raises:
            DataError: an unknown utterance or language.
        """
        if lang not in self._text:
            raise DataError(f"{self.path}: no language '{lang}' (languages: {', '.join(self.langs)})")
        if utt_id not in self.utt2spk:
            raise DataError(f"{self.path}: no utterance '{utt_id}'")
        seg = self._segments[lang][utt_id] if self._segments[lang] is not None else None
        audio = self._wav[lang][seg.recording if seg else utt_id]
        return Utterance(utt_id, lang, audio, self._text[lang][utt_id], self.utt2spk[utt_id], seg)

    def recording(self, utt_id: str, lang: str) -> str | None:
        """The recording ``utt_id`` is a segment of in ``lang``; None without segments."""
        segs = self._segments[lang]
        return segs[utt_id].recording if segs is not None and utt_id in segs else None

    def refuse_pipes(self, reason: str = NO_PIPES) -> None:
        """Raise at the first pipe entry of any ``wav.scp.<lang>``, naming its file, line and id.

        Raises:
            DataError: a pipe entry, with ``reason``.
        """
        for lang in self.langs:
            if not any(is_pipe_entry(v) for v in self._wav[lang].values()):
                continue
            kind = "recording" if self._segments[lang] is not None else "utterance"
            path = self.path / f"wav.scp.{lang}"
            for lineno, key, value in iter_kaldi_lines(path):
                if is_pipe_entry(value):
                    raise DataError(f"{path}:{lineno}: {kind} '{key}': the pipe entry '{value}' is not run: "
                                    f"{reason}")

    def utterances(self, lang: str) -> Iterator[Utterance]:
        """Every utterance in ``lang``, in sorted id order."""
        for utt_id in self.utt_ids:
            yield self.utterance(utt_id, lang)

    def load_audio(self, utt_id: str, lang: str, mono: bool = True) -> tuple[np.ndarray, int]:
        """The samples of ``utt_id`` in ``lang`` (its segment, with segments).

        Returns:
            ``(samples, sample_rate)``, float32.

        Raises:
            DataError: unreadable audio, naming the directory, utterance and path.
        """
        utt = self.utterance(utt_id, lang)
        where = f"{self.path}/wav.scp.{lang}: utterance '{utt_id}'"
        if utt.segment is not None:
            where += f" (recording '{utt.segment.recording}')"
        if not is_pipe_entry(utt.audio) and id_with_space(utt.audio):
            key, what = (utt.segment.recording, "recording") if utt.segment else (utt_id, "utterance")
            raise DataError(f"{self.path}/wav.scp.{lang}: {id_with_space_message(key, utt.audio, what)}")
        try:
            if utt.segment is not None and self.allow_pipes and is_pipe_entry(utt.audio):
                cached = self._pipe_cache.get(lang)
                if cached is None or cached[0] != utt.audio:
                    self._pipe_cache.pop(lang, None)  # free the last recording before reading the next
                    cached = self._pipe_cache[lang] = (utt.audio, *read_pipe(utt.audio))
                return cut_audio(cached[1], cached[2], utt.segment, utt.audio, mono)
            return read_audio(utt.audio, utt.segment, mono=mono, allow_pipes=self.allow_pipes)
        except DataError as e:
            raise DataError(f"{where}: {e}") from None
        except Exception as e:  # soundfile/kaldiio raise many kinds; name what failed
            raise DataError(f"{where}: cannot read audio '{utt.audio}': {type(e).__name__}: {e}") from None

    def oracle_ctm_path(self, lang: str) -> Path | None:
        """``oracle.<lang>.ctm`` when present."""
        p = self.path / f"oracle.{lang}.ctm"
        return p if p.is_file() else None

    def oracle_ctm(self, lang: str) -> dict[str, list[WordSpan]] | None:
        """The oracle word timings of ``lang``, or None without an oracle CTM."""
        p = self.oracle_ctm_path(lang)
        return read_ctm(p) if p else None


def _source_target(path: Path, tgt_lang: str) -> tuple[str, str]:
    langs = find_languages(path)
    if len(langs) != 2 or tgt_lang not in langs:
        found = ", ".join(sorted(langs)) or "none"
        raise DataError(f"{path}: expected exactly two languages (a source and the target "
                        f"'{tgt_lang}') from wav.scp.<lang>/text.<lang>, found: {found}")
    for lang, kinds in sorted(langs.items()):
        for kind in ("wav.scp", "text"):
            if kind not in kinds:
                raise DataError(f"{path}/{kind}.{lang}: file not found (the set has "
                                f"{'/'.join(sorted(kinds))}.{lang})")
    src = next(lang for lang in langs if lang != tgt_lang)
    return src, tgt_lang
