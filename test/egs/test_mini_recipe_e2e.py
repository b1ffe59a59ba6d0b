"""egs/mini_s2st/s2st1 end to end: all 11 stages of ./run.sh on a very small configuration.

The recipe is copied into a tmp dir; its stage configs are the real conf/*.yaml
files loaded and shrunk (sizes only: epochs, steps, widths, clusters, budgets),
so the test follows the configs as they are tuned. One run of every stage, then
checks of each stage's outputs and of the scores, then a rerun that every done
marker must skip. A few minutes on two CPU cores.

    tools/venv/bin/python -m pytest test/egs/test_mini_recipe_e2e.py -q
"""
from __future__ import annotations

import html.parser
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import recipe_testutils
import soundfile as sf
import yaml

pytestmark = pytest.mark.slow  # pytest.ini: still run by `make test`

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "egs" / "mini_s2st" / "s2st1"

SRC_LANGS = ("fr", "es", "pt")
TRAIN_SETS = [f"train_{lang}" for lang in SRC_LANGS]
VALID_SETS = [f"dev_{lang}" for lang in SRC_LANGS]
TEST_SETS = [f"test_{lang}" for lang in SRC_LANGS]
ALL_SETS = TRAIN_SETS + VALID_SETS + TEST_SETS
TAG = "e2e"
EXP = f"exp/s2st_{TAG}"
N_CLUSTERS = 16
TIMEOUT = 900  # seconds for the whole first run; it takes a few minutes

TINY_ENCODER = {"output_size": 32, "attention_heads": 2, "linear_units": 64, "num_blocks": 2,
                "cnn_module_kernel": 7}
TINY_LLAMA = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
              "num_attention_heads": 4, "num_key_value_heads": 2}

# conf/<name>.yaml -> the keys (dotted) that make it tiny; everything else is the real config.
TINY = {
    "ctc": {"max_epoch": 1, "warmup_steps": 2, "max_valid_utts": 6,
            **{f"encoder_conf.{k}": v for k, v in TINY_ENCODER.items()}},
    # a CTC model trained on 24 utterances has not seen every character of the dev and test
    # sentences ('í' in 'jardín'): align around them rather than fail the utterance
    "align": {"aligner.unknown_chars": "skip"},
    "units": {"tokenizer.n_clusters": N_CLUSTERS, "tokenizer.epochs": 1,
              "tokenizer.layer": TINY_ENCODER["num_blocks"]},
    "pretrain_text": {**{f"llm.config.{k}": v for k, v in TINY_LLAMA.items()},
                      "optim.warmup_steps": 2, "trainer.max_steps": 10, "trainer.val_check_interval": 5,
                      "trainer.save_every": 5, "trainer.log_every_n_steps": 1},
    "train_scheduled": {"scheduler.every": 2, "optim.warmup_steps": 2, "trainer.max_steps": 10,
                        "trainer.val_check_interval": 5, "trainer.save_every": 5,
                        "trainer.log_every_n_steps": 1},
    "decode": {"max_text_tokens": 12, "max_unit_ratio": 0.5, "min_units": 2},
    "vocoder": {"max_utts": 6},
    "asr_en": {"max_epoch": 1, "warmup_steps": 2,
               **{f"encoder_conf.{k}": v for k, v in TINY_ENCODER.items()}},
    "score": {"listen_samples": 2},
}


def shrink(conf: Path, name: str) -> Path:
    """conf/<name>.yaml with the keys of TINY[name] replaced, written to conf/e2e/<name>.yaml."""
    cfg = yaml.safe_load((conf / f"{name}.yaml").read_text())
    for dotted, value in TINY[name].items():
        *parents, key = dotted.split(".")
        node = cfg
        for p in parents:
            node = node[p]
        assert key in node, f"conf/{name}.yaml has no {dotted}: update TINY in {Path(__file__).name}"
        node[key] = value
    path = conf / "e2e" / f"{name}.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def copy_recipe(dest: Path) -> Path:
    return recipe_testutils.copy_recipe(RECIPE, dest, ("run.sh", "path.sh", "cmd.sh", "local", "conf"))


def kaldi(path: Path) -> dict[str, str]:
    """A Kaldi-style table: the first word of each line -> the rest."""
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, _, rest = line.partition(" ")
        out[key] = rest
    return out


def run_args() -> list[str]:
    c = "conf/e2e"
    return ["./run.sh", "--nj", "1", "--tag", TAG,
            "--local_data_opts", "--corpus_config conf/corpus_tiny.yaml --nj 2",
            "--ctc_conf", f"{c}/ctc.yaml", "--units_conf", f"{c}/units.yaml", "--align_conf", f"{c}/align.yaml",
            "--pretrain_conf", f"{c}/pretrain_text.yaml", "--train_conf", f"{c}/train_scheduled.yaml",
            "--decode_conf", f"{c}/decode.yaml", "--vocoder_conf", f"{c}/vocoder.yaml",
            "--asr_conf", f"{c}/asr_en.yaml", "--score_conf", f"{c}/score.yaml"]


def mtimes(recipe: Path) -> dict[str, int]:
    return {str(p.relative_to(recipe)): p.stat().st_mtime_ns
            for d in ("data", "dump", "exp") for p in (recipe / d).rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def recipe_run(tmp_path_factory):
    """The tiny recipe run once through stages 1-11, then once more (every stage done)."""
    recipe = copy_recipe(tmp_path_factory.mktemp("mini") / "egs" / "mini_s2st" / "s2st1")
    for name in TINY:
        shrink(recipe / "conf", name)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    t0 = time.monotonic()
    first = subprocess.run(run_args(), cwd=recipe, capture_output=True, text=True, timeout=TIMEOUT, env=env)
    first_s = time.monotonic() - t0
    assert first.returncode == 0, first.stderr[-6000:]
    before = mtimes(recipe)
    t0 = time.monotonic()
    second = subprocess.run(run_args(), cwd=recipe, capture_output=True, text=True, timeout=300, env=env)
    second_s = time.monotonic() - t0
    assert second.returncode == 0, second.stderr[-6000:]
    return {"recipe": recipe, "first": first, "second": second, "first_s": first_s, "second_s": second_s,
            "before": before, "after": mtimes(recipe)}


def test_every_stage_ran_and_finished(recipe_run):
    log = recipe_run["first"].stderr
    for stage in range(1, 12):
        assert f"Stage {stage}:" in log, stage
    assert "Finished stages 1..11" in log and "failed (exit code" not in log


def test_tiny_configs_are_the_real_ones_shrunk(recipe_run):
    conf = recipe_run["recipe"] / "conf"
    for name, keys in TINY.items():
        real = yaml.safe_load((conf / f"{name}.yaml").read_text())  # the copy the run used
        tiny = yaml.safe_load((conf / "e2e" / f"{name}.yaml").read_text())
        assert set(tiny) == set(real), name  # no top-level key added or lost
        top = {k.split(".")[0] for k in keys}
        assert {k: v for k, v in tiny.items() if k not in top} == {k: v for k, v in real.items() if k not in top}
    # and the exp dirs stored the configs they ran with
    rec = recipe_run["recipe"]
    assert yaml.safe_load((rec / "exp" / "ctc" / "config.yaml").read_text())["max_epoch"] == 1
    assert yaml.safe_load((rec / EXP / "config.yaml").read_text())["trainer"]["max_steps"] == 10


def test_stage_1_data_dirs(recipe_run):
    data = recipe_run["recipe"] / "data"
    corpus = yaml.safe_load((RECIPE / "conf" / "corpus_tiny.yaml").read_text())
    for dset in ALL_SETS:
        split, lang = dset.split("_")
        d = data / dset
        n = corpus["sources"][lang][split]
        utts = set(kaldi(d / "utt2spk"))
        assert len(utts) == n, dset
        for side in (lang, "en"):
            scp, text = kaldi(d / f"wav.scp.{side}"), kaldi(d / f"text.{side}")
            assert set(scp) == utts and set(text) == utts, (dset, side)
            assert all(text.values()), (dset, side)  # no empty transcript
            path = Path(next(iter(scp.values())))
            assert sf.info(path if path.is_absolute() else recipe_run["recipe"] / path).frames > 0
    for split in ("train", "dev"):
        for lang in (*SRC_LANGS, "en"):
            assert len(kaldi(data / "lm_text" / split / f"text.{lang}")) == corpus["text"][split]
    test_sentences = {s for t in TEST_SETS for s in kaldi(data / t / "text.en").values()}
    train_sentences = {s for t in TRAIN_SETS for s in kaldi(data / t / "text.en").values()}
    assert not test_sentences & train_sentences  # held-out test sentences
    log = (data / "logs" / "data.log").read_text()
    for dset in ALL_SETS:  # s2s data validate passed every set
        assert f"data/{dset}: OK: {len(kaldi(data / dset / 'utt2spk'))} utterances" in log, dset
    marker = yaml.safe_load((data / ".done.stage1").read_text())  # what stage 1 ran with
    assert marker["options"]["sets"] == " ".join(ALL_SETS)
    assert marker["options"]["local_data_opts"].startswith("--corpus_config")
    for dset in ALL_SETS:  # each set's marker: digests of its files, what stage 2's key includes
        assert set(yaml.safe_load((data / dset / ".done.stage1").read_text())["data"][f"data/{dset}"]) >= \
            {"text.en", "utt2spk"}


def test_stages_2_4_5_dump_dirs(recipe_run):
    rec = recipe_run["recipe"]
    for dset in ALL_SETS:
        lang = dset.split("_")[1]
        d = rec / "dump" / dset
        utts = set(kaldi(d / "utt2spk"))
        assert utts and utts <= set(kaldi(rec / "data" / dset / "utt2spk"))
        for side in (lang, "en"):
            scp = kaldi(d / f"wav.scp.{side}")
            assert set(scp) == utts
            info = sf.info(rec / next(iter(scp.values())))
            assert info.samplerate == 16000 and info.channels == 1
            # stage 4: one unit sequence per utterance, every unit an id below n_clusters
            units = kaldi(d / f"units.{side}")
            assert set(units) == utts, (dset, side)
            ids = [int(u) for seq in units.values() for u in seq.split()]
            assert ids and all(0 <= u < N_CLUSTERS for u in ids)
            info_yaml = yaml.safe_load((d / f"units.{side}.info").read_text())
            assert info_yaml["lang"] == side
            # stage 5: CTM lines "utt 1 start dur word" with words of the transcript, both aligners
            text = kaldi(d / f"text.{side}")
            for name in ("align", "uniform"):
                words: dict[str, list[str]] = {}
                for line in (d / f"{name}.{side}.ctm").read_text().splitlines():
                    utt, ch, start, dur, word = line.split()
                    assert ch == "1" and float(start) >= 0 and float(dur) > 0, line
                    words.setdefault(utt, []).append(word)
                assert set(words) <= utts and len(words) >= 0.9 * len(utts), (dset, side, name)
                for utt, ws in words.items():
                    assert ws == text[utt].split(), (dset, side, name, utt)
        for marker in (".done.stage2", ".done.stage4", ".done.stage5.align", ".done.stage5.uniform"):
            assert (d / marker).is_file(), (dset, marker)


def test_stage_3_ctc_and_stage_6_vocab_and_stage_7_lm(recipe_run):
    exp = recipe_run["recipe"] / "exp"
    assert (exp / "ctc" / "model.pth").stat().st_size > 0
    assert (exp / "ctc" / "tokens.txt").read_text().strip()
    assert (exp / "units" / "centres.npy").is_file()
    assert yaml.safe_load((exp / "units" / "units.yaml").read_text())["n_clusters"] == N_CLUSTERS
    vocab = yaml.safe_load((exp / "vocab" / "vocab.yaml").read_text())
    assert vocab["n_units"] == N_CLUSTERS and vocab["text_size"] > 0
    assert {"<s_src>", "<t_src>", "<t_tgt>", "<s_tgt>", "<eos>"} <= set(vocab["specials"])
    assert {f"<lang_{lang}>" for lang in (*SRC_LANGS, "en")} <= set(vocab["specials"])
    assert (exp / "lm" / "model" / "config.json").is_file()
    assert (exp / "lm" / "model" / "model.safetensors").stat().st_size > 0
    for marker in ("ctc/.done.stage3", "units/.done.stage4", "vocab/.done.stage6", "lm/.done.stage7"):
        assert (exp / marker).is_file(), marker


def test_stage_8_model(recipe_run):
    exp = recipe_run["recipe"] / EXP
    model = exp / "model"
    for name in ("config.json", "model.safetensors", "vocab.yaml", "sequence.yaml"):
        assert (model / name).is_file(), name
    assert (exp / "run.sh").is_file()  # the command that resumes the run
    assert (exp / ".done.stage8").is_file()


def test_stages_9_10_decodes_and_waveforms(recipe_run):
    rec = recipe_run["recipe"]
    for dset in TEST_SETS:
        lang = dset.split("_")[1]
        utts = set(kaldi(rec / "dump" / dset / "utt2spk"))
        out = rec / EXP / f"decode_{dset}"
        assert set(kaldi(out / f"hyp_text.{lang}")) == utts
        assert set(kaldi(out / "hyp_text.en")) == utts
        units = kaldi(out / "hyp_units.en")
        assert set(units) == utts
        assert all(seq.split() for seq in units.values())  # min_units >= 1: never empty speech
        assert all(0 <= int(u) < N_CLUSTERS for seq in units.values() for u in seq.split())
        wavs = kaldi(out / "wav.scp")
        assert set(wavs) == utts
        for path in wavs.values():
            info = sf.info(rec / path)
            assert info.samplerate == 16000 and info.frames > 0
        assert (out / ".done.stage9").is_file() and (out / ".done.stage10").is_file()
    assert (rec / "exp" / "vocoder" / ".done.stage10").is_file()


def number(x, lo: float, hi: float) -> float:
    assert isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x), x
    assert lo <= x <= hi, x
    return float(x)


def test_stage_11_scores_are_numbers_in_range(recipe_run):
    rec = recipe_run["recipe"]
    asr = rec / "exp" / "asr_en"
    assert (asr / "model.pth").is_file() and (asr / ".done.stage11").is_file()
    scores = json.loads((rec / EXP / "scores.json").read_text())
    assert set(scores["sets"]) == set(TEST_SETS)
    bleus = ("asr_bleu", "bleu_text", "topline_ref_speech", "topline_ref_units")
    wers = ("wer_src", "asr_wer_ref_speech")
    for dset in TEST_SETS:
        s = scores["sets"][dset]
        assert s["num_utts"] == len(kaldi(rec / "dump" / dset / "utt2spk"))
        assert s["missing"] == {"hyp_src": 0, "hyp_tgt": 0, "wav": 0}
    for row in [*scores["sets"].values(), scores["overall"], scores["mean"]]:
        for key in bleus:
            number(row[key], 0.0, 100.0)
        for key in wers:
            number(row[key], 0.0, math.inf)
    # speech quality: mcd_dtw (dB from the reference speech, lower is better); the vocoded reference units are
    # real speech, our tiny model's may be too short to analyse (unscored, None)
    assert scores["quality"]["name"] == "mcd_dtw" and scores["quality"]["higher_is_better"] is False
    for row in [*scores["sets"].values(), scores["overall"]]:
        number(row["quality_ref_units"], 0.0, 40.0)
        assert row["quality_ref_speech"] is None
        assert row["quality"] is None or number(row["quality"], 0.0, 60.0) >= 0
    results = (rec / EXP / "RESULTS.md").read_text()
    assert "| test_fr | fr |" in results and "ASR-BLEU" in results
    assert "quality ref units+vocoder [mcd_dtw] (dB, lower is better)" in results
    for plot in ("scores.png", "training.png"):
        assert (rec / EXP / "plots" / plot).stat().st_size > 0


class _Sources(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in ("audio", "source"):
            self.sources += [v for k, v in attrs if k == "src" and v]


def test_listening_page_references_existing_audio(recipe_run):
    listen = recipe_run["recipe"] / EXP / "listen"
    parser = _Sources()
    parser.feed((listen / "index.html").read_text())
    assert parser.sources
    for src in parser.sources:
        assert not src.startswith(("http:", "https:", "/")), src
        assert sf.info(listen / src).frames > 0, src
    for dset in TEST_SETS:  # each set's samples, with our output speech among them
        assert any(f"/{dset}/" in f"/{src}" and src.endswith(".out.wav") for src in parser.sources), dset


def test_rerun_skips_every_stage(recipe_run):
    log = recipe_run["second"].stderr
    assert "Stage 1: done before" in log
    assert "Stage 3: exp/ctc done before, skipped" in log
    for dset in ALL_SETS:
        assert f"Stage 2: {dset} done before, skipped" in log
    assert f"Stage 11: {EXP} scored before with these options and inputs" in log
    # nothing was redone, scoring included: not a file was written
    before, after = recipe_run["before"], recipe_run["after"]
    assert sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p)) == []
    assert recipe_run["second_s"] < recipe_run["first_s"] / 2


# -- a third-party plugin of every kind, through the recipe ------------------------------------

EXAMPLE = ROOT / "examples" / "s2s_plugin_example"
PLUGIN_TAG = "plugins"


def plugin_conf(recipe: Path, name: str, **blocks) -> str:
    """conf/e2e/<name>.yaml with top-level blocks replaced (``block__key=value`` sets one entry of a block)."""
    cfg = yaml.safe_load((recipe / "conf" / "e2e" / f"{name}.yaml").read_text())
    for key, value in blocks.items():
        block, _, entry = key.partition("__")
        if entry:
            cfg[block][entry] = value
        else:
            cfg[block] = value
    path = recipe / "conf" / "e2e" / f"{name}_plugins.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return str(path.relative_to(recipe))


@pytest.fixture(scope="module")
def plugin_run(recipe_run, tmp_path_factory):
    """Stages 4-11 again in a copy of the tiny recipe, every component a plugin of the example
    package, which is pip-installed into a directory of its own and found only through its
    entry point (as any third-party package is)."""
    root = tmp_path_factory.mktemp("plugins")
    site = root / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "--target", str(site), str(EXAMPLE)],
                   check=True, capture_output=True)
    recipe = root / "recipe"
    shutil.copytree(recipe_run["recipe"], recipe, symlinks=True)
    for made in ("units", "vocab", "lm", "vocoder", f"s2st_{TAG}"):  # what the new components remake
        shutil.rmtree(recipe / "exp" / made)
    c = {
        "units": plugin_conf(recipe, "units", tokenizer={"name": "log_energy_bins", "n_clusters": 8}),
        "align": plugin_conf(recipe, "align", aligner={"name": "pause_snap", "search_ms": 80}),
        "train": plugin_conf(recipe, "train_scheduled", scheduler={"name": "exponential", "half_life": 3},
                             llm__name="hf_frozen_text", optim__weight_decay=0.0),
        "vocoder": plugin_conf(recipe, "vocoder", vocoder={"name": "unit_tones"}),
        "score": plugin_conf(recipe, "score", asr={"name": "ctc_lexicon", "exp_dir": "exp/asr_en",
                                                   "lexicon": "data/lm_text/train/text.en"},
                             quality={"name": "tonality"}),
    }
    args = run_args()
    for opt, key in (("--units_conf", "units"), ("--align_conf", "align"), ("--train_conf", "train"),
                     ("--vocoder_conf", "vocoder"), ("--score_conf", "score")):
        args[args.index(opt) + 1] = c[key]
    args[args.index("--tag") + 1] = PLUGIN_TAG
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    env.pop("S2S_PLUGIN_DISABLE_ENTRYPOINTS", None)
    res = subprocess.run([*args, "--stage", "4"], cwd=recipe, capture_output=True, text=True, timeout=TIMEOUT,
                         env=env)
    assert res.returncode == 0, res.stderr[-6000:]
    return {"recipe": recipe, "run": res, "first": recipe_run["recipe"]}


def test_plugin_unit_tokenizer_labels_every_set(plugin_run):
    rec = plugin_run["recipe"]
    for dset in ALL_SETS:
        lang = dset.split("_")[1]
        for side in (lang, "en"):
            info = yaml.safe_load((rec / "dump" / dset / f"units.{side}.info").read_text())
            assert info["tokenizer"]["name"] == "log_energy_bins" and info["n_clusters"] == 8
            units = kaldi(rec / "dump" / dset / f"units.{side}")
            assert {int(u) for seq in units.values() for u in seq.split()} <= set(range(8))
    assert yaml.safe_load((rec / "exp" / "vocab" / "vocab.yaml").read_text())["n_units"] == 8


def test_plugin_aligner_wrote_the_ctms(plugin_run, recipe_run):
    rec = plugin_run["recipe"]
    for dset in TRAIN_SETS:
        lang = dset.split("_")[1]
        ctm = (rec / "dump" / dset / f"align.{lang}.ctm").read_text().splitlines()
        utts = set(kaldi(rec / "dump" / dset / f"text.{lang}"))
        rows = [line.split() for line in ctm]
        aligned = {r[0] for r in rows}
        assert aligned <= utts and len(aligned) >= 0.9 * len(utts)  # (the plausibility checks may drop a few)
        assert min(float(r[3]) for r in rows) >= 0.0099 and min(float(r[2]) for r in rows) >= 0.0
        # not the first run's ctc_segmentation spans
        assert ctm != (recipe_run["recipe"] / "dump" / dset / f"align.{lang}.ctm").read_text().splitlines()


def test_plugin_scheduler_and_llm_decoder_trained_and_decoded(plugin_run):
    from safetensors.torch import load_file

    rec = plugin_run["recipe"]
    exp = rec / "exp" / f"s2st_{PLUGIN_TAG}"
    cfg = yaml.safe_load((exp / "config.yaml").read_text())
    assert cfg["scheduler"]["name"] == "exponential" and cfg["llm"]["name"] == "hf_frozen_text"
    assert yaml.safe_load((exp / "model" / "llm.yaml").read_text())["name"] == "hf_frozen_text"
    # p as the exponential scheduler gives it (half-life 3 steps), not the built-in step schedule
    log = (exp / "train.log").read_text()
    ps = {float(x) for x in re.findall(r"\] p (\d\.\d\d) lr", log)}  # logged to 2 decimals (of a float32)
    exact = [0.9 * 0.5 ** (t / 3) for t in range(11)]
    assert len(ps) >= 3 and all(min(abs(p - e) for e in exact) < 0.0051 for p in ps), (ps, exact)
    # the decoder's own rule: the text rows did not move in stage 8 (weight decay off), the unit rows did
    vocab = yaml.safe_load((exp / "model" / "vocab.yaml").read_text())
    n_text = len(vocab["kept_text"]) if vocab.get("kept_text") else vocab["text_size"]
    lm = load_file(rec / "exp" / "lm" / "model" / "model.safetensors")["model.embed_tokens.weight"]
    s2st = load_file(exp / "model" / "model.safetensors")["model.embed_tokens.weight"]
    assert (s2st[:n_text] == lm[:n_text]).all()
    assert s2st.shape[0] == lm.shape[0] + 8
    # stage 9 loaded the model through the plugin class and decoded every test utterance
    for dset in TEST_SETS:
        out = exp / f"decode_{dset}"
        assert set(kaldi(out / "hyp_units.en")) == set(kaldi(rec / "dump" / dset / "utt2spk"))


def test_plugin_vocoder_and_asr_made_and_scored_the_speech(plugin_run):
    rec = plugin_run["recipe"]
    exp = rec / "exp" / f"s2st_{PLUGIN_TAG}"
    assert (rec / "exp" / "vocoder" / "unit_tones.json").is_file()
    for dset in TEST_SETS:
        out = exp / f"decode_{dset}"
        units = kaldi(out / "hyp_units.en")
        for utt, path in kaldi(out / "wav.scp").items():
            assert sf.info(rec / path).frames == len(units[utt].split()) * 320  # 16 kHz / 50 units/s
    results = (exp / "RESULTS.md").read_text()
    assert "ctc_lexicon" in results and "tonality" in results
    # the same reference speech and CTC model as the first run's plain `ctc` topline: each word is
    # the plain transcript's word or a lexicon word, and no word left the lexicon
    lexicon = {w for t in kaldi(rec / "data" / "lm_text" / "train" / "text.en").values() for w in t.split()}
    name = "score/topline_ref_speech.asr_text.en"
    for dset in TEST_SETS:
        snapped = kaldi(exp / f"decode_{dset}" / name)
        plain = kaldi(plugin_run["first"] / EXP / f"decode_{dset}" / name)
        assert set(snapped) == set(plain)
        for utt, text in snapped.items():
            pairs = list(zip(plain[utt].split(), text.split(), strict=True))
            assert all(q == p or q in lexicon for p, q in pairs), pairs
            assert all(p not in lexicon for p, q in pairs if q not in lexicon), pairs
