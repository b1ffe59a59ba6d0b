"""Models saved by the toolkit record their vocabulary layout; building from them keeps their rows by token."""
from __future__ import annotations

from dataclasses import replace

import torch

from s2s_plugin.llm.hf import HFDecoder
from s2s_plugin.llm.vocab import build_vocabulary

TINY = {"model_type": "llama", "vocab_size": 60, "hidden_size": 32, "intermediate_size": 64,
        "num_hidden_layers": 1, "num_attention_heads": 4, "num_key_value_heads": 2,
        "max_position_embeddings": 128, "tie_word_embeddings": False}


def test_text_lm_rows_carry_over_to_the_joint_vocabulary(vocab, tmp_path):
    text_vocab = replace(vocab, n_units=0)  # stage 7's layout: text tokens + specials, no units
    lm = HFDecoder(config=TINY).build(text_vocab)
    with torch.no_grad():  # as if pretrained: every row distinct
        lm.get_input_embeddings().weight.copy_(torch.randn_like(lm.get_input_embeddings().weight))
    assert lm.config.s2s_layout == {"tokenizer_size": vocab.text_size, "text_ids": None,
                                    "specials": vocab.specials, "n_units": 0}
    lm.save_pretrained(tmp_path / "lm")
    model = HFDecoder(path=str(tmp_path / "lm")).build(vocab)
    old, new = lm.get_input_embeddings().weight, model.get_input_embeddings().weight
    n_keep = vocab.unit_offset  # text rows and the specials' rows (learnt in stage 7) are kept as they were
    assert torch.equal(new[:n_keep], old)
    assert torch.allclose(new[vocab.unit_offset:], old.mean(0).expand(vocab.n_units, -1))
    assert torch.equal(model.get_output_embeddings().weight[:n_keep], lm.get_output_embeddings().weight)


def test_trained_model_is_not_re_extended(vocab, tmp_path):
    model = HFDecoder(config=TINY).build(vocab)
    with torch.no_grad():
        model.get_input_embeddings().weight.copy_(torch.randn_like(model.get_input_embeddings().weight))
    model.save_pretrained(tmp_path / "final")
    again = HFDecoder(path=str(tmp_path / "final")).build(vocab)
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)


def test_pruned_layout_maps_by_original_token(spm_model, tmp_path):
    tok = {"kind": "sentencepiece", "path": str(spm_model)}
    small = build_vocabulary(tok, n_units=4, langs=["fr"], prune_texts=["le chat noir"])
    large = build_vocabulary(tok, n_units=6, langs=["en", "fr"], prune_texts=["le chat noir", "the black cat"])
    model = HFDecoder(config=TINY).build(small)
    with torch.no_grad():
        model.get_input_embeddings().weight.copy_(torch.randn_like(model.get_input_embeddings().weight))
    model.save_pretrained(tmp_path / "m")
    grown = HFDecoder(path=str(tmp_path / "m")).build(large)
    old, new = model.get_input_embeddings().weight, grown.get_input_embeddings().weight
    for t in small.kept_text:  # every text token keeps its row, wherever it now sits
        assert torch.equal(new[large.kept_text.index(t)], old[small.kept_text.index(t)])
    for sp in small.specials:
        assert torch.equal(new[large.special(sp)], old[small.special(sp)])
    for u in range(4):
        assert torch.equal(new[large.unit_id(u)], old[small.unit_id(u)])
    # tokens the old model lacks start from the mean
    assert torch.allclose(new[large.special("<lang_en>")], old.mean(0))
    assert torch.allclose(new[large.unit_id(5)], old.mean(0))
