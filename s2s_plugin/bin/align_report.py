"""Boundary errors of word alignments against reference timings (e.g. the corpus oracle).

    s2s align-report --hyp dump/test_fr/align.fr.ctm --ref dump/test_fr/oracle.fr.ctm
    s2s align-report --dirs dump/test_fr dump/test_es --lang fr es en       # <dir>/align.<lang>.ctm vs oracle
    s2s align-report --dirs dump/test_fr --hyp_name align_uniform --json
    s2s align-report --dirs dump/test_fr --lang fr --plot utt.png --utt spk1_0003

Prints, per set and language and per language over all sets: utterances, words,
mean and median error of word boundaries (starts and ends together) in ms, the
median of starts and of ends, and the share of boundaries within 20/50/100 ms.
Utterances missing from the hypothesis are counted, not scored; so are implausible
ones (a word lasting more than --max_duration_ratio times what its characters predict,
or less than its inverse; more than --max_edge_silence seconds of silence inside the
first or last word, checked on the audio of --dirs), which are scored too; --list_implausible
prints them with the reasons. --plot draws one
utterance's spectrogram with both sets of boundaries and words (the audio comes
from --wav, or from the dir's wav.scp.<lang>).
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

COMMAND = "align-report"
HELP = "compare word alignments (CTM) with reference timings: boundary errors in ms, plots"

_LANG_RE = re.compile(r"\.([A-Za-z0-9_-]+)\.ctm$")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hyp", action="append", default=[], help="a hypothesis CTM (repeat, paired with --ref)")
    parser.add_argument("--ref", action="append", default=[], help="a reference CTM (repeat, paired with --hyp)")
    parser.add_argument("--dirs", nargs="+", default=[], help="dump dirs holding both CTMs")
    parser.add_argument("--lang", nargs="+", default=None,
                        help="with --dirs: the languages (default: every language with both CTMs)")
    parser.add_argument("--hyp_name", default="align", help="with --dirs: <dir>/<hyp_name>.<lang>.ctm")
    parser.add_argument("--ref_name", default="oracle", help="with --dirs: <dir>/<ref_name>.<lang>.ctm")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--max_duration_ratio", type=float, default=4.0,
                        help="count an utterance as implausible when a word lasts more than this many times what "
                             "its characters predict, or less than its inverse (default: 4; 0: no check)")
    parser.add_argument("--max_edge_silence", type=float, default=0.5,
                        help="count an utterance as implausible with more than this many seconds of silence inside "
                             "its first or last word (needs --dirs for the audio; default: 0.5; negative: no check)")
    parser.add_argument("--list_implausible", action="store_true",
                        help="print the implausible utterances and why, after the table")
    parser.add_argument("--plot", type=Path, default=None, help="write a PNG of one utterance (needs --utt)")
    parser.add_argument("--utt", default=None, help="the utterance to plot")
    parser.add_argument("--wav", default=None, help="its audio (default: from the dir's wav.scp.<lang>)")


def _pairs(args: argparse.Namespace) -> list[tuple[str, str, Path, Path, Path | None]]:
    """``(set, lang, hyp, ref, dir)`` for every comparison asked for."""
    from s2s_plugin.data.datadir import find_languages
    from s2s_plugin.errors import ConfigError

    if len(args.hyp) != len(args.ref):
        raise ConfigError(f"give --hyp and --ref in pairs (got {len(args.hyp)} --hyp and {len(args.ref)} --ref)")
    pairs = []
    for h, r in zip(args.hyp, args.ref):
        m = _LANG_RE.search(Path(h).name)
        pairs.append((Path(h).parent.name, m.group(1) if m else "-", Path(h), Path(r), None))
    for d in args.dirs:
        d = Path(d)
        langs = args.lang or (sorted(find_languages(d)) if d.is_dir() else [])
        found = False
        for lang in langs:
            h, r = d / f"{args.hyp_name}.{lang}.ctm", d / f"{args.ref_name}.{lang}.ctm"
            if args.lang or (h.is_file() and r.is_file()):
                pairs.append((d.name, lang, h, r, d))
                found = True
        if not found:
            raise ConfigError(f"{d}: no {args.hyp_name}.<lang>.ctm with a {args.ref_name}.<lang>.ctm beside it")
    if not pairs:
        raise ConfigError("nothing to compare: give --hyp/--ref pairs or --dirs")
    return pairs


def main(args: argparse.Namespace) -> int:
    import json

    from s2s_plugin.align.report import BoundaryErrors, compare_ctms, count_implausible, format_table, summarize
    from s2s_plugin.data.datadir import DataDir
    from s2s_plugin.data.io import read_ctm
    from s2s_plugin.errors import ConfigError

    if args.plot and not args.utt:
        raise ConfigError("--plot needs --utt (the utterance to draw)")
    rows, per_lang, loaded = [], {}, []
    max_ratio = args.max_duration_ratio if args.max_duration_ratio > 0 else None
    max_silence = args.max_edge_silence if args.max_edge_silence >= 0 else None
    for s, lang, h, r, d in _pairs(args):
        hyp, ref = read_ctm(h), read_ctm(r)
        errs = compare_ctms(hyp, ref, where=f"{h} vs {r}")
        audio = None
        if d is not None:
            dd = DataDir(d)
            audio = lambda utt, dd=dd, lang=lang: dd.load_audio(utt, lang)  # noqa: E731
        count_implausible(errs, hyp, audio, max_ratio, max_silence)
        rows.append((s, lang, summarize(errs), str(h), str(r)))
        per_lang.setdefault(lang, BoundaryErrors())
        per_lang[lang] += errs
        loaded.append((lang, hyp, ref, d, h))
    totals = {lang: summarize(e) for lang, e in sorted(per_lang.items())}
    if args.json:
        print(json.dumps({"rows": [{"set": s, "lang": lang, "hyp": h, "ref": r, **d} for s, lang, d, h, r in rows],
                          "by_lang": totals}, indent=2))
    else:
        table = [(s, lang, d) for s, lang, d, _, _ in rows]
        if len(rows) > len(totals):
            table += [("(all)", lang, d) for lang, d in totals.items()]
        print(format_table(table))
    if args.list_implausible:
        for lang, e in sorted(per_lang.items()):
            for utt, reasons in e.implausible:
                print(f"implausible {lang} {utt}: {'; '.join(reasons)}")
    if args.plot:
        _plot(args, loaded)
    return 0


def _plot(args: argparse.Namespace, loaded) -> None:
    from s2s_plugin.align.report import plot_alignment
    from s2s_plugin.data.datadir import DataDir, read_audio
    from s2s_plugin.errors import ConfigError

    for lang, hyp, ref, d, h in loaded:
        if args.utt not in hyp and args.utt not in ref:
            continue
        if args.wav:
            wav, sr = read_audio(args.wav)
        elif d is not None:
            wav, sr = DataDir(d).load_audio(args.utt, lang)
        else:
            raise ConfigError("--plot with --hyp/--ref needs --wav (the utterance's audio)")
        plot_alignment(args.plot, wav, sr, hyp.get(args.utt, []), ref.get(args.utt),
                       title=f"{args.utt} ({lang}): {h.name} (red, dashed) vs reference (blue)",
                       hyp_label=h.stem, ref_label="reference")
        print(f"wrote {args.plot}")
        return
    raise ConfigError(f"utterance '{args.utt}' is in none of the CTMs compared")
