"""The joint vocabulary V = text tokens + special tokens + speech units (stage 6).

Token ids are laid out as ``[text tokens | specials | units]``: text ids are the
text tokenizer's own ids (so a pretrained LLM keeps its embedding rows), the
specials and ``n_units`` unit tokens are appended. With pruning, only the text
tokens the corpus uses are kept and renumbered ``0..n_kept-1``; the mapping is
saved with the vocabulary so training and decoding agree.

    vocab = Vocabulary.load("exp/vocab/vocab.yaml")
    vocab.encode_words(["le", "chat"])       # [[...], [...]] text ids per word
    vocab.unit_id(17), vocab.special("<t_src>")
    vocab.decode(ids)                        # human-readable, units as <u17>

Build one with ``s2s vocab`` (the logic: ``s2s_plugin/llm/vocab_stage.py``).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from s2s_plugin.errors import ConfigError, DataError

#: Segment markers and control tokens of the sequence layout (PAPER.md: OPEN, ours).
BASE_SPECIALS = ("<pad>", "<eos>", "<s_src>", "<t_src>", "<t_tgt>", "<s_tgt>",
                 "<mask>", "<to_text>", "<to_speech>")


def lang_token(lang: str) -> str:
    return f"<lang_{lang}>"


class TextTokenizer:
    """Text side of the vocabulary: a sentencepiece model or a local HF tokenizer dir.

    Args:
        kind: ``"sentencepiece"`` or ``"hf"``.
        path: the ``.model`` file or the tokenizer directory (local; never fetched).
    """

    def __init__(self, kind: str, path: str | Path) -> None:
        self.kind, self.path = kind, str(path)
        if not Path(path).exists():
            what = "a sentencepiece .model file" if kind == "sentencepiece" else "a tokenizer directory"
            raise ConfigError(f"text tokenizer not found: {path}. Put {what} there "
                              "(stage 6 trains the sentencepiece model of the embedded recipe).")
        if kind == "sentencepiece":
            import sentencepiece as spm

            self._sp = spm.SentencePieceProcessor(model_file=self.path)
            self.size = self._sp.get_piece_size()
        elif kind == "hf":
            from transformers import AutoTokenizer

            self._tok = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
            self.size = len(self._tok)
        else:
            raise ConfigError(f"text tokenizer kind must be 'sentencepiece' or 'hf', got {kind!r}")

    def encode_words(self, words: Sequence[str]) -> list[list[int]]:
        """Token ids of each word, such that their concatenation encodes the sentence."""
        if self.kind == "sentencepiece":
            # one thread: sentencepiece's thread pool costs 4x more than it saves on a few words
            return [list(ids) for ids in self._sp.encode(list(words), num_threads=1)]
        # BPE tokenizers of LLMs mark word starts with a leading space
        return [self._tok.encode(w if i == 0 else " " + w, add_special_tokens=False)
                for i, w in enumerate(words)]

    def decode(self, ids: Sequence[int]) -> str:
        if self.kind == "sentencepiece":
            return self._sp.decode(list(ids))
        return self._tok.decode(list(ids))

    def piece(self, i: int) -> str:
        if self.kind == "sentencepiece":
            return self._sp.id_to_piece(i)
        return self._tok.convert_ids_to_tokens(i)


@dataclass
class Vocabulary:
    """Text tokens, specials and units in one id space.

    Attributes:
        tokenizer: ``{"kind": ..., "path": ...}`` of the text tokenizer.
        text_size: the text tokenizer's vocabulary size (before pruning).
        specials: special tokens, appended after the text tokens.
        n_units: number of unit tokens ``<u0> .. <u{n_units-1}>``, appended last.
        kept_text: if pruned, the original text ids kept, in new-id order.
    """

    tokenizer: dict[str, str]
    text_size: int
    specials: list[str]
    n_units: int
    kept_text: list[int] | None = None
    _tok: TextTokenizer | None = field(default=None, repr=False, compare=False)
    _remap: dict[int, int] | None = field(default=None, repr=False, compare=False)

    # -- layout -------------------------------------------------------------
    @property
    def n_text(self) -> int:
        return len(self.kept_text) if self.kept_text is not None else self.text_size

    @property
    def special_offset(self) -> int:
        return self.n_text

    @property
    def unit_offset(self) -> int:
        return self.n_text + len(self.specials)

    def __len__(self) -> int:
        return self.unit_offset + self.n_units

    def special(self, token: str) -> int:
        try:
            return self.special_offset + self.specials.index(token)
        except ValueError:
            raise ConfigError(f"special token {token!r} is not in the vocabulary "
                              f"(it has: {' '.join(self.specials)})") from None

    @property
    def pad_id(self) -> int:
        return self.special("<pad>")

    def unit_id(self, unit: int) -> int:
        if not 0 <= unit < self.n_units:
            raise DataError(f"unit {unit} is outside the vocabulary's {self.n_units} units; "
                            "the units and the vocabulary come from different k-means models")
        return self.unit_offset + unit

    def is_text(self, token_id: int) -> bool:
        return 0 <= token_id < self.n_text

    def is_unit(self, token_id: int) -> bool:
        return self.unit_offset <= token_id < len(self)

    # -- text ---------------------------------------------------------------
    @property
    def text_tokenizer(self) -> TextTokenizer:
        if self._tok is None:
            self._tok = TextTokenizer(self.tokenizer["kind"], self.tokenizer["path"])
        return self._tok

    def _map_text(self, ids: Iterable[int], where: str) -> list[int]:
        if self.kept_text is None:
            return list(ids)
        if self._remap is None:
            self._remap = {old: new for new, old in enumerate(self.kept_text)}
        try:
            return [self._remap[i] for i in ids]
        except KeyError as e:
            raise DataError(f"{where}: text token {self.text_tokenizer.piece(e.args[0])!r} was pruned "
                            "from the vocabulary; rebuild it (stage 6) on text that includes this "
                            "one") from None

    def encode_words(self, words: Sequence[str], where: str = "text") -> list[list[int]]:
        """Vocabulary ids of each word's text tokens."""
        return [self._map_text(ids, where) for ids in self.text_tokenizer.encode_words(words)]

    def decode_text(self, ids: Sequence[int]) -> str:
        orig = [self.kept_text[i] if self.kept_text is not None else i for i in ids if self.is_text(i)]
        return self.text_tokenizer.decode(orig)

    def token_str(self, token_id: int) -> str:
        if self.is_unit(token_id):
            return f"<u{token_id - self.unit_offset}>"
        if self.special_offset <= token_id < self.unit_offset:
            return self.specials[token_id - self.special_offset]
        orig = self.kept_text[token_id] if self.kept_text is not None else token_id
        return self.text_tokenizer.piece(orig)

    def decode(self, ids: Sequence[int]) -> str:
        """Readable rendering: text pieces, specials and ``<uN>`` units."""
        return " ".join(self.token_str(i) for i in ids)

    # -- persistence --------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"tokenizer": dict(self.tokenizer), "text_size": self.text_size,
                "specials": list(self.specials), "n_units": self.n_units, "kept_text": self.kept_text}

    def save(self, path: str | Path) -> None:
        from s2s_plugin.data.io import atomic_write

        with atomic_write(path) as f:
            yaml.safe_dump(self.to_dict(), f, sort_keys=False, width=120)

    @classmethod
    def load(cls, path: str | Path) -> Vocabulary:
        from s2s_plugin.config import load_yaml

        d = load_yaml(path)
        try:
            vocab = cls(tokenizer=d["tokenizer"], text_size=int(d["text_size"]), specials=list(d["specials"]),
                        n_units=int(d["n_units"]), kept_text=d.get("kept_text"))
        except KeyError as e:
            raise ConfigError(f"{path}: not a vocabulary file (missing {e.args[0]!r}); build it with stage 6") \
                from None
        tok_path = Path(vocab.tokenizer["path"])
        if not tok_path.is_absolute() and not tok_path.exists():
            vocab.tokenizer["path"] = str(Path(path).parent / tok_path)
        return vocab


def build_vocabulary(tokenizer: dict[str, str], n_units: int, langs: Sequence[str] = (),
                     prune_texts: Iterable[str] | None = None) -> Vocabulary:
    """Make the joint vocabulary.

    Args:
        tokenizer: ``{"kind": "sentencepiece"|"hf", "path": ...}``.
        n_units: number of unit tokens (k-means clusters).
        langs: languages that get a ``<lang_xx>`` token.
        prune_texts: if given, keep only text tokens these texts use (plus the
            tokenizer's own special/control tokens' ids are dropped).
    """
    tok = TextTokenizer(tokenizer["kind"], tokenizer["path"])
    specials = list(BASE_SPECIALS) + [lang_token(lang) for lang in langs]
    kept = None
    if prune_texts is not None:
        used: set[int] = set()
        for text in prune_texts:
            for ids in tok.encode_words(text.split()):
                used.update(ids)
        kept = sorted(used)
    vocab = Vocabulary(tokenizer=dict(tokenizer), text_size=tok.size, specials=specials,
                       n_units=int(n_units), kept_text=kept)
    vocab._tok = tok
    return vocab
