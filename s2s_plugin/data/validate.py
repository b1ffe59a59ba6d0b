"""Check a data (or dump) directory and report every problem at once.

    s2s data validate data/train_fr --tgt_lang en          # exit 0 and a one-line summary,
    s2s data validate dump/train_fr --no_audio             # or every problem and exit 2

    from s2s_plugin.data.validate import validate_datadir
    report = validate_datadir("data/train_fr", tgt_lang="en")
    report.ok, report.problems, report.summary()

What is checked (each problem names the file, line and utterance):

- exactly two languages (from ``wav.scp.<lang>``/``text.<lang>``), one of them
  the target, each with both files; ``utt2spk`` present;
- every Kaldi file: UTF-8 without a byte-order mark, no empty or malformed
  lines, one space (not a tab) after the id, unique ids, ids sorted in Kaldi
  order (C locale byte order: ``LC_ALL=C sort``); no spaces in ids (a speaker
  id or audio path that looks like the rest of an id with a space says so);
- the utterance list (the ids of ``text.<source>``) is present in every
  utterance-keyed file, with nothing extra: the target text (source/target ids
  match), ``utt2spk``, ``wav.scp.<lang>`` or the segments, and ``utt2dur.<lang>``
  / ``utt2num_samples.<lang>`` where present;
- non-empty text and speaker ids; well-formed segments whose recordings exist;
- readable audio (the header of each file through soundfile, the kaldiio ark
  entry, or the whole output of a Kaldi pipe entry ``cmd |``, whose command is
  run: a failing one is reported with its command and stderr) with at least one
  sample, WAV files as long as their headers say, segments inside their
  recordings, and ``utt2num_samples``/``utt2dur`` agreeing with the audio
  (skipped with ``--no_audio``);
- with ``--no_pipes``, no pipe entry (each is reported, and none is run);
- the words of ``oracle.<lang>.ctm`` equal the words of ``text.<lang>``,
  compared case-insensitively with punctuation stripped from word edges (so
  ``"Non,"`` in the text matches ``non`` in the CTM), and no word ends after
  the audio does.
"""
from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from s2s_plugin.data.datadir import (
    NO_PIPES,
    Segment,
    audio_info,
    find_languages,
    id_with_space,
    id_with_space_message,
    is_pipe_entry,
    parse_segment,
)
from s2s_plugin.data.io import BOM, PathLike, bom_message, space_in_id_message, tab_message
from s2s_plugin.errors import DataError

#: Seconds a segment or a CTM word may reach past the end of its audio.
END_TOLERANCE = 0.1


class _Problems:
    """Collects messages up to ``limit``, counting all of them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.items: list[str] = []
        self.total = 0
        self._seen: set[str] = set()

    def add(self, msg: str) -> None:
        if msg in self._seen:  # e.g. a ``segments`` file read for each language
            return
        self._seen.add(msg)
        self.total += 1
        if len(self.items) < self.limit:
            self.items.append(msg)


@dataclass
class _KaldiFile:
    path: Path
    entries: dict[str, tuple[int, str]] = field(default_factory=dict)  # id -> (line, value), first seen

    @property
    def name(self) -> str:
        return self.path.name

    def line(self, key: str) -> int:
        return self.entries[key][0]


@dataclass
class ValidationReport:
    """The outcome of :func:`validate_datadir`.

    Attributes:
        path: the directory checked.
        problems: the first ``max_problems`` messages.
        num_problems: how many problems there were in all.
        num_utts: utterances in the source text.
        langs: ``(source, target)`` when they could be determined.
        seconds: audio duration per language (None when audio was not measured).
    """

    path: Path
    problems: list[str]
    num_problems: int
    num_utts: int
    langs: tuple[str, str] | None
    seconds: dict[str, float] | None

    @property
    def ok(self) -> bool:
        return self.num_problems == 0

    def summary(self) -> str:
        """One line: utterances, languages and hours of audio."""
        from humanfriendly import format_timespan

        langs = "->".join(self.langs) if self.langs else "?"
        if self.seconds is None:
            audio = "audio not checked"
        else:
            total = sum(self.seconds.values())
            per_lang = ", ".join(f"{lang} {format_timespan(s)}" for lang, s in self.seconds.items())
            audio = f"{total / 3600:.3f} hours of audio ({per_lang})"
        return f"{self.path}: OK: {self.num_utts} utterances, {langs}, {audio}"

    def error_message(self) -> str:
        """All collected problems, one per line, and how many were left out."""
        lines = [f"{self.path}: {self.num_problems} problem(s) found:"]
        lines += [f"  {p}" for p in self.problems]
        if self.num_problems > len(self.problems):
            lines.append(f"  ... and {self.num_problems - len(self.problems)} more "
                         f"(raise --max_problems to see them)")
        return "\n".join(lines)

    def raise_if_failed(self) -> None:
        """Raise :class:`DataError` carrying :meth:`error_message` when there are problems."""
        if not self.ok:
            raise DataError(self.error_message())


def validate_datadir(path: PathLike, tgt_lang: str = "en", check_audio: bool = True,
                     max_problems: int = 50, allow_pipes: bool = True) -> ValidationReport:
    """Check the data directory ``path``; see the module docstring for what is checked.

    Args:
        path: the directory (``data/<set>`` or ``dump/<set>``).
        tgt_lang: the target language; the other one is the source.
        check_audio: open every audio file's header (and measure durations); this
            runs the command of each pipe entry.
        max_problems: keep at most this many messages (all are counted).
        allow_pipes: False (``--no_pipes``) reports every pipe entry as a problem
            and runs none.

    Returns:
        A :class:`ValidationReport`; it does not raise for problems in the data.

    Raises:
        DataError: ``path`` is not a directory.
    """
    return _Validator(Path(path), tgt_lang, check_audio, max_problems, allow_pipes).run()


class _Validator:
    def __init__(self, path: Path, tgt_lang: str, check_audio: bool, max_problems: int,
                 allow_pipes: bool = True) -> None:
        if not path.is_dir():
            raise DataError(f"{path}: data directory not found")
        self.path = path
        self.tgt_lang = tgt_lang
        self.check_audio = check_audio
        self.allow_pipes = allow_pipes
        self.p = _Problems(max_problems)

    def run(self) -> ValidationReport:
        langs = self._languages()
        utt2spk = self._scan("utt2spk", empty_what="speaker")
        if utt2spk:
            for key, (lineno, value) in utt2spk.entries.items():
                if len(value.split()) > 1:
                    self.p.add(f"{utt2spk.path}:{lineno}: {space_in_id_message(key, value, 'speaker id')}")
        if langs is None:
            return ValidationReport(self.path, self.p.items, self.p.total, 0, None, None)
        src, tgt = langs
        texts = {lang: self._scan(f"text.{lang}", empty_what="text") for lang in langs}
        ref = texts[src]
        if ref is None:
            return ValidationReport(self.path, self.p.items, self.p.total, 0, langs, None)
        if texts[tgt] is not None:
            self._coverage(texts[tgt], ref, prefix="source/target ids differ: ")
        if utt2spk is not None:
            self._coverage(utt2spk, ref)
        seconds: dict[str, float] | None = {} if self.check_audio else None
        for lang in langs:
            durations = self._lang_audio(lang, ref)
            if seconds is not None:
                seconds[lang] = sum(durations.values())
            if texts[lang] is not None:
                self._ctm(lang, texts[lang], durations if self.check_audio else None)
        return ValidationReport(self.path, self.p.items, self.p.total, len(ref.entries), langs, seconds)

    # -- languages -------------------------------------------------------------------------------
    def _languages(self) -> tuple[str, str] | None:
        for f in sorted(self.path.iterdir()):
            if f.name in ("wav.scp", "text"):
                self.p.add(f"{f}: a file without a language suffix; name it {f.name}.<lang>")
        found = find_languages(self.path)
        if len(found) != 2 or self.tgt_lang not in found:
            self.p.add(f"{self.path}: expected exactly two languages (a source and the target "
                       f"'{self.tgt_lang}') from wav.scp.<lang>/text.<lang>, found: "
                       f"{', '.join(sorted(found)) or 'none'}")
            return None
        ok = True
        for lang, kinds in sorted(found.items()):
            for kind in ("wav.scp", "text"):
                if kind not in kinds:
                    self.p.add(f"{self.path / f'{kind}.{lang}'}: file not found (the set has "
                               f"{'/'.join(sorted(kinds))}.{lang})")
                    ok = False
        src = next(lang for lang in found if lang != self.tgt_lang)
        return (src, self.tgt_lang) if ok else None

    # -- Kaldi files -----------------------------------------------------------------------------
    def _lines(self, path: Path) -> Iterator[tuple[int, str]]:
        """``(line_number, line)`` of a UTF-8 file.

        A line that is not UTF-8 is reported, then read with replacement characters,
        and a byte-order mark is reported and removed, so that the ids are read as
        meant and no follow-on problems are reported.
        """
        with open(path, "rb") as f:
            for lineno, raw in enumerate(f, 1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    self.p.add(f"{path}:{lineno}: not valid UTF-8 ({e.reason} at byte {e.start}); "
                               f"Kaldi files must be UTF-8: convert it, e.g. iconv -f latin1 -t utf-8")
                    line = raw.decode("utf-8", errors="replace")
                if lineno == 1 and line.startswith(BOM):
                    self.p.add(bom_message(path))
                    line = line[len(BOM):]
                yield lineno, line

    def _scan(self, name: str, empty_what: str = "value", required: bool = True) -> _KaldiFile | None:
        """Parse ``name`` leniently, reporting malformed lines, duplicates and the sort order."""
        path = self.path / name
        if not path.is_file():
            if required:
                self.p.add(f"{path}: file not found")
            return None
        kf = _KaldiFile(path)
        prev: tuple[str, int] | None = None
        first_unsorted: str | None = None
        n_unsorted = 0
        first_tab: str | None = None
        n_tab = 0
        for lineno, line in self._lines(path):
            line = line.rstrip("\n")
            if not line.strip():
                self.p.add(f"{path}:{lineno}: empty line; remove it")
                continue
            if line[0].isspace():
                self.p.add(f"{path}:{lineno}: line starts with whitespace; expected 'utt_id {empty_what}'")
                continue
            key, _, value = line.partition(" ")
            if "\t" in key:  # reported once per file; the line is read as meant, so no follow-on errors
                n_tab += 1
                first_tab = first_tab or tab_message(path, lineno)
                key, _, value = line.partition("\t")
            value = value.strip()
            if not value:
                self.p.add(f"{path}:{lineno}: utterance '{key}' has an empty {empty_what}")
            if key in kf.entries:
                self.p.add(f"{path}:{lineno}: utterance '{key}' appears twice "
                           f"(first at line {kf.line(key)})")
                continue
            # Python orders str by code point, which is the UTF-8 byte order of `LC_ALL=C sort`.
            if prev is not None and key < prev[0]:
                n_unsorted += 1
                if first_unsorted is None:
                    first_unsorted = (f"{path}:{lineno}: utterance '{key}' is out of order (after "
                                      f"'{prev[0]}' at line {prev[1]})")
            kf.entries[key] = (lineno, value)
            prev = (key, lineno)
        if first_tab:
            self.p.add(f"{first_tab} ({n_tab} line(s) in this file)")
        if first_unsorted:
            self.p.add(f"{first_unsorted}; {n_unsorted} line(s) out of order in this file: "
                       f"sort it with `LC_ALL=C sort -k1,1 -u`")
        return kf

    def _coverage(self, kf: _KaldiFile, ref: _KaldiFile, prefix: str = "") -> None:
        """Report the first utterance of ``ref`` missing from ``kf``, and the first extra one."""
        missing = [k for k in ref.entries if k not in kf.entries]
        extra = [k for k in kf.entries if k not in ref.entries]
        if missing:
            k = missing[0]
            self.p.add(f"{prefix}{kf.path}: utterance '{k}' ({ref.name} line {ref.line(k)}) is missing; "
                       f"{len(missing)} utterance(s) of {ref.name} missing from {kf.name}")
        if extra:
            k = extra[0]
            self.p.add(f"{prefix}{kf.path}:{kf.line(k)}: utterance '{k}' is not in {ref.name}; "
                       f"{len(extra)} extra utterance(s) in {kf.name}")

    # -- audio -----------------------------------------------------------------------------------
    def _lang_audio(self, lang: str, ref: _KaldiFile) -> dict[str, float]:
        """Check wav.scp/segments of ``lang``; return utterance durations (empty without audio)."""
        wav = self._scan(f"wav.scp.{lang}", empty_what="audio path")
        seg_name = next((n for n in (f"segments.{lang}", "segments") if (self.path / n).is_file()), None)
        segs = self._segments(seg_name, wav) if seg_name else None
        if segs is None and wav is not None:
            self._coverage(wav, ref)
        elif segs is not None:
            self._coverage(segs[0], ref)
        for extra in (f"utt2dur.{lang}", f"utt2num_samples.{lang}"):
            kf = self._scan(extra, required=False)
            if kf is not None:
                self._coverage(kf, ref)
        what = "recording" if segs else "utterance"
        if wav is not None and not self.allow_pipes:
            for key, (lineno, spec) in wav.entries.items():
                if is_pipe_entry(spec):
                    self.p.add(f"{wav.path}:{lineno}: {what} '{key}': the pipe entry '{spec}' is not run: "
                               f"{NO_PIPES}")
        if not self.check_audio or wav is None:
            return {}
        info: dict[str, tuple[int, int]] = {}  # wav.scp key -> (frames, rate)
        for key, (lineno, spec) in wav.entries.items():
            if not spec or (is_pipe_entry(spec) and not self.allow_pipes):
                continue
            if not is_pipe_entry(spec) and id_with_space(spec):
                self.p.add(f"{wav.path}:{lineno}: {id_with_space_message(key, spec, what)}")
                continue
            try:
                info[key] = audio_info(spec, allow_pipes=self.allow_pipes)
            except DataError as e:  # names the entry (a pipe's command and stderr) and says what is wrong
                self.p.add(f"{wav.path}:{lineno}: {what} '{key}': {e}")
                continue
            except Exception as e:  # soundfile/kaldiio raise many kinds; report each
                msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                self.p.add(f"{wav.path}:{lineno}: {what} '{key}': cannot read audio '{spec}': {msg}")
                continue
            if info[key][0] == 0:
                self.p.add(f"{wav.path}:{lineno}: {what} '{key}': the audio '{spec}' has no samples (0 frames); "
                           f"record or export it again, or remove the {what}")
        if segs is None:
            durations = {k: frames / rate for k, (frames, rate) in info.items() if k in ref.entries}
            self._check_lengths(lang, info, ref)
            return durations
        seg_file, seg_map = segs
        durations = {}
        for utt, seg in seg_map.items():
            if seg.recording not in info or utt not in ref.entries:
                continue
            frames, rate = info[seg.recording]
            if seg.end > frames / rate + END_TOLERANCE:
                self.p.add(f"{seg_file.path}:{seg_file.line(utt)}: utterance '{utt}': segment ends at "
                           f"{seg.end:.3f} s, after the end of recording '{seg.recording}' "
                           f"({frames / rate:.3f} s)")
            durations[utt] = min(seg.end, frames / rate) - seg.start
        return durations

    def _segments(self, name: str, wav: _KaldiFile | None) -> tuple[_KaldiFile, dict[str, Segment]] | None:
        kf = self._scan(name, empty_what="segment")
        if kf is None:
            return None
        out: dict[str, Segment] = {}
        for utt, (lineno, value) in kf.entries.items():
            seg = parse_segment(value)
            if isinstance(seg, str):
                self.p.add(f"{kf.path}:{lineno}: utterance '{utt}': {seg}")
                continue
            if wav is not None and seg.recording not in wav.entries:
                self.p.add(f"{kf.path}:{lineno}: utterance '{utt}': recording '{seg.recording}' "
                           f"is not in {wav.name}")
            out[utt] = seg
        return kf, out

    def _check_lengths(self, lang: str, info: dict[str, tuple[int, int]], ref: _KaldiFile) -> None:
        """utt2num_samples/utt2dur (of a dump dir) must agree with the audio files."""
        for name, expected, tol in ((f"utt2num_samples.{lang}", lambda fr, r: fr, 0),
                                    (f"utt2dur.{lang}", lambda fr, r: fr / r, 0.01)):
            path = self.path / name
            if not path.is_file():
                continue
            for lineno, line in self._lines(path):
                fields = line.split()
                if len(fields) != 2 or fields[0] not in info:
                    continue  # malformed lines and coverage are reported by _scan/_coverage
                try:
                    value = float(fields[1])
                except ValueError:
                    self.p.add(f"{path}:{lineno}: utterance '{fields[0]}': not a number: {fields[1]!r}")
                    continue
                want = expected(*info[fields[0]])
                if abs(value - want) > tol:
                    self.p.add(f"{path}:{lineno}: utterance '{fields[0]}': {fields[1]} does not "
                               f"match the audio ({want:g})")

    # -- oracle CTM ------------------------------------------------------------------------------
    def _ctm(self, lang: str, text: _KaldiFile, durations: dict[str, float] | None) -> None:
        path = self.path / f"oracle.{lang}.ctm"
        if not path.is_file():
            return
        words: dict[str, list[tuple[str, int]]] = {}  # utt -> [(word, line)]
        last_end: dict[str, tuple[float, int, str]] = {}
        for lineno, line in self._lines(path):
            fields = line.split()
            if not fields:
                continue
            if len(fields) not in (5, 6):
                self.p.add(f"{path}:{lineno}: expected 'utt channel start duration word "
                           f"[confidence]', got {line.strip()!r}")
                continue
            utt = fields[0]
            try:
                start, dur = float(fields[2]), float(fields[3])
            except ValueError:
                self.p.add(f"{path}:{lineno}: utterance '{utt}': start/duration are not numbers")
                continue
            if start < 0 or dur < 0:
                self.p.add(f"{path}:{lineno}: utterance '{utt}': negative start or duration")
            words.setdefault(utt, []).append((fields[4], lineno))
            if utt not in last_end or start + dur > last_end[utt][0]:
                last_end[utt] = (start + dur, lineno, fields[4])
        for utt in words:
            if utt not in text.entries:
                self.p.add(f"{path}:{words[utt][0][1]}: utterance '{utt}' is not in {text.name}")
        for utt, (lineno, value) in text.entries.items():
            self._compare_words(path, utt, words.get(utt, []), value.split(), f"{text.name}:{lineno}")
            if durations and utt in durations and utt in last_end:
                end, ln, word = last_end[utt]
                if end > durations[utt] + END_TOLERANCE:
                    self.p.add(f"{path}:{ln}: utterance '{utt}': word '{word}' ends at {end:.3f} s, after "
                               f"the end of the audio ({durations[utt]:.3f} s)")

    def _compare_words(self, path: Path, utt: str, ctm: list[tuple[str, int]], text_words: list[str],
                       text_where: str) -> None:
        """Report the first differing word, at the CTM line where it occurs."""
        kept = [(w, ln) for w, ln in ctm if normalize_words([w])]
        a, b = normalize_words(w for w, _ in kept), normalize_words(text_words)
        if a == b:
            return
        if not a:
            self.p.add(f"{path}: utterance '{utt}' has no words in the CTM but {len(b)} in {text_where}")
            return
        i = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        line = kept[min(i, len(kept) - 1)][1]
        ctm_w = repr(a[i]) if i < len(a) else "<end>"
        txt_w = repr(b[i]) if i < len(b) else "<end>"
        self.p.add(f"{path}:{line}: utterance '{utt}': CTM words differ from {text_where} at word {i + 1}: "
                   f"CTM {ctm_w}, text {txt_w} ({len(a)} CTM words, {len(b)} text words)")


def normalize_words(words: Iterable[str]) -> list[str]:
    """Casefold and strip punctuation from word edges; drop words that were only punctuation."""
    out = []
    for w in words:
        i, j = 0, len(w)
        while i < j and unicodedata.category(w[i]).startswith("P"):
            i += 1
        while j > i and unicodedata.category(w[j - 1]).startswith("P"):
            j -= 1
        if i < j:
            out.append(w[i:j].casefold())
    return out


