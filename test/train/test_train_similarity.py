"""trainer.keep_every and ``s2s similarity`` on two tiny trained systems (scheduled and baseline)."""
from __future__ import annotations

import csv
import json
import shutil

import pytest
import torch

from train_testutils import load_tiny
from s2s_plugin.registry import reset_registry
from s2s_plugin.train.run import Run


@pytest.fixture(scope="module")
def systems(dumps, vocab_path, tmp_path_factory):
    """4 steps each: the scheduled tiny config keeping every 2nd step, a baseline keeping none (the default)."""
    root = tmp_path_factory.mktemp("similarity")
    runs = {"scheduled": {"trainer.keep_every": 2},
            "baseline": {"sequence.interleave_sides": "[]", "scheduler": "{name: constant, p: 0.0}"}}
    for name, extra in runs.items():
        reset_registry()
        cfg = load_tiny(dumps, vocab_path, trainer__max_steps=4, trainer__save_every=4,
                        trainer__val_check_interval=4, **{k.replace(".", "__"): v for k, v in extra.items()})
        Run(cfg, root / name).fit(average=False)
    reset_registry()
    return root


def load(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def test_keep_every_keeps_the_weights_of_every_nth_step(systems):
    ckpts = systems / "scheduled" / "checkpoints"
    assert sorted(p.name for p in ckpts.glob("*.ckpt")) == [
        "best-step0000004.ckpt", "last.ckpt", "step0000002.ckpt", "step0000004.ckpt"]
    two, four, last = (load(ckpts / n) for n in ("step0000002.ckpt", "step0000004.ckpt", "last.ckpt"))
    assert (two["global_step"], four["global_step"], last["global_step"]) == (2, 4, 4)
    assert "optimizer_states" not in four and "optimizer_states" in last  # weights only
    assert all(torch.equal(four["state_dict"][k], v) for k, v in last["state_dict"].items())
    assert not all(torch.equal(two["state_dict"][k], v) for k, v in four["state_dict"].items())
    # the default (keep_every: 0) keeps what it always kept
    assert sorted(p.name for p in (systems / "baseline" / "checkpoints").glob("*.ckpt")) == [
        "best-step0000004.ckpt", "last.ckpt"]


def read_tsv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def test_cli_writes_plot_table_and_json(systems, dumps, tmp_path, capsys, registry):
    from s2s_plugin.bin.main import main
    from s2s_plugin.data.io import read_kaldi_text

    out = tmp_path / "compare" / "similarity"
    code = main(["similarity", str(systems / "scheduled"), str(systems / "baseline"), "--out", str(out),
                 "--device", "cpu", "--max_utts", "5", "--batch_size", "3"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    png = out.with_name("similarity.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    rows = read_tsv(out.with_name("similarity.tsv"))
    # scheduled: the start, steps 2 and 4 (last.ckpt and best-step4 are step 4's again); baseline: start, step 4
    assert [(r["system"], r["checkpoint"], int(r["step"])) for r in rows] == [
        ("scheduled", "init", 0), ("scheduled", "step0000002.ckpt", 2), ("scheduled", "best-step0000004.ckpt", 4),
        ("baseline", "init", 0), ("baseline", "best-step0000004.ckpt", 4)]
    assert [float(r["p"]) for r in rows] == [0.9, 0.6, 0.3, 0.0, 0.0]  # the tiny step schedule; baseline: none
    texts = read_kaldi_text(dumps["dev"] / "text.fr")
    n_words = sum(len(texts[u].split()) for u in sorted(texts)[:5])  # the first 5 utterances in id order
    for r in rows:
        assert -1.0 <= float(r["mean"]) <= 1.0 and float(r["std"]) >= 0.0 and -1 <= float(r["mismatched"]) <= 1
        assert (int(r["n_utts"]), int(r["n_words"])) == (5, n_words)
    # both systems start from the same model (same config and seed): the same similarity at step 0
    assert rows[0]["mean"] == rows[3]["mean"] and rows[0]["mismatched"] == rows[3]["mismatched"]
    assert rows[2]["mean"] != rows[0]["mean"]  # four steps of training moved it
    result = json.loads(out.with_name("similarity.json").read_text())
    assert result["side"] == "src" and result["n_utts"] == 5 and result["ctm"] == "align.{lang}.ctm"
    assert result["command"].startswith("s2s similarity ") and "--max_utts 5" in result["command"]
    assert [pt["step"] for pt in result["systems"]["scheduled"]["points"]] == [0, 2, 4]
    assert result["systems"]["baseline"]["points"][1]["mean"] == pytest.approx(float(rows[4]["mean"]), abs=1e-4)
    assert "scheduled" in printed and "wrote" in printed


def test_cli_measures_what_the_library_measures(systems, dumps, vocab_path, tmp_path, registry):
    """The CLI's number for a checkpoint is the mean cosine of that checkpoint's model, recomputed here."""
    from s2s_plugin.eval.similarity import (
        load_eval_examples,
        load_system,
        measure,
        pair_builder,
        paired_input,
        read_checkpoint,
        run_similarity,
    )
    from s2s_plugin.registry import get_registry

    result = run_similarity([systems / "scheduled"], tmp_path / "sim", data=[dumps["dev"]], side="tgt",
                            max_utts=3, device="cpu", include_init=False)
    system = load_system(systems / "scheduled")
    examples = load_eval_examples([dumps["dev"]], side="tgt", max_utts=3)
    pairs = [paired_input(pair_builder(system.vocab, system.cfg.sequence, "tgt"), ex, "tgt") for ex in examples]
    model = get_registry().build("llm_decoder", system.cfg.llm).build(system.vocab)
    _, weights = read_checkpoint(systems / "scheduled" / "checkpoints" / "step0000002.ckpt")
    model.load_state_dict(weights, strict=False)
    expected = measure(model, pairs, system.vocab.pad_id, batch_size=1)
    got = result["systems"]["scheduled"]["points"][0]
    assert got["checkpoint"] == "step0000002.ckpt"
    assert got["mean"] == pytest.approx(expected.mean, abs=1e-5) and got["n_utts"] == 3


def test_cli_errors_name_the_checkpoint_dir_and_the_ctm_entry(systems, dumps, tmp_path, capsys, registry):
    from s2s_plugin.bin.main import main

    untrained = tmp_path / "untrained"
    untrained.mkdir()
    shutil.copy(systems / "baseline" / "config.yaml", untrained / "config.yaml")
    code = main(["similarity", str(systems / "scheduled"), str(untrained), "--out", str(tmp_path / "sim")])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{untrained / 'checkpoints'}: no checkpoint directory; train the system first" in err
    assert not (tmp_path / "sim.png").exists()  # checked before anything is measured

    dev = tmp_path / "dev_fr"
    shutil.copytree(dumps["dev"], dev)
    lines = (dev / "align.fr.ctm").read_text().splitlines()
    first_utt = lines[0].split()[0]
    (dev / "align.fr.ctm").write_text("".join(line + "\n" for line in lines if not line.startswith(first_utt)))
    code = main(["similarity", str(systems / "scheduled"), "--data", str(dev), "--out", str(tmp_path / "sim")])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{dev / 'align.fr.ctm'}: utterance '{first_utt}' has no words" in err and "--skip_bad" in err

    code = main(["similarity", str(tmp_path / "nowhere"), "--out", str(tmp_path / "sim")])
    assert code == 2 and "no config.yaml" in capsys.readouterr().err


def test_keep_every_must_not_be_negative(tiny_cfg):
    from s2s_plugin.errors import ConfigError

    assert tiny_cfg().trainer.keep_every == 0  # the default keeps no periodic checkpoints
    with pytest.raises(ConfigError, match=r"trainer\.keep_every must be >= 0"):
        tiny_cfg(trainer__keep_every=-1)
