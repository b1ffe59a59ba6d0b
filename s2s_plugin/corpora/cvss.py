"""CVSS-C/T X->En with Common Voice 4 source speech, into Kaldi-style data dirs.

    s2s corpus-cvss --cv4 /data/cv4 --cvss /data/cvss --src_lang fr --version c \\
        --out data --test_subset 1000 --seed 1 --max_missing 0.02 --nj 4

    from s2s_plugin.corpora.cvss import CvssOptions, prepare_cvss
    prepare_cvss(CvssOptions(cv4="/data/cv4", cvss="/data/cvss", src_langs=("fr",)))

Inputs (nothing is downloaded; egs/cvss/s2st1/db.sh says what to get from where):

- Common Voice release 4 (``cv-corpus-4-2019-12-10``), one dir per language:
  ``<cv4>/<lang>/validated.tsv`` (tab-separated, header ``client_id path sentence
  up_votes down_votes age gender accent``) and ``<cv4>/<lang>/clips/<clip>.mp3``.
  Chinese and Swedish use Common Voice's codes ``zh-CN`` and ``sv-SE``; either
  spelling of the dir is accepted, and so is an archive unpacked with its own
  ``cv-corpus-4-2019-12-10/<lang>/`` prefix (under ``<cv4>`` or ``<cv4>/<lang>``).
- CVSS-C or CVSS-T, one dir per pair: ``<cvss>/cvss_<c|t>/<lang>_en/`` holding
  ``{train,dev,test}.tsv`` (``<clip>.mp3<TAB>translation`` per line, no
  header) and the target speech ``<split>/<clip>.mp3.wav``. A release tarball
  unpacked into that dir with its own top-level ``<lang>_en/`` (giving
  ``<lang>_en/<lang>_en/``) is accepted too.

Outputs, per source language ``<src>`` and split: ``<out>/<split>_<src>/`` with
``wav.scp.<src>`` (the mp3 path), ``wav.scp.en`` (the CVSS wav path),
``text.<src>``, ``text.en`` and ``utt2spk``, sorted by utterance id
``<client_id>-<clip stem>`` (characters outside ``[A-Za-z0-9_.-]`` become
``_``); the speaker is the Common Voice client_id. Each dir is written under a
temporary name and renamed, so a data dir is never half written.

Text: ``text.<src>`` is Common Voice's sentence as given (case and punctuation
kept), in Unicode NFC with runs of whitespace collapsed to one space;
``text.en`` is CVSS's translation (already normalised by CVSS: lower case, no
punctuation, numbers spelled out), whitespace collapsed the same way. The
ASR-BLEU scorer normalises hypotheses and references itself.

Broken entries of a CVSS tsv are never dropped silently. Each is one line of
``<report_dir>/prep_report_<src>.txt`` (``split clip reasons detail``) with
reasons from :data:`REASONS`; the log counts them. If the broken share of any
split exceeds ``max_missing``, nothing is written but the report and
:class:`~s2s_plugin.errors.DataError` names it.

``test_subset`` N > 0 keeps N test utterances drawn at random with ``seed``
(the paper: 1,000 per language); the draw depends only on the sorted ids of the
usable test utterances, N and the seed (:func:`select_subset`).
"""
from __future__ import annotations

import csv
import difflib
import logging
import os
import random
import re
import shutil
import sys
import tempfile
import time
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from s2s_plugin.data.io import PathLike, atomic_write, write_kaldi_text
from s2s_plugin.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

#: The 21 CVSS source languages (all X->En).
LANGS = ("ar", "ca", "cy", "de", "et", "es", "fa", "fr", "id", "it", "ja", "lv", "mn", "nl", "pt", "ru",
         "sl", "sv", "ta", "tr", "zh")
#: Common Voice's dir names where they differ from the CVSS code.
CV_CODES = {"zh": "zh-CN", "sv": "sv-SE"}
SPLITS = ("train", "dev", "test")
TGT_LANG = "en"
CV_RELEASE = "cv-corpus-4-2019-12-10"
CV_COLUMNS = ("client_id", "path", "sentence")  # the columns used, found by the header

#: Why an entry of a CVSS tsv is broken, in the order they are checked.
REASONS = {
    "duplicate": "the clip is listed more than once in the CVSS tsv (or two clips map to one id)",
    "not_in_validated": "the clip is not in Common Voice's validated.tsv (no transcript or speaker)",
    "missing_source_clip": "the source mp3 is not in clips/",
    "missing_target_audio": "the CVSS target wav is missing",
    "empty_source_text": "Common Voice's sentence is empty",
    "empty_translation": "the CVSS translation is empty",
    "unreadable_source_audio": "soundfile cannot read the source mp3 (or it has no samples)",
    "unreadable_target_audio": "soundfile cannot read the target wav (or it has no samples)",
}
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class CvssOptions:
    """What :func:`prepare_cvss` prepares.

    Example::

        CvssOptions(cv4="/data/cv4", cvss="/data/cvss", src_langs=("fr", "de"), version="c",
                    test_subset=1000, seed=1, max_missing=0.02, nj=8)

    Attributes:
        cv4: the dir holding one Common Voice 4 dir per language.
        cvss: the dir holding ``cvss_c/`` and/or ``cvss_t/``.
        src_langs: CVSS source languages (:data:`LANGS`).
        out: where the ``<split>_<src>`` data dirs go.
        version: ``c`` (CVSS-C, one canonical voice) or ``t`` (CVSS-T, voice transferred).
        splits: CVSS splits to prepare.
        test_subset: keep this many random test utterances; 0 keeps all.
        seed: the seed of the test subset.
        max_missing: the largest share (0..1) of broken entries a split may have.
        nj: processes that read the audio headers.
        report_dir: where ``prep_report_<src>.txt`` goes (default ``<out>/local``).
    """

    cv4: PathLike
    cvss: PathLike
    src_langs: Sequence[str]
    out: PathLike = "data"
    version: str = "c"
    splits: Sequence[str] = SPLITS
    test_subset: int = 0
    seed: int = 1
    max_missing: float = 0.02
    nj: int = 1
    report_dir: PathLike | None = None

    def __post_init__(self) -> None:
        if not self.src_langs:
            raise ConfigError("no source language given; pick from " + " ".join(LANGS))
        for lang in self.src_langs:
            if lang not in LANGS:
                close = difflib.get_close_matches(lang, LANGS, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise ConfigError(f"unknown CVSS source language '{lang}'{hint}; CVSS has: {' '.join(LANGS)}")
        if self.version not in ("c", "t"):
            raise ConfigError(f"version must be 'c' (CVSS-C) or 't' (CVSS-T), got {self.version!r}")
        bad = [s for s in self.splits if s not in SPLITS]
        if bad or not self.splits:
            raise ConfigError(f"splits must be among {' '.join(SPLITS)}, got {' '.join(self.splits) or 'none'}")
        if not 0.0 <= self.max_missing <= 1.0:
            raise ConfigError(f"max_missing is a share between 0 and 1, got {self.max_missing}")
        if self.test_subset < 0:
            raise ConfigError(f"test_subset must be >= 0 (0 keeps the whole test set), got {self.test_subset}")
        if self.nj < 1:
            raise ConfigError(f"nj must be >= 1, got {self.nj}")

    @property
    def report_path_dir(self) -> Path:
        return Path(self.report_dir) if self.report_dir is not None else Path(self.out) / "local"


@dataclass(frozen=True)
class CvClip:
    """One row of Common Voice's validated.tsv."""

    client_id: str
    sentence: str
    line: int


@dataclass
class Entry:
    """One line of a CVSS tsv with what was found for it."""

    split: str
    clip: str              # the clip stem, e.g. common_voice_fr_17299399
    line: int
    translation: str
    src_audio: Path
    tgt_audio: Path
    utt_id: str = ""
    speaker: str = ""
    src_text: str = ""
    reasons: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def fail(self, reason: str, detail: str) -> None:
        self.reasons.append(reason)
        self.details.append(detail)


@dataclass(frozen=True)
class Broken:
    """One line of a prep report."""

    split: str
    clip: str
    reasons: tuple[str, ...]
    detail: str


@dataclass
class SplitResult:
    """A split after checking: usable entries (sorted by id) and broken ones."""

    split: str
    tsv: Path
    num_entries: int
    kept: list[Entry]
    broken: list[Entry]
    subset_of: int | None = None  # the usable test utterances a subset was drawn from

    @property
    def share(self) -> float:
        return len(self.broken) / self.num_entries if self.num_entries else 0.0


def normalize_text(text: str) -> str:
    """Unicode NFC, whitespace runs collapsed to one space, stripped (case and punctuation kept)."""
    return _SPACE.sub(" ", unicodedata.normalize("NFC", text)).strip()


def make_utt_id(client_id: str, clip: str) -> str:
    """``<client_id>-<clip stem>`` with characters outside ``[A-Za-z0-9_.-]`` replaced by ``_``."""
    return f"{_UNSAFE.sub('_', client_id)}-{_UNSAFE.sub('_', clip)}"


def clip_stem(name: str) -> str:
    """``common_voice_fr_1.mp3`` -> ``common_voice_fr_1`` (a name without ``.mp3`` is kept)."""
    name = name.strip()
    return name[:-4] if name.endswith(".mp3") else name


def select_subset(ids: Iterable[str], n: int, seed: int) -> list[str]:
    """``n`` ids drawn at random with ``seed``, sorted; all ids when ``n`` is 0 or covers them.

    The draw depends only on the set of ids, ``n`` and ``seed``, not on their order.
    """
    pool = sorted(set(ids))
    if n <= 0 or n >= len(pool):
        return pool
    return sorted(random.Random(seed).sample(pool, n))


# -- locating the corpora ----------------------------------------------------------------------------
def cv_lang_dir(cv4: PathLike, lang: str) -> Path:
    """The Common Voice 4 dir of ``lang`` (the one holding validated.tsv and clips/).

    Raises:
        DataError: none found, naming the places looked at and what to put there.
    """
    cv4 = Path(cv4)
    if not cv4.is_dir():
        raise DataError(f"Common Voice 4 dir {cv4} not found; set CV4 in db.sh to the dir holding one "
                        f"Common Voice 4 ({CV_RELEASE}) dir per language")
    codes = [lang] + ([CV_CODES[lang]] if lang in CV_CODES else [])
    candidates = [d for c in codes for d in (cv4 / c, cv4 / c / CV_RELEASE / c, cv4 / CV_RELEASE / c)]
    for d in candidates:
        if (d / "validated.tsv").is_file():
            return d
    looked = ", ".join(str(d / "validated.tsv") for d in candidates)
    raise DataError(f"no Common Voice 4 data for '{lang}': none of {looked} exists. Download {CV_RELEASE} "
                    f"'{codes[-1]}' from https://commonvoice.mozilla.org/datasets and unpack it into "
                    f"{cv4 / codes[-1]} (so that {cv4 / codes[-1] / 'validated.tsv'} and {cv4 / codes[-1] / 'clips'}/ "
                    f"exist)")


def cvss_pair_dir(cvss: PathLike, version: str, lang: str) -> Path:
    """The CVSS-C/T dir of ``<lang>_en`` (the one holding ``train.tsv`` and ``train/``).

    Raises:
        DataError: none found, naming the places looked at and what to put there.
    """
    cvss = Path(cvss)
    if not cvss.is_dir():
        raise DataError(f"CVSS dir {cvss} not found; set CVSS in db.sh to the dir holding cvss_c/ and/or cvss_t/")
    pair = cvss / f"cvss_{version}" / f"{lang}_{TGT_LANG}"
    candidates = [pair, pair / pair.name]
    for d in candidates:
        if any((d / f"{s}.tsv").is_file() for s in SPLITS):
            return d
    tarball = f"cvss_{version}_{lang}_{TGT_LANG}_v1.0.tar.gz"
    raise DataError(f"no CVSS-{version.upper()} data for {lang}->{TGT_LANG}: no train/dev/test.tsv in "
                    f"{' or '.join(map(str, candidates))}. Download {tarball} from "
                    f"https://github.com/google-research-datasets/cvss and unpack it with "
                    f"`mkdir -p {pair} && tar -xzf {tarball} -C {pair}`")


# -- reading the tsvs --------------------------------------------------------------------------------
def read_validated(path: PathLike) -> dict[str, CvClip]:
    """Common Voice's validated.tsv: ``{clip stem: CvClip}`` (the first row of a repeated clip wins).

    Read with the csv module, tab-separated and ``QUOTE_NONE``: sentences hold quotes.

    Raises:
        DataError: a header without client_id/path/sentence or a short row (file and line named).
    """
    path = Path(path)
    out: dict[str, CvClip] = {}
    repeated = 0
    with open(path, encoding="utf-8", newline="") as f:
        rows = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(rows, None)
        if header is None or any(c not in header for c in CV_COLUMNS):
            raise DataError(f"{path}:1: expected a Common Voice header with columns {', '.join(CV_COLUMNS)} "
                            f"(client_id path sentence up_votes down_votes age gender accent), got {header}")
        col = {c: header.index(c) for c in CV_COLUMNS}
        need = max(col.values()) + 1
        for row in rows:
            if not row or row == [""]:
                continue
            if len(row) < need:
                raise DataError(f"{path}:{rows.line_num}: expected at least {need} tab-separated fields "
                                f"({', '.join(CV_COLUMNS)}), got {len(row)}: {chr(9).join(row)!r}")
            stem = clip_stem(row[col["path"]])
            if stem in out:
                repeated += 1
                continue
            out[stem] = CvClip(row[col["client_id"]].strip(), row[col["sentence"]], rows.line_num)
    if repeated:
        logger.warning("%s: %d clip(s) listed more than once; the first row of each is used", path, repeated)
    return out


def read_cvss_tsv(path: PathLike) -> list[tuple[int, str, str]]:
    """A CVSS split tsv: ``(line, clip name, translation)`` per non-blank line (no header)."""
    out = []
    with open(path, encoding="utf-8", newline="") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            name, _, translation = line.partition("\t")
            out.append((lineno, name.strip(), translation))
    return out


# -- checking ----------------------------------------------------------------------------------------
def probe_audio(path: str) -> tuple[float | None, str]:
    """``(seconds, "")`` for a readable audio file, ``(None, why)`` otherwise (header only)."""
    import soundfile as sf

    try:
        info = sf.info(path)
    except Exception as e:  # soundfile raises several kinds; the message says what failed
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        msg = msg.split("': ", 1)[1] if msg.startswith("Error opening '") and "': " in msg else msg
        return None, f"soundfile cannot read {path} (corrupt or not audio): {msg}"
    if info.frames <= 0 or info.samplerate <= 0:
        return None, f"{path} has no samples"
    return info.frames / info.samplerate, ""


def _probe_all(paths: list[str], nj: int, desc: str) -> list[tuple[float | None, str]]:
    from tqdm import tqdm

    interval = 1.0 if sys.stderr.isatty() else 30.0
    if nj == 1 or len(paths) < 2:
        return [probe_audio(p) for p in tqdm(paths, desc=desc, unit="file", mininterval=interval)]
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=nj) as pool:
        it = pool.map(probe_audio, paths, chunksize=max(1, min(256, len(paths) // (4 * nj))))
        return list(tqdm(it, total=len(paths), desc=desc, unit="file", mininterval=interval))


def check_split(split: str, cv_dir: Path, pair_dir: Path, validated: dict[str, CvClip], src: str,
                nj: int = 1) -> SplitResult:
    """Read ``<pair_dir>/<split>.tsv`` and check every entry (texts, files, audio headers)."""
    tsv = pair_dir / f"{split}.tsv"
    if not tsv.is_file():
        raise DataError(f"{tsv}: CVSS split file not found (the pair dir {pair_dir} should hold "
                        f"{', '.join(s + '.tsv' for s in SPLITS)} and the dirs {', '.join(SPLITS)})")
    entries = _entries(split, tsv, cv_dir, pair_dir, validated)
    if not entries:
        raise DataError(f"{tsv}: no entries (expected '<clip>.mp3<TAB>translation' lines)")
    _check_audio(entries, src, nj)
    kept = sorted((e for e in entries if not e.reasons), key=lambda e: e.utt_id)
    broken = [e for e in entries if e.reasons]
    return SplitResult(split, tsv, len(entries), kept, broken)


def _entries(split: str, tsv: Path, cv_dir: Path, pair_dir: Path, validated: dict[str, CvClip]) -> list[Entry]:
    entries: list[Entry] = []
    seen_clip: dict[str, int] = {}
    seen_id: dict[str, str] = {}
    for lineno, name, translation in read_cvss_tsv(tsv):
        stem = clip_stem(name)
        e = Entry(split, stem, lineno, normalize_text(translation), cv_dir / "clips" / f"{stem}.mp3",
                  pair_dir / split / f"{stem}.mp3.wav")
        entries.append(e)
        if stem in seen_clip:
            e.fail("duplicate", f"{tsv}:{lineno} repeats the clip of line {seen_clip[stem]}")
            continue
        seen_clip[stem] = lineno
        cv = validated.get(stem)
        if cv is None:
            e.fail("not_in_validated", f"{stem} is not in {cv_dir / 'validated.tsv'}")
        else:
            e.speaker = _UNSAFE.sub("_", cv.client_id) or "unknown"
            e.utt_id = make_utt_id(e.speaker, stem)
            e.src_text = normalize_text(cv.sentence)
            if e.utt_id in seen_id:
                e.fail("duplicate", f"utterance id {e.utt_id} is also made by clip {seen_id[e.utt_id]}")
            seen_id.setdefault(e.utt_id, stem)
            if not e.src_text:
                e.fail("empty_source_text", f"empty sentence at {cv_dir / 'validated.tsv'}:{cv.line}")
        if not e.src_audio.is_file():
            e.fail("missing_source_clip", f"{e.src_audio} not found")
        if not e.tgt_audio.is_file():
            e.fail("missing_target_audio", f"{e.tgt_audio} not found")
        if not e.translation:
            e.fail("empty_translation", f"empty translation at {tsv}:{lineno}")
    return entries


def _check_audio(entries: list[Entry], src: str, nj: int) -> None:
    """Read the header of every existing audio file of the entries not broken already."""
    todo = [e for e in entries if not any(r in ("duplicate", "missing_source_clip", "missing_target_audio")
                                          for r in e.reasons)]
    if not todo:
        return
    split = todo[0].split
    paths = [str(e.src_audio) for e in todo] + [str(e.tgt_audio) for e in todo]
    results = _probe_all(paths, nj, desc=f"audio {split}_{src}")
    for i, e in enumerate(todo):
        for (secs, why), lang, reason in ((results[i], src, "unreadable_source_audio"),
                                          (results[len(todo) + i], TGT_LANG, "unreadable_target_audio")):
            if secs is None:
                e.fail(reason, why)
            else:
                e.seconds[lang] = secs


# -- writing -----------------------------------------------------------------------------------------
def write_report(path: Path, src: str, version: str, cv_dir: Path, pair_dir: Path,
                 results: list[SplitResult], max_missing: float) -> None:
    """The prep report: a commented summary, then ``split clip reasons detail`` per broken entry."""
    with atomic_write(path) as f:
        f.write(f"# s2s corpus-cvss: CVSS-{version.upper()} {src}->{TGT_LANG}\n")
        f.write(f"# common voice: {cv_dir}\n# cvss: {pair_dir}\n")
        f.write(f"# max_missing: {max_missing:.2%} of the entries of a split\n")
        for r in results:
            status = "ok" if r.share <= max_missing else "TOO MANY BROKEN"
            f.write(f"# {r.split}: {r.num_entries} entries in {r.tsv}, {len(r.broken)} broken "
                    f"({r.share:.2%}), {len(r.kept)} kept: {status}\n")
            if r.subset_of is not None:
                f.write(f"# {r.split}: random subset of {len(r.kept)} of {r.subset_of} usable utterances\n")
        for reason, what in REASONS.items():
            n = sum(reason in e.reasons for r in results for e in r.broken)
            f.write(f"# {reason}: {n} ({what})\n")
        f.write("# split clip reasons detail\n")
        for r in results:
            for e in sorted(r.broken, key=lambda e: e.clip):
                f.write(f"{r.split} {e.clip} {','.join(e.reasons)} {'; '.join(e.details)}\n")


def read_prep_report(path: PathLike) -> list[Broken]:
    """The broken entries listed in a prep report."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                split, clip, reasons, detail = line.rstrip("\n").split(" ", 3)
                out.append(Broken(split, clip, tuple(reasons.split(",")), detail))
    return out


def write_datadir(path: Path, src: str, entries: list[Entry]) -> None:
    """Write a data dir under a temporary name next to ``path``, then put it in place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        write_kaldi_text(tmp / f"wav.scp.{src}", ((e.utt_id, str(e.src_audio)) for e in entries))
        write_kaldi_text(tmp / f"wav.scp.{TGT_LANG}", ((e.utt_id, str(e.tgt_audio)) for e in entries))
        write_kaldi_text(tmp / f"text.{src}", ((e.utt_id, e.src_text) for e in entries))
        write_kaldi_text(tmp / f"text.{TGT_LANG}", ((e.utt_id, e.translation) for e in entries))
        write_kaldi_text(tmp / "utt2spk", ((e.utt_id, e.speaker) for e in entries))
        os.chmod(tmp, 0o755)
        old = None
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
            os.replace(path, old / path.name)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# -- the whole preparation ---------------------------------------------------------------------------
def _apply_test_subset(r: SplitResult, src: str, n: int, seed: int) -> None:
    if n >= len(r.kept):
        logger.warning("test_%s: test_subset %d is not less than the %d usable test utterances; keeping all",
                       src, n, len(r.kept))
        return
    keep = set(select_subset((e.utt_id for e in r.kept), n, seed))
    r.subset_of = len(r.kept)
    r.kept = [e for e in r.kept if e.utt_id in keep]


def _log_split(r: SplitResult, src: str, seed: int) -> None:
    from humanfriendly import format_timespan

    counts = ", ".join(f"{k} {n}" for k in REASONS if (n := sum(k in e.reasons for e in r.broken))) or "none"
    secs = {lang: sum(e.seconds.get(lang, 0.0) for e in r.kept) for lang in (src, TGT_LANG)}
    hours = ", ".join(f"{lang} {s / 3600:.2f} h ({format_timespan(s)})" for lang, s in secs.items())
    subset = f" (random subset of {r.subset_of}, seed {seed})" if r.subset_of is not None else ""
    logger.info("%s_%s: %d entries, %d kept%s, %d broken (%.2f%%: %s); %s", r.split, src, r.num_entries,
                len(r.kept), subset, len(r.broken), 100 * r.share, counts, hours)


def prepare_language(opts: CvssOptions, src: str) -> list[SplitResult]:
    """Check every split of ``src``, write its report, then (if within ``max_missing``) its data dirs.

    Raises:
        DataError: a corpus dir or file is missing, or a split has too many broken entries.
    """
    from humanfriendly import format_timespan

    t0 = time.time()
    cv_dir = cv_lang_dir(opts.cv4, src)
    pair_dir = cvss_pair_dir(opts.cvss, opts.version, src)
    logger.info("CVSS-%s %s->%s: Common Voice %s, CVSS %s", opts.version.upper(), src, TGT_LANG, cv_dir, pair_dir)
    validated = read_validated(cv_dir / "validated.tsv")
    logger.info("%s: %d validated clips", cv_dir / "validated.tsv", len(validated))
    results = [check_split(split, cv_dir, pair_dir, validated, src, opts.nj) for split in opts.splits]
    for r in results:
        if r.split == "test" and opts.test_subset > 0:
            _apply_test_subset(r, src, opts.test_subset, opts.seed)
    report = opts.report_path_dir / f"prep_report_{src}.txt"
    write_report(report, src, opts.version, cv_dir, pair_dir, results, opts.max_missing)
    for r in results:
        _log_split(r, src, opts.seed)
    if any(r.broken for r in results):
        logger.info("broken entries are listed in %s", report)
    over = [r for r in results if r.share > opts.max_missing]
    if over:
        worst = ", ".join(f"{r.split} {len(r.broken)} of {r.num_entries} ({r.share:.2%})" for r in over)
        raise DataError(f"CVSS-{opts.version.upper()} {src}->{TGT_LANG}: too many broken entries: {worst} > "
                        f"max_missing {opts.max_missing:.2%}; no data dir was written. See {report} for each "
                        f"entry and its reason; fix the corpus (re-download or unpack the missing files) or "
                        f"raise --max_missing")
    empty = [r.split for r in results if not r.kept]
    if empty:
        raise DataError(f"{src}: no usable utterance in split(s) {', '.join(empty)}; see {report}")
    for r in results:
        write_datadir(Path(opts.out) / f"{r.split}_{src}", src, r.kept)
    logger.info("CVSS-%s %s->%s: wrote %s in %s", opts.version.upper(), src, TGT_LANG,
                ", ".join(str(Path(opts.out) / f"{r.split}_{src}") for r in results), format_timespan(time.time() - t0))
    return results


def prepare_cvss(opts: CvssOptions) -> dict[str, list[SplitResult]]:
    """Prepare every source language of ``opts``; see the module docstring.

    Returns:
        The split results per source language.

    Raises:
        DataError: for the first language that fails (languages before it are written).
    """
    return {src: prepare_language(opts, src) for src in opts.src_langs}


__all__ = ["CvssOptions", "prepare_cvss", "prepare_language", "select_subset", "read_prep_report",
           "read_validated", "read_cvss_tsv", "cv_lang_dir", "cvss_pair_dir", "make_utt_id", "normalize_text",
           "LANGS", "REASONS", "SPLITS", "Broken", "SplitResult"]
