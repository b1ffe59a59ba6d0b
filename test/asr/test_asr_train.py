"""CTC training on the Lightning stack: learning, WarmupLR, TensorBoard, exact resume, loader workers,
2-process gloo DDP, configuration errors."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
import yaml
from asr_testutils import FS, TINY_NET, TINY_TRANSFORMER, TRAIN_UTTS, write_set

from s2s_plugin.asr.model import CTCNet
from s2s_plugin.asr.module import CTCModule
from s2s_plugin.asr.tokens import CharTokenList
from s2s_plugin.asr.train import CTCTrainConfig, CTCTrainer
from s2s_plugin.bin.main import main
from s2s_plugin.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
#: dropout and SpecAugment on: resuming must continue their random draws exactly
RANDOM_NET = {**TINY_NET, "encoder_conf": {**TINY_NET["encoder_conf"], "dropout_rate": 0.1},
              "specaug_conf": {"apply_time_warp": False, "apply_freq_mask": True, "freq_mask_width_range": [0, 5],
                               "num_freq_mask": 1, "apply_time_mask": True, "time_mask_width_range": [0, 5],
                               "num_time_mask": 1}}


class Killed(RuntimeError):
    pass


class KillAt(L.Callback):
    """Crashes the run right before optimiser step ``k + 1`` (after step ``k``'s checkpoint was written)."""

    def __init__(self, k: int) -> None:
        self.k = k

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step >= self.k:
            raise Killed(f"killed at step {self.k}")


class Recorder(L.Callback):
    """Records (step, epoch, position, item indices) of every training batch."""

    def __init__(self) -> None:
        self.rows: list[tuple] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.rows.append((trainer.global_step, batch["epoch"], batch["position"], tuple(batch["index"])))


def run(cfg: CTCTrainConfig, train, valid, exp: Path, callbacks=()) -> tuple[CTCTrainer, dict]:
    trainer = CTCTrainer(cfg, [train], [valid] if valid else [], exp, command="s2s ctc train ...",
                         callbacks=list(callbacks))
    trainer.setup()
    try:
        scores = trainer.train()
    finally:
        trainer.cleanup()
    return trainer, scores


def weights(exp: Path) -> dict[str, torch.Tensor]:
    return torch.load(exp / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]


def assert_bitwise_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_warmup_lr_peaks_at_warmup_steps_then_decays_as_one_over_sqrt():
    tok = CharTokenList.build(["ab"])
    module = CTCModule(CTCNet(len(tok), **TINY_NET), tok, [], lr=2e-3, warmup_steps=10)
    conf = module.configure_optimizers()
    opt, sched = conf["optimizer"], conf["lr_scheduler"]["scheduler"]
    assert type(sched).__module__ == "espnet2.schedulers.warmup_lr" and conf["lr_scheduler"]["interval"] == "step"
    lrs = []
    for _ in range(40):
        lrs.append(opt.param_groups[0]["lr"])  # the lr of optimiser step len(lrs)
        opt.step()
        sched.step()
    for step, lr in enumerate(lrs, start=1):  # linear up to the peak at step 10, then 2e-3 * sqrt(10 / step)
        assert lr == pytest.approx(2e-3 * min(step / 10, math.sqrt(10 / step)), rel=1e-9), step
    assert max(lrs) == pytest.approx(2e-3) and lrs.index(max(lrs)) == 9
    assert lrs[39] == pytest.approx(lrs[9] / 2)  # 4x the steps: half the lr


@pytest.fixture(scope="module")
def learned(tiny_sets, tmp_path_factory):
    """Four epochs of the tiny conformer on the tiny French/English set."""
    train, valid = tiny_sets
    cfg = CTCTrainConfig(**TINY_NET, max_epoch=4, batch_frames=400, warmup_steps=3, lr=3e-3, device="cpu",
                         log_every_n_steps=1)
    exp = tmp_path_factory.mktemp("learned")
    return run(cfg, train, valid, exp)


def test_training_improves_and_is_logged(learned):
    trainer, scores = learned
    epochs = scores["epochs"]
    assert [r["epoch"] for r in epochs] == [1, 2, 3, 4]
    assert epochs[-1]["train_loss"] < 0.7 * epochs[0]["train_loss"], epochs
    assert epochs[-1]["valid_loss"] < epochs[0]["valid_loss"], epochs
    assert set(scores["cer_by_lang"]) == {"fr", "en"} and scores["best_epoch"] == 4
    log = (trainer.exp_dir / "train.log").read_text()
    assert "epoch 4/4: train loss" in log and "CER en" in log and "fr" in log
    assert [p.name for p in sorted((trainer.exp_dir / "checkpoints").glob("epoch*.ckpt"))] == \
        ["epoch3.ckpt", "epoch4.ckpt"]  # keep_checkpoints: 2


def test_tensorboard_has_loss_lr_and_cer_per_language(learned):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    trainer, scores = learned
    ea = EventAccumulator(str(trainer.exp_dir / "tensorboard"))
    ea.Reload()
    assert {"train/loss", "train/lr", "valid/loss", "valid/cer_fr", "valid/cer_en"} <= set(ea.Tags()["scalars"])
    lr = {e.step: e.value for e in ea.Scalars("train/lr")}
    steps = scores["epochs"][-1]["step"]
    assert sorted(lr) == list(range(steps))
    assert all(lr[s] == pytest.approx(3e-3 * min((s + 1) / 3, math.sqrt(3 / (s + 1))), rel=1e-5) for s in lr)
    cer_en = [e.value for e in ea.Scalars("valid/cer_en")]
    assert cer_en == pytest.approx([r["cer_by_lang"]["en"] for r in scores["epochs"]])


def test_killed_mid_epoch_and_resumed_gives_the_uninterrupted_weights(tiny_sets, tmp_path):
    train, valid = tiny_sets
    cfg = CTCTrainConfig(**RANDOM_NET, max_epoch=3, batch_frames=300, warmup_steps=2, lr=3e-3, device="cpu",
                         save_every_steps=1)
    full_rec = Recorder()
    full, full_scores = run(cfg, train, valid, tmp_path / "full", [full_rec])
    per_epoch = len(full.datamodule.train_sampler)
    assert per_epoch >= 3
    k = per_epoch + 1  # one step into the second epoch
    with pytest.raises(Killed):
        run(cfg, train, valid, tmp_path / "resumed", [KillAt(k)])
    assert torch.load(tmp_path / "resumed" / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == k
    rec = Recorder()
    resumed, scores = run(cfg, train, valid, tmp_path / "resumed", [rec])
    assert rec.rows == full_rec.rows[k:]  # the same batches in the same order after the resume
    assert_bitwise_equal(weights(tmp_path / "full"), weights(tmp_path / "resumed"))
    assert_bitwise_equal(torch.load(tmp_path / "full" / "model.pth", weights_only=True),
                         torch.load(tmp_path / "resumed" / "model.pth", weights_only=True))
    assert [r["train_loss"] for r in scores["epochs"]] == [r["train_loss"] for r in full_scores["epochs"]]
    assert [r["valid_loss"] for r in scores["epochs"]] == [r["valid_loss"] for r in full_scores["epochs"]]
    assert "resuming from" in (tmp_path / "resumed" / "train.log").read_text()


def test_loader_workers_give_the_same_training(tiny_sets, tmp_path):
    train, valid = tiny_sets
    cfg = dict(**RANDOM_NET, max_epoch=2, batch_frames=400, warmup_steps=2, lr=3e-3, device="cpu")
    run(CTCTrainConfig(**cfg), train, valid, tmp_path / "w0")
    trainer, scores = run(CTCTrainConfig(**cfg, num_workers=2), train, valid, tmp_path / "w2")
    assert trainer.trainer.train_dataloader.num_workers == 2
    assert "2 loader worker(s)" in (tmp_path / "w2" / "train.log").read_text()
    assert_bitwise_equal(weights(tmp_path / "w0"), weights(tmp_path / "w2"))
    assert scores["cer"] == json.loads((tmp_path / "w0" / "scores.json").read_text())["cer"]


def test_two_process_gloo_ddp_equals_one_process(tmp_path):
    """2 CPU processes (s2s launch -> torchrun, gloo) train on halves of the same global batches as 1 process."""
    n = int(1.6 * FS)  # equal lengths: no padding, so a half batch computes what the whole batch does
    train = write_set(tmp_path / "train_fr", TRAIN_UTTS, pad_to=n)
    valid = write_set(tmp_path / "dev_fr", {"s3_g": ("le loup la lune", "a wolf the moon"),
                                            "s3_h": ("le lit", "the bed")}, pad_to=n)
    conf = {**TINY_TRANSFORMER, "max_epoch": 2, "batch_frames": 800, "warmup_steps": 2, "lr": 3e-3,
            "device": "cpu", "max_batch_size": 4}
    (tmp_path / "ctc.yaml").write_text(yaml.safe_dump(conf))
    _, one_scores = run(CTCTrainConfig(**conf), train, valid, tmp_path / "one")
    env = dict(os.environ, OMP_NUM_THREADS="1", S2S_PLUGIN_DISABLE_ENTRYPOINTS="1",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "s2s_plugin.bin.main", "launch", "--ngpu", "0", "--nproc", "2", "--", "s2s", "ctc",
           "train", "--config", str(tmp_path / "ctc.yaml"), "--train_dirs", str(train), "--valid_dirs", str(valid),
           "--exp", str(tmp_path / "two")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=400, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = (tmp_path / "two" / "train.log").read_text()
    assert "2 device(s)" in log and (tmp_path / "two" / "train.rank1.log").is_file()
    assert "launch --ngpu=0 --nnodes=1 --nproc=2 -- s2s ctc train" in (tmp_path / "two" / "run.sh").read_text()
    assert proc.stdout.count("valid CER of") == 1  # rank 0 prints
    one, two = weights(tmp_path / "one"), weights(tmp_path / "two")
    assert one.keys() == two.keys()
    for name in one:  # equal up to the order of float sums (gloo all-reduce vs one batch)
        # the attention key bias shifts all scores of a query alike, so softmax ignores it: its gradient
        # is zero up to rounding, and Adam scales that rounding noise up to lr-sized steps
        atol = 2e-4 if name.endswith("self_attn.linear_k.bias") else 2e-6
        assert torch.allclose(one[name], two[name], atol=atol, rtol=0), name
    torch.manual_seed(0)  # the trainer's seed: its initial weights
    init = CTCNet(len(CharTokenList.load(tmp_path / "one" / "tokens.txt")), **TINY_TRANSFORMER)
    moved = [float((one[f"net.{k}"] - v).abs().max()) for k, v in init.state_dict().items()]
    assert max(moved) > 1e-3  # the two epochs moved the weights
    two_scores = json.loads((tmp_path / "two" / "scores.json").read_text())
    assert [r["step"] for r in two_scores["epochs"]] == [r["step"] for r in one_scores["epochs"]]
    for a, b in zip(one_scores["epochs"], two_scores["epochs"]):  # losses and CER over all 4 valid utterances
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-4)
        assert b["valid_loss"] == pytest.approx(a["valid_loss"], rel=1e-4)
        assert b["cer"] == a["cer"]


@pytest.mark.parametrize("key,value,message", [
    ("sides", ["source"], "sides must be"),
    ("warmup_steps", 0, "warmup_steps must be >= 1"),
    ("num_workers", -1, "num_workers must be >= 0"),
    ("accum_grad", 0, "accum_grad must be >= 1"),
    ("precision", "fp8", "precision must be one of"),
    ("device", "tpu", "device must be one of"),
    ("max_utts", 0, "max_utts must be >= 1 or null"),
])
def test_config_errors(key, value, message):
    with pytest.raises(ConfigError, match=message):
        CTCTrainConfig(**{key: value})
    with pytest.raises(ConfigError, match="stack_frames must be"):
        CTCNet(5, stack_frames=0)


def test_run_errors_name_the_problem(tiny_sets, tmp_path, capsys):
    train, valid = tiny_sets
    conf = tmp_path / "ctc.yaml"
    conf.write_text(yaml.safe_dump({**TINY_NET, "device": "cpu", "precision": "bf16-mixed", "max_epoch": 1}))
    base = ["ctc", "train", "--config", str(conf), "--train_dirs", str(train)]
    assert main([*base, "--exp", str(tmp_path / "bf16")]) == 2
    assert "precision 'bf16-mixed' needs a GPU" in capsys.readouterr().err
    assert main([*base, "--exp", str(tmp_path / "x"), "batch_frame=10"]) == 2
    assert "unknown key 'batch_frame'; did you mean 'batch_frames'?" in capsys.readouterr().err
    old = tmp_path / "old" / "checkpoints"  # an exp dir of the trainer before Lightning
    old.mkdir(parents=True)
    (old / "epoch3.pth").write_bytes(b"")
    assert main([*base, "--exp", str(tmp_path / "old"), "precision=auto"]) == 2
    assert "older CTC trainer (epoch*.pth)" in capsys.readouterr().err


RECIPE_CTC_CONFS = sorted([*ROOT.glob("egs/*/s2st1/conf/**/ctc*.yaml"), *ROOT.glob("egs/*/s2st1/conf/**/asr_*.yaml")])


@pytest.mark.parametrize("conf", RECIPE_CTC_CONFS, ids=lambda p: str(p.relative_to(ROOT / "egs")))
def test_recipe_ctc_configs_load(conf):
    from s2s_plugin.config import load_config

    cfg = load_config(CTCTrainConfig, conf)
    assert cfg.max_epoch >= 1 and cfg.warmup_steps >= 1 and cfg.precision == "auto"


def test_precision_and_processes_are_planned_as_in_stage_8():
    from s2s_plugin.asr.train import run_plan

    gpu = dict(cuda=True, n_gpus=2, env={})
    assert run_plan(CTCTrainConfig(), bf16_supported=True, **gpu).precision == "bf16-mixed"  # auto
    assert run_plan(CTCTrainConfig(), bf16_supported=False, **gpu).precision == "32-true"
    assert run_plan(CTCTrainConfig(precision="32-true"), bf16_supported=True, **gpu).precision == "32-true"
    cpu = run_plan(CTCTrainConfig(), cuda=False, env={"TORCHELASTIC_RUN_ID": "x", "LOCAL_WORLD_SIZE": "2"})
    assert (cpu.accelerator, cpu.devices, cpu.precision) == ("cpu", 2, "32-true")
    assert type(cpu.strategy).__name__ == "DDPStrategy" and cpu.strategy._process_group_backend == "gloo"
    with pytest.raises(ConfigError, match="needs a GPU"):
        run_plan(CTCTrainConfig(precision="bf16-mixed"), cuda=False, env={})


def test_planted_payloads_in_checkpoints_never_run(tiny_sets, tmp_path, capsys):
    """A pickle payload in last.ckpt (resume) or an old epoch*.pth is refused, naming the file, and not run."""
    from payload_testutils import Payload, payload_is_live, plant_torch

    train, _ = tiny_sets
    marker = tmp_path / "PWNED"
    conf = tmp_path / "ctc.yaml"
    conf.write_text(yaml.safe_dump({**TINY_NET, "device": "cpu", "max_epoch": 1, "batch_frames": 400}))
    base = ["ctc", "train", "--config", str(conf), "--train_dirs", str(train)]
    assert main([*base, "--exp", str(tmp_path / "exp")]) == 0
    last = tmp_path / "exp" / "checkpoints" / "last.ckpt"
    ckpt = torch.load(last, map_location="cpu", weights_only=True)
    ckpt["callbacks"] = {"planted": Payload(marker)}  # a real resume point, plus one object that runs code
    torch.save(ckpt, last)
    capsys.readouterr()
    assert main([*base, "--exp", str(tmp_path / "exp"), "max_epoch=2"]) == 2
    err = capsys.readouterr().err
    assert f"{last}: refused to load this resume checkpoint" in err and "io.open" in err and "could run code" in err
    assert "Traceback" not in err and not marker.exists()
    assert payload_is_live(last, marker)  # the planted file does run when read without the guard
    # the exp dir of the trainer before Lightning: its epoch*.pth checkpoints are never read
    plant_torch(tmp_path / "old" / "checkpoints" / "epoch2.pth", marker, model={})
    assert main([*base, "--exp", str(tmp_path / "old")]) == 2
    assert "older CTC trainer (epoch*.pth)" in capsys.readouterr().err and not marker.exists()


def test_bpe_token_type_trains_decodes_and_aligns_by_word_pieces(tiny_sets, tmp_path):
    from s2s_plugin.asr.ctc import load_ctc_model
    from s2s_plugin.asr.tokens import BPETokenList

    train, valid = tiny_sets
    cfg = CTCTrainConfig(**TINY_NET, token_type="bpe", bpe_size=30, max_epoch=1, batch_frames=400, warmup_steps=3,
                         lr=3e-3, device="cpu")
    trainer, scores = run(cfg, train, valid, tmp_path / "bpe")
    exp = tmp_path / "bpe"
    tok = BPETokenList.load(exp)
    assert (exp / "tokens.txt").read_text().splitlines() == tok.tokens and len(tok) == 31
    assert tok.tokens[:2] == ["<blank>", "<unk>"] and tok.space_id is None
    assert any(len(t) > 2 and t.startswith("▁") for t in tok.tokens)  # merges, not only characters
    assert tok.decode(tok.encode("la lune  le loup")) == "la lune le loup"
    assert yaml.safe_load((exp / "config.yaml").read_text())["token_type"] == "bpe"
    model = load_ctc_model(exp)
    assert model.token_type == "bpe" and model.space_id is None and len(model.tokens) == 31
    assert model.net.ctc.ctc_lo.out_features == 31
    ids = model.word_ids("lune")
    assert model.tokens[ids[0]].startswith("▁") and "".join(model.tokens[i] for i in ids) == "▁lune"
    with pytest.raises(ValueError, match="'z'"):
        model.word_ids("zut")
    assert set(scores["cer_by_lang"]) == {"fr", "en"}  # valid transcripts decoded from pieces
    # resuming reads bpe.model back (it is never retrained), and other BPE settings are refused
    before = (exp / "bpe.model").read_bytes()
    _, scores = run(CTCTrainConfig(**{**cfg.__dict__, "max_epoch": 2}), train, valid, exp)
    assert (exp / "bpe.model").read_bytes() == before
    assert scores["epochs"][-1]["train_loss"] < scores["epochs"][0]["train_loss"]
    with pytest.raises(ConfigError, match="bpe_size"):
        CTCTrainer(CTCTrainConfig(**{**cfg.__dict__, "bpe_size": 20}), [train], [valid], exp).setup()
    with pytest.raises(ConfigError, match="lower bpe_size"):
        BPETokenList.train(["ab ba"], 500)
