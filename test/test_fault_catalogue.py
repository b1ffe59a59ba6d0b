"""The fault catalogue (docs/fault_catalogue.md): every broken input gets exit status 2 and a plain message.

Each row of the table names a builder below, which makes a small data dir,
audio, config or exp dir under ``tmp_path`` and breaks one thing in it; the
row's ``s2s`` command then runs in-process through ``s2s_plugin.bin.main``.
The test checks the exit status, that no traceback was printed, that the
message holds every fragment of the row (file, line or utterance, cause), and
that nothing the row lists as "not written" exists afterwards.
"""
from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from s2s_plugin.bin.main import main

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = ROOT / "docs" / "fault_catalogue.md"
TINY_CONF = ROOT / "egs" / "mini_s2st" / "s2st1" / "conf" / "train_tiny.yaml"
FS = 16000
UTTS = ("u1", "u2", "u3")
TEXT = {"fr": ("le chat dort", "la maison blanche", "deux chiens"),
        "en": ("the cat sleeps", "the white house", "two dogs")}


@dataclass
class Row:
    """One case of the catalogue."""

    id: str
    builder: str
    command: str
    fragments: list[str]
    absent: list[str]


def read_catalogue(path: Path = CATALOGUE) -> list[Row]:
    """The rows of the catalogue's table (``| id | what | builder | command | message names | not written |``)."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if len(cells) != 6 or cells[0] in ("id", "") or set(cells[0]) <= set("-"):
            continue
        ticks = [re.findall(r"`([^`]+)`", c) for c in cells[3:]]
        rows.append(Row(cells[0], cells[2], ticks[0][0], ticks[1], ticks[2]))
    return rows


ROWS = read_catalogue()


# -- builders: each returns the placeholders of the row's command -----------------------------------------
BUILDERS: dict[str, Callable[[Path], dict[str, Path]]] = {}


def builder(fn: Callable[[Path], dict[str, Path]]) -> Callable[[Path], dict[str, Path]]:
    """Register a builder under its function name (the catalogue's "builder" column)."""
    BUILDERS[fn.__name__] = fn
    return fn


def _tone(seconds: float = 0.3, amp: float = 0.3, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * FS)) / FS
    return (amp * np.sin(2 * np.pi * (200 + 40 * seed) * t)).astype(np.float32)


def _wav(d: Path, lang: str, utt: str) -> Path:
    return d / "wav" / f"{lang}_{utt}.wav"


def _lines(path: Path, lines: list[str]) -> None:
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


@builder
def base_data(tmp: Path) -> dict[str, Path]:
    """A valid fr -> en data dir of three utterances with 0.3 s 16 kHz PCM WAVs."""
    d = tmp / "data"
    (d / "wav").mkdir(parents=True)
    for lang in ("fr", "en"):
        for i, utt in enumerate(UTTS):
            sf.write(_wav(d, lang, utt), _tone(seed=i), FS, subtype="PCM_16")
        _lines(d / f"wav.scp.{lang}", [f"{u} {_wav(d, lang, u)}" for u in UTTS])
        _lines(d / f"text.{lang}", [f"{u} {t}" for u, t in zip(UTTS, TEXT[lang])])
    _lines(d / "utt2spk", [f"{u} spk1" for u in UTTS])
    return {"data": d, "out": tmp / "dump", "exp": tmp / "exp"}


@builder
def no_data(tmp: Path) -> dict[str, Path]:
    return {"data": tmp / "no_such_dir"}


def _edit(path: Path, fn: Callable[[str], str]) -> None:
    path.write_text(fn(path.read_text(encoding="utf-8")), encoding="utf-8")


@builder
def bom_text(tmp: Path) -> dict[str, Path]:
    ph = base_data(tmp)
    _edit(ph["data"] / "text.fr", lambda s: "\ufeff" + s)
    return ph


@builder
def bom_wavscp(tmp: Path) -> dict[str, Path]:
    ph = base_data(tmp)
    _edit(ph["data"] / "wav.scp.en", lambda s: "\ufeff" + s)
    return ph


@builder
def tab_utt2spk(tmp: Path) -> dict[str, Path]:
    ph = base_data(tmp)
    _edit(ph["data"] / "utt2spk", lambda s: s.replace(" ", "\t"))
    return ph


@builder
def tab_text(tmp: Path) -> dict[str, Path]:
    ph = base_data(tmp)
    _edit(ph["data"] / "text.en", lambda s: "\n".join(line.replace(" ", "\t", 1) for line in s.split("\n")))
    return ph


@builder
def tab_segments(tmp: Path) -> dict[str, Path]:
    ph = base_data(tmp)
    _lines(ph["data"] / "segments", [f"{u}\t{u} 0.0 0.2" for u in UTTS])
    return ph


@builder
def id_with_space(tmp: Path) -> dict[str, Path]:
    """Utterance ``u2`` is called ``u2 x`` in every file, as a space in an id leaves it."""
    ph = base_data(tmp)
    for name in ("text.fr", "text.en", "wav.scp.fr", "wav.scp.en", "utt2spk"):
        _edit(ph["data"] / name, lambda s: s.replace("u2 ", "u2 x "))
    return ph


@builder
def id_with_space_wavscp(tmp: Path) -> dict[str, Path]:
    ph = base_data(tmp)
    _edit(ph["data"] / "wav.scp.fr", lambda s: s.replace("u2 ", "u2 x "))
    return ph


@builder
def dup_id_text(tmp: Path) -> dict[str, Path]:
    ph = base_data(tmp)
    _edit(ph["data"] / "text.fr", lambda s: s.replace("u3 ", "u2 "))
    return ph


@builder
def dup_id_wavscp(tmp: Path) -> dict[str, Path]:
    ph = base_data(tmp)
    _edit(ph["data"] / "wav.scp.fr", lambda s: s.replace("u3 ", "u2 "))
    return ph


@builder
def latin1_text(tmp: Path) -> dict[str, Path]:
    ph = base_data(tmp)
    text = ph["data"] / "text.fr"
    lines = text.read_bytes().split(b"\n")
    lines[1] = "u2 la maison été".encode("latin-1")
    text.write_bytes(b"\n".join(lines))
    return ph


@builder
def reversed_segment(tmp: Path) -> dict[str, Path]:
    ph = base_data(tmp)
    _lines(ph["data"] / "segments", ["u1 u1 0.0 0.2", "u2 u2 0.25 0.1", "u3 u3 0.0 0.2"])
    return ph


@builder
def no_utt2spk(tmp: Path) -> dict[str, Path]:
    ph = base_data(tmp)
    (ph["data"] / "utt2spk").unlink()
    return ph


@builder
def truncated_wav(tmp: Path) -> dict[str, Path]:
    ph = base_data(tmp)
    wav = _wav(ph["data"], "fr", "u2")
    raw = wav.read_bytes()
    wav.write_bytes(raw[:len(raw) - (len(raw) - 44) // 2])  # a PCM WAV header is 44 bytes; half the samples go
    return ph


@builder
def zero_frame_wav(tmp: Path) -> dict[str, Path]:
    ph = base_data(tmp)
    sf.write(_wav(ph["data"], "en", "u1"), np.zeros(0, dtype=np.float32), FS, subtype="PCM_16")
    return ph


@builder
def not_audio(tmp: Path) -> dict[str, Path]:
    ph = base_data(tmp)
    _wav(ph["data"], "fr", "u3").write_text("this is not audio\n")
    return ph


def _float_wav(ph: dict[str, Path], lang: str, utt: str, fn: Callable[[np.ndarray], None]) -> None:
    x = _tone()
    fn(x)
    sf.write(_wav(ph["data"], lang, utt), x, FS, subtype="FLOAT")


@builder
def nan_samples(tmp: Path) -> dict[str, Path]:
    ph = base_data(tmp)
    _float_wav(ph, "fr", "u1", lambda x: x.__setitem__(slice(100, 110), np.nan))
    return ph


@builder
def inf_samples(tmp: Path) -> dict[str, Path]:
    ph = base_data(tmp)
    _float_wav(ph, "en", "u3", lambda x: x.__setitem__(2000, np.inf))
    return ph


@builder
def overrange_float(tmp: Path) -> dict[str, Path]:
    ph = base_data(tmp)
    _float_wav(ph, "fr", "u2", lambda x: x.__imul__(6.0))  # peak 0.3 * 6 = 1.8
    return ph


def _format_conf(tmp: Path, text: bytes) -> dict[str, Path]:
    ph = base_data(tmp)
    ph["conf"] = tmp / "format.yaml"
    ph["conf"].write_bytes(text)
    return ph


@builder
def format_conf_latin1(tmp: Path) -> dict[str, Path]:
    return _format_conf(tmp, "fs: 16000\n# fréquence\n".encode("latin-1"))


@builder
def format_conf_unknown_key(tmp: Path) -> dict[str, Path]:
    return _format_conf(tmp, b"fs: 16000\nmax_duraton: 3\n")


@builder
def format_conf_wrong_type(tmp: Path) -> dict[str, Path]:
    return _format_conf(tmp, b"fs: fast\n")


@builder
def format_conf_duplicate_key(tmp: Path) -> dict[str, Path]:
    return _format_conf(tmp, b"fs: 16000\nfs: 8000\n")


@builder
def format_conf_bad_range(tmp: Path) -> dict[str, Path]:
    return _format_conf(tmp, b"min_duration: 5.0\nmax_duration: 1.0\n")


@builder
def train_conf(tmp: Path, edit: Callable[[str], str] = str) -> dict[str, Path]:
    """The recipe's tiny training config (edited), with a real vocabulary and tiny dump dirs."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("train_testutils", ROOT / "test" / "train" / "train_testutils.py")
    utils = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(utils)
    make_dump = utils.make_dump  # stage 2-5 output of a few utterances, as the training tests use
    train, dev = make_dump(tmp / "dump" / "train_fr", 6, seed=1), make_dump(tmp / "dump" / "dev_fr", 2, seed=2)
    text = TINY_CONF.read_text(encoding="utf-8")
    # the paths s2st.sh passes (the recipe's config leaves them out), written into this standalone config
    assert text.count("\ndata:\n") == 1 and "\nvocab:" not in text, TINY_CONF
    text = f"vocab: {_vocab(tmp)}\n" + text.replace("\ndata:\n", f"\ndata:\n  train: [{train}]\n  valid: [{dev}]\n")
    conf = tmp / "train.yaml"
    conf.write_text(edit(text), encoding="utf-8")
    return {"conf": conf, "exp": tmp / "exp", "data": train, "out": tmp / "decode"}


def _vocab(tmp: Path) -> Path:
    import sentencepiece as spm

    from s2s_plugin.llm.vocab import build_vocabulary

    (tmp / "vocab").mkdir()
    (tmp / "vocab" / "corpus.txt").write_text(("\n".join(TEXT["fr"] + TEXT["en"]) + "\n") * 5)
    spm.SentencePieceTrainer.train(input=str(tmp / "vocab" / "corpus.txt"), model_prefix=str(tmp / "vocab" / "bpe"),
                                   vocab_size=30, model_type="bpe", character_coverage=1.0, bos_id=-1, eos_id=-1,
                                   num_threads=1, minloglevel=2, hard_vocab_limit=False)
    vocab = build_vocabulary({"kind": "sentencepiece", "path": str(tmp / "vocab" / "bpe.model")}, n_units=20,
                             langs=["fr", "en"])
    vocab.save(tmp / "vocab" / "vocab.yaml")
    return tmp / "vocab" / "vocab.yaml"


@builder
def train_conf_latin1(tmp: Path) -> dict[str, Path]:
    ph = train_conf(tmp)
    ph["conf"].write_bytes("# réglages\n".encode("latin-1") + ph["conf"].read_bytes())
    return ph


def _config_edit(old: str, new: str) -> Callable[[Path], dict[str, Path]]:
    def build(tmp: Path) -> dict[str, Path]:
        def edit(s: str) -> str:
            assert old in s, f"{old!r} is not in {TINY_CONF}"
            return s.replace(old, new)

        return train_conf(tmp, edit)

    return build


BUILDERS["train_conf_p_init"] = _config_edit("p_init: 0.9", "p_init: 1.5")
BUILDERS["train_conf_every"] = _config_edit("every: 2", "every: 67.5")
BUILDERS["train_conf_negative_lr"] = _config_edit("lr: 3.0e-3", "lr: -1.0e-3")
BUILDERS["train_conf_unknown_scheduler"] = _config_edit("name: step", "name: stepp")


@builder
def resumable_exp(tmp: Path) -> dict[str, Path]:
    """An exp dir as an interrupted ``s2s train`` leaves it: the resolved config and checkpoints.

    The checkpoints hold a little state in torch's format (the refusals tested here
    come before Lightning reads them).
    """
    import torch

    from s2s_plugin.config import load_config, save_resolved
    from s2s_plugin.train.schema import TrainConfig

    ph = train_conf(tmp)
    save_resolved(load_config(TrainConfig, ph["conf"]), ph["exp"])
    ckpts = ph["exp"] / "checkpoints"
    ckpts.mkdir()
    for name, step in (("best-step0000002.ckpt", 2), ("best-step0000004.ckpt", 4), ("last.ckpt", 6)):
        torch.save({"global_step": step, "state_dict": {"model.w": torch.full((64, 64), float(step))}}, ckpts / name)
    return ph


@builder
def truncated_last_ckpt(tmp: Path) -> dict[str, Path]:
    ph = resumable_exp(tmp)
    last = ph["exp"] / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[:last.stat().st_size // 2])
    return ph


@builder
def text_last_ckpt(tmp: Path) -> dict[str, Path]:
    ph = resumable_exp(tmp)
    for f in (ph["exp"] / "checkpoints").glob("best-*.ckpt"):
        f.unlink()
    (ph["exp"] / "checkpoints" / "last.ckpt").write_text("not a checkpoint\n")
    return ph


# -- the tests -------------------------------------------------------------------------------------------
def test_the_catalogue_is_large_and_every_row_has_a_builder():
    assert len(ROWS) >= 30
    assert len({r.id for r in ROWS}) == len(ROWS), "row ids must be unique"
    for r in ROWS:
        assert r.builder in BUILDERS, f"{r.id}: no builder named {r.builder!r} in {__file__}"
        assert r.fragments, f"{r.id}: name at least one message fragment"


def _substitute(text: str, ph: dict[str, Path]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: str(ph[m.group(1)]), text)


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_fault(row: Row, tmp_path, capsys, caplog, registry):
    ph = BUILDERS[row.builder](tmp_path)
    argv = shlex.split(_substitute(row.command, ph))
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's own errors
        code = e.code
    out, err = capsys.readouterr()
    printed = out + err + caplog.text
    assert code == 2, f"exit status {code}; output:\n{printed}"
    assert "Traceback" not in printed
    message = err
    for fragment in row.fragments:
        assert _substitute(fragment, ph) in message, f"{fragment!r} is not in the message:\n{message}"
    for path in row.absent:
        assert not Path(_substitute(path, ph)).exists(), f"{path} was written"
