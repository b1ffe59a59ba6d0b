"""`s2s data format` (stage 2): resampling, lengths, filters, jobs + merge, markers."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import soundfile as sf
from data_testutils import FS, tone, write_lines

from s2s_plugin.bin.main import main
from s2s_plugin.data.datadir import DataDir
from s2s_plugin.data.format import (DONE_MARKER, FormatConfig, format_datadir, format_job, job_dir,
                                    merge_jobs, read_filter_report, resample)
from s2s_plugin.data.io import read_kaldi_text
from s2s_plugin.data.validate import validate_datadir
from s2s_plugin.errors import ConfigError, DataError

# two kept pairs, one with an empty target, one with a too long source
DURATIONS = {"spk1_a": (0.5, 0.61), "spk1_b": (0.73, 0.4), "spk2_empty": (0.3, 0.0), "spk2_long": (2.5, 0.3)}
CFG = FormatConfig(max_duration=2.0)


def test_output_rate_lengths_and_layout(make_datadir, tmp_path):
    d = make_datadir(durations=DURATIONS)
    dump = tmp_path / "dump"
    summary = format_datadir(d, dump, CFG)
    assert summary["kept"] == 2 and summary["removed"]["empty"] == 1 and summary["removed"]["too_long"] == 1
    assert json.loads((dump / DONE_MARKER).read_text())["kept"] == 2
    for lang, side in (("fr", 0), ("en", 1)):
        scp = read_kaldi_text(dump / f"wav.scp.{lang}")
        assert scp == {u: str(dump / "audio" / lang / f"{u}.flac") for u in ("spk1_a", "spk1_b")}
        nsamp = read_kaldi_text(dump / f"utt2num_samples.{lang}")
        dur = read_kaldi_text(dump / f"utt2dur.{lang}")
        for utt, path in scp.items():
            info = sf.info(path)
            assert (info.samplerate, info.channels, info.format) == (16000, 1, "FLAC")
            n_in = int(round(DURATIONS[utt][side] * FS))
            assert info.frames == int(nsamp[utt]) == math.ceil(n_in * 16000 / FS)
            assert abs(float(dur[utt]) - n_in / FS) <= 1 / 16000
    assert list(read_kaldi_text(dump / "text.fr")) == ["spk1_a", "spk1_b"]
    assert read_kaldi_text(dump / "utt2spk") == {"spk1_a": "spk1", "spk1_b": "spk1"}
    ctm_utts = {line.split()[0] for line in (dump / "oracle.en.ctm").read_text().splitlines()}
    assert ctm_utts == {"spk1_a", "spk1_b"}
    report = validate_datadir(dump)
    assert report.ok, report.error_message()
    assert report.seconds == pytest.approx({"fr": 1.23, "en": 1.01}, abs=2 / 16000)


def test_resampled_tone_matches_the_ideal_tone():
    y = resample(tone(0.5, freq=440), FS, 16000)
    ideal = tone(0.5, fs=16000, freq=440)
    assert y.size == ideal.size
    assert np.max(np.abs(y[200:-200] - ideal[200:-200])) < 5e-3   # edges are filter transients


def test_filters_are_reported_per_reason(make_datadir, tmp_path):
    durations = dict(DURATIONS, spk3_silent=(0.5, 0.5), spk3_short=(0.5, 0.05))
    d = make_datadir(durations=durations, waves={("spk3_silent", "fr"): np.zeros(FS // 2, np.float32)})
    dump = tmp_path / "dump"
    summary = format_datadir(d, dump, CFG)
    assert summary["removed"] == {"empty": 1, "silent": 1, "too_short": 1, "too_long": 1}
    rows = read_filter_report(dump / "filter_report.txt")
    assert [(u, r, lang) for u, r, lang, _ in rows] == [
        ("spk2_empty", "empty", "en"), ("spk2_long", "too_long", "fr"),
        ("spk3_short", "too_short", "en"), ("spk3_silent", "silent", "fr")]
    assert rows[1][3] == "2.500 s > max_duration 2.0 s"
    assert rows[3][3] == "peak -inf dBFS < silence_threshold_db -60.0 dBFS"
    head = (dump / "filter_report.txt").read_text().splitlines()
    assert head[0].endswith("removed 4 of 6 utterances")
    assert head[1:5] == ["# empty: 1", "# silent: 1", "# too_short: 1", "# too_long: 1"]
    assert not (dump / "audio" / "fr" / "spk2_long.flac").exists()
    assert list(read_kaldi_text(dump / "text.en")) == ["spk1_a", "spk1_b"]


def test_jobs_plus_merge_equal_a_single_job(make_datadir, tmp_path):
    d = make_datadir(durations=DURATIONS)
    format_datadir(d, tmp_path / "one", CFG, nj=1)
    for job in (1, 2, 3):
        format_job(d, tmp_path / "three", CFG, nj=3, job=job)
    assert [len(read_kaldi_text(job_dir(tmp_path / "three", 3, j) / "wav.scp.fr")) for j in (1, 2, 3)] == [1, 1, 0]
    merge_jobs(d, tmp_path / "three", CFG, nj=3)
    for name in ("utt2num_samples.fr", "utt2num_samples.en", "utt2dur.en", "text.fr", "text.en", "utt2spk",
                 "oracle.fr.ctm", "oracle.en.ctm"):
        assert (tmp_path / "one" / name).read_text() == (tmp_path / "three" / name).read_text(), name
    one, three = (read_kaldi_text(tmp_path / x / "wav.scp.en") for x in ("one", "three"))
    assert list(one) == list(three)
    for utt in one:
        np.testing.assert_array_equal(sf.read(one[utt])[0], sf.read(three[utt])[0])
    assert (tmp_path / "one" / "filter_report.txt").read_text().splitlines()[1:] == \
        (tmp_path / "three" / "filter_report.txt").read_text().splitlines()[1:]


def test_missing_job_at_merge_is_an_error(make_datadir, tmp_path):
    d = make_datadir(durations=DURATIONS)
    dump = tmp_path / "dump"
    format_job(d, dump, CFG, nj=3, job=1)
    format_job(d, dump, CFG, nj=3, job=3)
    with pytest.raises(DataError, match=r"format job 2 of 3 did not finish \(no .*format.split3/2/done.json\)"):
        merge_jobs(d, dump, CFG, nj=3)
    assert not (dump / DONE_MARKER).exists() and not (dump / "wav.scp.fr").exists()


def test_merge_refuses_jobs_from_another_config_or_data(make_datadir, tmp_path):
    d = make_datadir(durations=DURATIONS)
    dump = tmp_path / "dump"
    format_job(d, dump, CFG, nj=1, job=1)
    with pytest.raises(DataError, match="job 1 ran with another config"):
        merge_jobs(d, dump, FormatConfig(fs=8000, max_duration=2.0), nj=1)
    for name in ("text.fr", "text.en", "wav.scp.fr", "wav.scp.en", "utt2spk", "oracle.fr.ctm", "oracle.en.ctm"):
        lines = (d / name).read_text().splitlines()
        write_lines(d / name, [ln for ln in lines if not ln.startswith("spk1_a")])
    with pytest.raises(DataError, match="job 1 ran on other utterances"):
        merge_jobs(d, dump, CFG, nj=1)


def test_rerunning_a_job_removes_the_done_marker(make_datadir, tmp_path):
    d = make_datadir(durations=DURATIONS)
    dump = tmp_path / "dump"
    format_datadir(d, dump, CFG, nj=2)
    assert (dump / DONE_MARKER).exists()
    (d / "wav" / "en" / "spk2_long.wav").write_bytes(b"broken")
    with pytest.raises(DataError, match=r"wav.scp.en: utterance 'spk2_long': cannot read audio"):
        format_job(d, dump, CFG, nj=2, job=2)
    assert not (dump / DONE_MARKER).exists()
    assert not (job_dir(dump, 2, 2) / "done.json").exists()
    assert (job_dir(dump, 2, 1) / "done.json").exists()


def test_all_filtered_is_an_error(make_datadir, tmp_path):
    d = make_datadir(durations={"a_1": (0.3, 0.3), "a_2": (0.4, 0.4)})
    with pytest.raises(DataError, match=r"all 2 utterances were removed by the filters \(empty: 0, silent: 0, "
                                        r"too_short: 2, too_long: 0\)"):
        format_datadir(d, tmp_path / "dump", FormatConfig(min_duration=1.0))


def test_segments_and_stereo_input(make_datadir, tmp_path):
    d = make_datadir(durations={"a_1": (0.3, 0.3), "a_2": (0.4, 0.4)}, ctm=False)
    stereo = np.stack([tone(1.0, fs=44100, freq=300), tone(1.0, fs=44100, freq=300)], axis=1)
    sf.write(tmp_path / "rec.wav", stereo, 44100)
    write_lines(d / "wav.scp.fr", [f"rec {tmp_path / 'rec.wav'}"])
    write_lines(d / "segments.fr", ["a_1 rec 0.0 0.25", "a_2 rec 0.25 1.0"])
    dump = tmp_path / "dump"
    format_datadir(d, dump, FormatConfig(fs=8000, audio_format="wav"))
    assert read_kaldi_text(dump / "utt2num_samples.fr") == {"a_1": "2000", "a_2": "6000"}
    wave, fs = sf.read(dump / "audio" / "fr" / "a_2.wav")
    assert fs == 8000 and wave.ndim == 1
    np.testing.assert_allclose(wave[100:-100], tone(1.0, fs=8000, freq=300)[2000 + 100:-100], atol=5e-3)
    assert DataDir(dump).segments_file("fr") is None


def test_config_is_strict():
    with pytest.raises(ConfigError, match="min_duration < max_duration"):
        FormatConfig(min_duration=5.0, max_duration=1.0)
    with pytest.raises(ConfigError, match="subtype 'PCM_U8' is not valid for flac"):
        FormatConfig(subtype="PCM_U8")


def test_cli_run_pl_style_jobs_then_merge(make_datadir, tmp_path, capsys):
    d = make_datadir(durations=DURATIONS)
    conf = tmp_path / "format.yaml"
    conf.write_text("fs: 16000\nmax_duration: 2.0\n")
    dump = tmp_path / "dump"
    base = ["data", "format", str(d), str(dump), "--config", str(conf), "--nj", "2"]
    assert main(base + ["--job", "1"]) == 0
    assert main(base + ["--merge"]) == 2
    assert "format job 2 of 2 did not finish" in capsys.readouterr().err
    assert main(base + ["--job", "2"]) == 0
    assert main(base + ["--merge"]) == 0
    assert len(read_kaldi_text(dump / "wav.scp.en")) == 2
    # overrides and --fs reach the config; a typo is refused before any work
    assert main(["data", "format", str(d), str(tmp_path / "d8"), "--fs", "8000", "max_duration=3.0"]) == 0
    assert sf.info(tmp_path / "d8" / "audio" / "fr" / "spk2_long.flac").samplerate == 8000
    assert main(["data", "format", str(d), str(tmp_path / "bad"), "max_durration=3"]) == 2
    assert "unknown key 'max_durration'; did you mean 'max_duration'?" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
    assert main(["data", "validate", str(dump)]) == 0
