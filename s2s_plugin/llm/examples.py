"""Training examples from dump directories and the text-only corpus.

Speech-to-speech examples (stage 8) come from ``dump/<set>/``, made by
stages 2, 4 and 5::

    units.<lang>          utt u1 u2 ...            (stage 4, one line per utterance)
    units.<lang>.info     frame_rate, n_clusters, dedup, fit_id of the unit tokenizer (stage 4)
    text.<lang>           utt w1 w2 ...            (stage 2, copied from data/<set>)
    align.<lang>.ctm      utt 1 start dur word     (stage 5; the file name is configurable)
    align.<lang>.report   utt<TAB>failed|warning<TAB>why (stage 5: utterances left out of the CTM)

    examples, report = load_examples("dump/train_fr", tgt_lang="en")
    examples[0].src.spans      # [(0, 12), (12, 30), ...] unit frames per word
    print(report)              # "dump/train_fr: 480 examples (fr -> en)"

Word times are converted to unit frames with
:func:`s2s_plugin.interleave.interleaver.spans_from_times` at the units' frame
rate (``units.<lang>.info``, or given). Every inconsistency (an utterance
without units, CTM words that are not the transcript's words, a CTM longer
than the units) is a :class:`~s2s_plugin.errors.DataError` naming the file
and the utterance, or, with ``skip_bad=True``, counted per kind and reported.
Utterances that stage 5 reported as failed (and left out of its CTM) are
always skipped and counted.

The text-only corpus of stage 7 (:func:`load_text_corpus`) is read from
Kaldi-style text files given by path, so its layout stays a config matter.
"""
from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from s2s_plugin.data.io import PathLike, WordSpan, read_ctm, read_kaldi_text, read_units, read_units_info
from s2s_plugin.errors import ConfigError, DataError
from s2s_plugin.interleave.interleaver import check_spans, spans_from_times
from s2s_plugin.llm.sequence import Example, Side

logger = logging.getLogger(__name__)

#: The default CTM file name pattern of stage 5 (``{lang}`` is replaced).
DEFAULT_CTM = "align.{lang}.ctm"


@dataclass
class LoadReport:
    """What :func:`load_examples` kept and what it skipped.

    Attributes:
        where: the dump directory.
        src_lang, tgt_lang: the languages of the pair.
        n_loaded: examples returned.
        skipped: count of skipped utterances per problem kind.
        first: the first message of each problem kind (file and utterance named).
        units_info: per language, stage 4's ``units.<lang>.info`` (empty if there is none).
    """

    where: str
    src_lang: str
    tgt_lang: str
    n_loaded: int = 0
    skipped: Counter = field(default_factory=Counter)
    first: dict[str, str] = field(default_factory=dict)
    units_info: dict[str, dict] = field(default_factory=dict)

    @property
    def n_skipped(self) -> int:
        return sum(self.skipped.values())

    def __str__(self) -> str:
        msg = f"{self.where}: {self.n_loaded} examples ({self.src_lang} -> {self.tgt_lang})"
        if self.skipped:
            kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(self.skipped.items()))
            msg += f"; skipped {self.n_skipped}: {kinds}. First of each: " + " | ".join(self.first.values())
        return msg


def detect_source_lang(dump_dir: PathLike, tgt_lang: str) -> str:
    """The source language of a dump dir: the language of its ``units.<lang>`` that is not ``tgt_lang``.

    Raises:
        DataError: none or several candidate languages.
    """
    d = Path(dump_dir)
    langs = sorted(p.name.split(".", 1)[1] for p in d.glob("units.*") if p.is_file() and "." not in
                   p.name.split(".", 1)[1])
    cands = [lang for lang in langs if lang != tgt_lang]
    if len(cands) != 1:
        raise DataError(f"{d}: cannot tell the source language from its unit files (found units for "
                        f"{langs or 'no language'}, target '{tgt_lang}'); run stage 4 for this set, or "
                        "name the source language in the data config")
    return cands[0]


def _frame_rate(d: Path, lang: str, info: dict | None, given: float | None) -> float:
    if info is not None and info.get("dedup"):
        raise ConfigError(f"{d}/units.{lang}: the units are de-duplicated (stage 4 dedup: true), so unit "
                          "positions are not time frames and word times cannot be mapped onto them; "
                          "interleaving needs units extracted with dedup: false")
    if given is not None:
        if given <= 0:
            raise ConfigError(f"frame_rate must be > 0, got {given}")
        if info is not None and "frame_rate" in info and abs(float(info["frame_rate"]) - given) > 1e-6:
            raise ConfigError(f"{d}/units.{lang}.info says {info['frame_rate']} units/s, the config {given}; "
                              "remove data.frame_rate to use stage 4's value")
        return float(given)
    if info is None or "frame_rate" not in info:
        raise ConfigError(f"{d}: the frame rate of units.{lang} is unknown (no units.{lang}.info from stage 4); "
                          "set data.frame_rate (units per second)")
    return float(info["frame_rate"])


def _failed_utts(report_path: Path) -> set[str]:
    """Utterances stage 5's report lists as failed (left out of the CTM)."""
    if not report_path.is_file():
        return set()
    failed = set()
    with open(report_path, encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            if len(fields) >= 2 and fields[1] == "failed":
                failed.add(fields[0])
    return failed


def _norm(word: str) -> str:
    return word.casefold()


def _side_spans(utt: str, words: list[str], ctm: list[WordSpan] | None, n_units: int, frame_rate: float,
                ctm_path: Path) -> list[tuple[int, int]]:
    """Unit spans of one side's words from its CTM entries; raises ``_Problem``."""
    if ctm is None:
        raise _Problem("no alignment", f"{ctm_path}: utterance '{utt}' has no words; re-run stage 5 for it")
    if [_norm(w.word) for w in ctm] != [_norm(w) for w in words]:
        raise _Problem("CTM/text mismatch",
                       f"{ctm_path}: utterance '{utt}' aligns the words '{' '.join(w.word for w in ctm)}' but "
                       f"the transcript has '{' '.join(words)}'; align the current text (stage 5)")
    end = max(w.end for w in ctm) if ctm else 0.0
    covered = n_units / frame_rate
    if end > covered + 0.1 + 2.0 / frame_rate:
        raise _Problem("CTM beyond units",
                       f"{ctm_path}: utterance '{utt}' has words up to {end:.2f} s but its {n_units} units "
                       f"cover {covered:.2f} s at {frame_rate:g} units/s; is the frame rate right?")
    spans = spans_from_times([w.start for w in ctm], [w.end for w in ctm], frame_rate, n_units)
    try:
        check_spans(spans, n_units, key=utt)
    except DataError as e:
        raise _Problem("bad spans", f"{ctm_path}: {e}") from None
    return spans


class _Problem(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind, self.message = kind, message


def load_examples(dump_dir: PathLike, tgt_lang: str = "en", src_lang: str | None = None,
                  frame_rate: float | None = None, ctm: str = DEFAULT_CTM,
                  align_sides: Sequence[str] = ("src", "tgt"), skip_bad: bool = False,
                  utts: Iterable[str] | None = None) -> tuple[list[Example], LoadReport]:
    """Load the parallel examples of one dump directory.

    Args:
        dump_dir: ``dump/<set>`` with units, texts and (for ``align_sides``) CTMs.
        tgt_lang: the target language.
        src_lang: the source language; default: detected from the ``units.*`` files.
        frame_rate: units per second; default: stage 4's ``units.<lang>.info`` (needed when
            ``align_sides`` is not empty).
        ctm: CTM file name pattern inside ``dump_dir``, ``{lang}`` replaced by the side's language
            (``align.{lang}.ctm`` from stage 5; ``oracle.{lang}.ctm`` for espeak's word times).
        align_sides: sides whose word spans are loaded (the sides that are interleaved).
        skip_bad: skip and count inconsistent utterances instead of raising.
        utts: only these utterances (default: every utterance of ``text.<src_lang>``).

    Returns:
        The examples in utterance-id order, and what was loaded and skipped.

    Raises:
        DataError: a missing file, or (unless ``skip_bad``) an inconsistent utterance.
    """
    d = Path(dump_dir)
    if not d.is_dir():
        raise DataError(f"{d}: dump directory not found; run stages 2-5 for this set first")
    src_lang = src_lang or detect_source_lang(d, tgt_lang)
    bad_sides = [s for s in align_sides if s not in ("src", "tgt")]
    if bad_sides:
        raise ConfigError(f"align_sides may hold 'src' and 'tgt' only, got {bad_sides}")
    langs = {"src": src_lang, "tgt": tgt_lang}
    report = LoadReport(str(d), src_lang, tgt_lang)
    for s, lang in langs.items():
        info = read_units_info(d, lang)
        if info is not None:
            report.units_info[lang] = info
    rates = {s: _frame_rate(d, langs[s], report.units_info.get(langs[s]), frame_rate) for s in align_sides}
    texts = {s: read_kaldi_text(d / f"text.{lang}") for s, lang in langs.items()}
    units = {s: read_units(d / f"units.{lang}") for s, lang in langs.items()}
    ctm_paths = {s: d / ctm.format(lang=langs[s]) for s in align_sides}
    for s, p in ctm_paths.items():
        if not p.is_file():
            raise DataError(f"{p}: word alignment not found; the {s} side is interleaved, so stage 5 must "
                            f"align {langs[s]} (or set data.ctm to another CTM name)")
    ctms = {s: read_ctm(p) for s, p in ctm_paths.items()}
    failed = {s: _failed_utts(p.with_suffix(".report")) for s, p in ctm_paths.items()}
    examples: list[Example] = []
    for utt in sorted(texts["src"] if utts is None else utts):
        try:
            sides = {}
            for s, lang in langs.items():
                if utt not in texts[s]:
                    raise _Problem("missing text", f"{d / f'text.{lang}'}: no line for utterance '{utt}'")
                if utt not in units[s]:
                    raise _Problem("missing units", f"{d / f'units.{lang}'}: no units for utterance '{utt}'; "
                                                    "re-run stage 4 for this set")
                words = texts[s][utt].split()
                spans = None
                if s in ctms:
                    if utt in failed[s] and utt not in ctms[s]:
                        raise _Problem("alignment failed", f"{ctm_paths[s].with_suffix('.report')}: stage 5 "
                                                           f"could not align utterance '{utt}'")
                    spans = _side_spans(utt, words, ctms[s].get(utt), len(units[s][utt]), rates[s], ctm_paths[s])
                sides[s] = Side(lang, units[s][utt], words, spans)
        except _Problem as p:
            if not skip_bad and p.kind != "alignment failed":
                raise DataError(p.message + " (set data.skip_bad: true to skip such utterances)") from None
            report.skipped[p.kind] += 1
            report.first.setdefault(p.kind, p.message)
            continue
        examples.append(Example(utt, sides["src"], sides["tgt"]))
    report.n_loaded = len(examples)
    if report.skipped:
        logger.warning("%s", report)
    return examples, report


# -- the text-only corpus (stage 7) ---------------------------------------------------------------

@dataclass
class TextItem:
    """One text-only training item: a monolingual sentence or a translation pair.

    Attributes:
        key: an id (file and utterance) for messages and seeding.
        src_lang: the language of ``src_words``.
        src_words: the (source) sentence.
        tgt_lang: the language of ``tgt_words`` (``None`` for a monolingual sentence).
        tgt_words: the translation, or ``None``.
    """

    key: str
    src_lang: str
    src_words: list[str]
    tgt_lang: str | None = None
    tgt_words: list[str] | None = None


_LANG_SUFFIX = re.compile(r"\.([A-Za-z]{2,3})$")


def _lang_of(path: Path) -> str:
    m = _LANG_SUFFIX.search(path.name)
    if not m:
        raise ConfigError(f"{path}: cannot tell the language from the file name; name it text.<lang>")
    return m.group(1)


def load_text_corpus(mono: Sequence[PathLike] = (), parallel: Sequence[Sequence[PathLike]] = ()) -> list[TextItem]:
    """Monolingual sentences and translation pairs from Kaldi-style text files.

    Args:
        mono: ``text.<lang>`` files (``id words...``); the language comes from the suffix.
        parallel: ``[source_file, target_file]`` pairs sharing ids, e.g.
            ``[data/lm_text/train/text.fr, data/lm_text/train/text.en]``.

    Returns:
        Monolingual items first (file order), then pairs, each in id order.

    Raises:
        DataError: a malformed file, or a pair whose files do not share their ids.
    """
    items: list[TextItem] = []
    for path in map(Path, mono):
        lang = _lang_of(path)
        for utt, text in sorted(read_kaldi_text(path).items()):
            items.append(TextItem(f"{path.name}:{utt}", lang, text.split()))
    for pair in parallel:
        if len(pair) != 2:
            raise ConfigError(f"a parallel entry must be [source_file, target_file], got {list(pair)}")
        sp, tp = Path(pair[0]), Path(pair[1])
        src, tgt = read_kaldi_text(sp), read_kaldi_text(tp)
        only_src, only_tgt = sorted(set(src) - set(tgt)), sorted(set(tgt) - set(src))
        if only_src or only_tgt:
            first = (only_src or only_tgt)[0]
            raise DataError(f"{sp} and {tp} must hold the same ids: {len(only_src)} only in the first, "
                            f"{len(only_tgt)} only in the second (e.g. '{first}')")
        sl, tl = _lang_of(sp), _lang_of(tp)
        for utt in sorted(src):
            items.append(TextItem(f"{sp.name}:{utt}", sl, src[utt].split(), tl, tgt[utt].split()))
    return items
