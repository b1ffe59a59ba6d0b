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
