"""The listening page's spectrograms: the log-mel analysis, the PNGs (layout, panels), odd names, missing audio."""
from __future__ import annotations

import html
import re
from pathlib import Path
from urllib.parse import unquote

import librosa
import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from s2s_plugin.config import load_config
from s2s_plugin.eval import plots
from s2s_plugin.eval.listen import SPEC_PANELS, file_stem, write_listening_page
from s2s_plugin.eval.plots import (SPEC_DPI, SPEC_FLOOR_DB, SpecPanel, log_mel_spectrogram, panel_spectrograms,
                                   spectrogram_figsize)
from s2s_plugin.eval.score import ScoreConfig, SetScore, run_stage

PNG_SIZE = tuple(round(x * SPEC_DPI) for x in spectrogram_figsize(len(SPEC_PANELS)))


def tone(freq: float, seconds: float, sr: int, amp: float = 0.5) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(round(seconds * sr)) / sr)).astype(np.float32)


def peak_band(spec: np.ndarray) -> float:
    """Centre frequency (Hz) of the loudest mel band in the middle frame (HTK mel bands from 0 to 8 kHz)."""
    edges = librosa.mel_frequencies(n_mels=spec.shape[0] + 2, fmin=0.0, fmax=8000.0, htk=True)
    return float(edges[1 + spec[:, spec.shape[1] // 2].argmax()])


# -- the analysis ----------------------------------------------------------------
def test_log_mel_puts_a_tone_in_its_band_one_frame_per_hop():
    sr = 16000
    spec = log_mel_spectrogram(tone(1000, 0.5, sr), sr)
    assert spec.shape == (80, 1 + 8000 // 160)
    assert abs(peak_band(spec) - 1000) < 60
    assert abs(peak_band(log_mel_spectrogram(tone(3000, 0.5, sr), sr)) - 3000) < 150
    # power: half the amplitude is 6 dB less, silence sits on the floor
    quiet = log_mel_spectrogram(tone(1000, 0.5, sr, amp=0.25), sr)
    assert spec[:, 25].max() - quiet[:, 25].max() == pytest.approx(6.02, abs=0.05)
    assert (log_mel_spectrogram(np.zeros(4000, np.float32), sr) == SPEC_FLOOR_DB).all()
    assert log_mel_spectrogram(np.ones(3, np.float32), sr).shape == (80, 1)  # shorter than a window


def test_panels_share_the_lowest_rate():
    panels = [SpecPanel("a", tone(1000, 0.5, 22050), 22050), SpecPanel("b"),
              SpecPanel("c", tone(1000, 0.5, 16000), 16000), SpecPanel("d", np.zeros(0, np.float32), 16000)]
    rate, specs = panel_spectrograms(panels)
    assert rate == 16000 and sorted(specs) == [0, 2]        # no audio, empty audio: no spectrogram
    (a, sec_a), (c, sec_c) = specs[0], specs[2]
    assert a.shape == c.shape and sec_a == pytest.approx(0.5, abs=1e-4)
    assert peak_band(a) == peak_band(c)
    assert a[:, 25].max() == pytest.approx(c[:, 25].max(), abs=0.5)


# -- the page --------------------------------------------------------------------
def white_fraction(png: Path, panel: int, n_panels: int) -> float:
    """Share of near-white pixels in a strip through the middle of one panel (above the missing-audio text)."""
    img = np.asarray(Image.open(png).convert("RGB")).astype(int)
    width, _ = spectrogram_figsize(n_panels)
    left, right = 0.45 / width * img.shape[1], (1 - plots.SPEC_BAR_IN / width) * img.shape[1]
    x = int(left + (panel + 0.5) * (right - left) / n_panels)
    strip = img[int(0.3 * img.shape[0]):int(0.42 * img.shape[0]), x - 5:x + 5]
    return float((strip.min(axis=-1) > 245).mean())


def write_set(root: Path, name: str, ids: list[str], missing: dict[str, set[str]], out_scp: bool = True) -> SetScore:
    """A scored set with tone audio: source 440 Hz, reference 1 kHz at 16 kHz, ours 2 kHz at 22.05 kHz.

    ``missing`` names the ids left out of each wav.scp ("src", "ref", "out").
    """
    ref_dir, dec = root / "dump" / file_stem(name), root / "exp" / f"decode_{file_stem(name)}"
    for d in (ref_dir, dec):
        d.mkdir(parents=True)
    plan = {"src": (ref_dir / "wav.scp.fr", 440, 16000), "ref": (ref_dir / "wav.scp.en", 1000, 16000),
            "out": (dec / "wav.scp", 2000, 22050)}
    for kind, (scp, freq, sr) in plan.items():
        if kind == "out" and not out_scp:
            continue
        lines = []
        for k, utt in enumerate(ids):
            if utt not in missing.get(kind, set()):
                path = scp.parent / f"{kind}{k}.wav"
                sf.write(path, tone(freq, 0.4 + 0.1 * k, sr), sr)
                lines.append(f"{utt} {path}\n")
        scp.write_text("".join(lines), encoding="utf-8")
    (ref_dir / "units.en").write_text("".join(f"{u} {' '.join(['3'] * (5 + k))}\n" for k, u in enumerate(ids)),
                                      encoding="utf-8")
    texts = {k: [f"{k} of {u} <i>&</i>" for u in ids] for k in ("ref_src", "hyp_src", "hyp_tgt", "asr_hyp", "ref_tgt")}
    return SetScore(name, "fr", "en", ids, ref_dir, dec, texts=texts)


SCORES = {"system": "sys", "sets": {}, "overall": {"num_utts": 0}, "metrics": {}}


@pytest.fixture
def captured(monkeypatch):
    """The panels of every spectrogram drawn, by PNG file name."""
    seen: dict[str, list[SpecPanel]] = {}
    draw = plots.plot_spectrograms

    def spy(panels, out, title=""):
        seen[Path(out).name] = list(panels)
        return draw(panels, out, title)

    monkeypatch.setattr(plots, "plot_spectrograms", spy)
    return seen


def test_page_links_one_png_per_sample_with_odd_names_escaped(tmp_path, captured):
    odd_set, odd_ids = "test fr/ü&x", ["a_b", "a?b", "fr#1%&<b>", "..", r"u$\q$"]
    s = write_set(tmp_path, odd_set, odd_ids, {})
    plain = write_set(tmp_path, "test_es", ["es_1", "es_2"], {})

    def vocoder(units):
        return tone(1000, 0.01 * len(units), 16000, amp=0.1), 16000

    page_path = write_listening_page(tmp_path / "listen", [s, plain], SCORES, n=5, vocoder=vocoder)
    page = page_path.read_text(encoding="utf-8")
    imgs = re.findall(r'<img src="([^"]+)" width="(\d+)" height="(\d+)"', page)
    assert len(imgs) == 7
    srcs = [src for src, _, _ in imgs]
    assert "img/test_es/es_1.png" in srcs and "img/test_es/es_2.png" in srcs    # plain ids stay as they are
    files = set()
    for src, w, h in imgs:
        assert re.fullmatch(r"[A-Za-z0-9._/-]+", src), src                      # nothing left to escape
        png = tmp_path / "listen" / unquote(html.unescape(src))
        assert png.resolve().is_relative_to((tmp_path / "listen").resolve())  # '..' stays inside
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(png) as im:
            im.verify()
        with Image.open(png) as im:
            assert im.size == (int(w), int(h)) == PNG_SIZE
        files.add(png)
    assert len(files) == 7                                                        # "a_b" and "a?b" do not collide
    assert sorted(p.name for p in (tmp_path / "listen" / "img").iterdir()) == ["test_es", file_stem(odd_set)]
    # every link of the page (audio and images) points at a file in the folder
    for link in re.findall(r'(?:src|href)="([^"]+)"', page):
        assert (tmp_path / "listen" / unquote(html.unescape(link))).is_file(), link
    # the ids are shown escaped, next to their image
    assert "<b>" not in page and "fr#1%&amp;&lt;b&gt;" in page
    block = page[page.index("<h3>fr#1%&amp;&lt;b&gt;</h3>"):]
    assert block[:block.index("</div>")].count("<img ") == 1
    # the panels: reference, vocoded reference, ours, source, in that order, all with audio here
    panels = captured[f"{file_stem('fr#1%&<b>')}.png"]
    assert [p.title for p in panels] == ["reference speech (en)", "reference units \u2192 vocoder",
                                         "our speech S_tgt", "source speech (fr)"]
    assert [p.sr for p in panels] == [16000, 16000, 22050, 16000]
    assert all(white_fraction(png, i, 4) < 0.05 for png in files for i in range(4))


def test_missing_audio_gets_a_panel_saying_why(tmp_path, captured):
    ids = ["u1", "u2", "u3"]
    s = write_set(tmp_path, "test_fr", ids, {"out": {"u1"}, "src": {"u2"}})
    no_decode = write_set(tmp_path, "test_es", ["e1"], {}, out_scp=False)
    write_listening_page(tmp_path / "listen", [s, no_decode], SCORES, n=5, vocoder=None)
    why = {name: [p.missing if p.wave is None else None for p in panels] for name, panels in captured.items()}
    assert why["u1.png"] == [None, "no vocoder (vocoder_exp not set)", "not in the decode's wav.scp", None]
    assert why["u2.png"] == [None, "no vocoder (vocoder_exp not set)", None, "not in wav.scp.fr"]
    assert why["e1.png"] == [None, "no vocoder (vocoder_exp not set)", "no wav.scp in the decode dir", None]
    png = tmp_path / "listen" / "img" / "test_fr" / "u1.png"
    with Image.open(png) as im:
        assert im.size == PNG_SIZE
    assert white_fraction(png, 0, 4) < 0.05 and white_fraction(png, 3, 4) < 0.05    # spectrograms
    assert white_fraction(png, 1, 4) > 0.95 and white_fraction(png, 2, 4) > 0.95    # blank, with the reason


def test_vocoder_gaps_and_empty_output(tmp_path, captured):
    s = write_set(tmp_path, "test_fr", ["u1", "u2"], {})
    (s.ref_dir / "units.en").write_text("u1 1 2 3\n", encoding="utf-8")      # no units for u2

    def vocoder(units):
        return np.zeros(0, np.float32), 16000                               # a vocoder that says nothing

    write_listening_page(tmp_path / "listen", [s], SCORES, n=5, vocoder=vocoder)
    assert captured["u1.png"][1].missing == "empty audio" and captured["u2.png"][1].missing == "not in units.en"
    assert white_fraction(tmp_path / "listen" / "img" / "test_fr" / "u1.png", 1, 4) > 0.95


def test_without_spectrograms_no_images(tmp_path):
    s = write_set(tmp_path, "test_fr", ["u1"], {})
    page = write_listening_page(tmp_path / "listen", [s], SCORES, n=5, spectrograms=False).read_text()
    assert "<img" not in page and not (tmp_path / "listen" / "img").exists()
    assert (tmp_path / "listen" / "audio" / "test_fr" / "u1.ref.wav").is_file()


def test_stage_11_page_has_a_spectrogram_per_sample(eval_registry, corpus):
    exp = corpus.make_exp("baseline")
    cfg = load_config(ScoreConfig, corpus.score_yaml(), [f"vocoder_exp={corpus.vocoder_exp}"])
    run_stage(cfg, exp, ["test_fr", "test_es"], corpus.dump, "cmd")
    page = (exp / "listen" / "index.html").read_text()
    imgs = re.findall(r'<img src="([^"]+)"', page)
    assert imgs == ["img/test_fr/fr_1.png", "img/test_fr/fr_3.png", "img/test_es/es_1.png", "img/test_es/es_2.png"]
    for src in imgs:
        with Image.open(exp / "listen" / src) as im:
            assert im.format == "PNG" and im.size == PNG_SIZE
