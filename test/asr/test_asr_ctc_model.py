"""The in-recipe CTC model: network, tokens, training (loss, save/load, resume) and the ctc verb."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from asr_testutils import FS, TINY_NET, TRAIN_UTTS, espeak

from s2s_plugin.asr.ctc import load_ctc_model
from s2s_plugin.asr.model import CTCNet
from s2s_plugin.asr.tokens import CharTokenList, UnknownTokenError, ctc_collapse
from s2s_plugin.asr.train import CTCTrainConfig, CTCTrainer, min_frames_needed
from s2s_plugin.bin.main import main
from s2s_plugin.errors import ConfigError
from s2s_plugin.protocols import CTCModel


def test_char_tokens_roundtrip_and_errors(tmp_path):
    tok = CharTokenList.build(["le chat", "la lune"])
    assert tok.tokens[:3] == ["<blank>", "<unk>", "<space>"]
    assert tok.tokens[3:] == sorted(set("lechatlalune"))
    ids = tok.encode("le chat")
    assert ids[2] == tok.space_id and tok.decode(ids) == "le chat"
    assert tok.encode("lé") == [tok.index["l"], tok.unk_id]
    with pytest.raises(UnknownTokenError, match="word 'zé' has characters not in the model vocabulary: 'z' 'é'"):
        tok.word_ids("zé")
    tok.save(tmp_path / "tokens.txt")
    assert CharTokenList.load(tmp_path / "tokens.txt").tokens == tok.tokens
    assert ctc_collapse([0, 3, 3, 0, 3, 4, 4, 0]) == [3, 3, 4]


def test_frame_needs():
    assert min_frames_needed([3, 3, 4, 3]) == 5  # a blank between the repeated 3s
    assert min_frames_needed([]) == 0


@pytest.mark.parametrize("stack,layer,rate", [(2, "linear", 50.0), (1, "conv2d2", 50.0), (1, "conv2d", 25.0)])
def test_output_lengths_and_frame_rate_match_the_network(stack, layer, rate):
    conf = {**TINY_NET, "stack_frames": stack, "encoder_conf": {**TINY_NET["encoder_conf"], "input_layer": layer}}
    net = CTCNet(10, **conf).eval()
    assert net.frame_rate == rate
    for n in (4000, 5555, 16000):  # one at a time: ESPnet's conv layers count padded inputs by mask
        with torch.inference_mode():
            logp, olens = net.log_probs(torch.randn(1, n), torch.tensor([n]))
        assert int(olens[0]) == logp.shape[1] == int(net.output_lengths(n))
    assert abs(int(net.output_lengths(16000)) - rate) <= 3


def _batch(tok: CharTokenList):
    waves = [espeak(src) for src, _ in TRAIN_UTTS.values()]
    targets = [tok.encode(src) for src, _ in TRAIN_UTTS.values()]
    x = torch.zeros(len(waves), max(len(w) for w in waves))
    for i, w in enumerate(waves):
        x[i, : len(w)] = torch.from_numpy(w)
    ys = torch.full((len(targets), max(len(t) for t in targets)), -1)
    for i, t in enumerate(targets):
        ys[i, : len(t)] = torch.tensor(t)
    return x, torch.tensor([len(w) for w in waves]), ys, torch.tensor([len(t) for t in targets])


def test_training_steps_decrease_the_loss():
    torch.manual_seed(0)
    tok = CharTokenList.build(src for src, _ in TRAIN_UTTS.values())
    net = CTCNet(len(tok), **TINY_NET)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    batch = _batch(tok)
    losses = []
    for _ in range(25):
        loss = net(*batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-3:]) < 0.6 * np.mean(losses[:3]), losses


def _train(args, capsys):
    code = main(["ctc", "train", *args])
    return code, capsys.readouterr()


@pytest.fixture(scope="module")
def trained(tiny_sets, tmp_path_factory):
    """A tiny model trained for one epoch through CTCTrainer (what `s2s ctc train` runs)."""
    train, valid = tiny_sets
    exp = tmp_path_factory.mktemp("exp") / "ctc"
    cfg = CTCTrainConfig(**TINY_NET, max_epoch=1, batch_frames=800, warmup_steps=2, lr=3e-3, device="cpu")
    trainer = CTCTrainer(cfg, [train], [valid], exp, command="s2s ctc train ...")
    trainer.setup()
    try:
        scores = trainer.train()
    finally:
        trainer.cleanup()
    return trainer, exp, scores


def test_trainer_writes_the_exp_dir(trained):
    trainer, exp, scores = trained
    for name in ("model.pth", "config.yaml", "plugins.yaml", "tokens.txt", "train.log", "run.sh", "scores.json",
                 "checkpoints/epoch1.ckpt", "checkpoints/last.ckpt"):
        assert (exp / name).is_file(), name
    assert list((exp / "tensorboard").glob("events.out.tfevents.*"))
    cfg = yaml.safe_load((exp / "config.yaml").read_text())
    assert cfg["type"] == "s2s" and cfg["sides"] == ["src", "tgt"] and cfg["stack_frames"] == 2
    tokens = (exp / "tokens.txt").read_text().split("\n")
    assert tokens[0] == "<blank>" and "w" in tokens and "u" in tokens  # both languages: "wolf", "lune"
    assert set(scores["cer"]["dev_fr"]) == {"fr", "en"} and scores["best_epoch"] == 1
    assert json.loads((exp / "scores.json").read_text())["epochs"][0]["epoch"] == 1
    assert "epoch 1/1: train loss" in (exp / "train.log").read_text()


def test_save_load_roundtrip_gives_identical_posteriors(trained):
    trainer, exp, _ = trained
    model = load_ctc_model(exp)
    assert isinstance(model, CTCModel)
    wave = espeak("la lune le loup")
    trainer.net.eval()
    with torch.inference_mode():
        ref, lens = trainer.net.log_probs(torch.from_numpy(wave)[None], torch.tensor([len(wave)]))
    got = model.log_posteriors(wave, FS)
    assert got.shape == (int(lens[0]), len(model.tokens))
    np.testing.assert_array_equal(got, ref[0].numpy())
    np.testing.assert_array_equal(load_ctc_model(exp).log_posteriors(wave, FS), got)
    # other sample rates are resampled to the model's rate
    from scipy.signal import resample_poly

    assert model.log_posteriors(resample_poly(wave, 1, 2), 8000).shape[0] == got.shape[0]


def test_layer_features_shape_and_rate(trained):
    _, exp, _ = trained
    model = load_ctc_model(exp)
    wave = espeak("le lit le loup")
    assert model.frame_rate == 50.0 and model.num_layers == 2
    t = model.log_posteriors(wave, FS).shape[0]
    assert abs(t - len(wave) / FS * model.frame_rate) <= 2
    for layer in (1, 2):
        feats = model.layer_features(wave, FS, layer)
        assert feats.shape == (t, 32) and feats.dtype == np.float32
    assert not np.allclose(model.layer_features(wave, FS, 1), model.layer_features(wave, FS, 2))
    with pytest.raises(ConfigError, match=r"layer must be an integer in 1..2"):
        model.layer_features(wave, FS, 3)
    assert model.word_ids("lune") == [model.tokens.index(c) for c in "lune"]
    texts = model.transcribe([wave, espeak("la lune")])
    assert len(texts) == 2 and all(isinstance(t, str) for t in texts)


def test_cli_train_resumes_like_an_uninterrupted_run(tiny_sets, tmp_path, capsys):
    train, valid = tiny_sets
    conf = tmp_path / "ctc.yaml"
    conf.write_text(yaml.safe_dump({**TINY_NET, "batch_frames": 800, "warmup_steps": 2, "lr": 3e-3,
                                    "device": "cpu", "sides": ["src"]}))
    base = ["--config", str(conf), "--train_dirs", str(train), "--valid_dirs", str(valid)]
    code, out = _train([*base, "--exp", str(tmp_path / "a"), "max_epoch=2"], capsys)
    assert code == 0 and "valid CER" in out.out and "dev_fr  fr" in out.out
    assert _train([*base, "--exp", str(tmp_path / "b"), "max_epoch=1"], capsys)[0] == 0
    assert _train([*base, "--exp", str(tmp_path / "b"), "max_epoch=2"], capsys)[0] == 0
    assert "resuming from" in (tmp_path / "b" / "train.log").read_text()
    a = torch.load(tmp_path / "a" / "checkpoints" / "last.ckpt", weights_only=True)
    b = torch.load(tmp_path / "b" / "checkpoints" / "last.ckpt", weights_only=True)
    assert a["state_dict"].keys() == b["state_dict"].keys() and a["global_step"] == b["global_step"]
    for k in a["state_dict"]:  # raising max_epoch continued the finished run exactly
        torch.testing.assert_close(a["state_dict"][k], b["state_dict"][k], rtol=0, atol=0, msg=k)
    assert [r["train_loss"] for r in json.loads((tmp_path / "b" / "scores.json").read_text())["epochs"]] == \
        [r["train_loss"] for r in json.loads((tmp_path / "a" / "scores.json").read_text())["epochs"]]
    # a finished run run again does nothing
    assert _train([*base, "--exp", str(tmp_path / "b"), "max_epoch=2"], capsys)[0] == 0
    assert "training already finished (2 of 2 epochs)" in (tmp_path / "b" / "train.log").read_text()
    assert "s2s ctc train --config" in (tmp_path / "b" / "run.sh").read_text()
    # an override typed after a list option (here --valid_dirs) is handed back to the overrides, as by every verb
    assert main(["ctc", "train", *base, "max_epoch=3", "--exp", str(tmp_path / "c"), "--print_config"]) == 0
    assert "\nmax_epoch: 3\n" in capsys.readouterr().out and not (tmp_path / "c").exists()
    # another config in the same exp dir is refused
    code = main(["ctc", "train", *base, "--exp", str(tmp_path / "b"), "max_epoch=3", "lr=0.01"])
    assert code == 2 and "lr differ" in capsys.readouterr().err


def test_cli_eval_prints_cer_per_set_and_language(trained, tiny_sets, capsys):
    _, exp, _ = trained
    _, valid = tiny_sets
    assert main(["ctc", "eval", "--exp", str(exp), "--dirs", str(valid), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["set", "lang", "CER", "%", "WER", "%"]
    assert any(line.split()[:2] == ["dev_fr", "en"] for line in out.splitlines())
    table = json.loads((exp / "eval" / "cer.json").read_text())
    assert set(table["cer"]["dev_fr"]) == {"fr", "en"} and table["utterances"] == 4
    assert set(table["wer"]["dev_fr"]) == {"fr", "en"} and set(table["wer_by_lang"]) == {"fr", "en"}
    assert (exp / "eval" / "dev_fr" / "hyp.en").is_file()


def test_error_tables_of_known_transcripts():
    from s2s_plugin.asr.data import Item
    from s2s_plugin.asr.module import cer_table
    from s2s_plugin.asr.train import format_cer_table

    items = [Item(set="dev_fr", lang="fr", utt_id=f"u{i}", audio="", segment=None, text=t, num_samples=0)
             for i, t in enumerate(["le chat dort", "un chien"])]
    hyps = {0: "le chat dors", 1: "un chien"}     # 1 of 5 words wrong, 1 of 20 characters
    table = {**cer_table(items, hyps), **cer_table(items, hyps, "wer")}
    assert table["wer"] == {"dev_fr": {"fr": 0.2}} and table["wer_by_lang"] == {"fr": 0.2}
    assert table["cer_by_lang"] == {"fr": 0.05}
    assert format_cer_table(table).splitlines()[1].split() == ["dev_fr", "fr", "5.00", "20.00"]
