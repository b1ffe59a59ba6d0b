"""egs/cvss/s2st1 and s2s corpus-cvss on a miniature Common Voice 4 + CVSS-C tree in the real layouts.

The tree has 48 kHz mp3 source clips, 24 kHz target wavs and one broken entry
of each kind; stages 1-2 of the recipe run on it through ./run.sh.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import recipe_testutils
import soundfile as sf

from s2s_plugin.bin.main import main as s2s_main
from s2s_plugin.corpora.cvss import (CvssOptions, cv_lang_dir, cvss_pair_dir, make_utt_id, normalize_text,
                                     prepare_cvss, read_prep_report, read_validated, select_subset)
from s2s_plugin.errors import ConfigError, DataError

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "egs" / "cvss" / "s2st1"
CV_HEADER = "client_id\tpath\tsentence\tup_votes\tdown_votes\tage\tgender\taccent"


def client(name: str) -> str:
    """A Common Voice 4 client_id: 128 hex digits."""
    return hashlib.sha512(name.encode()).hexdigest()


SPK = {s: client(s) for s in ("anne", "bruno", "chloe")}
# clip number -> (speaker, sentence as in validated.tsv, translation as in the CVSS tsv)
TRAIN = {
    100: ("anne", "Bonjour à tous.", "hello everyone"),
    101: ("bruno", 'Il a dit "oui"  puis   il est parti.', "he said yes then he left"),
    102: ("anne", "Le chat dort.", "the cat is sleeping"),
    103: ("chloe", "C'est l'heure.", "it is time"),
    104: ("bruno", "Un clip perdu.", "a lost clip"),              # mp3 missing from clips/
    105: ("chloe", "Une cible perdue.", "a lost target"),         # target wav missing
    106: ("anne", "Des octets au hasard.", "random bytes"),       # mp3 is garbage
    107: ("chloe", "Merci beaucoup.", "thank you very much"),
}
DEV = {
    200: ("anne", "Oui.", "yes"),
    201: ("bruno", "Non.", "no"),
    202: ("chloe", "Rien à traduire.", ""),                      # empty translation
    203: ("bruno", "Peut-être.", "maybe"),
}
TEST = {
    300: ("anne", "Au revoir.", "goodbye"),
    301: ("bruno", "À demain.", "see you tomorrow"),
    302: ("chloe", "Absent de validated.", "absent"),             # not in validated.tsv
    303: ("chloe", "Bonne nuit.", "good night"),
    304: ("anne", "Bon appétit.", "enjoy your meal"),
}
SPLITS = {"train": TRAIN, "dev": DEV, "test": TEST}
BROKEN = {  # (split, clip) -> reasons
    ("train", "common_voice_fr_104"): ("missing_source_clip",),
    ("train", "common_voice_fr_105"): ("missing_target_audio",),
    ("train", "common_voice_fr_106"): ("unreadable_source_audio",),
    ("dev", "common_voice_fr_202"): ("empty_translation",),
    ("test", "common_voice_fr_302"): ("not_in_validated",),
}


def stem(n: int) -> str:
    return f"common_voice_fr_{n}"


def utt(n: int, table: dict) -> str:
    return f"{SPK[table[n][0]]}-{stem(n)}"


def tone(fs: int, seconds: float, freq: float) -> np.ndarray:
    t = np.arange(int(fs * seconds)) / fs
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def build_corpora(root: Path) -> tuple[Path, Path]:
    """``root/cv4/fr`` (Common Voice 4) and ``root/cvss/cvss_c/fr_en`` (CVSS-C) with the entries above."""
    cv, pair = root / "cv4" / "fr", root / "cvss" / "cvss_c" / "fr_en"
    (cv / "clips").mkdir(parents=True)
    rows = [CV_HEADER]
    for split, table in SPLITS.items():
        (pair / split).mkdir(parents=True)
        lines = []
        for i, (n, (spk, sentence, translation)) in enumerate(table.items()):
            if n != 302:
                rows.append(f"{SPK[spk]}\t{stem(n)}.mp3\t{sentence}\t2\t0\tthirties\tfemale\tfrance")
            if n == 106:
                (cv / "clips" / f"{stem(n)}.mp3").write_bytes(b"not an mp3 at all " * 40)
            elif n != 104:
                sf.write(cv / "clips" / f"{stem(n)}.mp3", tone(48000, 0.5 + 0.05 * i, 220.0), 48000, format="MP3")
            if n != 105:
                sf.write(pair / split / f"{stem(n)}.mp3.wav", tone(24000, 0.6, 330.0), 24000)
            lines.append(f"{stem(n)}.mp3\t{translation}\n")
        (pair / f"{split}.tsv").write_text("".join(lines), encoding="utf-8")
    rows.append(f"{SPK['bruno']}\t{stem(999)}.mp3\tUne phrase hors CVSS.\t2\t0\t\t\t")  # validated, not in CVSS
    (cv / "validated.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return root / "cv4", root / "cvss"


def copy_recipe(dest: Path) -> Path:
    return recipe_testutils.copy_recipe(RECIPE, dest, ("run.sh", "db.sh", "path.sh", "cmd.sh", "local", "conf"))


def run(args, cwd, **env):
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **env})


def kaldi(path: Path) -> dict[str, str]:
    return dict(line.split(" ", 1) for line in path.read_text(encoding="utf-8").splitlines())


@pytest.fixture(scope="module")
def recipe_runs(tmp_path_factory):
    """The recipe run twice on the tree: with the default max_missing (fails), then allowing 40%."""
    root = tmp_path_factory.mktemp("cvss")
    cv4, cvss = build_corpora(root / "corpora")
    recipe = copy_recipe(root / "egs" / "cvss" / "s2st1")
    env = {"CV4": str(cv4), "CVSS": str(cvss)}
    failed = run(["./run.sh", "--src_lang", "fr", "--stop_stage", "2", "--nj", "1"], recipe, **env)
    after_failure = sorted(p.name for p in (recipe / "data").iterdir())
    ok = run(["./run.sh", "--src_lang", "fr", "--stop_stage", "2", "--nj", "1", "--max_missing", "0.4",
              "--test_subset", "3", "--seed", "7", "--local_data_opts", "--nj 2"], recipe, **env)
    return {"recipe": recipe, "cv4": cv4, "cvss": cvss, "failed": failed, "after_failure": after_failure,
            "ok": ok}


def test_recipe_stage_1_writes_the_data_dirs(recipe_runs):
    r, cv4, cvss = recipe_runs["recipe"], recipe_runs["cv4"], recipe_runs["cvss"]
    assert recipe_runs["ok"].returncode == 0, recipe_runs["ok"].stderr
    test_usable = [utt(n, TEST) for n in (300, 301, 303, 304)]
    expected = {
        "train": sorted(utt(n, TRAIN) for n in (100, 101, 102, 103, 107)),
        "dev": sorted(utt(n, DEV) for n in (200, 201, 203)),
        "test": select_subset(test_usable, 3, seed=7),
    }
    assert len(expected["test"]) == 3 and set(expected["test"]) <= set(test_usable)
    for split, ids in expected.items():
        d = r / "data" / f"{split}_fr"
        assert sorted(p.name for p in d.iterdir()) == [".done.stage1", "text.en", "text.fr", "utt2spk", "wav.scp.en",
                                                       "wav.scp.fr"]  # .done.stage1: the set's marker
        for name in ("text.en", "text.fr", "utt2spk", "wav.scp.en", "wav.scp.fr"):
            assert list(kaldi(d / name)) == ids, name  # same ids, sorted, in every file
        table = SPLITS[split]
        by_id = {utt(n, table): n for n in table}
        for u in ids:
            n = by_id[u]
            spk, sentence, translation = table[n]
            assert kaldi(d / "utt2spk")[u] == SPK[spk]
            assert kaldi(d / "text.fr")[u] == " ".join(sentence.split())  # case, quotes, punctuation kept
            assert kaldi(d / "text.en")[u] == translation
            assert kaldi(d / "wav.scp.fr")[u] == str(cv4 / "fr" / "clips" / f"{stem(n)}.mp3")
            assert kaldi(d / "wav.scp.en")[u] == str(cvss / "cvss_c" / "fr_en" / split / f"{stem(n)}.mp3.wav")
    assert kaldi(r / "data" / "train_fr" / "text.fr")[utt(101, TRAIN)] == 'Il a dit "oui" puis il est parti.'
    assert (r / "data" / ".done.stage1").is_file()
    assert "train_fr: OK: 5 utterances, fr->en" in (r / "data" / "logs" / "data.log").read_text()


def test_recipe_report_lists_exactly_the_broken_entries(recipe_runs):
    r = recipe_runs["recipe"]
    report = r / "data" / "local" / "prep_report_fr.txt"
    rows = read_prep_report(report)
    assert {(b.split, b.clip): b.reasons for b in rows} == BROKEN
    assert len(rows) == len(BROKEN)
    details = {b.clip: b.detail for b in rows}
    clips = recipe_runs["cv4"] / "fr" / "clips"
    assert details["common_voice_fr_104"] == f"{clips / 'common_voice_fr_104.mp3'} not found"
    assert details["common_voice_fr_105"].endswith("train/common_voice_fr_105.mp3.wav not found")
    assert details["common_voice_fr_106"].startswith("soundfile cannot read ")
    assert "dev.tsv:3" in details["common_voice_fr_202"]
    text = report.read_text()
    assert "# train: 8 entries in " in text and "3 broken (37.50%), 5 kept: ok" in text
    assert "# test: random subset of 3 of 4 usable utterances" in text
    log = recipe_runs["ok"].stderr
    assert "train_fr: 8 entries, 5 kept, 3 broken (37.50%: missing_source_clip 1, missing_target_audio 1, " \
           "unreadable_source_audio 1)" in log
    assert "test_fr: 5 entries, 3 kept (random subset of 4, seed 7), 1 broken" in log
    assert "broken entries are listed in data/local/prep_report_fr.txt" in log


def test_recipe_stage_2_dumps_16k_audio(recipe_runs):
    r = recipe_runs["recipe"]
    for split, n in (("train", 5), ("dev", 3), ("test", 3)):
        dump = r / "dump" / f"{split}_fr"
        assert (dump / ".done.stage2").is_file()
        for lang in ("fr", "en"):
            scp = kaldi(dump / f"wav.scp.{lang}")
            assert list(scp) == list(kaldi(r / "data" / f"{split}_fr" / f"wav.scp.{lang}"))
            assert len(scp) == n
            for path in scp.values():
                info = sf.info(r / path)
                assert info.samplerate == 16000 and info.channels == 1
                assert 0.4 < info.duration < 1.0
        assert kaldi(dump / "text.fr") == kaldi(r / "data" / f"{split}_fr" / "text.fr")


def test_recipe_fails_over_max_missing_naming_the_report(recipe_runs):
    p = recipe_runs["failed"]
    assert p.returncode != 0
    assert "too many broken entries: train 3 of 8 (37.50%), dev 1 of 4 (25.00%), test 1 of 5 (20.00%) > " \
           "max_missing 2.00%; no data dir was written. See data/local/prep_report_fr.txt" in p.stderr
    assert "Stage 1 failed" in p.stderr
    assert recipe_runs["after_failure"] == ["local", "logs"]  # the report and the log, no data dir, no marker


def test_data_sh_names_a_missing_corpus_location(tmp_path):
    recipe = copy_recipe(tmp_path / "s2st1")
    env = {k: v for k, v in os.environ.items() if k not in ("CV4", "CVSS")}
    p = subprocess.run(["local/data.sh", "--src_lang", "fr"], cwd=recipe, capture_output=True, text=True,
                       env=env, timeout=60)
    assert p.returncode == 1
    assert "CV4 is not set: put the path of Common Voice release 4 (cv-corpus-4-2019-12-10)" in p.stderr
    env["CV4"] = str(tmp_path / "nowhere")
    p = subprocess.run(["local/data.sh"], cwd=recipe, capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 1 and f"CV4={tmp_path / 'nowhere'} (db.sh) is not a directory" in p.stderr
    env["CV4"] = str(tmp_path)
    p = subprocess.run(["local/data.sh"], cwd=recipe, capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 1 and "CVSS is not set" in p.stderr


def test_run_sh_checks_language_and_version(tmp_path):
    recipe = copy_recipe(tmp_path / "s2st1")
    p = run(["./run.sh", "--src_lang", "xx"], recipe)
    assert p.returncode == 1 and "--src_lang 'xx' is not a CVSS source language" in p.stderr
    p = run(["./run.sh", "--version", "b"], recipe)
    assert p.returncode == 1 and "--version must be c (CVSS-C) or t (CVSS-T)" in p.stderr
    p = run(["./run.sh", "--src_lang", "pt", "--test_subset", "50", "--help"], recipe)
    assert p.returncode == 0, p.stderr
    current = p.stdout.split("Current values:")[1].splitlines()
    for line in ('  --train_sets train_pt', '  --valid_sets dev_pt', '  --test_sets test_pt',
                 '  --local_data_opts "--src_lang pt --version c --test_subset 50 --seed 1 --max_missing 0.02"'):
        assert line in current


def test_select_subset_is_deterministic_and_of_size_n():
    ids = [f"spk{i % 7}-clip{i:04d}" for i in range(500)]
    a = select_subset(ids, 100, seed=1)
    assert len(a) == 100 and a == sorted(a) and set(a) <= set(ids)
    assert select_subset(list(reversed(ids)), 100, seed=1) == a  # the input order does not matter
    assert select_subset(ids, 100, seed=1) == a
    assert select_subset(ids, 100, seed=2) != a
    assert select_subset(ids, 0, seed=1) == sorted(ids) == select_subset(ids, 1000, seed=1)


def test_prepare_cvss_subset_and_options(tmp_path):
    cv4, cvss = build_corpora(tmp_path / "corpora")
    base = dict(cv4=cv4, cvss=cvss, src_langs=("fr",), max_missing=0.4, splits=("test",))
    runs = []
    for out in ("a", "b"):
        prepare_cvss(CvssOptions(**base, out=tmp_path / out, test_subset=2, seed=3))
        runs.append(list(kaldi(tmp_path / out / "test_fr" / "utt2spk")))
    assert runs[0] == runs[1] and len(runs[0]) == 2
    assert runs[0] == select_subset([utt(n, TEST) for n in (300, 301, 303, 304)], 2, seed=3)
    assert not (tmp_path / "a" / "train_fr").exists()  # only the splits asked for
    assert (tmp_path / "a" / "local" / "prep_report_fr.txt").is_file()
    with pytest.raises(ConfigError, match="did you mean 'fr'"):
        CvssOptions(**{**base, "src_langs": ("frr",)})
    with pytest.raises(ConfigError, match="version must be 'c'"):
        CvssOptions(**base, version="x")
    with pytest.raises(DataError, match=r"no CVSS-T data for fr->en: .*cvss_t_fr_en_v1.0.tar.gz"):
        prepare_cvss(CvssOptions(**base, version="t", out=tmp_path / "c"))


def test_cli_prepares_and_reports_errors(tmp_path, capsys):
    cv4, cvss = build_corpora(tmp_path / "corpora")
    args = ["corpus-cvss", "--cv4", str(cv4), "--cvss", str(cvss), "--src_lang", "fr", "--out", str(tmp_path / "d"),
            "--splits", "dev"]
    assert s2s_main(args) == 2
    err = capsys.readouterr().err
    assert "s2s corpus-cvss: error: CVSS-C fr->en: too many broken entries: dev 1 of 4 (25.00%)" in err
    assert str(tmp_path / "d" / "local" / "prep_report_fr.txt") in err
    assert s2s_main(args + ["--max_missing", "0.25"]) == 0
    assert len(kaldi(tmp_path / "d" / "dev_fr" / "text.en")) == 3
    assert s2s_main(["corpus-cvss", "--cv4", str(tmp_path / "none"), "--cvss", str(cvss), "--src_lang", "fr"]) == 2
    assert "set CV4 in db.sh" in capsys.readouterr().err


def test_corpus_layout_variants(tmp_path):
    cv4 = tmp_path / "cv4"
    (cv4 / "zh-CN").mkdir(parents=True)
    (cv4 / "zh-CN" / "validated.tsv").write_text(CV_HEADER + "\n")
    assert cv_lang_dir(cv4, "zh") == cv4 / "zh-CN"
    nested = cv4 / "de" / "cv-corpus-4-2019-12-10" / "de"
    nested.mkdir(parents=True)
    (nested / "validated.tsv").write_text(CV_HEADER + "\n")
    assert cv_lang_dir(cv4, "de") == nested
    with pytest.raises(DataError, match=r"no Common Voice 4 data for 'sv'.*unpack it into .*sv-SE"):
        cv_lang_dir(cv4, "sv")
    pair = tmp_path / "cvss" / "cvss_c" / "it_en" / "it_en"  # a tarball with its own top-level dir
    pair.mkdir(parents=True)
    (pair / "train.tsv").write_text("")
    assert cvss_pair_dir(tmp_path / "cvss", "c", "it") == pair


def test_validated_tsv_keeps_quotes_and_checks_the_header(tmp_path):
    p = tmp_path / "validated.tsv"
    p.write_text(CV_HEADER + '\nabc\tcommon_voice_fr_1.mp3\t"Non", dit-il.\t2\t0\t\t\t\n', encoding="utf-8")
    clips = read_validated(p)
    assert clips["common_voice_fr_1"].sentence == '"Non", dit-il.' and clips["common_voice_fr_1"].client_id == "abc"
    p.write_text("path\tsentence\nx.mp3\thello\n")
    with pytest.raises(DataError, match=r"validated.tsv:1: expected a Common Voice header"):
        read_validated(p)
    p.write_text(CV_HEADER + "\nabc\tshort\n")
    with pytest.raises(DataError, match=r"validated.tsv:2: expected at least 3 tab-separated fields"):
        read_validated(p)


def test_ids_and_text_normalisation():
    assert make_utt_id("ab cd/ef", "common_voice_zh-CN_18885718") == "ab_cd_ef-common_voice_zh-CN_18885718"
    assert normalize_text("  Cafe\u0301\t au  lait \n") == "Caf\u00e9 au lait"


def test_other_broken_kinds_are_reported(tmp_path):
    cv4, cvss = build_corpora(tmp_path / "corpora")
    pair = cvss / "cvss_c" / "fr_en"
    with open(pair / "dev.tsv", "a", encoding="utf-8") as f:
        f.write(f"{stem(200)}.mp3\tyes again\n")                            # the clip a second time
    (pair / "dev" / f"{stem(201)}.mp3.wav").write_bytes(b"RIFF0000garbage")  # unreadable target
    validated = cv4 / "fr" / "validated.tsv"
    validated.write_text(validated.read_text(encoding="utf-8").replace("Peut-être.", " "), encoding="utf-8")
    prepare_cvss(CvssOptions(cv4=cv4, cvss=cvss, src_langs=("fr",), splits=("dev",), max_missing=1.0,
                             out=tmp_path / "data"))
    rows = {b.clip: b.reasons for b in read_prep_report(tmp_path / "data" / "local" / "prep_report_fr.txt")}
    assert rows == {stem(200): ("duplicate",), stem(201): ("unreadable_target_audio",),
                    stem(202): ("empty_translation",), stem(203): ("empty_source_text",)}
    assert list(kaldi(tmp_path / "data" / "dev_fr" / "utt2spk")) == [utt(200, DEV)]  # the first line of 200 kept
