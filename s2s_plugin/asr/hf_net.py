"""A transformers SSL encoder (w2v-BERT 2.0, wav2vec 2.0, HuBERT, WavLM) with a CTC head on our tokens (stage 3).

    # conf/ctc_w2vbert.yaml: fine-tune a local w2v-BERT 2.0 with a 5000-piece BPE CTC head
    encoder: hf
    hf_model: downloads/w2v-bert-2.0        # what save_pretrained wrote; nothing is ever downloaded
    token_type: bpe
    bpe_size: 5000
    freeze_feature_encoder: true
    hf_conf: {mask_time_prob: 0.05, layerdrop: 0.0}

    s2s ctc train --config conf/ctc_w2vbert.yaml --exp exp/ctc --train_dirs ... --valid_dirs ...

:func:`build_hf_net` loads the encoder from ``hf_model`` (a local ``save_pretrained``
directory of a pretrained model or of a ``*ForCTC`` model) or builds a randomly
initialised one from ``hf_config`` (``{model_type: ..., <config keys>}``: the embedded
recipe and tests, which may download nothing; ``hf_init: torch``, the default, gives its
linear and convolution layers PyTorch's initialisation, :func:`torch_default_init`). The
``*ForCTC`` class follows the ``model_type`` of its ``config.json``: ``wav2vec2-bert``,
``wav2vec2``, ``hubert`` or ``wavlm``. Its output layer is made anew for our vocabulary: ``vocab_size`` is the
token list's length and the CTC blank is token 0 (the ``pad_token_id`` of
transformers' CTC models). ``hf_conf`` overrides keys of the model's config:
SpecAugment (``mask_time_prob``, ``mask_time_length``, ``mask_feature_prob``, ...),
dropouts, ``layerdrop``.

:class:`HFCTCNet` gives the model the interface of
:class:`~s2s_plugin.asr.model.CTCNet` that the CTC trainer uses (waveforms in, encoder
output, CTC loss summed per utterance and averaged over the batch, output lengths);
the waveforms become model inputs with the model's own feature extractor
(w2v-BERT: 80 log-mel bands, two frames stacked; wav2vec 2.0 family: normalised
samples). :func:`export_hf_model` writes what
:class:`~s2s_plugin.asr.imported.HFCTCModel` reads: the model, its feature
extractor and a transformers tokenizer with the training ids (a BPE token list as a
``tokenizers`` BPE that splits words as the SentencePiece model does, ``▁`` marking
word starts; characters as a ``Wav2Vec2CTCTokenizer`` with ``|`` between words).
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from s2s_plugin.data.io import PathLike
from s2s_plugin.asr.model import CTCOutput
from s2s_plugin.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

#: ``model_type`` of config.json -> the transformers CTC class
HF_CTC_CLASSES = {"wav2vec2-bert": "Wav2Vec2BertForCTC", "wav2vec2": "Wav2Vec2ForCTC", "hubert": "HubertForCTC",
                  "wavlm": "WavLMForCTC"}
#: w2v-BERT's feature extractor: 25 ms windows every 10 ms at 16 kHz (SeamlessM4TFeatureExtractor)
_FBANK_WIN, _FBANK_HOP = 400, 160
#: the exported save_pretrained directory inside a CTC exp dir (``encoder: hf``; instead of model.pth)
HF_MODEL_DIR = "model"
#: the CTC tokenizer's names of the blank and the word separator (our <blank> and <space>)
PAD, DELIMITER = "<pad>", "|"


def _missing_model_message(path: Path) -> str:
    return (f"ctc config: hf_model {path}: no transformers model there (no config.json). Put there what "
            f"save_pretrained wrote for the encoder (e.g. on a machine with network: `huggingface-cli download "
            f"facebook/w2v-bert-2.0 --local-dir {path}`, then copy it here), or build a randomly initialised "
            f"encoder with hf_config: {{model_type: wav2vec2-bert, ...}} instead of hf_model; nothing is downloaded "
            f"at run time")


def model_type_of(model_dir: PathLike) -> str:
    """The ``model_type`` in ``model_dir/config.json``, one of :data:`HF_CTC_CLASSES`.

    Raises:
        ConfigError: no config.json, or a model type without a CTC class here.
    """
    path = Path(model_dir) / "config.json"
    if not path.is_file():
        raise ConfigError(_missing_model_message(Path(model_dir)))
    kind = json.loads(path.read_text(encoding="utf-8")).get("model_type")
    if kind not in HF_CTC_CLASSES:
        raise ConfigError(f"{path}: model_type {kind!r} has no CTC model here; known: {', '.join(HF_CTC_CLASSES)}")
    return kind


def _apply_overrides(config: Any, overrides: dict, where: str) -> None:
    unknown = sorted(k for k in overrides if not hasattr(config, k))
    if unknown:
        raise ConfigError(f"ctc config: {where} has keys the {config.model_type} config does not know: "
                          f"{', '.join(unknown)}")
    for k, v in overrides.items():
        setattr(config, k, v)


def default_feature_extractor(model_type: str, config: Any, sample_rate: int) -> Any:
    """The feature extractor of a randomly initialised model (``hf_config``): what the released models use."""
    if model_type == "wav2vec2-bert":
        from transformers import SeamlessM4TFeatureExtractor

        return SeamlessM4TFeatureExtractor(sampling_rate=sample_rate)
    from transformers import Wav2Vec2FeatureExtractor

    return Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=sample_rate, padding_value=0.0, do_normalize=True,
                                    return_attention_mask=config.feat_extract_norm == "layer")


def build_hf_net(cfg: Any, vocab_size: int) -> HFCTCNet:
    """The encoder of ``cfg`` (``hf_model`` or ``hf_config``) with a new CTC head of ``vocab_size`` tokens.

    Args:
        cfg: the :class:`~s2s_plugin.asr.train.CTCTrainConfig` (``encoder: hf``).
        vocab_size: the token list's length (blank at 0).

    Raises:
        ConfigError: a missing model dir, an unknown model type or config key, a model with an adapter.
    """
    import transformers

    ctc_keys = {"vocab_size": int(vocab_size), "pad_token_id": 0, "ctc_zero_infinity": True}
    if cfg.hf_model:
        src = Path(cfg.hf_model)
        kind = model_type_of(src)
        config = transformers.AutoConfig.from_pretrained(str(src), local_files_only=True)
        _apply_overrides(config, {**cfg.hf_conf, **ctc_keys}, "hf_conf")
        try:
            feature_extractor = transformers.AutoFeatureExtractor.from_pretrained(str(src), local_files_only=True)
        except (OSError, ValueError) as e:
            raise ConfigError(f"ctc config: hf_model {src}: no feature extractor settings (preprocessor_config.json)"
                              f"; copy the model's preprocessor_config.json there ({' '.join(str(e).split())[:200]})"
                              ) from None
        cls = getattr(transformers, HF_CTC_CLASSES[kind])
        try:
            model = cls.from_pretrained(str(src), config=config, local_files_only=True, ignore_mismatched_sizes=True)
        except OSError as e:
            raise ConfigError(f"ctc config: hf_model {src}: cannot load its weights ({' '.join(str(e).split())[:300]})"
                              f"; put the model's *.safetensors there") from None
        where = str(src)
    else:
        kwargs = dict(cfg.hf_config)
        kind = kwargs.pop("model_type", None)
        if kind not in HF_CTC_CLASSES:
            raise ConfigError(f"ctc config: hf_config needs model_type, one of {', '.join(HF_CTC_CLASSES)}; "
                              f"got {kind!r}")
        _apply_overrides(transformers.AutoConfig.for_model(kind), kwargs, "hf_config")  # only checks the keys
        config = transformers.AutoConfig.for_model(kind, **kwargs)  # derived settings follow the keys
        _apply_overrides(config, {**cfg.hf_conf, **ctc_keys}, "hf_conf")
        model = getattr(transformers, HF_CTC_CLASSES[kind])(config)
        if cfg.hf_init == "torch":
            torch_default_init(model)
        feature_extractor = default_feature_extractor(kind, config, cfg.sample_rate)
        where = "hf_config"
    if getattr(model.config, "add_adapter", False):
        raise ConfigError(f"ctc config: {where}: add_adapter subsamples after the encoder, so its layers would be at "
                          "another rate than the CTC output (stage 4 reads layer features); set hf_conf.add_adapter: "
                          "false")
    rate = int(feature_extractor.sampling_rate)
    if rate != cfg.sample_rate:
        raise ConfigError(f"ctc config: sample_rate is {cfg.sample_rate} but the {where} feature extractor expects "
                          f"{rate} Hz; set sample_rate: {rate}")
    net = HFCTCNet(model, feature_extractor, kind)
    freeze(net, cfg.freeze_feature_encoder, cfg.freeze_layers)
    return net


def torch_default_init(model: torch.nn.Module) -> int:
    """Draw every linear and 1-d convolution layer of ``model`` anew as PyTorch initialises it.

    transformers initialises these models for loading pretrained weights into them: linear
    layers from N(0, 0.02) with zero biases, convolutions Kaiming-normal. Trained from
    scratch at the mini recipe's size, a w2v-BERT so initialised stayed on the CTC blank
    plateau for 5 epochs (dev CER 86-92%), whatever the learning rate (5e-4, 2e-3), SpecAugment
    or position encoding tried; with PyTorch's own draws (uniform in +-1/sqrt(fan_in), weights and biases, as
    the espnet2 conformer of conf/ctc.yaml gets) it learns (egs/mini_s2st/s2st1/README.md).
    Weight-normalised convolutions (the positional convolution of wav2vec 2.0) keep theirs.

    Returns:
        How many layers were drawn anew.
    """
    from torch.nn.utils import parametrize

    n = 0
    for m in model.modules():
        if isinstance(m, (torch.nn.Linear, torch.nn.Conv1d)) and not parametrize.is_parametrized(m):
            m.reset_parameters()
            n += 1
    return n


def freeze(net: HFCTCNet, feature_encoder: bool, layers: int) -> None:
    """Stop training parts of the encoder.

    Args:
        net: the network.
        feature_encoder: freeze the feature encoder: the convolutions of wav2vec 2.0, HuBERT and WavLM,
            the feature projection of w2v-BERT (it has no convolutional feature encoder).
        layers: freeze the lowest ``layers`` transformer layers and everything before them (feature
            encoder, feature projection, positional convolution, SpecAugment's mask embedding, and a
            layer norm applied before the layers).

    Raises:
        ConfigError: more layers than the encoder has.
    """
    base = net.model.base_model
    if feature_encoder:
        if hasattr(base, "feature_extractor"):
            base.feature_extractor.requires_grad_(False)
        else:
            base.feature_projection.requires_grad_(False)
    if not layers:
        return
    blocks = base.encoder.layers
    if layers > len(blocks):
        raise ConfigError(f"ctc config: freeze_layers {layers} but the encoder has {len(blocks)} layers")
    keep = [*blocks[layers:]]
    if getattr(net.model.config, "do_stable_layer_norm", False) and hasattr(base.encoder, "layer_norm"):
        keep.append(base.encoder.layer_norm)  # pre-LN models norm after the last layer
    keep += [m for m in (getattr(base, "intermediate_ffn", None), getattr(base, "adapter", None)) if m is not None]
    trainable = {id(p) for m in keep for p in m.parameters()}
    for p in base.parameters():
        if id(p) not in trainable:
            p.requires_grad_(False)


class _CTCHead:
    """The CTC output of an :class:`HFCTCNet` as the trainer calls it (``net.ctc(...)``,
    ``net.ctc.log_softmax(hs)``): the model's final dropout and ``lm_head``. Not a module of its own,
    so the weights are saved once, under the model."""

    def __init__(self, model: Any) -> None:
        self._model = model

    def log_softmax(self, hs: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self._model.lm_head(self._model.dropout(hs)).float(), dim=-1)

    def __call__(self, hs: torch.Tensor, hlens: torch.Tensor, ys: torch.Tensor,
                 ys_lengths: torch.Tensor) -> torch.Tensor:
        """The CTC loss summed over each utterance, averaged over the batch (espnet2's CTC)."""
        logp = self.log_softmax(hs).transpose(0, 1)
        targets = torch.cat([ys[i, : int(n)] for i, n in enumerate(ys_lengths)])
        loss = torch.nn.functional.ctc_loss(logp, targets, hlens, ys_lengths, blank=0, reduction="sum",
                                            zero_infinity=True)
        return loss / hs.size(0)


class HFCTCNet(CTCOutput, torch.nn.Module):
    """A transformers ``*ForCTC`` model behind :class:`~s2s_plugin.asr.model.CTCNet`'s interface.

    Example::

        net = build_hf_net(cfg, vocab_size=len(tokens))
        loss = net(speech, speech_lengths, ys, ys_lengths)     # waveforms in, as CTCNet
        net.output_lengths(16000)                               # 49 output frames for 1 s

    Args:
        model: the ``*ForCTC`` model (blank = token 0).
        feature_extractor: its transformers feature extractor.
        model_type: the config's ``model_type``.
    """

    def __init__(self, model: Any, feature_extractor: Any, model_type: str) -> None:
        super().__init__()
        self.model = model
        self.feature_extractor = feature_extractor
        self.model_type = model_type
        self.sample_rate = int(feature_extractor.sampling_rate)
        if model_type == "wav2vec2-bert":
            self.stride = int(feature_extractor.stride)
            #: samples per output frame (the batch budget counts output frames)
            self.hop_length = _FBANK_HOP * self.stride
        else:
            self.hop_length = int(np.prod(model.config.conv_stride))
        self.num_layers = int(model.config.num_hidden_layers)
        self.ctc = _CTCHead(model)

    @property
    def frame_rate(self) -> float:
        """Output frames per second."""
        return self.sample_rate / self.hop_length

    def output_lengths(self, num_samples: np.ndarray | int) -> np.ndarray | int:
        """Output frames for inputs of ``num_samples`` samples."""
        n = np.asarray(num_samples)
        if self.model_type == "wav2vec2-bert":
            frames = np.where(n >= _FBANK_WIN, (n - _FBANK_WIN) // _FBANK_HOP + 1, 0)
            return -(-frames // self.stride)  # the feature extractor pads the frames to a multiple of the stride
        for kernel, stride in zip(self.model.config.conv_kernel, self.model.config.conv_stride):
            n = np.maximum((n - kernel) // stride + 1, 0)
        return n

    def inputs(self, speech: torch.Tensor, lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        """The feature extractor's model inputs of a padded batch of waveforms."""
        waves = [speech[i, : int(n)].float().cpu().numpy() for i, n in enumerate(lengths)]
        out = self.feature_extractor(waves, sampling_rate=self.sample_rate, padding=True, return_tensors="pt",
                                     return_attention_mask=True)
        name = "input_features" if "input_features" in out else "input_values"
        inputs = {name: out[name].to(speech.device, dtype=self.model.dtype)}  # bf16-true: bf16 weights
        if self.model_type == "wav2vec2-bert" or self.feature_extractor.return_attention_mask:
            inputs["attention_mask"] = out["attention_mask"].to(speech.device)
        return inputs

    def _lengths(self, lengths: torch.Tensor, frames: int, device: torch.device) -> torch.Tensor:
        n = torch.as_tensor(self.output_lengths(lengths.cpu().numpy()), dtype=torch.long)
        return n.clamp(max=frames).to(device)

    def encode(self, speech: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The last layer's output ``(B, T, D)`` and its lengths (SpecAugment applied in training mode)."""
        hs = self.model.base_model(**self.inputs(speech, lengths)).last_hidden_state
        return hs, self._lengths(lengths, hs.size(1), hs.device)

    def layer_output(self, speech: torch.Tensor, lengths: torch.Tensor,
                     layer: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Hidden output of transformer layer ``layer`` (1-based), as ``hidden_states[layer]``."""
        if not 1 <= layer <= self.num_layers:
            raise ValueError(f"layer must be in 1..{self.num_layers}, got {layer}")
        out = self.model.base_model(**self.inputs(speech, lengths), output_hidden_states=True)
        hs = out.hidden_states[layer]
        return hs, self._lengths(lengths, hs.size(1), hs.device)


# -- export ---------------------------------------------------------------------------------------

def hf_tokenizer(tokens: Any) -> Any:
    """A transformers tokenizer with the ids of our token list (``<blank>`` becomes ``<pad>`` at id 0).

    Args:
        tokens: a :class:`~s2s_plugin.asr.tokens.BPETokenList` (-> a ``PreTrainedTokenizerFast`` on a
            ``tokenizers`` BPE converted from the SentencePiece model, its ids shifted by one for the
            blank) or a ``CharTokenList`` (-> a ``Wav2Vec2CTCTokenizer``, ``<space>`` as ``|``).
    """
    from s2s_plugin.asr.tokens import BPETokenList

    with tempfile.TemporaryDirectory() as tmp:
        if isinstance(tokens, BPETokenList):
            from tokenizers import Tokenizer
            from transformers import PreTrainedTokenizerFast

            from s2s_plugin.llm.export import spm_tokenizer

            (Path(tmp) / "bpe.model").write_bytes(tokens.model_proto)
            data = json.loads(spm_tokenizer(Path(tmp) / "bpe.model").to_str())
            data["model"]["vocab"] = {PAD: 0, **{p: i + 1 for p, i in data["model"]["vocab"].items()}}
            for added in data.get("added_tokens") or []:
                added["id"] += 1
            backend = Tokenizer.from_str(json.dumps(data))
            return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token=PAD, unk_token="<unk>")
        from transformers import Wav2Vec2CTCTokenizer

        if DELIMITER in tokens.tokens:
            raise DataError(f"the transcripts hold the character {DELIMITER!r}, the word separator of the exported "
                            "transformers tokenizer; remove it from the transcripts or use token_type: bpe")
        names = [PAD, tokens.tokens[1], DELIMITER, *tokens.tokens[3:]]
        (Path(tmp) / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(names)}), encoding="utf-8")
        return Wav2Vec2CTCTokenizer(str(Path(tmp) / "vocab.json"), unk_token=tokens.tokens[1], pad_token=PAD,
                                    word_delimiter_token=DELIMITER, bos_token=None, eos_token=None)


def export_hf_model(net: HFCTCNet, tokens: Any, out_dir: PathLike) -> Path:
    """Write ``net`` as a ``save_pretrained`` directory that :class:`~s2s_plugin.asr.imported.HFCTCModel`
    (stages 4 and 5) and plain transformers (``AutoProcessor``, ``AutoModelForCTC``) load.

    The directory is assembled under a temporary name and renamed into place.
    """
    from transformers import Wav2Vec2BertProcessor, Wav2Vec2Processor

    out_dir = Path(out_dir)
    tokenizer = hf_tokenizer(tokens)
    if len(tokenizer) != net.model.config.vocab_size:
        raise DataError(f"the exported tokenizer has {len(tokenizer)} tokens but the model "
                        f"{net.model.config.vocab_size}")
    cls = Wav2Vec2BertProcessor if net.model_type == "wav2vec2-bert" else Wav2Vec2Processor
    tmp = out_dir.with_name(f".{out_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    net.model.save_pretrained(tmp)
    cls(feature_extractor=net.feature_extractor, tokenizer=tokenizer).save_pretrained(tmp)  # processor_config.json
    net.feature_extractor.save_pretrained(tmp)  # and preprocessor_config.json, which transformers 4 reads
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
    return out_dir
