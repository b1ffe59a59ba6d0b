"""The network of the in-recipe CTC model, built from espnet2 components.

    net = CTCNet(vocab_size=40, encoder="conformer",
                 encoder_conf={"output_size": 144, "num_blocks": 4, "input_layer": "conv2d2"})
    loss = net(speech, speech_lengths, ys, ys_lengths)          # CTC loss, mean over the batch
    logp, lens = net.log_probs(speech, speech_lengths)           # (B, T, V) log posteriors
    hs, lens = net.layer_output(speech, speech_lengths, layer=2)  # after encoder block 2

Waveform -> ``espnet2.asr.frontend.default.DefaultFrontend`` (log-mel fbank)
-> utterance mean/variance normalisation -> optional SpecAugment (training only)
-> optional stacking of ``stack_frames`` consecutive frames into one (as w2v-BERT's
feature extractor does; far cheaper on CPU than a convolutional subsampling)
-> an espnet2 encoder (Conformer, Transformer or E-Branchformer) -> ``espnet2.asr.ctc.CTC``.
The output frame rate is ``sample_rate / (hop_length * stack_frames * subsampling)``,
where the encoder's ``input_layer`` sets the subsampling (linear: 1, conv2d2: 2,
conv2d: 4, conv2d6: 6, conv2d8: 8).
"""
from __future__ import annotations

import numpy as np
import torch

from s2s_plugin.errors import ConfigError

#: Defaults of the frontend: 25 ms windows every 10 ms, 80 mel bands.
FRONTEND_DEFAULTS = {"n_fft": 512, "win_length": 400, "hop_length": 160, "n_mels": 80}

#: ``input_layer`` -> time subsampling of the encoder's input layer.
SUBSAMPLING = {"linear": 1, None: 1, "conv2d2": 2, "conv2d": 4, "conv2d6": 6, "conv2d8": 8}

ENCODERS = ("conformer", "transformer", "e_branchformer")


def _encoder_class(name: str):
    if name == "conformer":
        from espnet2.asr.encoder.conformer_encoder import ConformerEncoder

        return ConformerEncoder
    if name == "transformer":
        from espnet2.asr.encoder.transformer_encoder import TransformerEncoder

        return TransformerEncoder
    if name == "e_branchformer":
        from espnet2.asr.encoder.e_branchformer_encoder import EBranchformerEncoder

        return EBranchformerEncoder
    raise ConfigError(f"unknown encoder '{name}'; choose one of {', '.join(ENCODERS)}")


def subsampled_length(frames: np.ndarray | int, input_layer: str | None) -> np.ndarray | int:
    """Encoder output frames for ``frames`` input frames (ESPnet's conv subsampling arithmetic)."""
    f = frames
    if input_layer in ("linear", None):
        return f
    if input_layer == "conv2d2":
        return (f - 1) // 2 - 2
    if input_layer == "conv2d":
        return ((f - 1) // 2 - 1) // 2
    if input_layer == "conv2d6":
        return ((f - 1) // 2 - 2) // 3
    if input_layer == "conv2d8":
        return (((f - 1) // 2 - 1) // 2 - 1) // 2
    raise ConfigError(f"encoder input_layer '{input_layer}' is not supported; "
                      f"choose one of {', '.join(str(k) for k in SUBSAMPLING)}")


class CTCOutput:
    """What a CTC network with ``encode(speech, lengths) -> (hs, hlens)`` and a ``ctc`` layer
    (``log_softmax``, and a call giving the loss) gets from it: posteriors and the training loss."""

    def log_probs(self, speech: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """CTC log posteriors ``(B, T, V)`` and their lengths."""
        hs, hlens = self.encode(speech, lengths)  # type: ignore[attr-defined]
        return self.ctc.log_softmax(hs), hlens  # type: ignore[attr-defined]

    def forward(self, speech: torch.Tensor, lengths: torch.Tensor, ys: torch.Tensor,
                ys_lengths: torch.Tensor) -> torch.Tensor:
        """The CTC loss of a batch (summed over each utterance, averaged over the batch)."""
        hs, hlens = self.encode(speech, lengths)  # type: ignore[attr-defined]
        return self.ctc(hs, hlens, ys, ys_lengths)  # type: ignore[attr-defined]


class CTCNet(CTCOutput, torch.nn.Module):
    """Fbank frontend + espnet2 encoder + CTC output layer.

    Args:
        vocab_size: output tokens, blank (id 0) included.
        sample_rate: the rate of the input audio.
        frontend_conf: keyword arguments of ``DefaultFrontend`` (defaults: :data:`FRONTEND_DEFAULTS`).
        normalize: ``utterance_mvn`` or ``none``.
        stack_frames: stack this many consecutive feature frames into one (1: off).
        specaug_conf: keyword arguments of ``espnet2.asr.specaug.specaug.SpecAug``; None: off.
        encoder: ``conformer``, ``transformer`` or ``e_branchformer``.
        encoder_conf: keyword arguments of the encoder (``input_size`` is set here).
        ctc_conf: keyword arguments of ``espnet2.asr.ctc.CTC`` (e.g. ``dropout_rate``).
    """

    def __init__(self, vocab_size: int, sample_rate: int = 16000, frontend_conf: dict | None = None,
                 normalize: str = "utterance_mvn", stack_frames: int = 1, specaug_conf: dict | None = None,
                 encoder: str = "conformer", encoder_conf: dict | None = None,
                 ctc_conf: dict | None = None) -> None:
        super().__init__()
        from espnet2.asr.ctc import CTC
        from espnet2.asr.frontend.default import DefaultFrontend

        fconf = {**FRONTEND_DEFAULTS, **(frontend_conf or {})}
        self.hop_length = int(fconf["hop_length"])
        self.sample_rate = int(sample_rate)
        self.frontend = DefaultFrontend(fs=sample_rate, frontend_conf=None, **fconf)
        if normalize == "utterance_mvn":
            from espnet2.layers.utterance_mvn import UtteranceMVN

            self.normalize = UtteranceMVN()
        elif normalize in ("none", None):
            self.normalize = None
        else:
            raise ConfigError(f"normalize must be 'utterance_mvn' or 'none', got {normalize!r}")
        if not isinstance(stack_frames, int) or stack_frames < 1:
            raise ConfigError(f"stack_frames must be an integer >= 1, got {stack_frames!r}")
        self.stack_frames = stack_frames
        self.specaug = None
        if specaug_conf:
            from espnet2.asr.specaug.specaug import SpecAug

            self.specaug = SpecAug(**specaug_conf)
        econf = dict(encoder_conf or {})
        self.input_layer = econf.get("input_layer", "conv2d")
        if self.input_layer not in SUBSAMPLING:
            subsampled_length(1, self.input_layer)  # raises the ConfigError
        input_size = self.frontend.output_size() * stack_frames
        self.encoder = _encoder_class(encoder)(input_size=input_size, **econf)
        self.num_layers = len(self.encoder.encoders)
        self.ctc = CTC(odim=vocab_size, encoder_output_size=self.encoder.output_size(), **(ctc_conf or {}))

    @property
    def frame_rate(self) -> float:
        """Encoder output frames per second."""
        return self.sample_rate / (self.hop_length * self.stack_frames * SUBSAMPLING[self.input_layer])

    def output_lengths(self, num_samples: np.ndarray | int) -> np.ndarray | int:
        """Encoder output frames for inputs of ``num_samples`` samples (center=True STFT)."""
        frames = np.asarray(num_samples) // self.hop_length + 1
        return subsampled_length(-(-frames // self.stack_frames), self.input_layer)

    def features(self, speech: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised log-mel features (SpecAugment applied in training mode)."""
        feats, flens = self.frontend(speech, lengths)
        if self.specaug is not None and self.training:
            feats, flens = self.specaug(feats, flens)
        if self.normalize is not None:
            feats, flens = self.normalize(feats, flens)
        k = self.stack_frames
        if k > 1:
            b, t, f = feats.shape
            pad = -t % k
            if pad:
                feats = torch.nn.functional.pad(feats, (0, 0, 0, pad))
            feats = feats.reshape(b, (t + pad) // k, f * k)
            flens = torch.div(flens + k - 1, k, rounding_mode="floor")
        return feats, flens

    def encode(self, speech: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoder output ``(B, T, D)`` and its lengths."""
        feats, flens = self.features(speech, lengths)
        hs, hlens, _ = self.encoder(feats, flens)
        return hs, hlens

    def layer_output(self, speech: torch.Tensor, lengths: torch.Tensor,
                     layer: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Hidden output after encoder block ``layer`` (1-based), before the final norm."""
        if not 1 <= layer <= self.num_layers:
            raise ValueError(f"layer must be in 1..{self.num_layers}, got {layer}")
        feats, flens = self.features(speech, lengths)
        (_, hiddens), hlens, _ = self.encoder(feats, flens, return_all_hs=True)
        return hiddens[layer - 1], hlens

