"""Training a unit HiFi-GAN (``unit_hifigan`` with a ``train`` block) on tiny synthetic speech, on the CPU.

The loss falls, the checkpoint loads unchanged with ESPnet's ParallelWaveGAN loader
(``parallel_wavegan.utils.load_model``) and gives our loader's samples, a resumed
run ends with the weights of an uninterrupted one, speakers are a synthesis option,
and bad input is refused naming the utterance.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml
from hifigan_testutils import HOP, N_UNITS, espnet_pwg_vocoder, train_block, write_dump

from s2s_plugin.config import from_dict
from s2s_plugin.data.datadir import DataDir
from s2s_plugin.errors import ConfigError, DataError
from s2s_plugin.vocoder.hifigan_train import UnitHiFiGANTrainConfig, UnitHiFiGANTrainer
from s2s_plugin.vocoder.stage import VocoderConfig, fit_vocoder, read_unit_lines, synth_job
from s2s_plugin.vocoder.unit_hifigan import UnitHiFiGAN

UNITS = np.array([0, 0, 1, 1, 1, 5, 5, 2, 3, 3, 4, 4])


class Recorder:
    """A Lightning callback keeping every step's logged losses."""

    def __init__(self) -> None:
        import lightning as L

        self.steps: list[dict[str, float]] = []
        outer = self

        class _CB(L.Callback):
            def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
                outer.steps.append(dict(pl_module.last_logs))

        self.callback = _CB()


def _items(dump):
    dd = DataDir(dump, "en")
    return [(dd, utt, units) for utt, (_, units) in sorted(read_unit_lines(dump / "units.en").items())]


def _train(dump, exp, block, callbacks=()):
    cfg = from_dict(UnitHiFiGANTrainConfig, block, where="train")
    return UnitHiFiGANTrainer(cfg, _items(dump), "en", exp, n_units=N_UNITS, frame_rate=50.0,
                              callbacks=callbacks).run()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """30 steps of a tiny generator on synthetic speech (checkpoints every 10 steps), with its step losses."""
    root = tmp_path_factory.mktemp("hifigan")
    dump = write_dump(root / "dump")
    rec = Recorder()
    stats = _train(dump, root / "exp", train_block(30), [rec.callback])
    return root, dump, stats, rec.steps


def test_losses_fall(trained):
    _, _, stats, steps = trained
    assert stats["steps"] == 30 and len(steps) == 30
    mel = np.array([s["train/mel"] for s in steps])
    assert np.all(np.isfinite(mel))
    assert mel[-5:].mean() < 0.6 * mel[:5].mean(), mel
    # the discriminator trains from the first step (discriminator_train_start_steps 0)
    assert all("train/dis_real" in s and "train/feat_match" in s for s in steps)


def test_checkpoint_files_in_parallel_wavegan_layout(trained):
    root, _, _, _ = trained
    exp = root / "exp"
    assert sorted(p.name for p in exp.glob("checkpoint-*.pkl")) == [
        "checkpoint-10steps.pkl", "checkpoint-20steps.pkl", "checkpoint-30steps.pkl"]
    cfg = yaml.safe_load((exp / "config.yml").read_text())
    assert cfg["generator_type"] == "DiscreteSymbolHiFiGANGenerator"
    assert (cfg["sampling_rate"], cfg["hop_size"], cfg["generator_params"]["num_embs"]) == (4000, HOP, N_UNITS)
    assert cfg["generator_params"]["num_spk_embs"] == 0
    ckpt = torch.load(exp / "checkpoint-30steps.pkl", weights_only=True)
    assert ckpt["steps"] == 30 and set(ckpt["model"]) == {"generator", "discriminator"}
    assert set(ckpt["optimizer"]) == set(ckpt["scheduler"]) == {"generator", "discriminator"}
    gen = ckpt["model"]["generator"]
    assert "input_conv.weight_g" in gen and "input_conv.weight_v" in gen and "upsamples.0.1.weight_v" in gen
    assert not any("parametrizations" in k for k in gen)


def test_checkpoint_round_trips_through_espnet_and_parallel_wavegan(trained):
    root, _, _, _ = trained
    ours, sr = UnitHiFiGAN(checkpoint=str(root / "exp")).synthesize(UNITS)
    assert sr == 4000 and ours.shape == (len(UNITS) * HOP,) and ours.std() > 1e-3
    theirs = espnet_pwg_vocoder(root / "exp" / "checkpoint-30steps.pkl")
    assert theirs.fs == 4000
    wave = theirs(torch.as_tensor(UNITS).unsqueeze(1)).numpy()
    np.testing.assert_allclose(wave[:len(ours)], ours, atol=1e-5)
    older = UnitHiFiGAN(checkpoint=str(root / "exp" / "checkpoint-10steps.pkl")).synthesize(UNITS)[0]
    assert np.abs(older - ours).max() > 1e-3


def test_resume_gives_the_weights_of_an_uninterrupted_run(trained, tmp_path):
    root, dump, _, _ = trained
    exp = tmp_path / "exp"
    _train(dump, exp, train_block(10))
    assert sorted(p.name for p in exp.glob("checkpoint-*.pkl")) == ["checkpoint-10steps.pkl"]
    stats = _train(dump, exp, train_block(30))  # max_steps may grow on a resume
    assert stats["steps"] == 30
    a = torch.load(root / "exp" / "checkpoint-30steps.pkl", weights_only=True)
    b = torch.load(exp / "checkpoint-30steps.pkl", weights_only=True)
    for part in ("generator", "discriminator"):
        assert a["model"][part].keys() == b["model"][part].keys()
        for k in a["model"][part]:
            assert torch.equal(a["model"][part][k], b["model"][part][k]), (part, k)
    assert a["optimizer"]["generator"]["state"][0]["exp_avg"].equal(b["optimizer"]["generator"]["state"][0]["exp_avg"])
    with pytest.raises(ConfigError, match="refusing to resume.*segment_frames"):
        _train(dump, exp, train_block(40, segment_frames=6))


def test_fit_and_synth_with_speakers(tmp_path):
    """Through stage 10's verbs: a two-speaker generator; the speaker is chosen at synthesis."""
    dump = write_dump(tmp_path / "dump", n_utts=4)
    block = train_block(4, generator_params={**train_block()["generator_params"], "num_spk_embs": 2,
                                             "spk_emb_dim": 16})
    cfg = from_dict(VocoderConfig, {"vocoder": {"name": "unit_hifigan", "train": block}, "synth_fs": 4000})
    fit = fit_vocoder(cfg, [dump], "en", tmp_path / "exp")
    assert fit["stats"]["steps"] == 4 and fit["stats"]["n_speakers"] == 2
    assert (tmp_path / "exp" / "speakers.txt").read_text() == "spk0 0\nspk1 1\n"
    assert fit["vocoder"]["n_units"] == N_UNITS and fit["vocoder"]["frame_rate"] == 50.0
    units = tmp_path / "units.txt"
    units.write_text("a " + " ".join(map(str, UNITS)) + "\n")
    import soundfile as sf

    waves = []
    for spk in (0, 1):
        synth_job(tmp_path / "exp", units, tmp_path / f"out{spk}", overrides=[f"synthesis.speaker={spk}"])
        waves.append(sf.read(tmp_path / f"out{spk}" / "wav" / "a.wav")[0])
    assert waves[0].shape == waves[1].shape == (len(UNITS) * HOP,)
    assert not np.array_equal(waves[0], waves[1])  # 16-bit files of a generator trained 4 steps
    voc = UnitHiFiGAN(checkpoint=str(tmp_path / "exp"))
    ours = voc.synthesize(UNITS, speaker=1)[0]
    assert np.abs(voc.synthesize(UNITS, speaker=0)[0] - ours).max() > 1e-6
    with pytest.raises(ConfigError, match="speaker 2 is outside 0..1"):
        voc.synthesize(UNITS, speaker=2)
    theirs = espnet_pwg_vocoder(sorted((tmp_path / "exp").glob("checkpoint-*.pkl"))[-1])
    both = torch.stack([torch.as_tensor(UNITS), torch.ones(len(UNITS), dtype=torch.long)], dim=1)
    np.testing.assert_allclose(theirs(both).numpy()[:len(ours)], ours, atol=1e-5)


def test_duration_generator_learns_durations(tmp_path):
    dump = write_dump(tmp_path / "dump")
    rec = Recorder()
    block = train_block(20, generator_type="DiscreteSymbolDurationGenerator",
                        generator_params={**train_block()["generator_params"], "duration_chans": 16,
                                          "duration_dropout_rate": 0.0})
    _train(dump, tmp_path / "exp", block, [rec.callback])
    dur = np.array([s["train/duration"] for s in rec.steps])
    assert dur[-5:].mean() < 0.7 * dur[:5].mean(), dur
    ours = UnitHiFiGAN(checkpoint=str(tmp_path / "exp"), durations="predict")
    wave = ours.synthesize(UNITS)[0]
    assert len(wave) % HOP == 0 and len(wave) > 0
    theirs = espnet_pwg_vocoder(tmp_path / "exp" / "checkpoint-20steps.pkl")
    runs = torch.unique_consecutive(torch.as_tensor(UNITS))
    np.testing.assert_allclose(theirs(runs.unsqueeze(1)).numpy(), wave, atol=1e-5)


def test_units_and_audio_of_different_lengths_name_the_utterance(tmp_path):
    dump = write_dump(tmp_path / "dump", wave_frames={"spk1_u3": 30})
    with pytest.raises(DataError, match=r"units\.en: utterance 'spk1_u3' has 40 units but its audio has 2400 "
                                        r"samples .*30\.0 frames"):
        _train(dump, tmp_path / "exp", train_block(2))
    assert not list((tmp_path / "exp").glob("checkpoint*"))


def test_bad_train_blocks_are_refused():
    gen = {**train_block()["generator_params"], "num_spk_embs": 2, "spk_emb_dim": 16}
    with pytest.raises(ConfigError, match="DiscreteSymbolDurationGenerator with num_spk_embs > 0"):
        from_dict(UnitHiFiGANTrainConfig, train_block(generator_type="DiscreteSymbolDurationGenerator",
                                                      generator_params=gen))
    with pytest.raises(ConfigError, match="unknown key.*duration_chans"):
        from_dict(UnitHiFiGANTrainConfig, train_block(generator_params={"duration_chans": 8}))
    with pytest.raises(ConfigError, match="either checkpoint .* or train"):
        UnitHiFiGAN(checkpoint="x", train=train_block())
    with pytest.raises(ConfigError, match="strategy fsdp"):
        from_dict(UnitHiFiGANTrainConfig, train_block(trainer={"strategy": "fsdp"}))
    cfg = from_dict(UnitHiFiGANTrainConfig, train_block())
    with pytest.raises(ConfigError, match="4000 / hop 80 .* is 50 frames per second, but the units come at 25"):
        UnitHiFiGANTrainer(cfg, [], "en", "unused", n_units=N_UNITS, frame_rate=25.0)


def test_two_cpu_processes_through_the_launcher(tmp_path):
    """``s2s launch --ngpu 0 --nproc 2 -- s2s vocoder fit``: DDP over gloo, as stage 8; rank 0 writes the files."""
    import subprocess
    import sys

    dump = write_dump(tmp_path / "dump")
    conf = tmp_path / "vocoder.yaml"
    conf.write_text(yaml.safe_dump({"vocoder": {"name": "unit_hifigan",
                                                "train": train_block(4, trainer={"save_every": 2})},
                                    "synth_fs": 4000}))
    exp = tmp_path / "exp"
    cmd = [sys.executable, "-m", "s2s_plugin.bin.main", "launch", "--ngpu", "0", "--nproc", "2", "--", "s2s",
           "vocoder", "fit", "--config", str(conf), "--dirs", str(dump), "--lang", "en", "--exp", str(exp)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    log = (exp / "fit.log").read_text()
    assert log.count("run: cpu x 2 device(s) x 1 node(s), precision 32-true, strategy DDPStrategy") == 2
    assert sorted(p.name for p in exp.glob("checkpoint-*.pkl")) == ["checkpoint-2steps.pkl", "checkpoint-4steps.pkl"]
    assert "launch --ngpu=0 --nnodes=1 --nproc=2 -- s2s vocoder fit" in (exp / "run.sh").read_text()
    assert (exp / "fit.json").is_file()
    wave, _ = UnitHiFiGAN(checkpoint=str(exp)).synthesize(UNITS)
    assert wave.shape == (len(UNITS) * HOP,) and np.all(np.isfinite(wave))


def test_the_cvss_config_trains_a_paper_scale_generator(registry):
    """egs/cvss's stage 10 config: its train block validates; HiFi-GAN V1 sizes at 50 units per second."""
    from pathlib import Path

    from s2s_plugin.config import load_config
    from s2s_plugin.vocoder.hifigan_train import build_generator

    path = Path(__file__).resolve().parents[2] / "egs/cvss/s2st1/conf/tuning/vocoder_unit_hifigan.yaml"
    cfg = load_config(VocoderConfig, path)
    voc = registry.build("vocoder", dict(cfg.vocoder, n_units=2048, frame_rate=50.0), "vocoder")
    assert voc.trains and voc.train_cfg.trainer.max_steps == 400000
    params = voc.train_cfg.full_generator_params(2048)
    assert params["num_embs"] == 2048 and params["num_spk_embs"] == 0
    assert int(np.prod(params["upsample_scales"])) == 320 and voc.train_cfg.sampling_rate == 16000
    gen = build_generator(params, duration=False)
    assert 16e6 < sum(p.numel() for p in gen.parameters()) < 18e6


def test_a_batch_depends_on_its_step_only(tmp_path):
    """Batches read in loader processes equal those read in the training process; steps and ranks differ."""
    from s2s_plugin.vocoder.hifigan_train import StepBatches, TrainItem

    dump = write_dump(tmp_path / "dump")
    items = [TrainItem(dd, utt, np.asarray(u), 0) for dd, utt, u in _items(dump)]
    data = StepBatches(items, "en", 3, 8, HOP, 4000, seed=0, rank=0, duration=True, pad_id=N_UNITS)
    loader = torch.utils.data.DataLoader(data, batch_size=None, sampler=[5, 6], num_workers=2)
    for step, batch in zip((5, 6), loader):
        direct = data[step]
        assert all(torch.equal(batch[k], direct[k]) for k in direct)
        assert batch["wave"].shape == (3, 1, 8 * HOP) and batch["units"].shape == (3, 8)
        # the durations of each row's runs add up to the segment
        assert batch["durations"].sum(dim=1).tolist() == [8, 8, 8]
    assert not torch.equal(data[5]["wave"], data[6]["wave"])
    other_rank = StepBatches(items, "en", 3, 8, HOP, 4000, seed=0, rank=1, duration=False, pad_id=N_UNITS)
    assert not torch.equal(other_rank[5]["wave"], data[5]["wave"])
    # each segment's audio is its units' sound: the frame-level units decide the sinusoid of each hop
    from hifigan_testutils import FREQS, FS

    units, wave = data[5]["units"].numpy(), data[5]["wave"][:, 0].numpy()
    row, i = next((r, i) for r in range(3) for i in range(7) if units[r, i] == units[r, i + 1])  # runs of >= 2
    seg = wave[row, i * HOP:(i + 2) * HOP]
    peak = np.fft.rfftfreq(len(seg), 1 / FS)[np.abs(np.fft.rfft(seg * np.hanning(len(seg)))).argmax()]
    assert abs(peak - FREQS[units[row, i]]) <= FS / len(seg)
