"""Stage 6's logic: the joint vocabulary = text tokenizer + special tokens + speech units.

    from s2s_plugin.llm.vocab_stage import VocabConfig, build, read_texts, text_files

    stats = build(VocabConfig(vocab_size=500), read_texts(text_files([Path("dump/train_fr")])),
                  n_units=300, exp=Path("exp/vocab"))

``s2s vocab`` (s2s_plugin/bin/vocab.py) parses the command line and calls
these. For ``tokenizer: sentencepiece`` a BPE is trained on the texts; for
``tokenizer: hf`` a local tokenizer directory is used and the texts only serve
pruning and statistics. :class:`s2s_plugin.llm.vocab.Vocabulary` is the result.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

logger = logging.getLogger(__name__)


@dataclass
class VocabConfig:
    """The schema of ``conf/vocab.yaml``.

    Attributes:
        tokenizer: ``sentencepiece`` (train a model on --text) or ``hf`` (a local tokenizer dir).
        path: the tokenizer directory for ``hf`` (never downloaded).
        vocab_size: sentencepiece pieces (a soft limit: a small corpus may give fewer).
        model_type: sentencepiece ``bpe`` or ``unigram``.
        character_coverage: sentencepiece's share of characters covered.
        max_sentences: sentences sampled for the sentencepiece training (0: all).
        langs: languages with a ``<lang_xx>`` token (default: those of the --text files).
        n_units: unit tokens (default: stage 4's n_clusters from --units_exp).
        prune: keep only the text tokens the texts use.
        seed: sentencepiece's sampling seed.
    """

    tokenizer: Literal["sentencepiece", "hf"] = "sentencepiece"
    path: str | None = None
    vocab_size: int = 1000
    model_type: Literal["bpe", "unigram"] = "bpe"
    character_coverage: float = 1.0
    max_sentences: int = 0
    langs: list[str] = field(default_factory=list)
    n_units: int | None = None
    prune: bool = False
    seed: int = 0


def text_files(paths: Sequence[Path]) -> list[Path]:
    """The ``text.<lang>`` files of ``paths`` (files as given, directories expanded)."""
    from s2s_plugin.errors import DataError

    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted(f for f in p.glob("text.*") if f.is_file() and "." not in f.name[len("text."):])
            if not found:
                raise DataError(f"{p}: no text.<lang> files in this directory")
            out += found
        elif p.is_file():
            out.append(p)
        else:
            raise DataError(f"{p}: no such file or directory")
    return out


def read_texts(files: Sequence[Path]) -> dict[str, list[str]]:
    """Sentences per language (the file suffix) of Kaldi ``id words...`` files."""
    from s2s_plugin.data.io import read_kaldi_text

    texts: dict[str, list[str]] = {}
    for f in files:
        lang = f.name.rsplit(".", 1)[-1]
        texts.setdefault(lang, []).extend(read_kaldi_text(f).values())
    return texts


def train_sentencepiece(sentences: Sequence[str], cfg: VocabConfig, exp: Path) -> Path:
    """Train ``exp/bpe.model`` (and ``bpe.vocab``) on ``sentences``, atomically."""
    import sentencepiece as spm

    tmp = exp / ".bpe.tmp"
    with open(exp / ".corpus.tmp", "w", encoding="utf-8") as f:
        f.write("\n".join(sentences) + "\n")
    spm.set_random_generator_seed(cfg.seed)
    try:
        spm.SentencePieceTrainer.train(
            input=str(exp / ".corpus.tmp"), model_prefix=str(tmp), vocab_size=cfg.vocab_size,
            model_type=cfg.model_type, character_coverage=cfg.character_coverage, bos_id=-1, eos_id=-1,
            unk_id=0, pad_id=-1, hard_vocab_limit=False, num_threads=1, minloglevel=2,
            input_sentence_size=cfg.max_sentences, shuffle_input_sentence=True)
        os.replace(f"{tmp}.vocab", exp / "bpe.vocab")
        os.replace(f"{tmp}.model", exp / "bpe.model")
    finally:
        for leftover in (exp / ".corpus.tmp", Path(f"{tmp}.model"), Path(f"{tmp}.vocab")):
            leftover.unlink(missing_ok=True)
    return exp / "bpe.model"


def build(cfg: VocabConfig, texts: dict[str, list[str]], n_units: int, exp: Path) -> dict:
    """Make ``exp/vocab.yaml`` (training the sentencepiece model first if asked); returns its statistics."""
    import yaml

    from s2s_plugin.config import save_resolved
    from s2s_plugin.data.io import atomic_write
    from s2s_plugin.errors import ConfigError
    from s2s_plugin.llm.vocab import build_vocabulary

    exp.mkdir(parents=True, exist_ok=True)
    sentences = [s for lang in sorted(texts) for s in texts[lang]]
    if cfg.tokenizer == "sentencepiece":
        train_sentencepiece(sentences, cfg, exp)
        tok = {"kind": "sentencepiece", "path": str(exp / "bpe.model")}
    else:
        if not cfg.path:
            raise ConfigError("tokenizer 'hf' needs path: a local tokenizer directory (e.g. the LLM's own)")
        tok = {"kind": "hf", "path": cfg.path}
    langs = cfg.langs or sorted(texts)
    vocab = build_vocabulary(tok, n_units=n_units, langs=langs, prune_texts=sentences if cfg.prune else None)
    stats = {"text_tokens": vocab.n_text, "tokenizer_size": vocab.text_size, "specials": len(vocab.specials),
             "units": vocab.n_units, "total": len(vocab), "langs": langs, "sentences": len(sentences),
             "text_tokens_per_word": {}}
    for lang in sorted(texts):
        words = [s.split() for s in texts[lang]]
        n_words = sum(map(len, words))
        n_tokens = sum(len(t) for ws in words for t in vocab.encode_words(ws))
        stats["text_tokens_per_word"][lang] = round(n_tokens / max(n_words, 1), 3)
    if cfg.tokenizer == "sentencepiece":
        vocab.tokenizer["path"] = "bpe.model"  # relative to the vocabulary file
    vocab.save(exp / "vocab.yaml")
    with atomic_write(exp / "stats.yaml") as f:
        yaml.safe_dump(stats, f, sort_keys=False)
    save_resolved(cfg, exp)
    logger.info("vocabulary %s: %d text tokens (of %d), %d specials, %d units = %d; text tokens per word %s",
                exp / "vocab.yaml", vocab.n_text, vocab.text_size, len(vocab.specials), vocab.n_units, len(vocab),
                stats["text_tokens_per_word"])
    return stats
