"""Every YAML under egs/**/conf loads, strictly, with the schema of the stage that reads it.

A new config file must match one of the name patterns below (or get one), so no
recipe ships a config that its stage would refuse.
"""
from __future__ import annotations

import fnmatch
import importlib
import subprocess
from pathlib import Path

import pytest

from s2s_plugin.config import from_dict, load_yaml

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted(ROOT.glob("egs/*/s2st1/conf/**/*.yaml"))

#: file name pattern -> the schema of the stage (verb) that reads such a file; first match wins
SCHEMAS = [
    ("train_*.yaml", "s2s_plugin.train.schema:TrainConfig"),                 # stage 8, s2s train
    ("pretrain_text*.yaml", "s2s_plugin.train.schema:PretrainTextConfig"),   # stage 7
    ("format*.yaml", "s2s_plugin.data.format:FormatConfig"),                 # stage 2
    ("ctc*.yaml", "s2s_plugin.asr.train:CTCTrainConfig"),                    # stage 3
    ("asr_*.yaml", "s2s_plugin.asr.train:CTCTrainConfig"),                   # stage 11's scoring ASR
    ("units*.yaml", "s2s_plugin.units.stage:UnitsConfig"),                   # stage 4
    ("align*.yaml", "s2s_plugin.align.stage:AlignConfig"),                   # stage 5
    ("vocab*.yaml", "s2s_plugin.llm.vocab_stage:VocabConfig"),                     # stage 6
    ("decode*.yaml", "s2s_plugin.decode.generate:DecodeConfig"),             # stage 9
    ("vocoder*.yaml", "s2s_plugin.vocoder.stage:VocoderConfig"),             # stage 10
    ("score*.yaml", "s2s_plugin.eval.score:ScoreConfig"),                    # stage 11
    ("corpus*.yaml", "s2s_plugin.corpora.mini.config:MiniCorpusConfig"),     # stage 1 of the mini recipe
]


def schema_of(path: Path) -> type:
    for pattern, target in SCHEMAS:
        if fnmatch.fnmatch(path.name, pattern):
            module, _, name = target.partition(":")
            return getattr(importlib.import_module(module), name)
    raise AssertionError(f"{path}: no stage schema for this file name; add a pattern to SCHEMAS")


def test_the_recipes_have_configs():
    recipes = {p.relative_to(ROOT).parts[1] for p in CONFIGS}
    assert {"mini_s2st", "cvss"} <= recipes and len(CONFIGS) >= 40


@pytest.mark.parametrize("base", ["mini_s2st", "cvss"])
def test_the_configs_setup_sh_copies_load(tmp_path, registry, base):
    """A recipe made by egs/TEMPLATE/s2st1/setup.sh --from BASE: its configs (the base's, under a note) load."""
    recipe = tmp_path / "egs" / "new" / "s2st1"
    p = subprocess.run([str(ROOT / "egs" / "TEMPLATE" / "s2st1" / "setup.sh"), str(recipe), "--from", base],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    confs = sorted((recipe / "conf").glob("*.yaml"))
    assert len(confs) >= 8
    for path in confs:
        assert from_dict(schema_of(path), load_yaml(path), where=str(path)) is not None


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_config_loads_with_its_stages_schema(path, registry):
    cfg = from_dict(schema_of(path), load_yaml(path), where=str(path))
    assert cfg is not None


def test_a_wrong_key_in_any_of_them_is_caught(tmp_path, registry):
    from s2s_plugin.errors import ConfigError

    bad = tmp_path / "units.yaml"
    bad.write_text((ROOT / "egs/mini_s2st/s2st1/conf/units.yaml").read_text() + "n_cluster: 3\n")
    with pytest.raises(ConfigError, match="unknown key 'n_cluster'"):
        from_dict(schema_of(bad), load_yaml(bad), where=str(bad))


def _values(value, key=""):
    """``(dotted key, value)`` of every leaf of a loaded YAML (list items as ``key[i]``)."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _values(v, f"{key}.{k}" if key else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _values(v, f"{key}[{i}]")
    else:
        yield key, value


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_config_names_a_path_the_recipe_passes(path):
    """The recipe's own dirs (data/..., exp/..., dump/...) reach each stage from s2st.sh: the vocabulary, the
    sets, stage 7's text corpus, stage 3's and 7's models, the scoring ASR and the vocoder. A config names
    models and hyperparameters."""
    named = [f"{k}: {v}" for k, v in _values(load_yaml(path))
             if isinstance(v, str) and v.startswith(("data/", "exp/", "dump/"))]
    assert not named, f"{path} names paths that s2st.sh passes: {named}"
    if fnmatch.fnmatch(path.name, "train_*.yaml") or fnmatch.fnmatch(path.name, "pretrain_text*.yaml"):
        data = load_yaml(path)
        assert "vocab" not in data and not {"train", "valid"} & set(data.get("data") or {}), path


def test_the_paths_a_verb_is_given_reach_the_blocks_that_read_them(capsys, registry):
    import yaml

    from s2s_plugin.bin.main import main

    conf = ROOT / "egs" / "mini_s2st" / "s2st1" / "conf"
    units = ["units", "fit", "--config", str(conf / "units.yaml"), "--dirs", "d", "--exp", "e", "--print_config"]
    assert main([*units, "--ctc_exp", "exp/ctc_b"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["tokenizer"]["exp_dir"] == "exp/ctc_b"
    align = ["align", "--config", str(conf / "align.yaml"), "--dir", "d", "--ctc_exp", "exp/ctc_b", "--print_config"]
    assert main(align) == 0
    assert yaml.safe_load(capsys.readouterr().out)["aligner"]["model"] == "exp/ctc_b"
    # a block that names it keeps its own (one model per language, say), as an override does
    assert main([*align, "aligner.model={fr: exp/ctc_fr}"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["aligner"]["model"] == {"fr": "exp/ctc_fr"}
    # the paper's units (cvss, hf_kmeans) come from the same stage-3 model
    cvss = ["units", "fit", "--config", str(ROOT / "egs" / "cvss" / "s2st1" / "conf" / "tuning" / "units.yaml"),
            "--dirs", "d", "--exp", "e", "--print_config", "--ctc_exp", "exp/ctc_b"]
    assert main(cvss) == 0
    assert yaml.safe_load(capsys.readouterr().out)["tokenizer"]["model_dir"] == "exp/ctc_b"
    # a plugin that reads no CTC model is given none
    assert main([*units[:3], str(conf / "units_mfcc.yaml"), *units[4:], "--ctc_exp", "exp/ctc_b"]) == 0
    assert "exp/ctc_b" not in capsys.readouterr().out


def test_a_config_used_alone_names_the_missing_path_and_what_sets_it(registry):
    from s2s_plugin.align.ctcseg import CTCSegmentationAligner
    from s2s_plugin.asr.scorers import CtcASR
    from s2s_plugin.errors import ConfigError
    from s2s_plugin.train.schema import TrainConfig, check_recipe_paths
    from s2s_plugin.units.tokenizers import CtcKmeans

    conf = ROOT / "egs" / "mini_s2st" / "s2st1" / "conf" / "train_scheduled.yaml"
    cfg = from_dict(TrainConfig, load_yaml(conf), where=str(conf))
    with pytest.raises(ConfigError, match=r"no vocabulary \(key 'vocab'\): give --vocab .* or the override vocab="):
        check_recipe_paths(cfg, str(conf))
    cfg.vocab = "exp/vocab/vocab.yaml"
    with pytest.raises(ConfigError, match=r"'data.train'\): give the override data.train=\[dump/<set>,...\]"):
        check_recipe_paths(cfg, str(conf))
    cfg.data.train = ["dump/train_fr"]
    check_recipe_paths(cfg, str(conf))
    with pytest.raises(ConfigError, match=r"'tokenizer.exp_dir'\): give --ctc_exp DIR .* tokenizer.exp_dir=DIR"):
        CtcKmeans(layer=3)
    with pytest.raises(ConfigError, match=r"'aligner.model'\): give --ctc_exp DIR .* aligner.model=DIR"):
        CTCSegmentationAligner()
    with pytest.raises(ConfigError, match=r"'asr.exp_dir'\): give the override asr.exp_dir=DIR"):
        CtcASR().transcribe([], 16000)
