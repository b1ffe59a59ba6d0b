"""The LightningModule's pieces: loss masks per segment, p at batch time, LR schedule, averaging, RNG."""
from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from s2s_plugin.errors import ConfigError
from s2s_plugin.llm.sequence import SEGMENTS, SRC_SPEECH, SRC_TEXT, TGT_SPEECH, TGT_TEXT
from s2s_plugin.llm.vocab import Vocabulary
from s2s_plugin.registry import get_registry
from s2s_plugin.train.checkpoint import average_checkpoints, model_weights
from s2s_plugin.train.schema import OptimConfig
from s2s_plugin.train.datamodule import RawBatch, S2STTask
from s2s_plugin.train.module import S2STModule, collect_rng, lr_factor, restore_rng


@pytest.fixture
def module_and_items(tiny_cfg, vocab_path):
    cfg = tiny_cfg()
    vocab = Vocabulary.load(vocab_path)
    task = S2STTask(cfg.data, cfg.sequence, vocab)
    model = get_registry().build("llm_decoder", dict(cfg.llm, dropout=0.0)).build(vocab)
    sched = get_registry().build("interleave_scheduler", cfg.scheduler)
    module = S2STModule(model, task, vocab.pad_id, cfg.optim, cfg.trainer.max_steps, scheduler=sched)
    return module, task.load("train")[:5], vocab


def test_loss_masks_cover_exactly_the_generated_segments(module_and_items):
    module, items, vocab = module_and_items
    batch = module.on_before_batch_transfer(RawBatch(items, 0, 0), 0)  # no trainer: validation p (0)
    assert batch["p"] == 0.0
    with torch.no_grad():
        nll_sum, stats = module.segment_nll(batch)
        logits = module.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    labels, segs = batch["labels"], batch["segments"]
    # the loss applies exactly to the tokens after the prompt, i.e. every token of the generated segments
    for i, it in enumerate(items):
        n = int(batch["attention_mask"][i].sum())
        prompt = segs[i, :n] == SRC_SPEECH
        assert (labels[i, :n][prompt] == -100).all() and (labels[i, :n][~prompt] >= 0).all()
        assert (labels[i, n:] == -100).all()
        assert int(prompt.sum()) == 2 + len(it.src.units) + 1  # <s_src> <lang_fr> units <t_src>
    # per-segment sums add up to the total, and each equals a cross-entropy over that segment's tokens
    assert stats[SRC_SPEECH].tolist() == [0.0, 0.0]
    assert torch.allclose(stats[:, 0].sum(), nll_sum, rtol=1e-5)
    for s in (SRC_TEXT, TGT_TEXT, TGT_SPEECH):
        m = (segs[:, 1:] == s) & (labels[:, 1:] != -100)
        ref = F.cross_entropy(logits[:, :-1][m], labels[:, 1:][m], reduction="sum")
        assert int(stats[s, 1]) == int(m.sum()) > 0
        assert torch.allclose(stats[s, 0], ref, rtol=1e-5)
    n_tgt_units = sum(len(it.tgt.units) + 1 for it in items)  # units and <eos>
    assert int(stats[TGT_SPEECH, 1]) == n_tgt_units
    assert len(SEGMENTS) == stats.shape[0]


@pytest.mark.parametrize("chunk", [1, 7, 100000])
def test_chunked_loss_equals_the_full_logits_loss(module_and_items, chunk):
    """trainer.loss_chunk_tokens: same per-segment NLL and same gradients, any chunk size."""
    module, items, _ = module_and_items
    batch = module.on_before_batch_transfer(RawBatch(items, 0, 0), 0)
    results = []
    for n in (0, chunk):
        module.zero_grad()
        module.loss_chunk_tokens = n
        nll_sum, stats = module.segment_nll(batch)
        nll_sum.backward()
        results.append((nll_sum.detach(), stats, {k: p.grad.clone() for k, p in module.named_parameters()}))
    (full, full_stats, full_grads), (chunked, chunked_stats, chunked_grads) = results
    assert torch.allclose(chunked, full, rtol=1e-5) and torch.allclose(chunked_stats, full_stats, rtol=1e-5)
    for k, g in full_grads.items():
        assert torch.allclose(chunked_grads[k], g, rtol=1e-4, atol=1e-5 * float(g.abs().max())), k  # sum order


def test_chunked_loss_needs_a_transformers_model(module_and_items):
    module, _, vocab = module_and_items
    with pytest.raises(ValueError, match="get_decoder"):
        S2STModule(torch.nn.Linear(2, 2), module.task, vocab.pad_id, module.optim_cfg, 10, loss_chunk_tokens=64)


class _FakeTrainer:
    training, world_size = True, 1

    def __init__(self, step):
        self.global_step = step


def test_training_batches_use_p_of_the_current_step(module_and_items):
    module, items, vocab = module_and_items
    for step, p in [(0, 0.9), (2, 0.6), (5, 0.3), (7, 0.0)]:
        module._trainer = _FakeTrainer(step)
        batch = module.on_before_batch_transfer(RawBatch(items, 0, 3), 0)
        assert batch["p"] == p == module.p_scheduler.value(step)
        n_text_in_units = sum(vocab.is_text(int(t)) for t, s in zip(batch["input_ids"].flatten(),
                                                                       batch["segments"].flatten())
                              if s == TGT_SPEECH)
        assert (n_text_in_units > 0) == (p > 0)
    module._trainer = None


def test_source_unit_noise_reaches_training_batches_only(module_and_items):
    """sequence.src_unit_noise: training batches get it; validation batches (no trainer) do not."""
    module, items, vocab = module_and_items
    clean = module.on_before_batch_transfer(RawBatch(items, 0, 3), 0)
    module.task.builder.cfg.src_unit_noise = 0.3
    try:
        assert torch.equal(module.on_before_batch_transfer(RawBatch(items, 0, 3), 0)["input_ids"],
                           clean["input_ids"])
        module._trainer = _FakeTrainer(7)  # p = 0 at step 7: only the noise can change the source
        noisy = module.on_before_batch_transfer(RawBatch(items, 0, 3), 0)
        src = clean["segments"] == SRC_SPEECH
        changed = noisy["input_ids"] != clean["input_ids"]
        assert changed.any() and not (changed & ~src).any()
        assert torch.equal(noisy["labels"], clean["labels"])
    finally:
        module.task.builder.cfg.src_unit_noise = 0.0
        module._trainer = None


def test_lr_schedule():
    assert lr_factor(0, 10, 100, "cosine", 0.1) == pytest.approx(0.1)
    assert lr_factor(9, 10, 100, "cosine", 0.1) == pytest.approx(1.0)
    assert lr_factor(55, 10, 100, "cosine", 0.1) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert lr_factor(100, 10, 100, "linear", 0.0) == pytest.approx(0.0)
    assert lr_factor(500, 10, 100, "constant", 0.0) == 1.0
    with pytest.raises(ConfigError):
        OptimConfig(lr=-1.0)


def test_checkpoint_averaging_is_the_mean_of_weights(tmp_path):
    states = [{"model.w": torch.randn(3, 4), "model.b": torch.randn(4), "model.steps": torch.tensor(i),
               "other.x": torch.randn(2)} for i in range(3)]
    paths = []
    for i, sd in enumerate(states):
        paths.append(tmp_path / f"c{i}.ckpt")
        torch.save({"state_dict": sd, "global_step": i}, paths[-1])
    avg = average_checkpoints(paths)
    assert torch.allclose(avg["model.w"], torch.stack([s["model.w"] for s in states]).mean(0), atol=1e-7)
    assert torch.allclose(avg["model.b"], (states[0]["model.b"] + states[1]["model.b"] + states[2]["model.b"]) / 3)
    assert avg["model.steps"] == 2  # integer buffers come from the last checkpoint
    assert set(model_weights(avg)) == {"w", "b", "steps"}
    torch.save({"state_dict": {"model.w": torch.zeros(3, 4)}}, tmp_path / "odd.ckpt")
    with pytest.raises(ConfigError, match="weights differ"):
        average_checkpoints([paths[0], tmp_path / "odd.ckpt"])


def test_rng_states_round_trip():
    state = collect_rng()
    a = (torch.rand(3), random.random(), np.random.rand())
    restore_rng(state)
    b = (torch.rand(3), random.random(), np.random.rand())
    assert torch.equal(a[0], b[0]) and a[1:] == b[1:]


def test_a_model_loaded_from_a_directory_trains_with_dropout(vocab_path, tmp_path):
    from s2s_plugin.llm.hf import HFDecoder

    vocab = Vocabulary.load(vocab_path)
    HFDecoder(config={"model_type": "llama", "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
                      "num_attention_heads": 2}).build(vocab).save_pretrained(tmp_path / "m")
    model = HFDecoder(path=str(tmp_path / "m"), dropout=0.2).build(vocab)
    assert not model.training  # transformers' from_pretrained returns eval mode ...
    module = S2STModule(model, None, vocab.pad_id, OptimConfig(), 10)
    assert all(m.training for m in module.model.modules())  # ... which would silently disable dropout
    assert module.model.config.attention_dropout == 0.2
