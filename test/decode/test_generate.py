"""Stage-9 decoding: segment constraints, beam 1 = greedy, batched = one by one."""
from __future__ import annotations

import copy

import pytest
import torch

from s2s_plugin.decode.generate import ChainDecoder, DecodeConfig, SegmentConstraint, resolve_device_dtype
from s2s_plugin.errors import ConfigError
from s2s_plugin.llm.hf import HFDecoder

TINY = {"model_type": "llama", "vocab_size": 60, "hidden_size": 32, "intermediate_size": 64,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "max_position_embeddings": 512, "tie_word_embeddings": False}


@pytest.fixture(scope="module")
def model_and_vocab(spm_model):
    from s2s_plugin.llm.vocab import build_vocabulary

    vocab = build_vocabulary({"kind": "sentencepiece", "path": str(spm_model)}, n_units=20, langs=["fr"])
    torch.manual_seed(0)
    model = HFDecoder(config=TINY, dropout=0.0).build(vocab).eval()
    with torch.no_grad():  # make <eos> and the markers unlikely so the constraints have work to do
        model.get_output_embeddings().weight.mul_(3.0)
    return model, vocab


def prompts(vocab, lengths=(5, 9, 3, 12, 7)):
    g = torch.Generator().manual_seed(1)
    out = []
    for n in lengths:
        units = torch.randint(0, vocab.n_units, (n,), generator=g).tolist()
        out.append([vocab.special("<s_src>"), vocab.special("<lang_fr>")] + [vocab.unit_id(u) for u in units]
                   + [vocab.special("<t_src>")])
    return out


def classes(vocab, gen):
    """Check the segment structure of one generated sequence; return its segments."""
    t_tgt, s_tgt, eos = vocab.special("<t_tgt>"), vocab.special("<s_tgt>"), vocab.special("<eos>")
    i, j = gen.index(t_tgt), gen.index(s_tgt)
    return gen[:i], gen[i + 1:j], gen[j + 1:gen.index(eos) if eos in gen else len(gen)]


@pytest.mark.parametrize("cfg", [DecodeConfig(max_text_tokens=6), DecodeConfig(num_beams=3, max_text_tokens=6),
                                 DecodeConfig(do_sample=True, max_text_tokens=6, seed=4)])
def test_constrained_decoding_never_emits_wrong_class(model_and_vocab, cfg):
    model, vocab = model_and_vocab
    ps = prompts(vocab)
    for p, hyp in zip(ps, ChainDecoder(model, vocab, cfg).decode(ps)):
        src, tgt, speech = classes(vocab, hyp.token_ids)
        assert all(vocab.is_text(t) for t in src + tgt)
        assert len(src) <= 6 and len(tgt) <= 6  # the length guard
        assert all(vocab.is_unit(t) for t in speech)
        n_src_units = sum(vocab.is_unit(t) for t in p)
        assert 1 <= len(hyp.units) <= int(2.0 * n_src_units)
        assert hyp.units == [t - vocab.unit_offset for t in speech]


def test_unconstrained_model_does_emit_wrong_classes(model_and_vocab):
    """The constraint is what keeps the classes apart (the test above is not vacuous)."""
    model, vocab = model_and_vocab
    hyps = ChainDecoder(model, vocab, DecodeConfig(constrain=False, max_text_tokens=6)).decode(prompts(vocab))
    gens = [h.token_ids for h in hyps]
    assert any(any(vocab.is_unit(t) for t in g[:8]) or vocab.special("<t_tgt>") not in g for g in gens)


def test_beam1_equals_greedy(model_and_vocab):
    model, vocab = model_and_vocab
    ps = prompts(vocab)
    greedy = ChainDecoder(model, vocab, DecodeConfig(max_text_tokens=8)).decode(ps)
    # a beam search of width 1 by hand: at every step the single best constrained token
    for p, hyp in zip(ps, greedy):
        ids = list(p)
        cons = SegmentConstraint(vocab, len(p), True, 8, [int(2.0 * sum(vocab.is_unit(t) for t in p))])
        with torch.no_grad():
            while True:
                logits = model(torch.tensor([ids])).logits[:, -1]
                tok = int(cons(torch.tensor([ids]), logits).argmax(-1))
                ids.append(tok)
                if tok == vocab.special("<eos>"):
                    break
        assert hyp.token_ids == ids[len(p):]


def test_batched_equals_one_by_one(model_and_vocab):
    model, vocab = model_and_vocab
    ps = prompts(vocab)
    # float64 so that padding-dependent rounding cannot flip a near-tie of this random model
    model64 = copy.deepcopy(model).double()
    batched = ChainDecoder(model64, vocab, DecodeConfig(batch_size=8, max_text_tokens=12)).decode(ps)
    single = ChainDecoder(model64, vocab, DecodeConfig(batch_size=1, max_text_tokens=12)).decode(ps)
    assert [h.token_ids for h in batched] == [h.token_ids for h in single]
    assert len({len(p) for p in ps}) > 1  # prompts of different lengths were left-padded together


def test_no_cot_prompt_goes_straight_to_units(model_and_vocab):
    model, vocab = model_and_vocab
    p = prompts(vocab, [6])[0][:-1] + [vocab.special("<s_tgt>")]
    hyp = ChainDecoder(model, vocab, DecodeConfig(cot=False)).decode([p])[0]
    assert hyp.src_text == hyp.tgt_text == ""
    assert all(vocab.is_unit(t) for t in hyp.token_ids[:-1]) and hyp.token_ids[-1] == vocab.special("<eos>")


def test_segment_tracking(model_and_vocab):
    _, vocab = model_and_vocab
    c = SegmentConstraint(vocab, 0, True, 5, [3])
    t_tgt, s_tgt, eos = vocab.special("<t_tgt>"), vocab.special("<s_tgt>"), vocab.special("<eos>")
    assert c.segment([]) == ("src_text", 0)
    assert c.segment([1, 2, t_tgt]) == ("tgt_text", 0)
    assert c.segment([1, t_tgt, 3, 4, s_tgt, vocab.unit_id(0)]) == ("tgt_speech", 1)
    assert c.segment([1, t_tgt, s_tgt, vocab.unit_id(0), eos]) == ("done", 0)


def test_config_errors():
    with pytest.raises(ConfigError, match="not both"):
        DecodeConfig(do_sample=True, num_beams=2)
    with pytest.raises(ConfigError, match="dtype 'fp8'"):
        DecodeConfig(dtype="fp8")
    with pytest.raises(ConfigError, match="device 'tpu'"):
        DecodeConfig(device="tpu")


def test_device_and_dtype_resolution(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device_dtype() == ("cpu", torch.float32)
    assert resolve_device_dtype("cpu", "bfloat16") == ("cpu", torch.bfloat16)
    with pytest.raises(ConfigError, match="no GPU"):
        resolve_device_dtype("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device_dtype() == ("cuda", torch.bfloat16)
    assert resolve_device_dtype("cuda:1", "float32") == ("cuda:1", torch.float32)


def test_constraint_follows_the_device_of_the_ids(model_and_vocab):
    """The GPU path's logic on the CPU: the tables move to the ids' device (here 'meta', shapes only)."""
    _, vocab = model_and_vocab
    c = SegmentConstraint(vocab, 2, True, 5, [3, 4])
    ids = torch.tensor([[1, 2, 3], [1, 2, vocab.special("<t_tgt>")]])
    scores = torch.zeros(2, len(vocab))
    on_cpu = c(ids, scores)
    out = c(ids.to("meta"), scores.to("meta"))
    assert out.device.type == "meta" and out.shape == on_cpu.shape
    assert c._table.device.type == "meta" and c.max_units.device.type == "meta"


def test_bfloat16_decoding_keeps_the_segment_classes(model_and_vocab):
    model, vocab = model_and_vocab
    half = copy.deepcopy(model).to(torch.bfloat16)
    hyps = ChainDecoder(half, vocab, DecodeConfig(max_text_tokens=6, batch_size=3)).decode(prompts(vocab))
    for h in hyps:
        src, tgt, units = classes(vocab, h.token_ids)
        assert all(t < vocab.n_text for t in src + tgt) and all(vocab.is_unit(t) for t in units)
