"""Stage 3 with a transformers SSL encoder (``encoder: hf``): tiny randomly initialised w2v-BERT and wav2vec 2.0
models saved here; learning, export read as an imported model, exact resume, 2-process DDP, freezing, errors."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from asr_testutils import FS, espeak
from test_asr_train import KillAt, Killed, Recorder, assert_bitwise_equal, run, weights

from s2s_plugin.asr.train import CTCTrainConfig
from s2s_plugin.bin.main import main
from s2s_plugin.errors import ConfigError

#: a w2v-BERT 2.0 shaped model small enough to train in seconds (SpecAugment and dropout on)
TINY_W2VBERT = {"model_type": "wav2vec2-bert", "hidden_size": 32, "num_hidden_layers": 3, "num_attention_heads": 2,
                "intermediate_size": 64, "output_hidden_size": 32, "conv_depthwise_kernel_size": 7,
                "left_max_position_embeddings": 16, "right_max_position_embeddings": 4}
TINY_W2V2 = {"model_type": "wav2vec2", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
             "intermediate_size": 64, "conv_dim": [16, 16, 16], "conv_stride": [5, 8, 8], "conv_kernel": [10, 8, 8],
             "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 2, "feat_extract_norm": "layer",
             "do_stable_layer_norm": True}
SPECAUG = {"mask_time_prob": 0.1, "mask_time_length": 2, "mask_time_min_masks": 1, "layerdrop": 0.0,
           "hidden_dropout": 0.1}
TRAIN = dict(token_type="bpe", bpe_size=30, batch_frames=200, warmup_steps=3, lr=3e-3, device="cpu",
             log_every_n_steps=1)


def hf_cfg(**kw) -> CTCTrainConfig:
    return CTCTrainConfig(**{"encoder": "hf", "hf_config": TINY_W2VBERT, "hf_conf": SPECAUG, **TRAIN, **kw})


@pytest.fixture(scope="module")
def saved_w2vbert(tmp_path_factory):
    """A randomly initialised Wav2Vec2BertModel (no CTC head: a pretrained encoder) and its feature extractor,
    saved with save_pretrained as a downloaded w2v-BERT 2.0 would be."""
    from transformers import SeamlessM4TFeatureExtractor, Wav2Vec2BertConfig, Wav2Vec2BertModel

    d = tmp_path_factory.mktemp("w2vbert")
    torch.manual_seed(1)
    Wav2Vec2BertModel(Wav2Vec2BertConfig(**{k: v for k, v in TINY_W2VBERT.items() if k != "model_type"})) \
        .save_pretrained(d)
    SeamlessM4TFeatureExtractor(sampling_rate=FS).save_pretrained(d)
    return d


@pytest.fixture(scope="module")
def learned(tiny_sets, saved_w2vbert, tmp_path_factory):
    """Eight epochs of CTC fine-tuning of the saved tiny w2v-BERT on the tiny French/English set."""
    train, valid = tiny_sets
    exp = tmp_path_factory.mktemp("learned_hf")
    cfg = CTCTrainConfig(**{"encoder": "hf", "hf_model": str(saved_w2vbert), "hf_conf": SPECAUG, **TRAIN,
                            "max_epoch": 8, "lr": 1e-2})
    return run(cfg, train, valid, exp)


def test_fine_tuning_a_saved_w2vbert_learns_and_logs_cer_per_language(learned, saved_w2vbert):
    trainer, scores = learned
    epochs = scores["epochs"]
    assert epochs[-1]["train_loss"] < 0.7 * epochs[0]["train_loss"], epochs
    assert set(scores["cer_by_lang"]) == {"fr", "en"}
    log = (trainer.exp_dir / "train.log").read_text()
    assert "hf wav2vec2-bert encoder" in log and "epoch 8/8: train loss" in log and "CER en" in log
    assert trainer.net.model.config.vocab_size == 31 and trainer.net.model.lm_head.out_features == 31
    assert type(trainer.net.model).__name__ == "Wav2Vec2BertForCTC"
    assert trainer.net.model.config.mask_time_prob == 0.1  # hf_conf reaches the model's config
    assert not (trainer.exp_dir / "model.pth").exists()
    saved = yaml.safe_load((trainer.exp_dir / "config.yaml").read_text())
    assert saved["encoder"] == "hf" and saved["hf_model"] == str(saved_w2vbert)


def test_output_lengths_match_the_feature_extractor_and_model():
    from s2s_plugin.asr.hf_net import build_hf_net

    for conf in (TINY_W2VBERT, TINY_W2V2):
        net = build_hf_net(hf_cfg(hf_config=conf, hf_conf={}), 10).eval()
        assert net.frame_rate == 50.0
        for n in (1200, 4321, 16000, 16161):
            speech = torch.from_numpy(espeak("la lune")[:n].copy())[None]
            with torch.inference_mode():
                hs, hlens = net.encode(speech, torch.tensor([speech.shape[1]]))
            assert hs.shape[1] == int(hlens[0]) == int(net.output_lengths(speech.shape[1])), (conf["model_type"], n)


@pytest.mark.parametrize("conf", [TINY_W2VBERT, TINY_W2V2], ids=["w2vbert", "wav2vec2"])
def test_a_built_encoder_gets_pytorch_init_unless_hf_init_transformers(conf):
    """transformers draws linear layers from N(0, 0.02) with zero biases and convolutions Kaiming-normal;
    hf_init: torch (the default) draws them uniform in +-1/sqrt(fan_in), weights and biases."""
    from s2s_plugin.asr.hf_net import build_hf_net

    def draws(net):
        layers = [(n, m) for n, m in net.model.named_modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv1d))]
        return [(n, m, m.weight[0].numel(), m.weight.detach(), m.bias) for n, m in layers
                if not torch.nn.utils.parametrize.is_parametrized(m)]

    torch.manual_seed(0)
    built = draws(build_hf_net(hf_cfg(hf_config=conf), 10))
    assert len(built) > 10
    for _, m, fan_in, w, bias in built:
        bound = fan_in ** -0.5
        assert float(w.abs().max()) <= bound, m
        if w.numel() >= 256:  # enough draws to tell the spread: uniform's std is bound / sqrt(3)
            assert abs(float(w.std()) - bound / 3 ** 0.5) < 0.15 * bound / 3 ** 0.5, m
        if bias is not None:
            assert float(bias.detach().abs().max()) > 0, m
    torch.manual_seed(0)
    kept = draws(build_hf_net(hf_cfg(hf_config=conf, hf_init="transformers"), 10))
    in_layers = [(m, w, b) for n, m, _, w, b in kept if ".layers." in n and isinstance(m, torch.nn.Linear)]
    assert in_layers and all(abs(float(w.std()) - 0.02) < 0.004 for _, w, _ in in_layers)
    assert all(float(b.detach().abs().max()) == 0 for _, _, b in in_layers if b is not None)
    with pytest.raises(ConfigError, match="hf_init must be one of torch, transformers, got 'xavier'"):
        hf_cfg(hf_init="xavier")
    with pytest.raises(ConfigError, match="hf_init apply to encoder: hf only"):
        CTCTrainConfig(hf_init="transformers")


def test_export_is_read_as_an_imported_model_by_stages_4_and_5(learned, tmp_path):
    from transformers import AutoModelForCTC, AutoProcessor

    from s2s_plugin.align import CTCSegmentationAligner
    from s2s_plugin.asr.ctc import load_ctc_model
    from s2s_plugin.asr.imported import HFCTCModel
    from s2s_plugin.asr.tokens import BPETokenList
    from s2s_plugin.protocols import CTCModel

    trainer, scores = learned
    exp = trainer.exp_dir
    model_dir = exp / "model"
    assert {"config.json", "model.safetensors", "processor_config.json", "preprocessor_config.json",
            "tokenizer.json"} <= \
        {p.name for p in model_dir.iterdir()}
    # plain transformers reads it
    assert type(AutoModelForCTC.from_pretrained(model_dir)).__name__ == "Wav2Vec2BertForCTC"
    tok = AutoProcessor.from_pretrained(model_dir).tokenizer
    bpe = BPETokenList.load(exp)
    for text in ("la lune le lit", "the moon a wolf", "le loup"):  # the ids of training, words split alike
        assert tok(text, add_special_tokens=False).input_ids == bpe.encode(text), text
    model = load_ctc_model(exp)
    assert isinstance(model, HFCTCModel) and isinstance(model, CTCModel)
    assert model.token_type == "bpe" and model.space_id is None and model.tokens[1:] == bpe.tokens[1:]
    assert model.frame_rate == 50.0 and model.num_layers == 3
    ids = model.word_ids("lune")
    assert ids == bpe.word_ids("lune") and model.tokens[ids[0]].startswith("▁")
    # the exported model computes what the trained network computes
    wave = espeak("la lune le lit")
    logp = model.log_posteriors(wave, FS)
    net = trainer.net.eval()
    with torch.inference_mode():
        want, lens = net.log_probs(torch.from_numpy(wave)[None], torch.tensor([len(wave)]))
    np.testing.assert_allclose(logp, want[0, : int(lens[0])].numpy(), atol=1e-4)
    assert model.layer_features(wave, FS, 2).shape == (logp.shape[0], 32)
    assert model.transcribe([wave])[0] == scores_hyp(model, wave)
    # stage 5: a CTC segmentation alignment of one utterance
    al = CTCSegmentationAligner(model=str(exp), vad_db=None)
    al.setup(str(tmp_path), "fr")
    spans = al.align("u", ["la", "lune", "le", "lit"], wave, FS)
    assert [s.word for s in spans] == ["la", "lune", "le", "lit"]
    assert all(0 <= s.start < s.end <= len(wave) / FS + 1e-6 for s in spans)
    assert all(a.end <= b.start + 1e-6 for a, b in zip(spans, spans[1:]))
    # stage 4's hf_kmeans reads the directory as any transformers model
    from s2s_plugin.units.features import HfFeatures

    feats = HfFeatures(str(model_dir), layer=2)
    assert feats(wave, FS).shape == (logp.shape[0], 32)
    # s2s ctc eval scores it like a model trained with the conformer
    assert main(["ctc", "eval", "--exp", str(exp), "--dirs", str(trainer.valid_dirs[0])]) == 0
    # and s2s ctc import takes it as any transformers CTC dir (one model for several recipe runs)
    assert main(["ctc", "import", "--from", str(model_dir), "--type", "hf", "--exp", str(tmp_path / "imp")]) == 0
    imported = load_ctc_model(tmp_path / "imp")
    np.testing.assert_array_equal(imported.log_posteriors(wave, FS), logp)
    # a CTC model dir as hf_model: its encoder is kept, its head made anew for another vocabulary
    from s2s_plugin.asr.hf_net import build_hf_net

    again = build_hf_net(hf_cfg(hf_config=None, hf_model=str(model_dir)), 21)
    assert again.model.lm_head.out_features == 21
    assert_bitwise_equal(again.model.base_model.state_dict(), trainer.net.model.base_model.state_dict())


def scores_hyp(model, wave) -> str:
    """Greedy transcript from the log posteriors, decoded with the BPE pieces."""
    from s2s_plugin.asr.common import greedy_tokens, tokens_to_text

    return tokens_to_text([model.tokens[i] for i in greedy_tokens(model.log_posteriors(wave, FS))])


def test_char_tokens_export_a_ctc_tokenizer_with_word_delimiters(tiny_sets, tmp_path):
    from s2s_plugin.asr.ctc import load_ctc_model

    train, valid = tiny_sets
    cfg = hf_cfg(hf_config=TINY_W2V2, token_type="char", max_epoch=4, lr=1e-2)
    trainer, scores = run(cfg, train, valid, tmp_path / "char")
    assert scores["epochs"][-1]["train_loss"] < 0.8 * scores["epochs"][0]["train_loss"], scores["epochs"]
    model = load_ctc_model(tmp_path / "char")
    assert type(model.model).__name__ == "Wav2Vec2ForCTC" and model.token_type == "char"
    assert model.tokens[:3] == ["<pad>", "<unk>", "|"] and model.space_id == 2
    assert model.tokens[3:] == trainer.tokens.tokens[3:] and model.word_ids("lit") == trainer.tokens.word_ids("lit")


def test_killed_mid_epoch_and_resumed_gives_the_uninterrupted_weights(tiny_sets, tmp_path):
    train, valid = tiny_sets
    cfg = hf_cfg(max_epoch=2, save_every_steps=1)
    full_rec = Recorder()
    full, full_scores = run(cfg, train, valid, tmp_path / "full", [full_rec])
    k = len(full.datamodule.train_sampler) + 1  # one step into the second epoch
    with pytest.raises(Killed):
        run(cfg, train, valid, tmp_path / "resumed", [KillAt(k)])
    rec = Recorder()
    _, scores = run(cfg, train, valid, tmp_path / "resumed", [rec])
    assert rec.rows == full_rec.rows[k:]
    assert_bitwise_equal(weights(tmp_path / "full"), weights(tmp_path / "resumed"))
    assert [r["train_loss"] for r in scores["epochs"]] == [r["train_loss"] for r in full_scores["epochs"]]
    from safetensors.torch import load_file

    assert_bitwise_equal(load_file(tmp_path / "full" / "model" / "model.safetensors"),
                         load_file(tmp_path / "resumed" / "model" / "model.safetensors"))


@pytest.mark.parametrize("conf", [TINY_W2VBERT, TINY_W2V2], ids=["w2vbert", "wav2vec2"])
def test_freezing_freezes_what_it_says(tiny_sets, tmp_path, conf):
    train, valid = tiny_sets
    cfg = hf_cfg(hf_config=conf, max_epoch=1, freeze_feature_encoder=True, freeze_layers=1)
    trainer, _ = run(cfg, train, None, tmp_path / "frozen")
    base = trainer.net.model.base_model
    start = torch.load(tmp_path / "frozen" / "checkpoints" / "last.ckpt", weights_only=True)  # after training
    assert start["global_step"] > 0
    frozen = {n for n, p in trainer.net.named_parameters() if not p.requires_grad}
    assert all(n in frozen for n, _ in trainer.net.named_parameters() if ".layers.0." in n)
    assert not any(n in frozen for n, _ in trainer.net.named_parameters() if ".layers.1." in n or "lm_head" in n)
    front = "feature_extractor" if conf is TINY_W2V2 else "feature_projection"
    assert all(not p.requires_grad for p in getattr(base, front).parameters())
    # what is frozen kept its initial weights; the rest moved
    import lightning as L

    from s2s_plugin.asr.hf_net import build_hf_net

    L.seed_everything(0, verbose=False)
    init = build_hf_net(cfg, len(trainer.tokens)).state_dict()
    final = trainer.net.state_dict()
    for name in frozen:
        assert torch.equal(init[name], final[name]), name
    assert not torch.equal(init["model.lm_head.weight"], final["model.lm_head.weight"])
    moved = [n for n in final if ".layers.1." in n and not torch.equal(init[n], final[n])]
    assert moved
    only_fe = build_hf_net(hf_cfg(hf_config=conf, freeze_feature_encoder=True), 10)
    assert all(p.requires_grad for n, p in only_fe.named_parameters() if ".layers." in n)


def test_missing_model_dir_and_config_errors(tmp_path, tiny_sets, saved_w2vbert, capsys):
    from s2s_plugin.asr.hf_net import build_hf_net

    missing = tmp_path / "downloads" / "w2v-bert-2.0"
    with pytest.raises(ConfigError, match=rf"hf_model {missing}: no transformers model there \(no config.json\)"
                                          r".*huggingface-cli download facebook/w2v-bert-2.0.*hf_config"):
        build_hf_net(hf_cfg(hf_config=None, hf_model=str(missing)), 10)
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text(json.dumps({"model_type": "whisper"}))
    with pytest.raises(ConfigError, match="model_type 'whisper' has no CTC model here"):
        build_hf_net(hf_cfg(hf_config=None, hf_model=str(tmp_path / "m")), 10)
    with pytest.raises(ConfigError, match="hf_conf has keys .* does not know: mask_tiem_prob"):
        build_hf_net(hf_cfg(hf_conf={"mask_tiem_prob": 0.1}), 10)
    with pytest.raises(ConfigError, match="freeze_layers 5 but the encoder has 3 layers"):
        build_hf_net(hf_cfg(freeze_layers=5), 10)
    with pytest.raises(ConfigError, match=f"sample_rate is 8000 but the {saved_w2vbert} feature extractor expects "
                                          "16000 Hz; set sample_rate: 16000"):
        build_hf_net(hf_cfg(hf_config=None, hf_model=str(saved_w2vbert), sample_rate=8000), 10)
    with pytest.raises(ConfigError, match="either hf_model .* or hf_config"):
        CTCTrainConfig(encoder="hf")
    with pytest.raises(ConfigError, match="hf_model, freeze_layers apply to encoder: hf only"):
        CTCTrainConfig(hf_model="x", freeze_layers=2)
    with pytest.raises(ConfigError, match="specaug_conf is espnet's SpecAugment"):
        hf_cfg(specaug_conf={"apply_time_mask": True})
    train, _ = tiny_sets
    assert main(["ctc", "train", "encoder=hf", f"hf_model={missing}", "--exp", str(tmp_path / "exp"),
                 "--train_dirs", str(train)]) != 0
    assert f"hf_model {missing}: no transformers model there" in capsys.readouterr().err


def test_recipe_configs_build_or_name_the_missing_download(tmp_path, monkeypatch):
    from pathlib import Path

    from s2s_plugin.asr.hf_net import build_hf_net
    from s2s_plugin.config import load_config

    root = Path(__file__).resolve().parents[2] / "egs"
    mini = load_config(CTCTrainConfig, root / "mini_s2st/s2st1/conf/ctc_ssl.yaml")
    net = build_hf_net(mini, 201)
    assert type(net.model).__name__ == "Wav2Vec2BertForCTC" and net.frame_rate == 50.0 and net.num_layers == 4
    assert 1e6 < sum(p.numel() for p in net.parameters()) < 3e6  # the size of conf/ctc.yaml's conformer
    paper = load_config(CTCTrainConfig, root / "cvss/s2st1/conf/tuning/ctc_w2vbert_bpe5000.yaml")
    assert paper.bpe_size == 5000 and paper.sides == ["src", "tgt"] and paper.langs is None
    monkeypatch.chdir(tmp_path)  # the recipe dir without its downloads
    with pytest.raises(ConfigError, match="hf_model downloads/w2v-bert-2.0: no transformers model there"):
        build_hf_net(paper, 5001)


def test_layerdrop_is_refused_under_ddp(tiny_sets, tmp_path, monkeypatch):
    from types import SimpleNamespace

    import s2s_plugin.asr.train as train_mod
    from s2s_plugin.asr.train import CTCTrainer

    train, valid = tiny_sets
    trainer = CTCTrainer(hf_cfg(hf_conf={**SPECAUG, "layerdrop": 0.1}, max_epoch=1), [train], [valid], tmp_path / "x")
    trainer.setup()
    try:
        monkeypatch.setattr(train_mod, "run_plan", lambda cfg: SimpleNamespace(devices=2, num_nodes=1))
        with pytest.raises(ConfigError, match=r"layerdrop is 0.1: LayerDrop .* set hf_conf: \{layerdrop: 0.0\}"):
            trainer.train()
    finally:
        trainer.cleanup()


def test_two_process_gloo_ddp_equals_one_process(tmp_path):
    """``s2s launch --nproc 2`` (torchrun, gloo) trains the hf encoder on halves of the global batches of one
    process, with the lowest layer frozen."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from asr_testutils import TRAIN_UTTS, write_set

    n = int(1.6 * FS)  # equal lengths: no padding, so a half batch computes what the whole batch does
    train = write_set(tmp_path / "train_fr", TRAIN_UTTS, pad_to=n)
    valid = write_set(tmp_path / "dev_fr", {"s3_g": ("le loup la lune", "a wolf the moon")}, pad_to=n)
    no_noise = {"mask_time_prob": 0.0, "layerdrop": 0.0, "final_dropout": 0.0, "hidden_dropout": 0.0,
                "conformer_conv_dropout": 0.0}
    # transformers' init: its attention key biases start at 0 and stay near it. With PyTorch's (hf_init: torch) they
    # drift apart between the two sum orders without changing anything: a key bias adds the same q.b to every
    # score of a query, which the softmax ignores, so its gradient is rounding noise that Adam scales up to lr-sized
    # steps, and that noise leaks into the query weights at 1e-5
    conf = {**TRAIN, "encoder": "hf", "hf_config": TINY_W2VBERT, "hf_init": "transformers", "hf_conf": no_noise,
            "freeze_layers": 1, "max_epoch": 2, "batch_frames": 320, "max_batch_size": 4}
    (tmp_path / "ctc.yaml").write_text(yaml.safe_dump(conf))
    _, one_scores = run(CTCTrainConfig(**conf), train, valid, tmp_path / "one")
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, OMP_NUM_THREADS="1", S2S_PLUGIN_DISABLE_ENTRYPOINTS="1",
               PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "s2s_plugin.bin.main", "launch", "--ngpu", "0", "--nproc", "2", "--", "s2s", "ctc",
           "train", "--config", str(tmp_path / "ctc.yaml"), "--train_dirs", str(train), "--valid_dirs", str(valid),
           "--exp", str(tmp_path / "two")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=400, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "2 device(s)" in (tmp_path / "two" / "train.log").read_text()
    one, two = weights(tmp_path / "one"), weights(tmp_path / "two")
    assert one.keys() == two.keys()
    for name in one:  # equal up to the order of float sums (gloo all-reduce vs one batch)
        assert torch.allclose(one[name], two[name], atol=2e-5, rtol=0), (name, (one[name] - two[name]).abs().max())
    import lightning as L

    from s2s_plugin.asr.hf_net import build_hf_net

    L.seed_everything(0, verbose=False)  # the trainer's seed: its initial weights
    init = build_hf_net(CTCTrainConfig(**conf), one["net.model.lm_head.weight"].shape[0]).state_dict()
    moved = [float((one[f"net.{k}"] - v).abs().max()) for k, v in init.items()]
    assert max(moved) > 1e-3  # the two epochs moved the weights
    two_scores = json.loads((tmp_path / "two" / "scores.json").read_text())
    assert [r["step"] for r in two_scores["epochs"]] == [r["step"] for r in one_scores["epochs"]]
    for a, b in zip(one_scores["epochs"], two_scores["epochs"]):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-4)
        assert b["valid_loss"] == pytest.approx(a["valid_loss"], rel=1e-4)
