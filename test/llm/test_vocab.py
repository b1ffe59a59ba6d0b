"""The joint vocabulary: layout, word encoding, pruning, persistence."""
from __future__ import annotations

import pytest

from s2s_plugin.errors import ConfigError, DataError
from s2s_plugin.llm.vocab import BASE_SPECIALS, Vocabulary, build_vocabulary


def test_layout(vocab):
    assert vocab.n_text == vocab.text_size == 60
    assert vocab.special("<pad>") == 60
    assert vocab.unit_offset == 60 + len(BASE_SPECIALS) + 3
    assert len(vocab) == vocab.unit_offset + 50
    assert vocab.unit_id(0) == vocab.unit_offset and vocab.is_unit(vocab.unit_id(49))
    assert vocab.is_text(59) and not vocab.is_text(60)
    assert vocab.token_str(vocab.unit_id(7)) == "<u7>"
    assert vocab.token_str(vocab.special("<lang_fr>")) == "<lang_fr>"
    with pytest.raises(DataError, match="unit 50 is outside the vocabulary's 50 units"):
        vocab.unit_id(50)
    with pytest.raises(ConfigError, match="special token '<nope>' is not in the vocabulary"):
        vocab.special("<nope>")


def test_words_concatenate_to_sentence(vocab):
    words = "les chats ne mangent pas".split()
    per_word = vocab.encode_words(words)
    assert all(len(w) >= 1 for w in per_word)
    assert vocab.decode_text([t for w in per_word for t in w]) == "les chats ne mangent pas"
    assert vocab.text_tokenizer._sp.encode(" ".join(words)) == [t for w in per_word for t in w]


def test_pruning_keeps_used_tokens_only(spm_model, tmp_path):
    tok = {"kind": "sentencepiece", "path": str(spm_model)}
    texts = ["le chat noir mange", "the black cat eats"]
    pruned = build_vocabulary(tok, n_units=10, prune_texts=texts)
    assert pruned.n_text < pruned.text_size
    ids = pruned.encode_words("le chat noir".split())
    assert all(pruned.is_text(t) for w in ids for t in w)
    assert pruned.decode_text([t for w in ids for t in w]) == "le chat noir"
    with pytest.raises(DataError, match="was pruned from the vocabulary"):
        pruned.encode_words(["perros"])
    pruned.save(tmp_path / "vocab.yaml")
    again = Vocabulary.load(tmp_path / "vocab.yaml")
    assert again == pruned and len(again) == len(pruned)
    assert again.encode_words(["chat"]) == pruned.encode_words(["chat"])


def test_missing_tokenizer_and_bad_file(tmp_path):
    with pytest.raises(ConfigError, match="text tokenizer not found: .*nope.model. Put a sentencepiece"):
        build_vocabulary({"kind": "sentencepiece", "path": str(tmp_path / "nope.model")}, n_units=4)
    (tmp_path / "v.yaml").write_text("n_units: 3\n")
    with pytest.raises(ConfigError, match="not a vocabulary file"):
        Vocabulary.load(tmp_path / "v.yaml")
