"""DataDir: languages, Utterance records, audio by id (files, segments, arks), job splits."""
from __future__ import annotations

import kaldiio
import numpy as np
import pytest
import soundfile as sf
from data_testutils import FS, tone, write_lines

from s2s_plugin.data.datadir import DataDir, Segment, Utterance, read_audio, split_ids
from s2s_plugin.errors import DataError


def test_languages_records_and_audio(make_datadir):
    d = make_datadir()
    dd = DataDir(d, tgt_lang="en")
    assert (dd.src_lang, dd.tgt_lang, dd.langs) == ("fr", "en", ("fr", "en"))
    assert dd.utt_ids == ["spk1_a", "spk1_b", "spk2_c"]
    assert len(dd) == 3
    utt = dd.utterance("spk1_b", "en")
    assert utt == Utterance("spk1_b", "en", str(d / "wav" / "en" / "spk1_b.wav"),
                            "the cat does", "spk1", None)
    assert [u.text for u in dd.utterances("fr")] == ["le chat", "le chat ne", "le chat ne dort"]
    wave, fs = dd.load_audio("spk1_a", "fr")
    assert fs == FS and wave.dtype == np.float32 and wave.shape == (int(0.5 * FS),)
    np.testing.assert_allclose(wave, sf.read(d / "wav" / "fr" / "spk1_a.wav", dtype="float32")[0])
    assert dd.oracle_ctm("en")["spk2_c"][0].word == "the"


def test_tgt_lang_picks_the_source(make_datadir):
    dd = DataDir(make_datadir(src="de", tgt="es"), tgt_lang="es")
    assert (dd.src_lang, dd.tgt_lang) == ("de", "es")


def test_segments_read_a_span_of_the_recording(make_datadir, tmp_path):
    d = make_datadir()
    rec = {lang: tone(2.0, freq=300 if lang == "fr" else 500) for lang in ("fr", "en")}
    for lang, wave in rec.items():
        sf.write(tmp_path / f"rec_{lang}.wav", wave, FS)
        write_lines(d / f"wav.scp.{lang}", [f"rec1 {tmp_path / f'rec_{lang}.wav'}"])
    write_lines(d / "segments", ["spk1_a rec1 0.00 0.50", "spk1_b rec1 0.50 1.25", "spk2_c rec1 1.25 2.00"])
    write_lines(d / "segments.en", ["spk1_a rec1 0.10 0.30", "spk1_b rec1 0.30 1.00", "spk2_c rec1 1.00 2.00"])
    dd = DataDir(d)
    assert dd.utterance("spk1_b", "fr").segment == Segment("rec1", 0.5, 1.25)
    assert dd.utterance("spk1_b", "en").segment == Segment("rec1", 0.3, 1.0)   # segments.<lang> wins
    wave, _ = dd.load_audio("spk1_b", "fr")
    np.testing.assert_allclose(wave, rec["fr"][int(0.5 * FS):int(1.25 * FS)], atol=1e-4)
    wave, _ = dd.load_audio("spk1_a", "en")
    np.testing.assert_allclose(wave, rec["en"][int(0.1 * FS):int(0.3 * FS)], atol=1e-4)


def test_kaldi_ark_audio(tmp_path):
    samples = (tone(0.25) * 32767).astype(np.int16)
    ark = tmp_path / "a.ark"
    kaldiio.save_ark(str(ark), {"u1": (FS, samples)}, scp=str(tmp_path / "a.scp"))
    spec = (tmp_path / "a.scp").read_text().split()[1]
    wave, fs = read_audio(spec)
    assert fs == FS
    np.testing.assert_allclose(wave, samples / 32768.0, atol=1e-7)
    wave, _ = read_audio(spec, Segment("rec", 0.1, 0.2))
    assert wave.shape == (int(round(0.2 * FS)) - int(round(0.1 * FS)),)


def test_stereo_is_averaged(tmp_path):
    left, right = tone(0.2, freq=100), tone(0.2, freq=700)
    sf.write(tmp_path / "s.wav", np.stack([left, right], axis=1), FS, subtype="FLOAT")
    wave, _ = read_audio(str(tmp_path / "s.wav"))
    np.testing.assert_allclose(wave, (left + right) / 2, atol=1e-6)
    assert read_audio(str(tmp_path / "s.wav"), mono=False)[0].shape == (left.size, 2)


def test_pipe_entries_run_only_when_allowed(tmp_path, monkeypatch):
    """A pipe entry is read only by stage 1-2 (allow_pipes); elsewhere it is refused and not run."""
    from s2s_plugin.data.datadir import audio_info, is_pipe_entry

    monkeypatch.chdir(tmp_path)
    spec = "touch RAN; sox -n -r 8000 -b 16 -t wav - synth 0.25 sine 300 |"
    assert is_pipe_entry(spec)
    for read in (read_audio, audio_info):
        with pytest.raises(DataError, match="is not run: only `s2s data validate` and `s2s data format`"):
            read(spec)
    assert not (tmp_path / "RAN").exists()
    wave, fs = read_audio(spec, allow_pipes=True)
    assert (tmp_path / "RAN").exists() and fs == 8000 and wave.shape == (2000,)


def test_unreadable_audio_names_utterance_and_path(make_datadir):
    d = make_datadir()
    (d / "wav" / "en" / "spk1_b.wav").write_bytes(b"not audio at all")
    with pytest.raises(DataError, match=r"wav.scp.en: utterance 'spk1_b': cannot read audio '.*spk1_b.wav'"):
        DataDir(d).load_audio("spk1_b", "en")


def test_three_languages_is_an_error(make_datadir):
    d = make_datadir()
    (d / "text.de").write_text((d / "text.en").read_text())
    with pytest.raises(DataError, match="expected exactly two languages .* found: de, en, fr"):
        DataDir(d)


def test_inconsistent_ids_point_to_validate(make_datadir):
    d = make_datadir()
    write_lines(d / "utt2spk", ["spk1_a spk1", "spk2_c spk2"])
    with pytest.raises(DataError, match=r"utt2spk: utterance 'spk1_b' of text.fr is missing "
                                        r"\(1 missing\); run `s2s data validate"):
        DataDir(d)


@pytest.mark.parametrize("n_ids", [0, 1, 5, 10, 11])
@pytest.mark.parametrize("nj", [1, 3, 4])
def test_split_ids_contract(n_ids, nj):
    ids = [f"u{i:02d}" for i in range(n_ids)]
    parts = [split_ids(ids, nj, j) for j in range(1, nj + 1)]
    assert sum(parts, []) == ids
    assert [len(p) for p in parts] == [j * n_ids // nj - (j - 1) * n_ids // nj for j in range(1, nj + 1)]


def test_split_ids_sizes_and_bad_job():
    assert [len(split_ids(list("abcdefghij"), 3, j)) for j in (1, 2, 3)] == [3, 3, 4]
    with pytest.raises(DataError, match="job 4 of 3"):
        split_ids(["a"], 3, 4)


#: wav.scp values that kaldiio would run in a shell, each with a file of the name before ':offset' present
#: (so that an 'the ark file exists' check passes): a trailing pipe with offsets and ranges, or a leading
#: pipe. None is a pipe entry (a command ending in '|'), so none runs even where pipes are allowed.
PIPE_LOOKALIKES = ["touch PWNED |:0", "touch PWNED|:12", "touch PWNED |:0[0:10]", "touch PWNED | :0",
                   "| touch PWNED:0", "| touch PWNED", "| touch PWNED |"]


@pytest.mark.parametrize("spec", PIPE_LOOKALIKES)
def test_ark_lookalike_pipe_entries_never_reach_a_shell(tmp_path, monkeypatch, spec):
    from s2s_plugin.data.datadir import audio_info, is_ark_entry, is_pipe_entry

    monkeypatch.chdir(tmp_path)
    name = spec.rsplit(":", 1)[0] if spec[-1].isdigit() or spec.endswith("]") else spec
    (tmp_path / name.split("[")[0]).write_bytes(b"")
    assert not is_ark_entry(spec) and not is_pipe_entry(spec)
    for read in (read_audio, audio_info):
        for allow_pipes in (False, True):
            with pytest.raises(DataError, match="not a pipe entry .* nor an ark entry") as e:
                read(spec, allow_pipes=allow_pipes)
            assert spec in str(e.value)
    assert not (tmp_path / "PWNED").exists()


def test_the_pipe_lookalike_would_run_in_kaldiio(tmp_path, monkeypatch):
    """The control: handed to kaldiio as it is, an ark-looking pipe entry runs its command."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "touch PWNED |").write_bytes(b"")
    with pytest.raises(Exception):
        kaldiio.load_mat("touch PWNED |:0")
    assert (tmp_path / "PWNED").exists()


def test_data_validate_runs_nothing_from_wav_scp(make_datadir, tmp_path, monkeypatch, capsys):
    from s2s_plugin.bin.main import main

    d = make_datadir()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "touch PWNED |").write_bytes(b"")
    scp = d / "wav.scp.fr"
    lines = scp.read_text().splitlines()
    lines[1] = lines[1].split()[0] + " touch PWNED |:0"
    scp.write_text("\n".join(lines) + "\n")
    assert main(["data", "validate", str(d), "--tgt_lang", "en"]) == 2
    err = capsys.readouterr().err
    assert "spk1_b" in err and "not a pipe entry" in err and "wav.scp.fr" in err
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("rng, problem", [("[0:x]", "not an ark entry"), ("[1:2:3:4]", "bad range"),
                                          ("[0:9]", None), ("[:]", None), ("", None)])
def test_ark_ranges(tmp_path, rng, problem):
    from s2s_plugin.data.datadir import is_ark_entry

    samples = (tone(0.25) * 32767).astype(np.int16)
    kaldiio.save_ark(str(tmp_path / "a.ark"), {"u1": (FS, samples)}, scp=str(tmp_path / "a.scp"))
    spec = (tmp_path / "a.scp").read_text().split()[1] + rng
    assert is_ark_entry(spec) == (problem != "not an ark entry")
    if problem == "bad range":
        with pytest.raises(DataError, match=problem):
            read_audio(spec)
    elif problem is None:
        wave, fs = read_audio(spec)
        assert fs == FS
        np.testing.assert_allclose(wave, (samples[:10] if rng == "[0:9]" else samples) / 32768.0, atol=1e-7)


@pytest.mark.parametrize("subtype", ["PCM_16", "FLOAT"])  # FLOAT WAVs carry more chunks before 'data'
def test_a_truncated_wav_is_refused_and_whole_files_pass(tmp_path, subtype):
    from s2s_plugin.data.datadir import audio_info, wav_truncation

    x = tone(0.2)
    sf.write(tmp_path / "a.wav", x, FS, subtype=subtype)
    sf.write(tmp_path / "a.flac", x, FS)
    assert wav_truncation(tmp_path / "a.wav") is None and wav_truncation(tmp_path / "a.flac") is None
    raw = (tmp_path / "a.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(raw[:-100])
    with pytest.raises(DataError, match=r"cut.wav': the file is truncated: its header declares \d+ bytes of "
                                        r"samples but only \d+ follow"):
        audio_info(str(tmp_path / "cut.wav"))
    with pytest.raises(DataError, match="the file is truncated"):
        read_audio(str(tmp_path / "cut.wav"))
    assert sf.info(str(tmp_path / "cut.wav")).frames > 0  # libsndfile alone reads what is left, silently


def test_nan_and_inf_samples_are_refused_naming_the_first(tmp_path):
    x = tone(0.2)
    x[50], x[70] = np.inf, np.nan
    sf.write(tmp_path / "bad.wav", x, FS, subtype="FLOAT")
    with pytest.raises(DataError, match=r"1 NaN and 1 infinite \(Inf\) sample\(s\), the first at sample 50 "):
        read_audio(str(tmp_path / "bad.wav"))
