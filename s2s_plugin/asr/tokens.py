"""Character token lists for CTC models: build from transcripts, save, encode, decode.

    tok = CharTokenList.build(["le chat noir", "the cat"])
    tok.tokens[:4]              # ['<blank>', '<unk>', '<space>', 'a']
    tok.encode("le chat")       # ids; spaces become <space>
    tok.decode(tok.encode("le chat"))   # 'le chat'
    tok.save("exp/ctc/tokens.txt"); CharTokenList.load("exp/ctc/tokens.txt")

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
