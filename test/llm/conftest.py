"""Fixtures for the LLM tests: a tiny sentencepiece model and vocabulary."""
from __future__ import annotations

import pytest

SENTENCES = [
    "le chat noir mange", "la maison blanche", "les chats ne mangent pas", "deux chiens rouges",
    "the black cat eats", "the white house", "the cats do not eat", "two red dogs",
    "el gato negro come", "la casa blanca", "los gatos no comen", "dos perros rojos",
]


@pytest.fixture(scope="session")
def spm_model(tmp_path_factory):
    import sentencepiece as spm

    d = tmp_path_factory.mktemp("spm")
    text = d / "text.txt"
    text.write_text("\n".join(SENTENCES * 20) + "\n")
    spm.SentencePieceTrainer.train(input=str(text), model_prefix=str(d / "bpe"), vocab_size=60,
                                   model_type="bpe", character_coverage=1.0, bos_id=-1, eos_id=-1,
                                   num_threads=1, minloglevel=2)
    return d / "bpe.model"


@pytest.fixture
def vocab(spm_model):
    from s2s_plugin.llm.vocab import build_vocabulary

    return build_vocabulary({"kind": "sentencepiece", "path": str(spm_model)}, n_units=50,
                            langs=["fr", "es", "en"])
