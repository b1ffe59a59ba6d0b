"""The mini corpus end to end: layout, oracle timings, held-out sets, determinism, reruns, configs, CLI."""
from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from s2s_plugin.bin.main import main as s2s_main
from s2s_plugin.corpora.mini.build import build_corpus, check_disjoint, plan_corpus
from s2s_plugin.corpora.mini.config import load_mini_config
from s2s_plugin.corpora.mini.espeak import EspeakError
from s2s_plugin.corpora.mini.grammar import MAX_WORDS, MIN_WORDS
from s2s_plugin.data.io import read_ctm, read_kaldi_text
from s2s_plugin.data.validate import validate_datadir
from s2s_plugin.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "egs" / "mini_s2st" / "s2st1"
TINY = RECIPE / "conf" / "corpus_tiny.yaml"
SETS = [f"{split}_{lang}" for lang in ("fr", "es", "pt") for split in ("train", "dev", "test")]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny config built once with two jobs."""
    out = tmp_path_factory.mktemp("mini") / "data"
    cfg = load_mini_config(TINY)
    build_corpus(cfg, out, nj=2)
    return cfg, out


def _files(d: Path) -> list[str]:
    return sorted(str(p.relative_to(d)) for p in d.rglob("*") if p.is_file())


def test_layout_of_every_set(tiny):
    cfg, out = tiny
    assert sorted(p.name for p in out.iterdir()) == sorted(SETS + ["lm_text"])  # no temporary dirs left
    for name in SETS:
        split, src = name.split("_")
        d = out / name
        for f in (f"wav.scp.{src}", "wav.scp.en", f"text.{src}", "text.en", "utt2spk", "spk2utt",
                  f"oracle.{src}.ctm", "oracle.en.ctm", "corpus.yaml"):
            assert (d / f).is_file(), d / f
        report = validate_datadir(d, tgt_lang="en")  # the toolkit's own checker, audio included
        assert report.ok, report.problems
        ids = list(read_kaldi_text(d / "utt2spk"))
        assert ids == sorted(ids) and len(ids) == getattr(cfg.sources[src], split)
        voices = {v.id for v in cfg.sources[src].voices}
        for utt, spk in read_kaldi_text(d / "utt2spk").items():
            assert spk in voices and utt.startswith(f"{spk}-{src}-")
        for lang in (src, "en"):
            scp = read_kaldi_text(d / f"wav.scp.{lang}")
            assert list(scp) == ids
            for path in scp.values():
                assert Path(path).is_absolute() and Path(path).parent == d.resolve() / "wav" / lang
                info = sf.info(path)
                assert (info.samplerate, info.channels, info.subtype) == (22050, 1, "PCM_16")


def test_oracle_ctm_words_and_times(tiny):
    _, out = tiny
    for name in SETS:
        d = out / name
        src = name.split("_")[1]
        for lang in (src, "en"):
            texts = read_kaldi_text(d / f"text.{lang}")
            ctm = read_ctm(d / f"oracle.{lang}.ctm")
            scp = read_kaldi_text(d / f"wav.scp.{lang}")
            assert set(ctm) == set(texts)
            for utt, spans in ctm.items():
                words = texts[utt].split()
                assert MIN_WORDS <= len(words) <= MAX_WORDS
                assert [w.word for w in spans] == words
                x, sr = sf.read(scp[utt], dtype="float32")
                assert spans[0].start >= 0.1 - 1e-3  # pad_seconds of leading silence
                assert spans[-1].end <= len(x) / sr - 0.1 + 1e-3
                for a, b in zip(spans, spans[1:]):
                    assert a.duration > 0 and abs(a.end - b.start) < 2e-3  # contiguous, in order
                frame = int(0.01 * sr)
                n = len(x) // frame
                loudest = np.sqrt((x[: n * frame].reshape(n, frame) ** 2).mean(axis=1)).max()
                for w in spans:  # every word's span holds speech, not silence
                    seg = x[int(w.start * sr): int(w.end * sr)]
                    assert np.sqrt((seg ** 2).mean()) > loudest * 10 ** (-30 / 20), (utt, lang, w)


def test_text_corpus_is_four_way_parallel(tiny):
    cfg, out = tiny
    for split, n in (("train", cfg.text.train), ("dev", cfg.text.dev)):
        files = {lang: read_kaldi_text(out / "lm_text" / split / f"text.{lang}") for lang in ("fr", "es", "pt", "en")}
        ids = [list(f) for f in files.values()]
        assert all(i == ids[0] for i in ids) and len(ids[0]) == n
    train_fr = read_kaldi_text(out / "lm_text" / "train" / "text.fr").values()
    assert len(set(train_fr)) > 0.95 * cfg.text.train  # distinct sentences, not a few repeated


def test_dev_and_test_sentences_never_occur_in_training_data(tiny):
    _, out = tiny
    heldout: dict[str, set[str]] = {}
    seen: dict[str, set[str]] = {}
    for name in SETS:
        split = name.split("_")[0]
        for f in (out / name).glob("text.*"):
            lang = f.name.split(".")[1]
            target = heldout if split in ("dev", "test") else seen
            target.setdefault(lang, set()).update(read_kaldi_text(f).values())
    for split in ("train", "dev"):
        for f in (out / "lm_text" / split).glob("text.*"):
            seen.setdefault(f.name.split(".")[1], set()).update(read_kaldi_text(f).values())
    assert set(heldout) == {"fr", "es", "pt", "en"}
    for lang, texts in heldout.items():
        assert not texts & seen[lang], (lang, sorted(texts & seen[lang])[:3])


def test_held_out_split_on_a_larger_plan():
    cfg = load_mini_config(TINY, ["sources.fr.train=400", "sources.fr.dev=60", "sources.fr.test=60",
                                  "sources.es.dev=60", "text.train=3000", "text.dev=100"])
    plan = plan_corpus(cfg)
    check_disjoint(plan)
    dev = {u.src_text for u in plan.speech["dev_fr"]}
    test = {u.src_text for u in plan.speech["test_fr"]}
    train = {u.src_text for u in plan.speech["train_fr"]}
    lm = set(plan.text["train"]["fr"].values()) | set(plan.text["dev"]["fr"].values())
    assert len(dev) == 60 and len(test) == 60 and len(train) == 400
    assert not (dev | test) & (train | lm) and not dev & test
    assert plan_corpus(cfg, with_text=False).speech == plan.speech  # deterministic, text corpus or not
    other_seed = load_mini_config(TINY, seed=2)
    assert plan_corpus(other_seed, with_text=False).speech != plan_corpus(load_mini_config(TINY)).speech


def test_the_order_of_languages_in_the_file_does_not_matter():
    cfg = load_mini_config(TINY)
    reordered = load_mini_config(TINY)
    reordered.sources = dict(reversed(list(reordered.sources.items())))
    assert list(reordered.sources) != list(cfg.sources)
    assert plan_corpus(reordered, with_text=False).speech == plan_corpus(cfg, with_text=False).speech


def test_same_seed_gives_identical_files_whatever_nj(tiny, tmp_path):
    _, out = tiny
    other = tmp_path / "data"
    assert s2s_main(["corpus", "mini", "--config", str(TINY), "--out", str(other), "--nj", "1"]) == 0
    assert _files(other) == _files(out)
    for rel in _files(out):
        if rel.split("/")[-1].startswith("wav.scp"):
            a = (out / rel).read_text().replace(str(out.resolve()), "ROOT")
            b = (other / rel).read_text().replace(str(other.resolve()), "ROOT")
            assert a == b, rel
        else:
            assert filecmp.cmp(out / rel, other / rel, shallow=False), rel


def test_rerun_skips_finished_sets_and_refuses_a_changed_config(tiny, tmp_path):
    cfg, out = tiny
    copy = tmp_path / "data"
    shutil.copytree(out, copy)
    before = {p: p.stat().st_mtime_ns for p in copy.rglob("*")}
    build_corpus(cfg, copy, nj=2)  # everything done: nothing is touched
    assert {p: p.stat().st_mtime_ns for p in copy.rglob("*")} == before
    changed = load_mini_config(TINY, ["sources.pt.train=5"])
    with pytest.raises(ConfigError, match="train_fr exists but was made by another config.*--overwrite"):
        build_corpus(changed, copy, nj=1)


def test_overwrite_rebuilds_a_set(tmp_path):
    cfg = load_mini_config(TINY, ["sources={pt: {train: 2, dev: 1, test: 1, voices: [{id: p, voice: pt}]}}",
                                  "text.train=5", "text.dev=2"])
    out = tmp_path / "data"
    build_corpus(cfg, out, nj=1)
    assert len(read_kaldi_text(out / "train_pt" / "text.pt")) == 2
    bigger = load_mini_config(TINY, ["sources={pt: {train: 3, dev: 1, test: 1, voices: [{id: p, voice: pt}]}}",
                                     "text.train=5", "text.dev=2"])
    build_corpus(bigger, out, nj=1, overwrite=True)
    assert len(read_kaldi_text(out / "train_pt" / "text.pt")) == 3
    assert len(list((out / "train_pt" / "wav" / "pt").iterdir())) == 3  # the old set is gone, not merged
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_a_missing_voice_fails_before_anything_is_written(tmp_path):
    cfg = load_mini_config(TINY, ["sources.es.voices=[{id: es_x, voice: es+nosuch}]"])
    with pytest.raises(EspeakError, match="nosuch"):
        build_corpus(cfg, tmp_path / "data", nj=1)
    assert list((tmp_path / "data").iterdir()) == []


@pytest.mark.parametrize("conf", sorted(RECIPE.glob("conf/corpus*.yaml")), ids=lambda p: p.name)
def test_recipe_configs_load(conf):
    cfg = load_mini_config(conf)
    assert set(cfg.sources) == {"fr", "es", "pt"}
    sizes = [cfg.sources[lang].train for lang in ("fr", "es", "pt")]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] > sizes[2]  # fr high-, pt low-resource


@pytest.mark.parametrize("override,message", [
    (["colour=red"], "unknown key 'colour'"),
    (["sources.de={train: 1, dev: 1, test: 1, voices: [{id: d, voice: de}]}"], "unsupported language 'de'"),
    (["sources.fr.voices=[{id: a, voice: fr}, {id: a, voice: fr+m1}]"], "unique.*repeated: a"),
    (["sources.fr.voices=[{id: a, voice: fr, rate: 20}]"], r"sources.fr.voices\[0\].*rate"),
    (["sources.fr.train=0"], "sources.fr: train must be at least 1"),
    (["heldout_fraction=0.9"], "heldout_fraction"),
])
def test_config_errors_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message) as err:
        load_mini_config(TINY, override)
    assert str(TINY) in str(err.value)


def test_recipe_data_sh_runs_the_verb(tiny, tmp_path):
    _, out = tiny
    copy = tmp_path / "data"
    shutil.copytree(out, copy)
    env = dict(os.environ, PATH=f"{ROOT / 'tools' / 'venv' / 'bin'}:{os.environ['PATH']}")
    proc = subprocess.run(["local/data.sh", "--corpus_config", "conf/corpus_tiny.yaml", "--datadir", str(copy),
                           "--nj", "1"], cwd=RECIPE, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "s2s corpus mini --config conf/corpus_tiny.yaml" in proc.stderr
    assert proc.stderr.count("done before with this config, skipped") == len(SETS) + 1
    bad = subprocess.run(["local/data.sh", "--no_such_option", "1"], cwd=RECIPE, env=env, capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode != 0 and "no_such_option" in bad.stderr
