"""The contributor path: a recipe made by egs/TEMPLATE/s2st1/setup.sh runs all 11 stages on a new corpus.

A contributor's steps, on a corpus that is not the embedded one: ``setup.sh NEW_DIR
--from mini_s2st`` in a tmp dir, a local/data.sh of our own (two source languages,
es and pt, with their own sizes, voices and set names ``<lang>_<split>``, made
from ``s2s corpus mini`` output and copied into Kaldi dirs as a real corpus's
script would), run.sh's languages and sets, the text pairs of
conf/pretrain_text.yaml; then the copied configs are shrunk (the tiny sizes of
test_mini_recipe_e2e.py, fewer steps) and ``./run.sh`` runs stages 1-11 once.
Every stage's outputs are checked, and ASR-BLEU must be scored for both test
sets. A few minutes on two CPU cores.

    tools/venv/bin/python -m pytest test/egs/test_template_recipe.py -q
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import time
from pathlib import Path

import pytest
import soundfile as sf
import test_mini_recipe_e2e as e2e
import yaml

pytestmark = pytest.mark.slow  # pytest.ini: still run by `make test`

ROOT = Path(__file__).resolve().parents[2]
SETUP = ROOT / "egs" / "TEMPLATE" / "s2st1" / "setup.sh"

SRC_LANGS = ("es", "pt")
# utterances per set: not the embedded corpus's (fr/es/pt, 12/8/4 train, 4 dev, 4 test), and per language
SIZES = {"es": {"train": 6, "dev": 2, "test": 3}, "pt": {"train": 4, "dev": 2, "test": 2}}
SETS = {split: [f"{lang}_{split}" for lang in SRC_LANGS] for split in ("train", "dev", "test")}
ALL_SETS = [s for sets in SETS.values() for s in sets]
EXP = "exp/s2st_scheduled"  # the default tag: the train config's name
N_CLUSTERS = e2e.N_CLUSTERS
TIMEOUT = 1800  # seconds for stages 1-11: a few minutes on 2 idle cores, far more on a loaded machine

CORPUS = {
    "seed": 7,
    "heldout_fraction": 0.1,
    "pad_seconds": 0.1,
    "sources": {
        "es": {**SIZES["es"], "voices": [{"id": "es_f2", "voice": "es+f2", "rate": 170, "pitch": 58},
                                         {"id": "es_m1", "voice": "es+m1", "rate": 160, "pitch": 42}]},
        "pt": {**SIZES["pt"], "voices": [{"id": "pt_f4", "voice": "pt+f4", "rate": 175, "pitch": 55}]},
    },
    "target": {"voices": [{"id": "en_f3", "voice": "en-us+f3", "rate": 170, "pitch": 45}]},
    "text": {"train": 40, "dev": 6},
}

# What a contributor writes: the corpus (here made by the mini generator into corpus/) turned
# into one Kaldi dir per set with this recipe's own set names, plus the text-only corpus of
# its languages for stage 7.
DATA_SH = """#!/usr/bin/env bash
# local/data.sh of the test corpus: es and pt into en, sets <lang>_<split>.
set -euo pipefail
corpus_config=conf/corpus.yaml
nj=2
. utils/parse_options.sh
. utils/log.sh
. ./path.sh
s2s corpus mini --config "${corpus_config}" --out corpus --nj "${nj}"
for lang in es pt; do
    for split in train dev test; do
        dst=data/${lang}_${split}
        mkdir -p "${dst}"
        for f in "wav.scp.${lang}" wav.scp.en "text.${lang}" text.en utt2spk; do
            cp "corpus/${split}_${lang}/${f}" "${dst}/${f}"
        done
    done
done
for split in train dev; do
    mkdir -p "data/lm_text/${split}"
    for lang in es pt en; do cp "corpus/lm_text/${split}/text.${lang}" "data/lm_text/${split}/"; done
done
log "made the es and pt sets and data/lm_text"
"""

# run.sh lines the contributor changes: (line setup.sh wrote, the corpus's)
RUN_SH_EDITS = [
    ('src_langs="xx"', 'src_langs="es pt"'),
    ('train_sets="train_xx"', f'train_sets="{" ".join(SETS["train"])}"'),
    ('valid_sets="dev_xx"', f'valid_sets="{" ".join(SETS["dev"])}"'),
    ('test_sets="test_xx"', f'test_sets="{" ".join(SETS["test"])}"'),
    ("nj=4 ", "nj=1 "),
    ('lm_train_text=""', "lm_train_text=data/lm_text/train"),
    ('lm_valid_text=""', "lm_valid_text=data/lm_text/dev"),
]

# conf/<name>.yaml -> the dotted keys that make it tiny: test_mini_recipe_e2e's, with fewer steps
TINY = {
    **e2e.TINY,
    "ctc": {**e2e.TINY["ctc"], "max_valid_utts": 4},
    "pretrain_text": {**e2e.TINY["pretrain_text"], "trainer.max_steps": 4, "trainer.val_check_interval": 2,
                      "trainer.save_every": 2},
    "train_scheduled": {**e2e.TINY["train_scheduled"], "trainer.max_steps": 6, "trainer.val_check_interval": 3,
                        "trainer.save_every": 3},
}


def set_dotted(cfg: dict, dotted: str, value) -> None:
    *parents, key = dotted.split(".")
    node = cfg
    for p in parents:
        node = node[p]
    assert key in node, f"no {dotted} in the copied config: update TINY in {Path(__file__).name}"
    node[key] = value


def edit_recipe(recipe: Path) -> None:
    """What the contributor edits after setup.sh: local/data.sh, run.sh, the stage-7 text pairs."""
    (recipe / "local" / "data.sh").write_text(DATA_SH)
    (recipe / "conf" / "corpus.yaml").write_text(yaml.safe_dump(CORPUS, sort_keys=False))
    run_sh = (recipe / "run.sh").read_text()
    for old, new in RUN_SH_EDITS:
        assert run_sh.count(old) == 1, old
        run_sh = run_sh.replace(old, new)
    (recipe / "run.sh").write_text(run_sh)
    conf = recipe / "conf" / "pretrain_text.yaml"
    cfg = yaml.safe_load(conf.read_text())
    cfg["text"]["pairs"] = [[lang, "en"] for lang in SRC_LANGS]
    conf.write_text(yaml.safe_dump(cfg, sort_keys=False))


def shrink(recipe: Path) -> None:
    """Each copied conf/<name>.yaml with TINY[name] set, in place (the run uses run.sh's paths)."""
    for name, keys in TINY.items():
        conf = recipe / "conf" / f"{name}.yaml"
        cfg = yaml.safe_load(conf.read_text())
        for dotted, value in keys.items():
            set_dotted(cfg, dotted, value)
        conf.write_text(yaml.safe_dump(cfg, sort_keys=False))


def kaldi(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, _, rest = line.partition(" ")
        out[key] = rest
    return out


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    """The recipe setup.sh made (its layout and configs: test_template.py)."""
    recipe = tmp_path_factory.mktemp("contrib") / "egs" / "espt" / "s2st1"
    p = subprocess.run([str(SETUP), str(recipe), "--from", "mini_s2st"], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    return recipe


@pytest.fixture(scope="module")
def recipe_run(made):
    """The made recipe, edited for the es+pt corpus and shrunk, through stages 1-11 by ./run.sh."""
    recipe = made
    edit_recipe(recipe)
    shrink(recipe)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    t0 = time.monotonic()
    with open(recipe / "run.log", "w") as log:  # the recipe's log, also readable while it runs
        p = subprocess.run(["./run.sh"], cwd=recipe, stdout=log, stderr=subprocess.STDOUT, timeout=TIMEOUT, env=env)
    seconds = time.monotonic() - t0
    out = (recipe / "run.log").read_text()
    assert p.returncode == 0, out[-6000:]
    return {"recipe": recipe, "log": out, "seconds": seconds}


def test_all_11_stages_ran(recipe_run):
    log = recipe_run["log"]
    for stage in range(1, 12):
        assert f"Stage {stage}:" in log, stage
    assert "Finished stages 1..11" in log
    print(f"stages 1-11 of the made recipe: {recipe_run['seconds']:.0f} s")


def test_stages_1_2_data_and_dumps(recipe_run):
    rec = recipe_run["recipe"]
    assert sorted(p.name for p in (rec / "data").iterdir() if (p / "utt2spk").is_file()) == sorted(ALL_SETS)
    assert (rec / "data" / ".done.stage1").is_file()
    for dset in ALL_SETS:
        lang, split = dset.split("_")
        utts = set(kaldi(rec / "data" / dset / "utt2spk"))
        assert len(utts) == SIZES[lang][split], dset
        assert (rec / "data" / dset / ".done.stage1").is_file()
        dump = rec / "dump" / dset
        assert set(kaldi(dump / "utt2spk")) <= utts and (dump / ".done.stage2").is_file()
        for side in (lang, "en"):
            scp = kaldi(dump / f"wav.scp.{side}")
            assert scp and sf.info(rec / next(iter(scp.values()))).samplerate == 16000


def test_stages_3_to_7_models_units_alignments_vocab(recipe_run):
    rec = recipe_run["recipe"]
    exp = rec / "exp"
    assert (exp / "ctc" / "model.pth").stat().st_size > 0 and (exp / "ctc" / ".done.stage3").is_file()
    assert yaml.safe_load((exp / "units" / "units.yaml").read_text())["n_clusters"] == N_CLUSTERS
    assert (exp / "units" / ".done.stage4").is_file()
    for dset in ALL_SETS:
        lang = dset.split("_")[0]
        d = rec / "dump" / dset
        utts = set(kaldi(d / "utt2spk"))
        for side in (lang, "en"):
            units = kaldi(d / f"units.{side}")
            assert set(units) == utts, (dset, side)
            assert all(0 <= int(u) < N_CLUSTERS for seq in units.values() for u in seq.split())
            ctm_utts = {line.split()[0] for line in (d / f"align.{side}.ctm").read_text().splitlines()}
            assert ctm_utts and ctm_utts <= utts, (dset, side)
        assert (d / ".done.stage4").is_file() and (d / ".done.stage5.align").is_file()
    vocab = yaml.safe_load((exp / "vocab" / "vocab.yaml").read_text())
    assert vocab["n_units"] == N_CLUSTERS
    assert {"<lang_es>", "<lang_pt>", "<lang_en>"} <= set(vocab["specials"])
    assert (exp / "vocab" / ".done.stage6").is_file()
    assert (exp / "lm" / "model" / "model.safetensors").stat().st_size > 0
    assert (exp / "lm" / ".done.stage7").is_file()


def test_stage_8_trained_on_the_sets_of_run_sh(recipe_run):
    exp = recipe_run["recipe"] / EXP
    for name in ("config.json", "model.safetensors", "vocab.yaml"):
        assert (exp / "model" / name).is_file(), name
    assert (exp / ".done.stage8").is_file()
    data = yaml.safe_load((exp / "config.yaml").read_text())["data"]
    # the copied config names the base's dump/train_fr ...; s2st.sh gave the run.sh sets instead
    assert data["train"] == [f"dump/{s}" for s in SETS["train"]]
    assert data["valid"] == [f"dump/{s}" for s in SETS["dev"]]


def test_stages_9_10_decodes_and_waveforms(recipe_run):
    rec = recipe_run["recipe"]
    for dset in SETS["test"]:
        lang = dset.split("_")[0]
        utts = set(kaldi(rec / "dump" / dset / "utt2spk"))
        out = rec / EXP / f"decode_{dset}"
        for name in (f"hyp_text.{lang}", "hyp_text.en", "hyp_units.en", "wav.scp"):
            assert set(kaldi(out / name)) == utts, (dset, name)
        for path in kaldi(out / "wav.scp").values():
            assert sf.info(rec / path).frames > 0
        assert (out / ".done.stage9").is_file() and (out / ".done.stage10").is_file()
    assert (rec / "exp" / "vocoder" / ".done.stage10").is_file()


def test_stage_11_asr_bleu_for_both_test_sets(recipe_run):
    rec = recipe_run["recipe"]
    assert (rec / "exp" / "asr_en" / ".done.stage11").is_file()
    scores = json.loads((rec / EXP / "scores.json").read_text())
    assert set(scores["sets"]) == set(SETS["test"])
    for dset, s in scores["sets"].items():
        assert s["num_utts"] == len(kaldi(rec / "dump" / dset / "utt2spk"))
        for key in ("asr_bleu", "bleu_text", "topline_ref_speech", "topline_ref_units"):
            x = s[key]
            assert isinstance(x, (int, float)) and math.isfinite(x) and 0 <= x <= 100, (dset, key, x)
        assert math.isfinite(s["wer_src"]) and s["wer_src"] >= 0
    results = (rec / EXP / "RESULTS.md").read_text()
    assert "ASR-BLEU" in results
    for dset in SETS["test"]:
        assert f"| {dset} | {dset.split('_')[0]} |" in results, dset
