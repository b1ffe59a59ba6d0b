"""The listening page of stage 11: ``exp/<tag>/listen/index.html``.

    from s2s_plugin.eval.listen import write_listening_page

    write_listening_page(exp / "listen", set_scores, scores_json, n=5, vocoder=None)

For ``n`` utterances per set, evenly spaced over the sorted ids (never picked
by score), the page plays the source speech, our translated speech and the
reference target speech (and, with a vocoder, the reference units
resynthesised), next to the source text, the text hypotheses, the ASR
transcript of our speech and the reference translation. Under each
utterance's table one PNG shows, side by side on one frequency axis and one
colour scale, the log-mel spectrograms of the reference speech, the reference
units through the vocoder, our speech and the source speech
(:func:`s2s_plugin.eval.plots.plot_spectrograms`); a missing audio gets a
panel saying why. With a quality scorer (``quality`` in ``conf/score.yaml``),
each sample shows the quality score of our speech, of the reference speech
(for a scorer that does not compare with it) and of the reference units
through the vocoder, and each set the mean over all its utterances, with the
scorer's unit and whether lower or higher is better. Audio is copied into ``listen/audio/<set>/`` as 16-bit wav
and the images go to ``listen/img/<set>/``, linked by relative, URL-quoted
paths, so the folder can be zipped and opened anywhere; file names are the
ids where they are plain (``[A-Za-z0-9._-]``), else their plain characters
plus a hash of the id; every text is HTML-escaped. The folder is built under a
temporary name and swapped in at the end. Spectrograms cost about 0.4 s of
CPU per utterance (four panels of 3 s audio), plus about 5 s of CPU once to import
matplotlib, scipy and librosa (with numba); ``spectrograms=False`` leaves them out.
"""
from __future__ import annotations

import hashlib
import html
import logging
import re
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from s2s_plugin.data.io import PathLike, atomic_write

logger = logging.getLogger(__name__)

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; max-width: 70em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
.sample { border: 1px solid #bbb; border-radius: 6px; padding: 0.6em 1em; margin: 1em 0; }
.sample h3 { margin: 0.2em 0 0.5em; font-size: 1em; font-family: monospace; }
.label { color: #555; width: 14em; }
audio { height: 2em; vertical-align: middle; }
figure.spec { margin: 0.2em 0 0.4em; }
figure.spec img { max-width: 100%; height: auto; }
"""


def pick_samples(utt_ids: Sequence[str], n: int) -> list[int]:
    """Indices of ``n`` utterances evenly spaced over ``utt_ids`` (all of them if fewer)."""
    total = len(utt_ids)
    if n <= 0 or total == 0:
        return []
    if n >= total:
        return list(range(total))
    if n == 1:
        return [0]
    return sorted({round(i * (total - 1) / (n - 1)) for i in range(n)})


def file_stem(name: str) -> str:
    """A file name for a set or utterance id, unique per id.

    The id itself when it is plain (``[A-Za-z0-9._-]``, no leading dot), else
    its plain characters (``_`` for the others) and 8 hex digits of its SHA-1,
    so ``a?b`` and ``a_b`` never share a file and ``..`` stays in its folder.
    """
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    safe = re.sub(r"^\.", "_", safe)
    if safe == name and name:
        return name
    return f"{safe}-{hashlib.sha1(name.encode('utf-8')).hexdigest()[:8]}"


def _href(rel: str) -> str:
    return html.escape(quote(rel), quote=True)


def _write_wav(path: Path, wave: np.ndarray, sr: int) -> None:
    import soundfile as sf

    wave = np.clip(np.asarray(wave, dtype=np.float32), -1.0, 1.0)
    with atomic_write(path, "wb") as f:
        sf.write(f, wave, int(sr), format="WAV", subtype="PCM_16")


def _audio_cell(rel: str | None) -> str:
    if rel is None:
        return "<td><em>no audio</em></td>"
    href = _href(rel)
    return f'<td><audio controls preload="none" src="{href}"></audio> <a href="{href}">wav</a></td>'


def _row(label: str, text: str | None, audio: str | None = None, with_audio: bool = True) -> str:
    text_cell = "" if text is None else html.escape(text)
    audio_cell = _audio_cell(audio) if with_audio else "<td></td>"
    return f'<tr><td class="label">{html.escape(label)}</td>{audio_cell}<td>{text_cell}</td></tr>'


def _summary_table(scores: Mapping[str, Any]) -> str:
    from s2s_plugin.eval.report import QUALITY_LABELS, quality_label

    labels = dict(scores.get("metrics", {}))
    for key in QUALITY_LABELS:   # named by their scorer, unit and direction, as in RESULTS.md
        if key in labels and scores.get("quality"):
            labels[key] = quality_label(labels[key], scores["quality"])
    rows = [*scores["sets"].items(), ("overall", scores["overall"])]
    keys = [k for k in labels if any(r.get(k) is not None for _, r in rows)]
    head = "".join(f"<th>{html.escape(labels[k])}</th>" for k in keys)
    body = ""
    for name, r in rows:
        cells = "".join(f"<td>{'' if r.get(k) is None else f'{r[k]:.2f}'}</td>" for k in keys)
        body += f"<tr><td>{html.escape(name)}</td><td>{r.get('num_utts', '')}</td>{cells}</tr>"
    return f"<table><tr><th>set</th><th>utts</th>{head}</tr>{body}</table>"


def write_listening_page(out_dir: PathLike, sets: Sequence[Any], scores: Mapping[str, Any], n: int,
                         vocoder: Callable[[list[int]], tuple[np.ndarray, int]] | None = None,
                         spectrograms: bool = True) -> Path:
    """Write ``out_dir/index.html``, its audio and its spectrograms for ``n`` samples of every scored set.

    Args:
        out_dir: the page's folder (replaced as a whole).
        sets: :class:`~s2s_plugin.eval.score.SetScore` of each set (texts, ids, dirs).
        scores: the ``scores.json`` content (for the summary and the title).
        n: utterances per set.
        vocoder: ``units -> (wave, rate)``, to add the resynthesised reference.
        spectrograms: draw one row of spectrograms per utterance into ``img/<set>/``.

    Returns:
        The path of ``index.html``.
    """
    from s2s_plugin.data.io import read_units
    from s2s_plugin.eval.audio import load_audio, read_scp

    out_dir = Path(out_dir)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    started, spec_seconds, n_utts = time.perf_counter(), 0.0, 0
    try:
        figures = (" Under each table: log-mel spectrograms on one frequency axis and one colour scale "
                   "(dB), time in seconds." if spectrograms else "")
        parts = [f"<h1>Listening samples: {html.escape(str(scores.get('system', '')))}</h1>",
                 f"<p>Experiment <code>{html.escape(str(scores.get('exp', '')))}</code>, scored "
                 f"{html.escape(str(scores.get('date', '')))} with ASR "
                 f"<code>{html.escape(str(scores.get('asr', {}).get('name', '')))}</code>; "
                 f"{n} utterances per set, evenly spaced over the sorted ids.{figures}</p>",
                 _summary_table(scores)]
        for s in sets:
            tgt, src = s.tgt_lang, s.src_lang
            scps = {"src": read_scp(s.ref_dir / f"wav.scp.{src}"), "ref": read_scp(s.ref_dir / f"wav.scp.{tgt}")}
            out_scp = s.decode_dir / "wav.scp"
            scps["out"] = read_scp(out_scp) if out_scp.is_file() else {}
            units = read_units(s.ref_dir / f"units.{tgt}") if vocoder is not None else {}
            why_not = {"src": f"not in wav.scp.{src}", "ref": f"not in wav.scp.{tgt}",
                       "out": "not in the decode's wav.scp" if out_scp.is_file() else "no wav.scp in the decode dir",
                       "voc": f"not in units.{tgt}" if vocoder is not None else "no vocoder (vocoder_exp not set)"}
            parts.append(f"<h2>{html.escape(s.name)} ({html.escape(src)} &rarr; {html.escape(tgt)})</h2>")
            parts.append(_quality_summary(s, scores))
            for i in pick_samples(s.utt_ids, n):
                utt, stem = s.utt_ids[i], f"{file_stem(s.name)}/{file_stem(s.utt_ids[i])}"
                rel: dict[str, str | None] = {}
                waves: dict[str, tuple[np.ndarray, int]] = {}
                for kind in ("src", "out", "ref"):
                    spec = scps[kind].get(utt)
                    if spec is None:
                        rel[kind] = None
                        continue
                    waves[kind] = load_audio(spec, f"{s.name}: utterance '{utt}' ({kind} audio)")
                    rel[kind] = f"audio/{stem}.{kind}.wav"
                    _write_wav(tmp / rel[kind], *waves[kind])
                if vocoder is not None and utt in units:
                    waves["voc"] = vocoder(units[utt])
                    rel["voc"] = f"audio/{stem}.ref_units.wav"
                    _write_wav(tmp / rel["voc"], *waves["voc"])
                if spectrograms:
                    t0 = time.perf_counter()
                    rel["img"] = f"img/{stem}.png"
                    _plot_sample(tmp / rel["img"], s, utt, waves, why_not)
                    spec_seconds += time.perf_counter() - t0
                parts.append(_sample_html(s, i, rel, f"quality {_quality_name(scores)}"))
                n_utts += 1
        page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<title>{html.escape(str(scores.get('system', 'S2ST')))}: listening samples</title>"
                f"<style>{_CSS}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n")
        with atomic_write(tmp / "index.html") as f:
            f.write(page)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    from humanfriendly import format_timespan

    logger.info("listening page %s: %d utterances in %s, of which spectrograms %s", out_dir / "index.html",
                n_utts, format_timespan(time.perf_counter() - started), format_timespan(spec_seconds))
    return out_dir / "index.html"


#: spectrogram panels, left to right: key of the sample's audio -> title (formatted with the languages)
SPEC_PANELS = {"ref": "reference speech ({tgt})", "voc": "reference units \u2192 vocoder",
               "out": "our speech S_tgt", "src": "source speech ({src})"}


def _plot_sample(out: Path, s: Any, utt: str, waves: Mapping[str, tuple[np.ndarray, int]],
                 why_not: Mapping[str, str]) -> None:
    """One row of spectrograms (see :data:`SPEC_PANELS`) for one utterance."""
    from s2s_plugin.eval.plots import SpecPanel, plot_spectrograms

    panels = []
    for key, title in SPEC_PANELS.items():
        wave, sr = waves.get(key, (None, None))
        missing = why_not[key] if key not in waves else "empty audio"
        panels.append(SpecPanel(title.format(tgt=s.tgt_lang, src=s.src_lang), wave, sr, missing))
    plot_spectrograms(panels, out, title=f"{s.name} / {utt}")


#: the per-utterance quality scores a sample shows: metric -> what was scored
QUALITY_SOURCES = {"quality": "our speech", "quality_ref_speech": "reference speech",
                   "quality_ref_units": "reference units through the vocoder"}


def _quality_name(scores: Mapping[str, Any]) -> str:
    from s2s_plugin.eval.report import quality_direction

    q = scores.get("quality") or {}
    return f"{q.get('name', 'quality')} ({q.get('unit', '')}; {quality_direction(q)})" if q else "quality"


def _quality_summary(s: Any, scores: Mapping[str, Any]) -> str:
    """One line under a set's heading: the mean quality of our speech and of the reference speech."""
    from s2s_plugin.eval.metrics import quality_summary

    per_utt = getattr(s, "quality", {}) or {}
    if not per_utt:
        return ""
    said = []
    for key, what in QUALITY_SOURCES.items():
        if key in per_utt:
            q = quality_summary(per_utt[key])
            mean = "—" if q["mean"] is None else f"{q['mean']:.2f}"
            sd = "" if q["sd"] is None else f" ± {q['sd']:.2f} (sd)"
            unscored = f", {q['unscored']} unscored" if q["unscored"] else ""
            said.append(f"{what} {mean}{sd} over {q['n']} utterances{unscored}")
    return (f"<p>Quality {html.escape(_quality_name(scores))}, mean over the whole set: "
            + html.escape("; ".join(said)) + ".</p>")


def _quality_text(s: Any, i: int) -> str | None:
    """The quality scores of utterance ``i``: ours and the reference's (None without quality scores)."""
    per_utt = getattr(s, "quality", {}) or {}
    if not per_utt:
        return None
    said = []
    for key, what in QUALITY_SOURCES.items():
        if key in per_utt:
            v = per_utt[key][i]
            said.append(f"{what} {'unscored' if v != v else f'{v:.2f}'}")   # v != v: NaN
    return "; ".join(said)


def _sample_html(s: Any, i: int, rel: Mapping[str, str | None], quality_label: str = "quality") -> str:
    t = s.texts
    rows = [
        _row(f"source speech ({s.src_lang}), reference text", t["ref_src"][i], rel.get("src")),
        _row(f"hypothesis T_src ({s.src_lang})", t["hyp_src"][i], with_audio=False),
        _row(f"hypothesis T_tgt ({s.tgt_lang})", t["hyp_tgt"][i], with_audio=False),
        _row("our speech S_tgt, its ASR transcript", t["asr_hyp"][i], rel.get("out")),
        _row(f"reference speech ({s.tgt_lang}), reference text", t["ref_tgt"][i], rel.get("ref")),
    ]
    if "asr_ref" in t:
        rows.append(_row("ASR transcript of the reference speech", t["asr_ref"][i], with_audio=False))
    if "voc" in rel:
        rows.append(_row("reference units through the vocoder, ASR transcript",
                         t.get("asr_vocoded", [""] * (i + 1))[i], rel["voc"]))
    quality = _quality_text(s, i)
    if quality is not None:
        rows.append(_row(quality_label, quality, with_audio=False))
    figure = ""
    if rel.get("img"):
        from s2s_plugin.eval.plots import SPEC_DPI, spectrogram_figsize

        w, h = (round(x * SPEC_DPI) for x in spectrogram_figsize(len(SPEC_PANELS)))
        titles = ", ".join(title.format(tgt=s.tgt_lang, src=s.src_lang) for title in SPEC_PANELS.values())
        alt = html.escape(f"log-mel spectrograms of {s.utt_ids[i]}: {titles}", quote=True)
        href = _href(rel["img"])
        figure = (f'<figure class="spec"><a href="{href}"><img src="{href}" width="{w}" height="{h}" '
                  f'loading="lazy" alt="{alt}"></a></figure>')
    return (f'<div class="sample"><h3>{html.escape(s.utt_ids[i])}</h3><table>'
            + "".join(rows) + "</table>" + figure + "</div>")
