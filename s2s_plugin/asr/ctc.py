"""CTC acoustic models behind one interface: load a trained or imported model from its exp dir.

    from s2s_plugin.asr.ctc import load_ctc_model

    model = load_ctc_model("exp/ctc")             # trained by `s2s ctc train` or made by `s2s ctc import`
    model.frame_rate                               # output frames per second, e.g. 50.0
    logp = model.log_posteriors(wave, 16000)       # (T, V) numpy log posteriors; column 0 is the blank
    feats = model.layer_features(wave, 16000, 3)   # (T, D) hidden output after encoder block 3
    model.transcribe([wave1, wave2])               # greedy CTC transcripts
    model.word_ids("chat")                         # token ids of one word (for alignment)

An exp dir holds ``config.yaml`` with a ``type``:

- ``s2s``: trained here (``model.pth``, ``tokens.txt``, ``bpe.model`` for ``token_type: bpe``;
  see :mod:`s2s_plugin.asr.train`); with ``encoder: hf`` the ``model/`` dir it exported, loaded as an
  imported transformers model;
- ``espnet``: an ESPnet ASR model (its config and weights, see :mod:`s2s_plugin.asr.imported`);
- ``hf``: a transformers ``Wav2Vec2ForCTC`` / ``Wav2Vec2BertForCTC`` directory.

Every kind implements :class:`s2s_plugin.protocols.CTCModel`.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from s2s_plugin.asr import imported
from s2s_plugin.asr.common import (  # noqa: F401 (part of this module's interface)
    check_layer,
    estimate_frame_rate,
    greedy_tokens,
    pick_device,
    prepare_wave,
    tokens_to_text,
)
from s2s_plugin.data.io import PathLike
from s2s_plugin.errors import DataError
from s2s_plugin.safe_load import load_checkpoint

MODEL_TYPES = ("s2s", "espnet", "hf")


class S2SCTCModel:
    """A CTC model trained by ``s2s ctc train`` (:class:`~s2s_plugin.asr.model.CTCNet` + characters or BPE).

    Example::

        model = S2SCTCModel.load("exp/ctc")
        model.transcribe([wave])       # ['le chat noir']

    Args:
        net: the network (its weights loaded).
        tokens: the token list (:class:`~s2s_plugin.asr.tokens.CharTokenList` or ``BPETokenList``).
        device: where to run it.
    """

    def __init__(self, net, tokens, device: str = "cpu") -> None:
        self.device = pick_device(device)
        self.net = net.to(self.device).eval()
        self.token_list = tokens
        self.tokens: list[str] = list(tokens.tokens)
        self.sample_rate: int = net.sample_rate
        self.frame_rate: float = net.frame_rate
        self.num_layers: int = net.num_layers
        self.space_id: int | None = tokens.space_id
        #: ``char`` (words split by ``<space>``) or ``bpe`` (words start with the ``▁`` marker)
        self.token_type: str = "bpe" if tokens.space_id is None else "char"

    @classmethod
    def load(cls, exp_dir: PathLike, device: str = "cpu") -> S2SCTCModel:
        from s2s_plugin.asr.model import CTCNet
        from s2s_plugin.asr.tokens import load_token_list
        from s2s_plugin.config import load_yaml

        exp_dir = Path(exp_dir)
        cfg = load_yaml(exp_dir / "config.yaml")
        tokens = load_token_list(exp_dir, cfg.get("token_type", "char"))
        net = CTCNet(len(tokens), **net_kwargs(cfg))
        path = exp_dir / "model.pth"
        if not path.is_file():
            raise DataError(f"{path}: model weights not found; train with `s2s ctc train --exp {exp_dir}` "
                            f"(model.pth is written after the first epoch)")
        net.load_state_dict(load_checkpoint(path, "CTC model weights",
                                            fix=f"retrain with `s2s ctc train --exp {exp_dir}`"))
        return cls(net, tokens, device)

    def word_ids(self, word: str) -> list[int]:
        return self.token_list.word_ids(word)

    def _tensor(self, wav: np.ndarray, sr: int):
        import torch

        x = prepare_wave(wav, sr, self.sample_rate)
        min_len = self.min_samples()
        if len(x) < min_len:
            raise ValueError(f"audio of {len(x) / self.sample_rate:.3f} s is too short for the model "
                             f"(it needs at least {min_len / self.sample_rate:.3f} s)")
        return torch.from_numpy(x)[None].to(self.device), torch.tensor([len(x)], device=self.device)

    def min_samples(self) -> int:
        """The fewest samples that give at least one output frame."""
        hop = self.net.hop_length
        n = hop
        while self.net.output_lengths(n) < 1:
            n += hop
        return n

    def log_posteriors(self, wav: np.ndarray, sr: int) -> np.ndarray:
        import torch

        x, n = self._tensor(wav, sr)
        with torch.inference_mode():
            logp, lens = self.net.log_probs(x, n)
        return logp[0, : int(lens[0])].float().cpu().numpy()

    def layer_features(self, wav: np.ndarray, sr: int, layer: int) -> np.ndarray:
        import torch

        check_layer(layer, self.num_layers)
        x, n = self._tensor(wav, sr)
        with torch.inference_mode():
            hs, lens = self.net.layer_output(x, n, layer)
        return hs[0, : int(lens[0])].float().cpu().numpy()

    def transcribe(self, wavs: Sequence[np.ndarray], sr: int | None = None) -> list[str]:
        import torch

        sr = sr or self.sample_rate
        waves = [prepare_wave(w, sr, self.sample_rate) for w in wavs]
        out = [""] * len(waves)
        order = sorted(range(len(waves)), key=lambda i: len(waves[i]))
        min_len = self.min_samples()
        budget = 60 * self.sample_rate  # padded samples per batch
        batch: list[int] = []
        for i in order + [None]:
            if i is not None and len(waves[i]) < min_len:
                continue
            if batch and (i is None or (len(batch) + 1) * len(waves[i]) > budget):
                n = max(len(waves[j]) for j in batch)
                x = torch.zeros(len(batch), n)
                for row, j in enumerate(batch):
                    x[row, : len(waves[j])] = torch.from_numpy(waves[j])
                lens = torch.tensor([len(waves[j]) for j in batch])
                with torch.inference_mode():
                    logp, olens = self.net.log_probs(x.to(self.device), lens.to(self.device))
                logp = logp.float().cpu().numpy()
                for row, j in enumerate(batch):
                    out[j] = self.token_list.decode(greedy_tokens(logp[row, : int(olens[row])]))
                batch = []
            if i is not None:
                batch.append(i)
        return out


def net_kwargs(cfg: dict) -> dict:
    """The :class:`~s2s_plugin.asr.model.CTCNet` arguments in a trained model's config.yaml."""
    keys = ("sample_rate", "frontend_conf", "normalize", "stack_frames", "specaug_conf", "encoder", "encoder_conf",
            "ctc_conf")
    return {k: cfg[k] for k in keys if k in cfg}


def read_model_type(exp_dir: PathLike) -> tuple[str, dict]:
    """``(type, config)`` of a CTC exp dir.

    Raises:
        DataError: no config.yaml, or an unknown type.
    """
    from s2s_plugin.config import load_yaml

    exp_dir = Path(exp_dir)
    path = exp_dir / "config.yaml"
    if not path.is_file():
        raise DataError(f"{exp_dir}: not a CTC model dir (no config.yaml); train one with `s2s ctc train "
                        f"--exp {exp_dir}` or import one with `s2s ctc import --from DIR "
                        f"--exp {exp_dir}`")
    cfg = load_yaml(path)
    kind = cfg.get("type", "s2s")
    if kind not in MODEL_TYPES:
        raise DataError(f"{path}: unknown model type '{kind}' (known: {', '.join(MODEL_TYPES)})")
    return kind, cfg


def load_ctc_model(exp_dir: PathLike, device: str = "cpu"):
    """Load the CTC model of ``exp_dir`` (trained or imported).

    Args:
        exp_dir: a dir made by ``s2s ctc train`` or ``s2s ctc import``.
        device: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``.

    Returns:
        An object implementing :class:`s2s_plugin.protocols.CTCModel`.

    Raises:
        DataError: the dir is not a CTC model dir, or its files are missing.
    """
    kind, cfg = read_model_type(exp_dir)
    if kind == "espnet":
        return imported.EspnetCTCModel.from_exp(exp_dir, cfg, device)
    if kind == "s2s" and cfg.get("encoder") != "hf":
        return S2SCTCModel.load(exp_dir, device)
    return imported.HFCTCModel(transformers_dir(exp_dir), cfg.get("frame_rate"), device)


def transformers_dir(exp_dir: PathLike) -> Path:
    """The ``save_pretrained`` dir of a CTC exp dir that holds a transformers model.

    That is ``EXP/model`` of ``s2s ctc train`` with ``encoder: hf``, or the directory that
    ``s2s ctc import`` imported a transformers model from.

    Raises:
        DataError: the exp dir holds another kind of model (the conformer, an ESPnet model),
            or the transformers dir is missing.
    """
    kind, cfg = read_model_type(exp_dir)
    if kind == "s2s" and cfg.get("encoder") == "hf":
        from s2s_plugin.asr.hf_net import HF_MODEL_DIR

        model_dir = Path(exp_dir) / HF_MODEL_DIR
        if not (model_dir / "config.json").is_file():
            raise DataError(f"{model_dir}: the trained model is not there; train with `s2s ctc train --exp "
                            f"{exp_dir}` (model/ is written after the first epoch)")
        return model_dir
    if kind == "hf":
        model_dir = Path(cfg.get("model_dir") or "")
        if not model_dir.is_dir():
            raise DataError(f"{exp_dir}/config.yaml: model_dir '{cfg.get('model_dir')}' not found; the "
                            f"imported model was moved? Import it again with `s2s ctc import`")
        return model_dir
    what = "an ESPnet model" if kind == "espnet" else f"the toolkit's own encoder ({cfg.get('encoder', 'conformer')})"
    raise DataError(f"{exp_dir}: holds {what}, not a transformers model; for its layers use the ctc_kmeans "
                    f"tokenizer, or give a transformers model dir (model_dir)")
