"""Stage 6: the joint vocabulary = text tokenizer + special tokens + speech units.

    s2s vocab --config conf/vocab.yaml --exp exp/vocab \\
        --text dump/train_fr dump/train_es dump/train_pt data/lm_text/train --units_exp exp/units

--text takes Kaldi-style ``text.<lang>`` files, or directories whose
``text.*`` files are read. For the embedded model (``tokenizer:
sentencepiece``) a sentencepiece BPE is trained on those texts; with
``tokenizer: hf`` the local tokenizer directory ``path`` (a pretrained LLM's
own) is used and the texts only serve pruning and statistics. The unit count
is stage 4's (``--units_exp``: its units.yaml) or ``n_units``; every
language seen gets a ``<lang_xx>`` token. With ``prune: true`` only the text
tokens the texts use are kept. Writes, each through a temporary name::

    EXP/vocab.yaml           the vocabulary (the tokenizer path relative to EXP)
    EXP/bpe.model, bpe.vocab the sentencepiece model (sentencepiece only)
    EXP/stats.yaml           sizes and text tokens per word, per language
    EXP/config.yaml, plugins.yaml
"""
from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

COMMAND = "vocab"
HELP = "stage 6: build the joint vocabulary (BPE or a local HF tokenizer + specials + units)"
#: the config schema of each subcommand that takes --config ("" is the verb itself), for --print_config
CONFIG_SCHEMAS = {"": "s2s_plugin.bin.vocab:VocabConfig"}

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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. vocab_size=500")
    parser.add_argument("--config", required=True, type=Path, help="conf/vocab.yaml")
    parser.add_argument("--exp", required=True, type=Path, help="output dir, e.g. exp/vocab")
    parser.add_argument("--text", nargs="+", required=True, type=Path,
                        help="text.<lang> files or directories holding them (train sets, text-only corpus)")
    parser.add_argument("--units_exp", type=Path, default=None, help="stage 4's exp dir (its units.yaml)")
    parser.add_argument("--n_units", type=int, default=None, help="unit tokens (overrides --units_exp)")


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


def n_units_of(args: argparse.Namespace, cfg: VocabConfig) -> int:
    from s2s_plugin.errors import ConfigError

    if args.n_units is not None:
        return args.n_units
    if cfg.n_units is not None:
        return cfg.n_units
    if args.units_exp is not None:
        from s2s_plugin.units.stage import read_units_yaml

        return int(read_units_yaml(args.units_exp)["n_clusters"])
    raise ConfigError("the number of units is unknown: give --units_exp exp/units (stage 4), --n_units or n_units")


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


def main(args: argparse.Namespace) -> int:
    from s2s_plugin.config import load_config

    cfg = load_config(VocabConfig, args.config, args.overrides)
    texts = read_texts(text_files(args.text))
    build(cfg, texts, n_units_of(args, cfg), args.exp)
    return 0
