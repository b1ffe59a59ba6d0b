"""Token lists for CTC models (characters or SentencePiece BPE): build from transcripts, save, encode, decode.

    tok = CharTokenList.build(["le chat noir", "the cat"])
    tok.tokens[:4]              # ['<blank>', '<unk>', '<space>', 'a']
    tok.encode("le chat")       # ids; spaces become <space>
    tok.decode(tok.encode("le chat"))   # 'le chat'
    tok.save("exp/ctc/tokens.txt"); CharTokenList.load("exp/ctc/tokens.txt")

    bpe = BPETokenList.train(texts, vocab_size=300)   # token_type: bpe; bpe.save("exp/ctc") -> bpe.model
    bpe.word_ids("chat")        # ids of its pieces, the first one marked with '▁'

Index 0 is always the CTC blank (ESPnet's convention). ``tokens.txt`` holds one
token per line, in id order.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from s2s_plugin.data.io import PathLike, atomic_write
from s2s_plugin.errors import DataError

BLANK = "<blank>"
UNK = "<unk>"
SPACE = "<space>"
SPECIALS = (BLANK, UNK, SPACE)


class UnknownTokenError(ValueError):
    """A word holds characters the model's vocabulary does not have."""

    def __init__(self, word: str, missing: Sequence[str]) -> None:
        self.word, self.missing = word, list(missing)
        chars = " ".join(repr(c) for c in self.missing)
        super().__init__(f"word '{word}' has characters not in the model vocabulary: {chars}")


class CharTokenList:
    """A character vocabulary: ``<blank>`` (0), ``<unk>`` (1), ``<space>`` (2), then characters.

    Example::

        tok = CharTokenList(["<blank>", "<unk>", "<space>", "a", "b"])
        tok.encode("ab ba")    # [3, 4, 2, 4, 3]

    Args:
        tokens: the token list in id order; must start with the three specials.
    """

    def __init__(self, tokens: Sequence[str]) -> None:
        tokens = list(tokens)
        if tuple(tokens[:3]) != SPECIALS:
            raise DataError(f"a character token list must start with {', '.join(SPECIALS)}; "
                            f"got {tokens[:3]}")
        if len(set(tokens)) != len(tokens):
            dup = next(t for t in tokens if tokens.count(t) > 1)
            raise DataError(f"token list has '{dup}' twice")
        self.tokens = tokens
        self.index = {t: i for i, t in enumerate(tokens)}
        self.unk_id = 1
        self.space_id = 2

    def __len__(self) -> int:
        return len(self.tokens)

    @classmethod
    def build(cls, texts: Iterable[str]) -> CharTokenList:
        """All characters of ``texts`` (whitespace excluded), sorted, after the specials."""
        chars: set[str] = set()
        for text in texts:
            chars.update(c for c in text if not c.isspace())
        return cls(list(SPECIALS) + sorted(chars))

    @classmethod
    def load(cls, path: PathLike) -> CharTokenList:
        path = Path(path)
        if not path.is_file():
            raise DataError(f"{path}: token list not found")
        return cls(path.read_text(encoding="utf-8").splitlines())

    def save(self, path: PathLike) -> None:
        with atomic_write(path) as f:
            f.write("".join(f"{t}\n" for t in self.tokens))

    def word_ids(self, word: str) -> list[int]:
        """Token ids of one word.

        Raises:
            UnknownTokenError: a character is not in the vocabulary.
        """
        missing = [c for c in word if c not in self.index]
        if missing:
            raise UnknownTokenError(word, sorted(set(missing)))
        return [self.index[c] for c in word]

    def encode(self, text: str) -> list[int]:
        """Ids of ``text``; words joined by ``<space>``, unknown characters as ``<unk>``."""
        ids: list[int] = []
        for n, word in enumerate(text.split()):
            if n:
                ids.append(self.space_id)
            ids.extend(self.index.get(c, self.unk_id) for c in word)
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """Text of a label sequence (blanks dropped, ``<space>`` as a space)."""
        out = []
        for i in ids:
            if i == 0:
                continue
            out.append(" " if i == self.space_id else self.tokens[i])
        return " ".join("".join(out).split())


def ctc_collapse(frame_ids: Iterable[int], blank: int = 0) -> list[int]:
    """Greedy CTC output: merge repeated frame labels, then drop blanks."""
    out: list[int] = []
    prev = None
    for i in frame_ids:
        i = int(i)
        if i != prev and i != blank:
            out.append(i)
        prev = i
    return out


class BPETokenList:
    """A SentencePiece BPE vocabulary for CTC: ``<blank>`` (0), then the model's pieces (``<unk>`` is 1).

    Words are told apart by SentencePiece's word-start marker ``▁``: the first piece of every
    word starts with it, so a word's ids are those of the word alone, and the model has no
    separator token (``space_id`` is None). Example::

        tok = BPETokenList.train(["le chat noir", "the cat"] * 20, vocab_size=30)
        tok.encode("le chat")             # ids; 0 (the blank) never appears
        tok.word_ids("chat")              # the ids of '▁chat' (or '▁ch', 'at', ...)
        tok.save("exp/ctc")               # exp/ctc/bpe.model + exp/ctc/tokens.txt
        BPETokenList.load("exp/ctc")

    Args:
        model_proto: the serialised SentencePiece model (``bpe.model``'s bytes).
        where: what to name in errors (the file it came from).
    """

    MODEL_FILE = "bpe.model"

    def __init__(self, model_proto: bytes, where: str = "bpe model") -> None:
        import sentencepiece as spm

        self.model_proto = bytes(model_proto)
        self.sp = spm.SentencePieceProcessor(model_proto=self.model_proto)
        if self.sp.unk_id() != 0 or self.sp.bos_id() >= 0 or self.sp.eos_id() >= 0:
            raise DataError(f"{where}: a CTC BPE model must have <unk> at id 0 and no <s>, </s> "
                            "(train it with BPETokenList.train)")
        self.tokens = [BLANK] + [self.sp.id_to_piece(i) for i in range(self.sp.get_piece_size())]
        self.index = {t: i for i, t in enumerate(self.tokens)}
        self.unk_id = 1
        self.space_id: int | None = None

    def __len__(self) -> int:
        return len(self.tokens)

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int) -> BPETokenList:
        """Train a BPE model on ``texts`` (every character kept); deterministic for the same texts.

        Raises:
            ConfigError: ``vocab_size`` is more than the texts can give.
        """
        import io

        import sentencepiece as spm

        from s2s_plugin.errors import ConfigError

        texts = [" ".join(t.split()) for t in texts if t.strip()]
        if not texts:
            raise DataError("no transcripts to train the BPE model on")
        buf = io.BytesIO()
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(texts), model_writer=buf, vocab_size=int(vocab_size), model_type="bpe",
                character_coverage=1.0, unk_id=0, bos_id=-1, eos_id=-1, pad_id=-1, num_threads=1,
                shuffle_input_sentence=False, input_sentence_size=0, minloglevel=2)
        except RuntimeError as e:
            raise ConfigError(f"ctc config: bpe_size {vocab_size} cannot be trained on these transcripts "
                              f"({' '.join(str(e).split())}); lower bpe_size") from None
        return cls(buf.getvalue())

    @classmethod
    def load(cls, exp_dir: PathLike) -> BPETokenList:
        path = Path(exp_dir) / cls.MODEL_FILE
        if not path.is_file():
            raise DataError(f"{path}: BPE model not found (token_type bpe); retrain with `s2s ctc train`")
        return cls(path.read_bytes(), str(path))

    def save(self, exp_dir: PathLike) -> None:
        """Write ``bpe.model`` and ``tokens.txt`` (the pieces in id order, for reading) into ``exp_dir``."""
        with atomic_write(Path(exp_dir) / self.MODEL_FILE, "wb") as f:
            f.write(self.model_proto)
        with atomic_write(Path(exp_dir) / "tokens.txt") as f:
            f.write("".join(f"{t}\n" for t in self.tokens))

    def word_ids(self, word: str) -> list[int]:
        """Token ids of one word (its first piece carries ``▁``).

        Raises:
            UnknownTokenError: a character the model never saw.
        """
        missing = sorted({c for c in word if 0 in self.sp.encode(c)})
        ids = [i + 1 for i in self.sp.encode(word)]
        if missing or self.unk_id in ids:
            raise UnknownTokenError(word, missing or [word])
        return ids

    def encode(self, text: str) -> list[int]:
        """Ids of ``text`` (unknown characters as ``<unk>``)."""
        return [i + 1 for i in self.sp.encode(" ".join(text.split()))]

    def decode(self, ids: Iterable[int]) -> str:
        """Text of a label sequence (blanks dropped; ``▁`` starts a word)."""
        return " ".join(self.sp.decode([int(i) - 1 for i in ids if int(i) > 0]).split())


def load_token_list(exp_dir: PathLike, token_type: str = "char") -> CharTokenList | BPETokenList:
    """The token list of a model trained here: ``tokens.txt`` (char) or ``bpe.model`` (bpe)."""
    if token_type == "bpe":
        return BPETokenList.load(exp_dir)
    return CharTokenList.load(Path(exp_dir) / "tokens.txt")
