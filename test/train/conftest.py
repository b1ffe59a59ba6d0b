"""Fixtures for training tests: tiny dump dirs, a BPE vocabulary, the tiny config (see train_testutils)."""
from __future__ import annotations

from pathlib import Path

import pytest
from train_testutils import N_UNITS, load_tiny, make_dump


@pytest.fixture(scope="session")
def dumps(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("dump")
    return {"train": make_dump(root / "train_fr", 48, seed=1), "dev": make_dump(root / "dev_fr", 8, seed=2)}


@pytest.fixture(scope="session")
def vocab_path(tmp_path_factory, dumps) -> Path:
    import sentencepiece as spm

    from s2s_plugin.llm.vocab import build_vocabulary

    d = tmp_path_factory.mktemp("vocab")
    lines = [" ".join(line.split()[1:]) for lang in ("fr", "en")
             for line in (dumps["train"] / f"text.{lang}").read_text().splitlines()]
    (d / "corpus.txt").write_text("\n".join(lines) + "\n")
    spm.SentencePieceTrainer.train(input=str(d / "corpus.txt"), model_prefix=str(d / "bpe"), vocab_size=40,
                                   model_type="bpe", character_coverage=1.0, bos_id=-1, eos_id=-1,
                                   num_threads=1, minloglevel=2, hard_vocab_limit=False)
    vocab = build_vocabulary({"kind": "sentencepiece", "path": str(d / "bpe.model")}, n_units=N_UNITS,
                             langs=["fr", "en"])
    vocab.save(d / "vocab.yaml")
    return d / "vocab.yaml"


@pytest.fixture
def tiny_cfg(registry, dumps, vocab_path):
    """A function building the tiny training config with extra dotted overrides."""

    def make(**extra: object):
        return load_tiny(dumps, vocab_path, **extra)

    return make
