"""The stage 6-8 verbs: s2s vocab, s2s pretrain-text, s2s show-batch, s2s launch."""
from __future__ import annotations

import shlex
import sys

import pytest
import torch
import yaml
from train_testutils import RECIPE_CONF, tiny_overrides

from s2s_plugin.bin.main import main
from s2s_plugin.llm.vocab import Vocabulary


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def lm_text(tmp_path):
    d = tmp_path / "lm_text"
    for split, n in (("train", 40), ("dev", 6)):
        (d / split).mkdir(parents=True)
        fr = [f"t{i:03d} le {'chat' if i % 2 else 'chien'} {'noir' if i % 3 else 'blanc'} dort" for i in range(n)]
        en = [f"t{i:03d} the {'black' if i % 3 else 'white'} {'cat' if i % 2 else 'dog'} sleeps" for i in range(n)]
        (d / split / "text.fr").write_text("\n".join(fr) + "\n")
        (d / split / "text.en").write_text("\n".join(en) + "\n")
    return d


def test_vocab_stage(tmp_path, lm_text, dumps, capsys, registry):
    units_exp = tmp_path / "units"
    units_exp.mkdir()
    (units_exp / "units.yaml").write_text(yaml.safe_dump({"n_clusters": 20, "frame_rate": 50.0}))
    code, _, err = run(capsys, "vocab", "--config", RECIPE_CONF / "vocab.yaml", "--exp", tmp_path / "vocab",
                       "--text", dumps["train"], lm_text / "train", "--units_exp", units_exp, "vocab_size=60")
    assert code == 0, err
    raw = yaml.safe_load((tmp_path / "vocab" / "vocab.yaml").read_text())
    assert raw["tokenizer"] == {"kind": "sentencepiece", "path": "bpe.model"}  # relative to the vocab dir
    vocab = Vocabulary.load(tmp_path / "vocab" / "vocab.yaml")
    assert vocab.n_units == 20 and vocab.text_size <= 60 and len(vocab) == vocab.unit_offset + 20
    assert {"<lang_fr>", "<lang_en>", "<t_src>", "<s_tgt>"} <= set(vocab.specials)
    assert vocab.decode_text([t for w in vocab.encode_words(["le", "chat"]) for t in w]) == "le chat"
    stats = yaml.safe_load((tmp_path / "vocab" / "stats.yaml").read_text())
    assert set(stats["text_tokens_per_word"]) == {"fr", "en"} and (tmp_path / "vocab" / "config.yaml").is_file()
    assert not list((tmp_path / "vocab").glob(".*tmp*"))
    # pruning keeps only what the texts use
    code, _, _ = run(capsys, "vocab", "--config", RECIPE_CONF / "vocab.yaml", "--exp", tmp_path / "pruned",
                     "--text", lm_text / "train" / "text.fr", "--n_units", "8", "vocab_size=60", "prune=true")
    pruned = Vocabulary.load(tmp_path / "pruned" / "vocab.yaml")
    assert code == 0 and pruned.kept_text is not None and pruned.n_text < pruned.text_size
    assert pruned.specials[-1] == "<lang_fr>" and pruned.n_units == 8
    code, _, err = run(capsys, "vocab", "--config", RECIPE_CONF / "vocab.yaml", "--exp", tmp_path / "x",
                       "--text", lm_text / "train")
    assert code == 2 and "number of units is unknown" in err


def test_pretrain_text_then_stage8_builds_on_it(tmp_path, lm_text, vocab_path, capsys, registry):
    from s2s_plugin.llm.hf import HFDecoder

    tiny = yaml.safe_load((RECIPE_CONF / "train_tiny.yaml").read_text())["llm"]["config"]
    over = ["vocab=not/this/one.yaml", "llm.config=" + yaml.safe_dump(tiny, default_flow_style=True).strip(),
            "text.pairs=[[fr, en]]", f"text.train_dir={lm_text}/train", f"text.valid_dir={lm_text}/dev",
            "text.max_tokens=300",
            "trainer.max_steps=4", "trainer.val_check_interval=2", "trainer.save_every=2",
            "trainer.num_sanity_val_steps=0", "trainer.log_every_n_steps=1"]
    code, _, err = run(capsys, "pretrain-text", "--config", RECIPE_CONF / "pretrain_text.yaml", "--exp",
                       tmp_path / "lm", *over, "--vocab", vocab_path)
    assert code == 0, err
    # --vocab wins over the config's key, and exp/config.yaml records the vocabulary that was used
    assert yaml.safe_load((tmp_path / "lm" / "config.yaml").read_text())["vocab"] == str(vocab_path)
    model_dir = tmp_path / "lm" / "model"
    vocab = Vocabulary.load(vocab_path)
    config = yaml.safe_load((model_dir / "config.json").read_text())
    assert config["s2s_layout"]["n_units"] == 0 and config["vocab_size"] == vocab.unit_offset
    assert "tgt_text" in (tmp_path / "lm" / "train.log").read_text()  # progress lines: per-segment losses
    lm = HFDecoder(path=str(model_dir)).load_base()
    model = HFDecoder(path=str(model_dir)).build(vocab)  # stage 8: units added, text and specials kept
    assert model.config.vocab_size == len(vocab)
    assert torch.equal(model.get_input_embeddings().weight[:vocab.unit_offset], lm.get_input_embeddings().weight)


def test_text_task_layout(vocab_path):
    from s2s_plugin.llm.examples import TextItem
    from s2s_plugin.llm.sequence import IGNORE, SRC_TEXT, TGT_TEXT
    from s2s_plugin.train.schema import TextDataConfig
    from s2s_plugin.train.datamodule import TextTask

    vocab = Vocabulary.load(vocab_path)
    task = TextTask(TextDataConfig(parallel=[["a.fr", "a.en"]]), vocab)
    sp = vocab.special
    fr, en = vocab.encode_words(["le", "chat"]), vocab.encode_words(["the", "cat"])
    seq = task.build_one(TextItem("k", "fr", ["le", "chat"], "en", ["the", "cat"]))
    flat_fr, flat_en = [t for w in fr for t in w], [t for w in en for t in w]
    assert seq.input_ids == [sp("<lang_fr>"), sp("<t_src>"), *flat_fr, sp("<t_tgt>"), *flat_en, sp("<eos>")]
    assert seq.labels[:2] == [IGNORE] * 2 and seq.labels[2:] == seq.input_ids[2:]
    assert seq.segments[2:] == [SRC_TEXT] * (len(flat_fr) + 1) + [TGT_TEXT] * (len(flat_en) + 1)
    mono = task.build_one(TextItem("k", "en", ["the", "cat"]))
    assert mono.input_ids == [sp("<lang_en>"), sp("<t_tgt>"), *flat_en, sp("<eos>")]


def test_show_batch_colours_modalities(dumps, vocab_path, capsys, registry):
    args = ["show-batch", RECIPE_CONF / "train_tiny.yaml", *tiny_overrides(dumps, vocab_path), "--n", "2"]
    code, out, err = run(capsys, *args, "--step", "3", "--color", "always")
    assert code == 0, err
    assert out.splitlines()[0].startswith("step 3: p = 0.6000") and out.count("\n[") == 2
    assert "\033[32m" in out and "\033[2;36m" in out and "\033[36m" in out and "\033[33;1m<eos>\033[0m" in out
    code, out, _ = run(capsys, *args, "--step", "100", "--color", "never")
    assert "p = 0.0000" in out and "\033[" not in out and "<s_src> <lang_fr> <u" in out
    # at p = 0 the source and target speech segments carry no text at all
    assert "src_speech 0 text/" in out and "tgt_speech 0 text/" in out and "src_text 0 text/" not in out


def test_show_batch_shows_the_batch_training_plans_at_that_step(dumps, vocab_path, capsys, registry):
    import re

    from s2s_plugin.config import load_config
    from s2s_plugin.llm.vocab import Vocabulary
    from s2s_plugin.train.schema import TrainConfig
    from s2s_plugin.train.datamodule import S2SDataModule, S2STTask

    overrides = tiny_overrides(dumps, vocab_path)
    cfg = load_config(TrainConfig, RECIPE_CONF / "train_tiny.yaml", overrides)
    sched = registry.build("interleave_scheduler", cfg.scheduler, "scheduler")
    dm = S2SDataModule(S2STTask(cfg.data, cfg.sequence, Vocabulary.load(vocab_path)), cfg.data,
                       seed=cfg.trainer.seed, schedule=sched.value, max_steps=cfg.trainer.max_steps)
    dm.setup()
    planned = dm.train_sampler.plan(3)[2]  # step 2's batch (accumulate 1)
    code, out, err = run(capsys, "show-batch", RECIPE_CONF / "train_tiny.yaml", *overrides, "--step", "2",
                         "--n", "100", "--color", "never")
    assert code == 0, err
    shown = re.findall(r"^\[\d+\] (\S+) .*?, (\d+) tokens:", out, flags=re.M)
    assert [u for u, _ in shown] == [dm.train_items[i].utt for i in planned.items]
    assert [int(n) for _, n in shown] == planned.lengths


def test_launch_commands(capsys):
    verb = ["--", "s2s", "train", "--config", "c.yaml", "--exp", "exp/x"]
    code, out, _ = run(capsys, "launch", "--ngpu", "4", "--dry_run", *verb)
    assert code == 0 and shlex.split(out) == [sys.executable, "-m", "torch.distributed.run", "--standalone",
                                              "--nproc_per_node=4", "-m", "s2s_plugin.bin.main", "train", "--config",
                                              "c.yaml", "--exp", "exp/x"]
    code, out, _ = run(capsys, "launch", "--ngpu", "0", "--nproc", "2", "--dry_run", *verb)
    assert "--nproc_per_node=2" in out
    code, out, _ = run(capsys, "launch", "--ngpu", "1", "--dry_run", *verb)
    assert shlex.split(out)[:3] == [sys.executable, "-m", "s2s_plugin.bin.main"]
    code, out, _ = run(capsys, "launch", "--ngpu", "8", "--nnodes", "2", "--slurm", "--partition=gpu --time=4:00:00",
                       "--cpus_per_task", "6", "--dry_run", *verb)
    assert shlex.split(out)[:8] == ["srun", "--nodes=2", "--ntasks-per-node=8", "--kill-on-bad-exit=1",
                                    "--gpus-per-node=8", "--cpus-per-task=6", "--partition=gpu", "--time=4:00:00"]
    code, _, err = run(capsys, "launch", "--ngpu", "8", "--nnodes", "2", "--dry_run", *verb)
    assert code == 2 and "runs through Slurm" in err
    code, _, err = run(capsys, "launch", "--ngpu", "2", "--dry_run", "--", "python", "x.py")
    assert code == 2 and "after '--'" in err


def test_launch_marks_a_single_process_run(capsys, monkeypatch):
    """`--ngpu 1` runs the verb itself; the env it gets makes `devices: auto` one GPU (strategy.select_world)."""
    from s2s_plugin.train.strategy import SINGLE_PROCESS_ENV

    seen = []
    monkeypatch.setattr("subprocess.call", lambda cmd, env: seen.append((cmd, env)) or 0)
    monkeypatch.delenv(SINGLE_PROCESS_ENV, raising=False)
    verb = ["--", "s2s", "train", "--config", "c.yaml"]
    assert run(capsys, "launch", "--ngpu", "1", *verb)[0] == 0
    assert run(capsys, "launch", "--ngpu", "2", *verb)[0] == 0
    (one, env1), (two, env2) = seen
    assert "torch.distributed.run" not in one and env1[SINGLE_PROCESS_ENV] == "1"
    assert "torch.distributed.run" in two and SINGLE_PROCESS_ENV not in env2
