"""The ``hf`` LLM decoder: vocabulary extension, pruning, missing model directory."""
from __future__ import annotations

import pytest
import torch

from s2s_plugin.errors import ConfigError
from s2s_plugin.llm.hf import HFDecoder
from s2s_plugin.llm.vocab import build_vocabulary

TINY = {"model_type": "llama", "vocab_size": 60, "hidden_size": 32, "intermediate_size": 64,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "max_position_embeddings": 256, "tie_word_embeddings": False}


def test_registered(registry):
    assert registry.get("llm_decoder", "hf").cls is HFDecoder


def test_extension_mean_init_and_size(vocab):
    dec = HFDecoder(config=TINY, dropout=0.2)
    torch.manual_seed(0)
    base = dec.load_base()
    torch.manual_seed(0)  # the run seeds the random init (trainer.seed), not the decoder
    model = dec.build(vocab)
    emb = model.get_input_embeddings().weight
    assert emb.shape[0] == len(vocab) == model.config.vocab_size
    # text rows kept as they were (same seed), new rows = mean of the old rows
    assert torch.allclose(emb[:60], base.get_input_embeddings().weight)
    assert torch.allclose(emb[vocab.unit_offset], base.get_input_embeddings().weight.mean(0))
    assert model.config.attention_dropout == 0.2
    out = model(torch.tensor([[vocab.special("<s_src>"), vocab.unit_id(3), vocab.unit_id(49)]]))
    assert out.logits.shape == (1, 3, len(vocab))


def test_pruning_gives_same_logits_on_kept_tokens(spm_model):
    tok = {"kind": "sentencepiece", "path": str(spm_model)}
    full_vocab = build_vocabulary(tok, n_units=8)
    pruned_vocab = build_vocabulary(tok, n_units=8, prune_texts=["le chat noir mange", "the black cat eats"])
    dec = HFDecoder(config=TINY, dropout=0.0)
    torch.manual_seed(0)
    full = dec.build(full_vocab).eval()
    torch.manual_seed(0)
    pruned = dec.build(pruned_vocab).eval()
    words = "le chat noir".split()
    ids_full = [t for w in full_vocab.encode_words(words) for t in w] + [full_vocab.unit_id(2)]
    ids_pruned = [t for w in pruned_vocab.encode_words(words) for t in w] + [pruned_vocab.unit_id(2)]
    with torch.no_grad():
        lf = full(torch.tensor([ids_full])).logits[0]
        lp = pruned(torch.tensor([ids_pruned])).logits[0]
    kept = pruned_vocab.kept_text
    assert torch.allclose(lp[:, :len(kept)], lf[:, kept], atol=1e-5)
    # specials and units line up too
    assert torch.allclose(lp[:, pruned_vocab.unit_offset:], lf[:, full_vocab.unit_offset:], atol=1e-5)


def test_random_init_follows_the_global_seed_and_config_seed_is_refused(vocab):
    dec = HFDecoder(config=TINY)
    w = []
    for seed in (3, 3, 4):
        torch.manual_seed(seed)
        w.append(dec.load_base().get_input_embeddings().weight.detach().clone())
    assert torch.equal(w[0], w[1]) and not torch.equal(w[0], w[2])
    with pytest.raises(ConfigError, match="trainer.seed"):
        HFDecoder(config=dict(TINY, seed=1)).load_base()


def test_tied_embeddings_stay_tied(vocab):
    model = HFDecoder(config=dict(TINY, tie_word_embeddings=True)).build(vocab)
    assert model.get_output_embeddings().weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()


def test_local_directory_round_trip_and_missing_dir(vocab, tmp_path):
    base = HFDecoder(config=TINY).load_base()
    base.save_pretrained(tmp_path / "llm")
    model = HFDecoder(path=str(tmp_path / "llm")).build(vocab)
    assert model.config.vocab_size == len(vocab)
    with pytest.raises(ConfigError, match=r"no model at .*Llama.*expected .*config.json.*never downloads"):
        HFDecoder(path=str(tmp_path / "Llama-3.2-1B")).build(vocab)
    with pytest.raises(ConfigError, match="exactly one of 'path'"):
        HFDecoder()


def test_lora_keeps_new_rows_trainable(vocab):
    model = HFDecoder(config=TINY, lora={"r": 4, "alpha": 8}).build(vocab)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert any("lora_A" in n for n in trainable)
    assert any("embed_tokens" in n for n in trainable)
    assert not any("mlp.up_proj.weight" in n and "lora" not in n for n in trainable)
