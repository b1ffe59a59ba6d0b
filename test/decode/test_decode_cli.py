"""The stage-9 verb: model dir in, hypothesis files out; sharded jobs + merge equal one job."""
from __future__ import annotations

import pytest
import torch
import yaml

from s2s_plugin.bin.main import main
from s2s_plugin.data.io import read_kaldi_text, write_kaldi_text
from s2s_plugin.llm.hf import HFDecoder
from s2s_plugin.llm.vocab import build_vocabulary

TINY = {"model_type": "llama", "vocab_size": 60, "hidden_size": 32, "intermediate_size": 64,
        "num_hidden_layers": 1, "num_attention_heads": 4, "max_position_embeddings": 512}


@pytest.fixture(scope="module")
def setup(spm_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("dec")
    vocab = build_vocabulary({"kind": "sentencepiece", "path": str(spm_model)}, n_units=16, langs=["fr"])
    torch.manual_seed(0)
    model = HFDecoder(config=TINY, dropout=0.0).build(vocab)
    model.save_pretrained(root / "model")
    vocab.save(root / "model" / "vocab.yaml")
    (root / "model" / "sequence.yaml").write_text(yaml.safe_dump({"cot": True, "lang_tags": True}))
    g = torch.Generator().manual_seed(0)
    units = {f"spk-fr-{i:03d}": " ".join(map(str, torch.randint(0, 16, (4 + i,), generator=g).tolist()))
             for i in range(5)}
    (root / "dump").mkdir()
    write_kaldi_text(root / "dump" / "units.fr", units)
    write_kaldi_text(root / "dump" / "units.en", units)
    (root / "dump" / "units.fr.info").write_text("frame_rate: 50\n")  # stage 4 writes these next to the units
    (root / "dump" / "units.split2").mkdir()
    (root / "decode.yaml").write_text("max_text_tokens: 5\nbatch_size: 2\n")
    return root, vocab


def test_single_and_sharded_agree(setup, registry):
    root, vocab = setup
    common = ["decode", "--model_dir", str(root / "model"), "--dir", str(root / "dump"),
              "--config", str(root / "decode.yaml")]
    assert main(common + ["--out", str(root / "one")]) == 0
    for job in (1, 2):
        assert main(common + ["--out", str(root / "two"), "--nj", "2", "--job", str(job)]) == 0
    assert main(common + ["--out", str(root / "two"), "--nj", "2", "--merge"]) == 0
    for name in ("hyp_text.fr", "hyp_text.en", "hyp_units.en"):
        one = read_kaldi_text(root / "one" / name, allow_empty_value=True)
        assert one == read_kaldi_text(root / "two" / name, allow_empty_value=True)
        assert sorted(one) == [f"spk-fr-{i:03d}" for i in range(5)]
    units = read_kaldi_text(root / "one" / "hyp_units.en")
    assert all(0 <= int(u) < 16 for line in units.values() for u in line.split())
    assert yaml.safe_load((root / "one" / "decode.yaml").read_text())["decode"]["max_text_tokens"] == 5


def test_missing_job_and_missing_model(setup, registry, capsys):
    root, _ = setup
    common = ["decode", "--model_dir", str(root / "model"), "--dir", str(root / "dump")]
    assert main(common + ["--out", str(root / "three"), "--nj", "3", "--job", "1"]) == 0
    assert main(common + ["--out", str(root / "three"), "--nj", "3", "--merge"]) == 2
    err = capsys.readouterr().err
    assert "decode jobs 2, 3 of 3 did not finish" in err and "logs/decode.2.log" in err and "logs/decode.3.log" in err
    assert main(["decode", "--model_dir", str(root / "nope"), "--dir", str(root / "dump"),
                 "--out", str(root / "x")]) == 2
    assert "not a trained model dir" in capsys.readouterr().err


def _decoder_plugin(cls):
    import types

    from s2s_plugin import hookimpl

    mod = types.ModuleType("toy_decoder_pkg")
    mod.register_llm_decoders = hookimpl(lambda: [cls])
    return mod


def test_a_third_party_decoder_decodes_what_it_trained(setup, registry):
    import shutil

    root, _ = setup
    calls = []

    class ToyDecoder:
        """Trains and loads the same transformers model as hf, and says when it is asked to load."""

        name = "toy"

        def __init__(self, **kwargs):
            self.kwargs = kwargs

        def build(self, vocab):  # pragma: no cover - decoding only needs load_trained
            raise NotImplementedError

        @classmethod
        def load_trained(cls, model_dir, device, dtype):
            calls.append((str(model_dir), str(device), dtype))
            return HFDecoder.load_trained(model_dir, device, dtype)

    toy_dir = root / "toy_model"
    shutil.copytree(root / "model", toy_dir, dirs_exist_ok=True)
    (toy_dir / "llm.yaml").write_text("name: toy\n")
    common = ["--dir", str(root / "dump"), "--config", str(root / "decode.yaml")]
    with registry.temporary(_decoder_plugin(ToyDecoder), name="toy_decoder_pkg"):
        assert main(["decode", "--model_dir", str(toy_dir), "--out", str(root / "toy_out"), *common]) == 0
    assert calls == [(str(toy_dir), "cpu", torch.float32)]
    assert main(["decode", "--model_dir", str(root / "model"), "--out", str(root / "hf_out"), *common]) == 0
    for name in ("hyp_text.fr", "hyp_text.en", "hyp_units.en"):   # same weights, same hypotheses
        assert read_kaldi_text(root / "toy_out" / name, allow_empty_value=True) == \
            read_kaldi_text(root / "hf_out" / name, allow_empty_value=True)


def test_decoder_without_load_trained_or_unknown_is_an_error(setup, registry, capsys):
    import shutil

    root, _ = setup

    class TrainOnly:
        name = "train_only"

    bad = root / "bad_model"
    shutil.copytree(root / "model", bad, dirs_exist_ok=True)
    common = ["decode", "--model_dir", str(bad), "--dir", str(root / "dump"), "--out", str(root / "bad_out")]
    (bad / "llm.yaml").write_text("name: train_only\n")
    with registry.temporary(_decoder_plugin(TrainOnly), name="train_only_pkg"):
        assert main(common) == 2
    assert "lacks build, load_trained, which s2s_plugin.protocols.LLMDecoder requires" in capsys.readouterr().err
    (bad / "llm.yaml").write_text("name: nowhere\n")
    assert main(common) == 2
    assert "unknown llm_decoder 'nowhere'" in capsys.readouterr().err
