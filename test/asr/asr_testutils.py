"""Helpers of the CTC model tests: tiny speech made on the fly with espeak-ng, tiny data dirs, a tiny
network config."""
from __future__ import annotations

import functools
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

FS = 16000

#: A CTC network small enough to train in seconds.
TINY_NET = {
    "frontend_conf": {"n_mels": 40},
    "stack_frames": 2,
    "encoder": "conformer",
    "encoder_conf": {"output_size": 32, "attention_heads": 2, "linear_units": 64, "num_blocks": 2,
                     "input_layer": "linear", "cnn_module_kernel": 7, "rel_pos_type": "latest",
                     "pos_enc_layer_type": "rel_pos", "selfattention_layer_type": "rel_selfattn"},
}


@functools.lru_cache(maxsize=None)
def _espeak(text: str, voice: str) -> bytes:
    from scipy.signal import resample_poly

    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "x.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(out), text], check=True, capture_output=True)
        x, fs = sf.read(out, dtype="float32")
    assert fs == 22050
    return resample_poly(x, 320, 441).astype(np.float32).tobytes()


def espeak(text: str, voice: str = "fr") -> np.ndarray:
    """``text`` spoken by espeak-ng, at 16 kHz."""
    return np.frombuffer(_espeak(text, voice), dtype=np.float32).copy()


def write_set(root: Path, utts: dict[str, tuple[str, str]], src: str = "fr", tgt: str = "en",
              pad_to: int | None = None) -> Path:
    """A data dir whose source and target audio is espeak speaking the texts ``{utt: (src, tgt)}``
    (with trailing silence up to ``pad_to`` samples, if given)."""
    (root / "wav").mkdir(parents=True, exist_ok=True)
    lines: dict[str, dict[str, list[str]]] = {f: {src: [], tgt: []} for f in ("wav.scp", "text")}
    for utt, texts in sorted(utts.items()):
        for lang, text in zip((src, tgt), texts):
            path = root / "wav" / f"{utt}.{lang}.wav"
            wave = espeak(text, lang)
            if pad_to is not None:
                assert len(wave) <= pad_to, (text, len(wave))
                wave = np.pad(wave, (0, pad_to - len(wave)))
            sf.write(path, wave, FS)
            lines["wav.scp"][lang].append(f"{utt} {path}\n")
            lines["text"][lang].append(f"{utt} {text}\n")
    for name, per_lang in lines.items():
        for lang, rows in per_lang.items():
            (root / f"{name}.{lang}").write_text("".join(rows), encoding="utf-8")
    (root / "utt2spk").write_text("".join(f"{u} {u.split('_')[0]}\n" for u in sorted(utts)))
    return root


#: A network without batch statistics or dropout: its gradient on a batch is the mean of its
#: gradients on the batch's parts, which DDP's equality to one process needs.
TINY_TRANSFORMER = {
    "frontend_conf": {"n_mels": 40},
    "stack_frames": 2,
    "encoder": "transformer",
    "encoder_conf": {"output_size": 32, "attention_heads": 2, "linear_units": 64, "num_blocks": 2,
                     "input_layer": "linear", "dropout_rate": 0.0, "positional_dropout_rate": 0.0,
                     "attention_dropout_rate": 0.0},
}

TRAIN_UTTS = {
    "s1_a": ("la lune", "the moon"),
    "s1_b": ("le lit", "the bed"),
    "s1_c": ("la lune le lit", "the moon the bed"),
    "s2_d": ("le loup", "a wolf"),
    "s2_e": ("la lune le loup", "the moon a wolf"),
    "s2_f": ("le lit le loup", "the bed a wolf"),
}
