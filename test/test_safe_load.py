"""safe_load: checkpoints are read with weights_only=True; planted payloads are refused, named and never run.

The loaders of each stage have their own planted-payload tests next to their other
tests (stage 3 and 8 resumes, vocoders, k-means, ESPnet/s3prl imports, wav.scp).
"""
from __future__ import annotations

import pytest
import torch
from payload_testutils import payload_is_live, plant_pickle, plant_torch

from s2s_plugin.errors import ConfigError, DataError
from s2s_plugin.safe_load import check_checkpoint, load_checkpoint


def test_plain_checkpoints_load(tmp_path):
    state = {"w": torch.arange(6.0).reshape(2, 3), "step": 3, "name": "x", "nested": {"b": [1, 2.5, None]}}
    torch.save(state, tmp_path / "a.pt")
    got = load_checkpoint(tmp_path / "a.pt", "test checkpoint")
    assert torch.equal(got["w"], state["w"]) and got["nested"] == state["nested"] and got["step"] == 3
    check_checkpoint(tmp_path / "a.pt", "test checkpoint")  # no error


@pytest.mark.parametrize("check", [load_checkpoint, check_checkpoint])
@pytest.mark.parametrize("planted", ["torch", "bare_pickle"])
def test_payload_is_refused_naming_the_file_and_the_trust_option(tmp_path, check, planted):
    marker = tmp_path / "PWNED"
    path = tmp_path / "ckpt.pt"
    if planted == "torch":
        plant_torch(path, marker, state_dict={"w": torch.ones(2)})
    else:
        plant_pickle(path, marker)
    with pytest.raises(ConfigError) as e:
        check(path, "test checkpoint", trust_option="trust_checkpoint: true", error=ConfigError)
    msg = str(e.value)
    assert msg.startswith(f"{path}: refused to load this test checkpoint") and "could run code" in msg
    assert "set trust_checkpoint: true" in msg and not marker.exists()
    assert ("io.open" in msg) if planted == "torch" else ("Unsupported operand" in msg)
    assert payload_is_live(path, marker)


def test_without_a_trust_option_the_error_says_the_file_is_not_ours(tmp_path):
    path = plant_torch(tmp_path / "last.ckpt", tmp_path / "PWNED")
    with pytest.raises(DataError, match="toolkit never writes such objects .*; move it away"):
        load_checkpoint(path, "resume checkpoint", fix="move it away")
    assert not (tmp_path / "PWNED").exists()


def test_trust_loads_the_objects(tmp_path):
    marker = tmp_path / "PWNED"
    path = plant_torch(tmp_path / "ckpt.pt", marker)
    load_checkpoint(path, "test checkpoint", trust=True)
    assert marker.exists()


def test_truncated_missing_and_foreign_files(tmp_path):
    torch.save({"w": torch.ones(1000)}, tmp_path / "a.pt")
    data = (tmp_path / "a.pt").read_bytes()
    (tmp_path / "half.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"half.pt: cannot read this resume checkpoint: the file is truncated"):
        check_checkpoint(tmp_path / "half.pt", "resume checkpoint")
    (tmp_path / "text.pt").write_text("hello", encoding="utf-8")
    with pytest.raises(DataError, match=r"text.pt: cannot read this x: .*not a torch checkpoint"):
        load_checkpoint(tmp_path / "text.pt", "x")
    with pytest.raises(DataError, match=r"nowhere.pt: x not found; train first"):
        load_checkpoint(tmp_path / "nowhere.pt", "x", fix="train first")


def test_ctc_model_weights_and_checkpoint_averaging_refuse_payloads(tmp_path):
    from s2s_plugin.asr.ctc import S2SCTCModel
    from s2s_plugin.asr.model import CTCNet
    from s2s_plugin.train.checkpoint import average_checkpoints

    marker = tmp_path / "PWNED"
    exp = tmp_path / "ctc"
    exp.mkdir()
    (exp / "config.yaml").write_text("{}\n", encoding="utf-8")
    (exp / "tokens.txt").write_text("<blank>\n<unk>\n<space>\na\nb\n", encoding="utf-8")
    plant_torch(exp / "model.pth", marker, **CTCNet(5).state_dict())
    with pytest.raises(DataError, match=f"{exp / 'model.pth'}: refused to load this CTC model weights"):
        S2SCTCModel.load(exp)
    plant_torch(tmp_path / "best.ckpt", marker, state_dict={"model.w": torch.ones(2)})
    with pytest.raises(ConfigError, match="best.ckpt: refused to load this checkpoint to average"):
        average_checkpoints([tmp_path / "best.ckpt"])
    assert not marker.exists()


def test_a_damaged_resume_point_names_the_newest_readable_full_checkpoint(tmp_path):
    from s2s_plugin.safe_load import check_resume_checkpoint

    for step in (3, 12, 40):
        torch.save({"global_step": step}, tmp_path / f"best-step{step:07d}.ckpt")
    (tmp_path / "best-step0000040.ckpt").write_bytes(b"PK\x03\x04 damaged too")  # the newest is skipped
    torch.save({"global_step": 50}, tmp_path / "last.ckpt")
    check_resume_checkpoint(tmp_path / "last.ckpt", "best-*.ckpt")  # a good one passes
    (tmp_path / "last.ckpt").write_bytes(b"")
    with pytest.raises(DataError) as e:
        check_resume_checkpoint(tmp_path / "last.ckpt", "best-*.ckpt", fix="or start afresh")
    assert str(e.value) == (f"{tmp_path}/last.ckpt: cannot read this resume checkpoint: not a torch checkpoint "
                            f"(the file is empty); or start afresh; or resume from the newest earlier checkpoint "
                            f"that holds the full training state, best-step0000012.ckpt: "
                            f"cp {tmp_path}/best-step0000012.ckpt {tmp_path}/last.ckpt")
    with pytest.raises(DataError, match=r"the file is empty\)$"):  # none to name
        check_resume_checkpoint(tmp_path / "last.ckpt", "epoch*.ckpt")
