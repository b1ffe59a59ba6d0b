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


#: The tiny ESPnet hybrid CTC/attention ASR model of :func:`tiny_espnet_asr` (its config blocks).
ESPNET_FRONTEND = {"n_fft": 256, "hop_length": 160, "n_mels": 20}
ESPNET_ENCODER = {"output_size": 16, "attention_heads": 2, "linear_units": 32, "num_blocks": 2,
                  "input_layer": "conv2d"}
ESPNET_DECODER = {"attention_heads": 2, "linear_units": 32, "num_blocks": 1}


def tiny_espnet_asr(tokens: list[str], stats: Path):
    """A randomly initialised (seed 0) ESPnet ASR model with transformer encoder and decoder, a CTC
    weight of 0.3 and global MVN statistics written to ``stats`` (a ``feats_stats.npz``), as
    ``espnet2.bin.asr_train`` would build it from a config with the blocks above."""
    import torch
    from espnet2.asr.ctc import CTC
    from espnet2.asr.decoder.transformer_decoder import TransformerDecoder
    from espnet2.asr.encoder.transformer_encoder import TransformerEncoder
    from espnet2.asr.espnet_model import ESPnetASRModel
    from espnet2.asr.frontend.default import DefaultFrontend
    from espnet2.layers.global_mvn import GlobalMVN

    rng = np.random.default_rng(0)
    np.savez(stats, count=np.array(100.0), sum=rng.normal(size=20) * 100, sum_square=np.full(20, 300.0))
    torch.manual_seed(0)
    return ESPnetASRModel(
        vocab_size=len(tokens), token_list=tokens, frontend=DefaultFrontend(fs=FS, **ESPNET_FRONTEND),
        specaug=None, normalize=GlobalMVN(stats), preencoder=None,
        encoder=TransformerEncoder(input_size=20, **ESPNET_ENCODER), postencoder=None,
        decoder=TransformerDecoder(vocab_size=len(tokens), encoder_output_size=16, **ESPNET_DECODER),
        ctc=CTC(odim=len(tokens), encoder_output_size=16), joint_network=None, ctc_weight=0.3)
