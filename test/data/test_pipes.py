"""wav.scp entries of every form Kaldi and ESPnet write, in an ESPnet-shaped CVSS data dir.

The dir has, over one ``segments`` file: Kaldi pipe entries (sox on a wav,
sox synthesising, and ESPnet's Common Voice form ``ffmpeg -i clip.mp3 -f wav
-ar 16000 -ab 16 -ac 1 - |`` on an mp3 made here with ffmpeg), plain paths and
a kaldiio ark entry; one pipe recording is cut into two segments. Stages 1-2 of
egs/cvss/s2st1 (a local/data.sh that puts the dir in place, ``s2s data
validate``, sharded ``s2s data format``) turn it into plain WAV dumps. A failing
pipe names the utterance, the command and its stderr; ``--no_pipes`` refuses
pipe entries; an id holding ``$(...)`` is never put into a shell.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import kaldiio
import numpy as np
import pytest
import soundfile as sf

from s2s_plugin.bin.main import main as s2s_main

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "egs" / "cvss" / "s2st1"
FS = 16000
#: an utterance (and recording) id that would create PWNED if it ever reached a shell
EVIL = "eve-x$(touch${IFS}PWNED)"
#: utterance -> (recording, start, end, expected dominant frequency in Hz of fr, of en)
UTTS = {
    "anne-cv_1": ("anne-cv_1", 0.0, 0.8, 440, 330),       # fr: ffmpeg pipe on an mp3; en: plain wav
    "anne-cv_2": ("anne-cv_2", 0.0, 0.6, 550, 350),       # fr: plain wav; en: sox pipe on a 22.05 kHz wav
    "bruno-cv_3": ("bruno-cv_3", 0.0, 0.7, 660, 370),     # fr: kaldiio ark entry; en: plain wav
    "bruno-long_a": ("long", 0.0, 0.9, 300, 400),         # both: a pipe recording of 2 s, two segments
    "chloe-cv_4": ("chloe-cv_4", 0.0, 0.5, 880, 390),     # fr: sox synthesising; en: plain wav
    "chloe-long_b": ("long", 1.0, 2.0, 700, 800),
    EVIL: (EVIL, 0.0, 0.5, 1000, 410),                    # fr: sox pipe on a 44.1 kHz wav; en: plain wav
}


def tone(fs: int, seconds: float, freq: float) -> np.ndarray:
    t = np.arange(int(round(fs * seconds))) / fs
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def dominant(wave: np.ndarray, fs: int) -> float:
    spec = np.abs(np.fft.rfft(wave * np.hanning(wave.size)))
    return float(np.argmax(spec) * fs / wave.size)


def build_data_dir(root: Path) -> Path:
    """``root/prepared/train_fr``: the data dir an ESPnet-style CVSS preparation writes, audio under root."""
    audio, d = root / "audio", root / "prepared" / "train_fr"
    audio.mkdir(parents=True)
    d.mkdir(parents=True)
    sf.write(audio / "cv_1.wav", tone(22050, 0.8, 440), 22050)
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(audio / "cv_1.wav"),
                    str(audio / "common_voice_fr_1.mp3")], check=True)
    sf.write(audio / "cv_2.wav", tone(FS, 0.6, 550), FS)
    kaldiio.save_ark(str(audio / "src.ark"), {"bruno-cv_3": (FS, (tone(FS, 0.7, 660) * 32767).astype(np.int16))},
                     scp=str(audio / "src.scp"))
    ark_entry = (audio / "src.scp").read_text().split()[1]
    sf.write(audio / "long_fr.wav", np.concatenate([tone(FS, 1.0, 300), tone(FS, 1.0, 700)]), FS)
    sf.write(audio / "long_en.wav", np.concatenate([tone(FS, 1.0, 400), tone(FS, 1.0, 800)]), FS)
    sf.write(audio / "eve.wav", tone(44100, 0.5, 1000), 44100)
    sf.write(audio / "tgt_2.wav", tone(22050, 0.6, 350), 22050)
    count = {lang: root / f"long_{lang}.runs" for lang in ("fr", "en")}  # one line per run of the pipe
    wav_fr = {
        "anne-cv_1": f"ffmpeg -i {audio}/common_voice_fr_1.mp3 -f wav -ar 16000 -ab 16 -ac 1 - |",
        "anne-cv_2": f"{audio}/cv_2.wav",
        "bruno-cv_3": ark_entry,
        "chloe-cv_4": "sox -n -r 16000 -b 16 -t wav - synth 0.5 sine 880 |",
        EVIL: f"sox {audio}/eve.wav -r 16000 -t wav - |",
        "long": f"echo run >> {count['fr']}; sox {audio}/long_fr.wav -t wav - |",
    }
    wav_en = {"long": f"echo run >> {count['en']}; sox {audio}/long_en.wav -t wav - |",
              "anne-cv_2": f"sox {audio}/tgt_2.wav -r 16000 -t wav - |"}
    for utt, (rec, start, end, _, f_en) in UTTS.items():
        if rec not in wav_en:
            path = audio / f"en_{utt.split('-')[0]}_{len(wav_en)}.wav"
            sf.write(path, tone(FS, end - start, f_en), FS)
            wav_en[rec] = str(path)
    files = {
        "wav.scp.fr": wav_fr, "wav.scp.en": wav_en,
        "segments": {u: f"{rec} {start:.2f} {end:.2f}" for u, (rec, start, end, _, _) in UTTS.items()},
        "text.fr": {u: f"phrase numero {i}" for i, u in enumerate(UTTS)},
        "text.en": {u: f"sentence number {i}" for i, u in enumerate(UTTS)},
        "utt2spk": {u: u.split("-")[0] for u in UTTS},
    }
    for name, entries in files.items():
        (d / name).write_text("".join(f"{k} {v}\n" for k, v in sorted(entries.items())), encoding="utf-8")
    return d


def copy_recipe(dest: Path, prepared: Path) -> Path:
    """The CVSS recipe whose local/data.sh puts the ESPnet-prepared dir in place."""
    dest.mkdir(parents=True)
    for name in ("run.sh", "db.sh", "path.sh", "cmd.sh", "conf"):
        (shutil.copytree if (RECIPE / name).is_dir() else shutil.copy2)(RECIPE / name, dest / name)
    (dest / "utils").symlink_to(ROOT / "utils")
    (dest / "s2st.sh").symlink_to(ROOT / "egs" / "TEMPLATE" / "s2st1" / "s2st.sh")
    (dest / "local").mkdir()
    (dest / "local" / "data.sh").write_text(f"#!/usr/bin/env bash\nset -euo pipefail\nmkdir -p data\n"
                                            f"cp -r '{prepared}' data/\n")
    (dest / "local" / "data.sh").chmod(0o755)
    (dest / "conf" / "format_wav.yaml").write_text("fs: 16000\naudio_format: wav\nsubtype: PCM_16\n")
    return dest


def recipe_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


@pytest.fixture(scope="module")
def espnet_cvss(tmp_path_factory):
    """The data dir, and the CVSS recipe's stages 1-2 run on it (2 format jobs)."""
    root = tmp_path_factory.mktemp("espnet_cvss")
    prepared = build_data_dir(root)
    recipe = copy_recipe(root / "egs" / "cvss" / "s2st1", prepared)
    run = subprocess.run(["./run.sh", "--src_lang", "fr", "--stop_stage", "2", "--nj", "2", "--valid_sets", "",
                          "--test_sets", "", "--format_conf", "conf/format_wav.yaml"],
                         cwd=recipe, capture_output=True, text=True, timeout=300, env=recipe_env())
    return {"root": root, "data": prepared, "recipe": recipe, "run": run}


def test_stages_1_2_dump_every_entry_form_as_plain_wavs(espnet_cvss, monkeypatch):
    run, recipe, root = espnet_cvss["run"], espnet_cvss["recipe"], espnet_cvss["root"]
    assert run.returncode == 0, run.stderr[-3000:]
    assert (recipe / "data" / ".done.stage1").is_file()
    dump = recipe / "dump" / "train_fr"
    assert (dump / ".done.stage2").is_file()
    for side, lang in enumerate(("fr", "en")):
        scp = dict(line.split(" ", 1) for line in (dump / f"wav.scp.{lang}").read_text().splitlines())
        nsamp = dict(line.split() for line in (dump / f"utt2num_samples.{lang}").read_text().splitlines())
        assert sorted(scp) == sorted(UTTS)
        for utt, path in scp.items():
            assert not path.rstrip().endswith("|") and (recipe / path).is_file()
            info = sf.info(recipe / path)
            assert (info.format, info.subtype, info.samplerate, info.channels) == ("WAV", "PCM_16", FS, 1)
            _, start, end, *freqs = UTTS[utt]  # freqs: fr, en
            want = int(round(end * FS)) - int(round(start * FS))
            # the mp3 decodes to the clip's length within an mp3 frame; everything else is exact
            assert abs(info.frames - want) <= (1152 if utt == "anne-cv_1" and lang == "fr" else 0), (utt, lang)
            assert int(nsamp[utt]) == info.frames
            wave, _ = sf.read(recipe / path, dtype="float32")
            assert abs(dominant(wave, FS) - freqs[side]) < 15, (utt, lang)
    # segments over a pipe recording: its command ran once for stage 1's check and once for the job
    # that holds both segments (chloe-cv_4 sits between them in id order)
    for lang in ("fr", "en"):
        assert (root / f"long_{lang}.runs").read_text().splitlines() == ["run", "run"]
    # the dump is a plain data dir (paths relative to the recipe): valid with pipes refused
    monkeypatch.chdir(recipe)
    assert s2s_main(["data", "validate", str(dump), "--no_pipes"]) == 0
    assert not list(root.rglob("PWNED")), "an utterance id reached a shell"


def test_data_validate_runs_the_pipes(espnet_cvss, capsys, monkeypatch):
    monkeypatch.chdir(espnet_cvss["root"])
    assert s2s_main(["data", "validate", str(espnet_cvss["data"])]) == 0
    out = capsys.readouterr().out
    assert "OK: 7 utterances, fr->en" in out
    assert not list(espnet_cvss["root"].rglob("PWNED"))


def with_entry(src: Path, dest: Path, lang: str, rec: str, entry: str) -> Path:
    shutil.copytree(src, dest)
    scp = dest / f"wav.scp.{lang}"
    lines = [f"{rec} {entry}" if line.split(" ", 1)[0] == rec else line for line in scp.read_text().splitlines()]
    scp.write_text("\n".join(lines) + "\n")
    return dest


def test_a_failing_pipe_names_utterance_command_and_stderr(espnet_cvss, tmp_path, capsys):
    d = with_entry(espnet_cvss["data"], tmp_path / "bad", "fr", "chloe-cv_4", "sox /nonexistent.wav -t wav - |")
    assert s2s_main(["data", "validate", str(d)]) == 2
    err = capsys.readouterr().err
    assert (f"{d}/wav.scp.fr:4: recording 'chloe-cv_4': the pipe command `sox /nonexistent.wav -t wav -` "
            f"exited with status 2; its stderr:\n") in err
    assert "can't open input file `/nonexistent.wav'" in err
    assert s2s_main(["data", "format", str(d), str(tmp_path / "dump"), "--nj", "1"]) == 2
    err = capsys.readouterr().err
    assert (f"{d}/wav.scp.fr: utterance 'chloe-cv_4' (recording 'chloe-cv_4'): the pipe command "
            f"`sox /nonexistent.wav -t wav -` exited with status 2; its stderr:\n    sox FAIL formats: "
            f"can't open input file") in err
    assert not (tmp_path / "dump" / ".format.done").exists()


def test_no_pipes_refuses_pipe_entries_and_runs_none(espnet_cvss, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    d = with_entry(espnet_cvss["data"], tmp_path / "untrusted", "en", "anne-cv_2",
                   "touch RAN; sox -n -t wav - synth 0.6 sine 350 |")
    for extra in ([], ["--no_audio"]):
        assert s2s_main(["data", "validate", str(d), "--no_pipes", *extra]) == 2
        err = capsys.readouterr().err
        assert f"{d}/wav.scp.en:2: recording 'anne-cv_2': the pipe entry 'touch RAN; sox" in err
        assert f"{d}/wav.scp.fr:1: recording 'anne-cv_1': the pipe entry 'ffmpeg -i" in err
        assert err.count("is not run: --no_pipes refuses pipe entries") == 6  # 4 fr, 2 en
    assert s2s_main(["data", "format", str(d), str(tmp_path / "dump"), "--no_pipes"]) == 2
    err = capsys.readouterr().err
    assert f"{d}/wav.scp.fr:1: recording 'anne-cv_1': the pipe entry 'ffmpeg -i " in err and "--no_pipes" in err
    assert not (tmp_path / "RAN").exists() and not (tmp_path / "dump" / "audio").exists()


def test_recipe_passes_no_pipes_to_stages_1_2(espnet_cvss):
    p = subprocess.run(["./run.sh", "--src_lang", "fr", "--stop_stage", "2", "--valid_sets", "", "--test_sets", "",
                        "--no_pipes", "true", "--dry_run", "true"], cwd=espnet_cvss["recipe"],
                       capture_output=True, text=True, timeout=60, env=recipe_env())
    assert p.returncode == 0, p.stderr
    printed = (p.stdout + p.stderr).splitlines()  # stage 1's commands print through its log's tee, to stderr
    lines = [line for line in printed if " data validate " in line or " data format " in line]
    # stage 1's validate and stage 2's one format call (its jobs inherit --no_pipes from its command line)
    assert len(lines) == 2 and all(line.rstrip().endswith("--no_pipes") or "--no_pipes " in line for line in lines)


def test_later_stages_refuse_pipe_entries(espnet_cvss, tmp_path, monkeypatch):
    """Only stage 1-2 readers run pipes: a DataDir read elsewhere refuses them (and runs nothing)."""
    from s2s_plugin.data.datadir import DataDir
    from s2s_plugin.errors import DataError

    monkeypatch.chdir(tmp_path)
    d = with_entry(espnet_cvss["data"], tmp_path / "d", "fr", "chloe-cv_4", "touch RAN; sox -n -t wav - synth 1 |")
    with pytest.raises(DataError, match=r"utterance 'chloe-cv_4' \(recording 'chloe-cv_4'\): the pipe entry "
                                        r"'touch RAN; .*' is not run: only `s2s data validate` and `s2s data format`"):
        DataDir(d).load_audio("chloe-cv_4", "fr")
    assert not (tmp_path / "RAN").exists()
    wave, fs = DataDir(d).load_audio("anne-cv_2", "fr")  # plain entries read as before
    assert fs == FS and wave.size == int(0.6 * FS)


def test_pipe_messages_quote_the_end_of_stderr_and_say_what_went_wrong(tmp_path, monkeypatch):
    from s2s_plugin.data.datadir import read_pipe
    from s2s_plugin.errors import DataError

    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError) as e:
        read_pipe("for i in $(seq 25); do echo problem $i >&2; done; exit 3 |")
    msg = str(e.value)
    assert msg.startswith("the pipe command `for i in $(seq 25); do echo problem $i >&2; done; exit 3` exited "
                          "with status 3; its stderr (last 10 of 25 lines):\n    problem 16\n")
    assert msg.endswith("    problem 25") and "problem 15\n" not in msg
    with pytest.raises(DataError, match="`true` wrote no audio to its stdout; its stderr is empty"):
        read_pipe("true |")
    with pytest.raises(DataError, match=r"`echo hello` wrote 6 bytes that are not audio soundfile can read"):
        read_pipe("echo hello |")
    with pytest.raises(DataError, match=r"`kill -9 \$\$` was killed by signal 9"):
        read_pipe("kill -9 $$ |")
