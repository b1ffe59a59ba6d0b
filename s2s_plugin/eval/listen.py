"""The listening page of stage 11: ``exp/<tag>/listen/index.html``.

    from s2s_plugin.eval.listen import write_listening_page

    write_listening_page(exp / "listen", set_scores, scores_json, n=5, vocoder=None)

For ``n`` utterances per set, evenly spaced over the sorted ids (never picked
by score), the page plays the source speech, our translated speech and the
reference target speech (and, with a vocoder, the reference units
resynthesised), next to the source text, the text hypotheses, the ASR
transcript of our speech and the reference translation. Audio is copied into
``listen/audio/<set>/`` as 16-bit wav, so the folder can be zipped and opened
anywhere; every text is HTML-escaped. The folder is built under a temporary
name and swapped in at the end.
"""
from __future__ import annotations

import html
import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from s2s_plugin.data.io import PathLike, atomic_write

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; max-width: 70em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
.sample { border: 1px solid #bbb; border-radius: 6px; padding: 0.6em 1em; margin: 1em 0; }
.sample h3 { margin: 0.2em 0 0.5em; font-size: 1em; font-family: monospace; }
.label { color: #555; width: 14em; }
audio { height: 2em; vertical-align: middle; }
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


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def _write_wav(path: Path, wave: np.ndarray, sr: int) -> None:
    import soundfile as sf

    wave = np.clip(np.asarray(wave, dtype=np.float32), -1.0, 1.0)
    with atomic_write(path, "wb") as f:
        sf.write(f, wave, int(sr), format="WAV", subtype="PCM_16")


def _audio_cell(rel: str | None) -> str:
    if rel is None:
        return "<td><em>no audio</em></td>"
    href = html.escape(quote(rel), quote=True)
    return f'<td><audio controls preload="none" src="{href}"></audio> <a href="{href}">wav</a></td>'


def _row(label: str, text: str | None, audio: str | None = None, with_audio: bool = True) -> str:
    text_cell = "" if text is None else html.escape(text)
    audio_cell = _audio_cell(audio) if with_audio else "<td></td>"
    return f'<tr><td class="label">{html.escape(label)}</td>{audio_cell}<td>{text_cell}</td></tr>'


def _summary_table(scores: Mapping[str, Any]) -> str:
    labels = scores.get("metrics", {})
    rows = [*scores["sets"].items(), ("overall", scores["overall"])]
    keys = [k for k in labels if any(r.get(k) is not None for _, r in rows)]
    head = "".join(f"<th>{html.escape(labels[k])}</th>" for k in keys)
    body = ""
    for name, r in rows:
        cells = "".join(f"<td>{'' if r.get(k) is None else f'{r[k]:.2f}'}</td>" for k in keys)
        body += f"<tr><td>{html.escape(name)}</td><td>{r.get('num_utts', '')}</td>{cells}</tr>"
    return f"<table><tr><th>set</th><th>utts</th>{head}</tr>{body}</table>"


def write_listening_page(out_dir: PathLike, sets: Sequence[Any], scores: Mapping[str, Any], n: int,
                         vocoder: Callable[[list[int]], tuple[np.ndarray, int]] | None = None) -> Path:
    """Write ``out_dir/index.html`` and its audio for ``n`` samples of every scored set.

    Args:
        out_dir: the page's folder (replaced as a whole).
        sets: :class:`~s2s_plugin.eval.score.SetScore` of each set (texts, ids, dirs).
        scores: the ``scores.json`` content (for the summary and the title).
        n: utterances per set.
        vocoder: ``units -> (wave, rate)``, to add the resynthesised reference.

    Returns:
        The path of ``index.html``.
    """
    from s2s_plugin.data.io import read_units
    from s2s_plugin.eval.score import load_audio, read_scp

    out_dir = Path(out_dir)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        parts = [f"<h1>Listening samples: {html.escape(str(scores.get('system', '')))}</h1>",
                 f"<p>Experiment <code>{html.escape(str(scores.get('exp', '')))}</code>, scored "
                 f"{html.escape(str(scores.get('date', '')))} with ASR "
                 f"<code>{html.escape(str(scores.get('asr', {}).get('name', '')))}</code>; "
                 f"{n} utterances per set, evenly spaced over the sorted ids.</p>",
                 _summary_table(scores)]
        for s in sets:
            tgt, src = s.tgt_lang, s.src_lang
            scps = {"src": read_scp(s.ref_dir / f"wav.scp.{src}"), "ref": read_scp(s.ref_dir / f"wav.scp.{tgt}")}
            out_scp = s.decode_dir / "wav.scp"
            scps["out"] = read_scp(out_scp) if out_scp.is_file() else {}
            units = read_units(s.ref_dir / f"units.{tgt}") if vocoder is not None else {}
            parts.append(f"<h2>{html.escape(s.name)} ({html.escape(src)} &rarr; {html.escape(tgt)})</h2>")
            for i in pick_samples(s.utt_ids, n):
                utt = s.utt_ids[i]
                rel: dict[str, str | None] = {}
                for kind in ("src", "out", "ref"):
                    spec = scps[kind].get(utt)
                    if spec is None:
                        rel[kind] = None
                        continue
                    wave, sr = load_audio(spec, f"{s.name}: utterance '{utt}' ({kind} audio)")
                    rel[kind] = f"audio/{_safe(s.name)}/{_safe(utt)}.{kind}.wav"
                    _write_wav(tmp / rel[kind], wave, sr)
                if vocoder is not None and utt in units:
                    wave, sr = vocoder(units[utt])
                    rel["voc"] = f"audio/{_safe(s.name)}/{_safe(utt)}.ref_units.wav"
                    _write_wav(tmp / rel["voc"], wave, sr)
                parts.append(_sample_html(s, i, rel))
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
    return out_dir / "index.html"


def _sample_html(s: Any, i: int, rel: Mapping[str, str | None]) -> str:
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
    return (f'<div class="sample"><h3>{html.escape(s.utt_ids[i])}</h3><table>'
            + "".join(rows) + "</table></div>")
