"""Every stage 6-8 config of the recipes loads strictly and says what its name promises."""
from __future__ import annotations

from pathlib import Path

import pytest

from s2s_plugin.llm.vocab_stage import VocabConfig
from s2s_plugin.config import load_config
from s2s_plugin.errors import ConfigError
from s2s_plugin.train.schema import PretrainTextConfig, TrainConfig

ROOT = Path(__file__).resolve().parents[2]
TRAIN = sorted(ROOT.glob("egs/*/s2st1/conf/train_*.yaml"))
MINI = ROOT / "egs" / "mini_s2st" / "s2st1" / "conf"


@pytest.mark.parametrize("path", TRAIN, ids=lambda p: f"{p.parts[-4]}/{p.name}")
def test_train_configs_load(path, registry):
    cfg = load_config(TrainConfig, path)
    sched = registry.build("interleave_scheduler", cfg.scheduler)
    registry.check("llm_decoder", cfg.llm)
    assert cfg.trainer.max_steps % cfg.trainer.val_check_interval == 0  # the last step is validated
    if cfg.sequence.interleave_sides:  # interleaving configs start with text in the units
        assert sched.value(0) > 0


@pytest.mark.parametrize("path", sorted(ROOT.glob("egs/*/s2st1/conf/pretrain_text.yaml")), ids=str)
def test_pretrain_configs_load(path, registry):
    cfg = load_config(PretrainTextConfig, path)
    assert cfg.text.pairs and not cfg.text.parallel and cfg.llm["name"] == "hf"  # the recipe names the dirs
    with pytest.raises(ConfigError, match="text.train_dir=DIR .*lm_train_text"):
        cfg.text.files("train")
    ran = load_config(PretrainTextConfig, path, ["text.train_dir=data/lm_text/train"])
    assert ran.text.files("train")[1][0] == ["data/lm_text/train/text.fr", "data/lm_text/train/text.en"]


def test_text_corpus_files_from_the_recipe_dirs_and_the_config():
    from s2s_plugin.train.schema import TextDataConfig

    text = TextDataConfig(pairs=[["fr", "en"], ["pt", "en"]], langs=["es"], train_dir="lm/train", valid_dir="lm/dev",
                          mono=["extra/text.fr"], valid_parallel=[["x/text.fr", "x/text.en"]])
    assert text.files("train") == (["lm/train/text.es", "extra/text.fr"],
                                   [["lm/train/text.fr", "lm/train/text.en"], ["lm/train/text.pt", "lm/train/text.en"]])
    assert text.files("valid") == (["lm/dev/text.es"], [["lm/dev/text.fr", "lm/dev/text.en"],
                                                        ["lm/dev/text.pt", "lm/dev/text.en"], ["x/text.fr", "x/text.en"]])
    # no valid_dir: validation only from the files the config lists; files alone need no dir
    assert TextDataConfig(pairs=[["fr", "en"]], train_dir="t").files("valid") == ([], [])
    assert TextDataConfig(parallel=[["a.fr", "a.en"]]).files("train") == ([], [["a.fr", "a.en"]])
    with pytest.raises(ConfigError, match=r"\[source_lang, target_lang\]"):
        TextDataConfig(pairs=[["fr"]])
    with pytest.raises(ConfigError, match="give languages"):
        TextDataConfig()


@pytest.mark.parametrize("path", sorted(ROOT.glob("egs/*/s2st1/conf/vocab.yaml")), ids=str)
def test_vocab_configs_load(path):
    assert load_config(VocabConfig, path).tokenizer in ("sentencepiece", "hf")


def test_mini_configs_are_the_papers_systems(registry):
    cfg = {p.stem[len("train_"):]: load_config(TrainConfig, p) for p in MINI.glob("train_*.yaml")}
    assert {"baseline", "scheduled", "constant", "linear", "cosine", "input_only", "output_only", "mask", "no_cot",
            "uniform", "tiny"} <= set(cfg)
    sched = {k: registry.build("interleave_scheduler", c.scheduler) for k, c in cfg.items()}
    n = cfg["scheduled"].trainer.max_steps
    # the paper's step schedule (0.9, -0.1 per interval) reaching 0 at 60-70% of the run (9 whole
    # intervals: 60% of 2000 steps is 9 x 133 = 1197, a step short of 1200)
    assert sched["scheduled"].value(0) == 0.9
    zero_at = next(s for s in range(n) if sched["scheduled"].value(s) == 0.0)
    assert round(0.6 * n) - 9 <= zero_at <= 0.7 * n
    assert sched["scheduled"].value(zero_at - 1) == pytest.approx(0.1)
    for name in ("linear", "cosine"):
        assert sched[name].value(0) == 0.9 and sched[name].value(int(0.7 * n)) == 0.0
    assert cfg["baseline"].sequence.interleave_sides == [] and sched["baseline"].value(0) == 0.0
    assert all(sched["constant"].value(s) == 0.3 for s in (0, n // 2, n))
    assert cfg["input_only"].sequence.interleave_sides == ["src"]
    assert cfg["output_only"].sequence.interleave_sides == ["tgt"]
    assert cfg["mask"].sequence.mode == "mask" and cfg["no_cot"].sequence.cot is False
    assert cfg["uniform"].data.ctm != cfg["scheduled"].data.ctm
    # the ablations differ from the scheduled system in their one switch only
    base = cfg["scheduled"]
    for name in ("input_only", "output_only", "mask", "no_cot", "uniform"):
        assert cfg[name].optim == base.optim and cfg[name].trainer == base.trainer and cfg[name].llm == base.llm


def test_strictness(tmp_path, registry):
    bad = (MINI / "train_tiny.yaml").read_text().replace("max_tokens: 600", "max_token: 600")
    (tmp_path / "bad.yaml").write_text(bad)
    with pytest.raises(ConfigError, match="unknown key 'max_token'; did you mean 'max_tokens'"):
        load_config(TrainConfig, tmp_path / "bad.yaml")
    with pytest.raises(ConfigError, match="trainer.precision: unknown 'fp8'"):
        load_config(TrainConfig, MINI / "train_tiny.yaml", ["trainer.precision=fp8"])
    with pytest.raises(ConfigError, match=r"data.ctm must contain '\{lang\}'"):
        load_config(TrainConfig, MINI / "train_tiny.yaml", ["data.ctm=align.ctm"])
