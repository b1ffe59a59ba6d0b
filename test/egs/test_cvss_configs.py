"""Every config of egs/cvss/s2st1 loads strictly and validates against its plugins, with no model present;
run.sh's dry run prints every stage's command with those configs.

The configs name model directories under downloads/ that no test machine has: validation goes through
the registry's signature check (``Registry.check``, called by ``load_config`` for every component
block), which never constructs a plugin, so it needs none of them.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import importlib
import os
import re
import subprocess
from pathlib import Path

import pytest
import recipe_testutils

from s2s_plugin.config import load_config, to_dict
from s2s_plugin.errors import ConfigError, PluginError

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "egs" / "cvss" / "s2st1"
CONF = RECIPE / "conf"
CONFIGS = sorted(CONF.rglob("*.yaml"))

#: file name pattern -> the schema its stage loads it with (module:class)
SCHEMAS = {
    "format.yaml": "s2s_plugin.data.format:FormatConfig",
    "ctc*.yaml": "s2s_plugin.asr.train:CTCTrainConfig",
    "units*.yaml": "s2s_plugin.units.stage:UnitsConfig",
    "align*.yaml": "s2s_plugin.align.stage:AlignConfig",
    "vocab*.yaml": "s2s_plugin.llm.vocab_stage:VocabConfig",
    "train_*.yaml": "s2s_plugin.train.schema:TrainConfig",
    "decode*.yaml": "s2s_plugin.decode.generate:DecodeConfig",
    "vocoder*.yaml": "s2s_plugin.vocoder.stage:VocoderConfig",
    "score*.yaml": "s2s_plugin.eval.score:ScoreConfig",
}
#: the paper's table rows and Pt-En ablations, by train config name
SYSTEMS = ("baseline", "scheduled", "constant", "input_only", "output_only", "mask", "uniform")


def schema_of(path: Path) -> type:
    found = [spec for pattern, spec in SCHEMAS.items() if fnmatch.fnmatch(path.name, pattern)]
    assert len(found) == 1, f"{path}: no stage schema (or several) for this file name; add it to SCHEMAS"
    module, cls = found[0].split(":")
    return getattr(importlib.import_module(module), cls)


def components(cfg) -> list[tuple[str, dict]]:
    """The ``(kind, block)`` of every plugin block of a loaded config."""
    return [(f.metadata["kind"], getattr(cfg, f.name)) for f in dataclasses.fields(cfg)
            if "kind" in f.metadata and getattr(cfg, f.name) is not None]


def load(name: str):
    path = CONF / name
    return load_config(schema_of(path), path)


def rel(p: Path) -> str:
    return p.relative_to(CONF).as_posix()


def test_the_recipe_has_a_config_for_every_stage_and_system():
    names = {rel(p) for p in CONFIGS}
    expected = {"format.yaml", "tuning/ctc_w2vbert_bpe5000.yaml", "tuning/units.yaml", "tuning/units_mhubert.yaml", "tuning/align.yaml",
                "tuning/align_uniform.yaml", "tuning/vocab.yaml", "tuning/decode.yaml",
                "tuning/vocoder_unit_hifigan.yaml", "tuning/vocoder_unit_hifigan_import.yaml",
                "tuning/vocoder_mhubert.yaml", "tuning/score_whisper.yaml",
                *(f"tuning/train_{s}.yaml" for s in SYSTEMS)}
    assert expected <= names


@pytest.mark.parametrize("path", CONFIGS, ids=rel)
def test_config_loads_strictly_and_its_plugins_validate_without_models(path, registry, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the relative model paths (downloads/..., exp/...) lead nowhere
    cfg = load_config(schema_of(path), path)
    for kind, block in components(cfg):
        info, kwargs = registry.check(kind, block, rel(path))
        assert info.name == block["name"] and info.provider == "s2s_plugin"
        assert set(kwargs) == set(block) - {"name"}


def test_validation_did_not_need_the_models(registry, tmp_path, monkeypatch):
    """Validating needs no model; building the w2v-BERT tokenizer does, and says what to put where."""
    monkeypatch.chdir(tmp_path)
    from s2s_plugin.config import fill_recipe_paths

    cfg = load("tuning/units.yaml")
    tokenizer = fill_recipe_paths(dict(cfg.tokenizer), {"ctc_exp": "exp/ctc"})  # as s2st.sh's --ctc_exp gives it
    with pytest.raises(ConfigError, match=r"hf_kmeans: exp/ctc/config.json not found .* run stage 3 first"):
        registry.build("unit_tokenizer", tokenizer)
    quality = load("tuning/score_whisper.yaml").quality
    assert quality["name"] == "utmos22_strong"
    with pytest.raises(ConfigError, match=r"quality.checkpoint \(conf/score.yaml\): downloads/"
                                          r"utmos22_strong_step7459_v1.pt not found. Download"):
        registry.build("quality_scorer", quality)


@pytest.mark.parametrize("name, old, new, match", [
    ("tuning/units.yaml", "name: hf_kmeans", "name: hf_kmean",
     r"unknown unit_tokenizer 'hf_kmean'; did you mean 'hf_kmeans'\?"),
    ("tuning/units.yaml", "  n_clusters: 2048", "  n_cluster: 2048",
     r"unit_tokenizer 'hf_kmeans' \(s2s_plugin\) does not accept 'n_cluster' in .*:tokenizer; "
     r"did you mean 'n_clusters'\?"),
    ("tuning/train_scheduled.yaml", "  dropout: 0.2", "  dropot: 0.2",
     r"llm_decoder 'hf' \(s2s_plugin\) does not accept 'dropot' in .*:llm; did you mean 'dropout'\?"),
    ("tuning/score_whisper.yaml", "name: whisper", "name: wisper",
     r"unknown asr_model 'wisper'; did you mean 'whisper'\?"),
    ("tuning/vocoder_unit_hifigan.yaml", "  durations: runs", "  duration: runs",
     r"vocoder 'unit_hifigan' \(s2s_plugin\) does not accept 'duration' in .*:vocoder; did you mean 'durations'\?"),
])
def test_a_misspelled_plugin_name_or_kwarg_fails(name, old, new, match, registry, tmp_path):
    text = (CONF / name).read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{name} should hold '{old}' exactly once"
    bad = tmp_path / Path(name).name
    bad.write_text(text.replace(old, new), encoding="utf-8")
    with pytest.raises(PluginError, match=match):
        load_config(schema_of(bad), bad)


def test_units_are_the_papers_and_the_mhubert_alternative():
    paper = load("tuning/units.yaml")
    assert paper.tokenizer["name"] == "hf_kmeans" and paper.tokenizer["layer"] == 20
    assert paper.tokenizer["n_clusters"] == 2048 and paper.dedup is False
    mhubert = load("tuning/units_mhubert.yaml")
    assert mhubert.tokenizer["name"] == "s3prl_kmeans" and mhubert.tokenizer["layer"] == 11
    assert mhubert.tokenizer["n_clusters"] == 1000 and mhubert.dedup is False
    assert load("tuning/vocoder_mhubert.yaml").vocoder["format"] == "fairseq"
    assert load("tuning/vocoder_unit_hifigan.yaml").vocoder["format"] == "pwg"
    assert load("tuning/vocoder_unit_hifigan_import.yaml").vocoder["checkpoint"] == "downloads/unit_hifigan"
    aligner = load("tuning/align.yaml").aligner
    # the model is what stage 3 imports into exp/ctc, which s2st.sh passes (s2s align --ctc_exp exp/ctc)
    assert aligner["name"] == "ctc_segmentation" and "model" not in aligner
    assert load("tuning/align_uniform.yaml").aligner["name"] == "uniform"
    asr = load("tuning/score_whisper.yaml").asr
    assert asr["name"] == "whisper" and asr["path"] == "downloads/whisper-large-v3" and asr["language"] == "en"


def test_train_configs_are_the_papers_systems(registry):
    cfg = {s: load(f"tuning/train_{s}.yaml") for s in SYSTEMS}
    sched = {s: registry.build("interleave_scheduler", c.scheduler) for s, c in cfg.items()}
    n = cfg["scheduled"].trainer.max_steps
    # 0.9, minus 0.1 every 300 optimiser steps, 0.0 from step 2700 to the end of the run
    assert [sched["scheduled"].value(t) for t in (0, 299, 300, 2699, 2700, n - 1)] == [0.9, 0.9, 0.8, 0.1, 0.0, 0.0]
    assert n > 2700 and n % cfg["scheduled"].trainer.val_check_interval == 0
    assert cfg["baseline"].sequence.interleave_sides == [] and sched["baseline"].value(0) == 0.0
    assert [sched["constant"].value(t) for t in (0, 2700, n - 1)] == [0.3, 0.3, 0.3]
    for s, c in cfg.items():  # the values the paper gives, in every system
        assert c.llm == {"name": "hf", "path": "downloads/Llama-3.2-1B", "dropout": 0.2, "init_new": "mean",
                         "gradient_checkpointing": False, "dtype": "float32"}, s
        assert (c.optim.lr, c.optim.weight_decay) == (5.0e-5, 0.0), s  # Adam, lr 5e-5
        assert (c.trainer.precision, c.trainer.strategy) == ("bf16-mixed", "ddp"), s
        assert c.sequence.cot is True and c.data.valid_p == 0.0, s
    # each system differs from the scheduled one in its own switches only
    switches = {"baseline": {"scheduler", "sequence.interleave_sides"}, "constant": {"scheduler"},
                "input_only": {"sequence.interleave_sides"}, "output_only": {"sequence.interleave_sides"},
                "mask": {"sequence.mode"}, "uniform": {"data.ctm"}}
    base = flat(to_dict(cfg["scheduled"]))
    for s, keys in switches.items():
        other = flat(to_dict(cfg[s]))
        changed = {k for k in base.keys() | other.keys() if base.get(k) != other.get(k)}
        assert {("scheduler" if k.startswith("scheduler.") else k) for k in changed} == keys, s
    assert cfg["input_only"].sequence.interleave_sides == ["src"]
    assert cfg["output_only"].sequence.interleave_sides == ["tgt"]
    assert cfg["mask"].sequence.mode == "mask" and cfg["uniform"].data.ctm == "uniform.{lang}.ctm"


def flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def test_every_model_path_is_documented_in_db_sh():
    db = (RECIPE / "db.sh").read_text(encoding="utf-8")
    texts = [p.read_text(encoding="utf-8") for p in CONFIGS] + [(RECIPE / "run.sh").read_text(encoding="utf-8")]
    paths = {m.rstrip("/") for t in texts for m in re.findall(r"downloads/[\w.\-/]+", t)}
    assert {"downloads/w2v-bert-2.0-ctc", "downloads/Llama-3.2-1B", "downloads/unit_hifigan",
            "downloads/whisper-large-v3", "downloads/utmos22_strong_step7459_v1.pt"} <= paths
    for p in paths:
        assert p in db, f"{p} is named by a config or run.sh but db.sh does not say what goes there"
    # the LLM whose tokenizer stage 6 uses is the one stage 8 fine-tunes
    assert load("tuning/vocab.yaml").path == load("tuning/train_scheduled.yaml").llm["path"]


# -- run.sh --------------------------------------------------------------------------------------------------

def copy_recipe(dest: Path) -> Path:
    return recipe_testutils.copy_recipe(RECIPE, dest, ("run.sh", "db.sh", "path.sh", "cmd.sh", "local", "conf"))


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("CV4", "CVSS")}
    # one stream, so that each stage's commands follow its log line
    return subprocess.run(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120,
                          env=env)


def stage_blocks(out: str) -> dict[int, str]:
    """The log line and commands of each stage, by stage number."""
    blocks: dict[int, str] = {}
    current = None
    for line in out.splitlines():
        m = re.search(r"\] Stage (\d+):", line)
        if m:
            current = int(m.group(1))
        if current is not None:
            blocks[current] = blocks.get(current, "") + line + "\n"
    return blocks


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    recipe = copy_recipe(tmp_path_factory.mktemp("cvss") / "s2st1")
    before = sorted(p.relative_to(recipe) for p in recipe.rglob("*"))
    p = run(["./run.sh", "--src_lang", "pt", "--dry_run", "true"], recipe)
    after = sorted(p.relative_to(recipe) for p in recipe.rglob("*"))
    return {"recipe": recipe, "proc": p, "out": p.stdout, "before": before, "after": after}


def test_dry_run_prints_every_stage_with_the_tuning_configs(dry_run):
    p, out = dry_run["proc"], dry_run["out"]
    assert p.returncode == 0, out
    blocks = stage_blocks(out)
    # stage 7 (text pretraining) is for the embedded recipe's own LLM: Llama-3.2-1B is pretrained
    assert sorted(blocks) == [1, 2, 3, 4, 5, 6, 8, 9, 10, 11]
    expected = {
        1: ["local/data.sh --src_lang pt --version c --test_subset 1000 --seed 1 --max_missing 0.02",
            "data validate data/test_pt --tgt_lang en"],
        2: ["data format data/train_pt dump/train_pt --config conf/format.yaml --tgt_lang en --nj 4 "
            "--cmd utils/run.pl"],
        3: ["ctc import --from downloads/w2v-bert-2.0-ctc --exp exp/ctc"],
        # the vocoder needs only stage 4's units: it fits in the background from then on, stage 10 waits
        4: ["units fit --config conf/tuning/units.yaml --dirs dump/train_pt --lang pt en --exp exp/units "
            "--ctc_exp exp/ctc",
            "units label --exp exp/units --dir dump/test_pt --nj 4 --cmd utils/run.pl",
            "(in the background: vocoder_fit) utils/run.pl exp/vocoder/logs/fit.log python -m s2s_plugin.bin.main "
            "vocoder fit --config conf/tuning/vocoder_unit_hifigan.yaml --dirs dump/train_pt --lang en "
            "--exp exp/vocoder"],
        5: ["align --config conf/tuning/align.yaml --dir dump/train_pt --tgt_lang en --out align --ctc_exp exp/ctc "
            "--nj 4 --cmd utils/run.pl",
            "align --config conf/tuning/align_uniform.yaml --dir dump/test_pt --tgt_lang en --out uniform "
            "--ctc_exp exp/ctc --nj 4 --cmd utils/run.pl"],
        6: ["vocab --config conf/tuning/vocab.yaml --exp exp/vocab --units_exp exp/units --text dump/train_pt"],
        8: ["launch --ngpu 1 --nproc 1 -- s2s train --config conf/tuning/train_scheduled.yaml "
            "--exp exp/s2st_pt_scheduled --vocab exp/vocab/vocab.yaml data.train=[dump/train_pt] "
            "data.valid=[dump/dev_pt]"],
        9: ["decode --model_dir exp/s2st_pt_scheduled/model --dir dump/test_pt "
            "--out exp/s2st_pt_scheduled/decode_test_pt --config conf/tuning/decode.yaml --tgt_lang en --nj 4 "
            "--cmd utils/run.pl"],
        10: ["(waits for the background job vocoder_fit)",
             "vocoder synth --exp exp/vocoder --units exp/s2st_pt_scheduled/decode_test_pt/hyp_units.en "
             "--out exp/s2st_pt_scheduled/decode_test_pt --nj 4 --cmd utils/run.pl"],
        11: ["score --config conf/tuning/score_whisper.yaml --exp exp/s2st_pt_scheduled --sets test_pt"],
    }
    for stage, commands in expected.items():
        for command in commands:
            assert command in blocks[stage], (stage, command, blocks[stage])
    # every config a command names exists, and every tuning config of a stage is used by the default run
    named = set(re.findall(r"--config (conf/\S+)", out)) | set(re.findall(r"uniform:(conf/[^\s)]+)", out))
    assert all((RECIPE / c).is_file() for c in named), named
    defaults = {f"conf/tuning/{n}.yaml" for n in ("units", "align", "align_uniform", "vocab", "train_scheduled",
                                                  "decode", "vocoder_unit_hifigan", "score_whisper")}
    assert defaults <= named
    assert dry_run["after"] == dry_run["before"]  # a dry run writes nothing


def test_dry_run_scores_with_whisper_as_configured(dry_run):
    block = stage_blocks(dry_run["out"])[11]
    assert "ctc train" not in block and "asr.exp_dir=" not in block


@pytest.mark.parametrize("system", SYSTEMS)
def test_each_table_row_has_its_own_exp_dir(system, dry_run):
    p = run(["./run.sh", "--src_lang", "pt", "--dry_run", "true", "--stage", "8", "--stop_stage", "9",
             "--train_conf", f"conf/tuning/train_{system}.yaml", "--train_args", "trainer.seed=2"], dry_run["recipe"])
    assert p.returncode == 0, p.stdout
    out = p.stdout
    assert (f"s2s train --config conf/tuning/train_{system}.yaml --exp exp/s2st_pt_{system} "
            f"--vocab exp/vocab/vocab.yaml data.train=[dump/train_pt] data.valid=[dump/dev_pt] trainer.seed=2") in out
    assert f"decode --model_dir exp/s2st_pt_{system}/model" in out
    tagged = run(["./run.sh", "--src_lang", "fr", "--dry_run", "true", "--stage", "8", "--stop_stage", "8",
                  "--train_conf", f"conf/tuning/train_{system}.yaml", "--tag", f"{system}_b"], dry_run["recipe"])
    assert f"--exp exp/s2st_{system}_b --vocab exp/vocab/vocab.yaml data.train=[dump/train_fr]" in tagged.stdout
