"""Imported CTC models: an ESPnet ASR model dir, or a transformers wav2vec2 / w2v-BERT CTC dir.

    s2s ctc import --from /models/espnet_asr --exp exp/ctc       # ESPnet: config.yaml + *.pth
    s2s ctc import --from /models/w2v-bert-2.0-ctc --exp exp/ctc  # transformers: config.json

The import loads the model once to check it, measures its output frame rate
and writes ``exp/<tag>/config.yaml`` (the type and the absolute paths of the
source files) and ``tokens.txt``; the weights stay where they are. Afterwards
:func:`s2s_plugin.asr.ctc.load_ctc_model` gives the same interface as for a
model trained here. Nothing is ever fetched from a model hub.

ESPnet: DIR holds the training ``config.yaml`` and one model ``*.pth`` (or name
it with ``--model_file``); a BPE model (``bpemodel`` in the config) is looked
for at its configured path, then in DIR. The CTC blank is ESPnet's token 0.

transformers: DIR holds what ``save_pretrained`` wrote for a ``*ForCTC`` model
and its processor (feature extractor + CTC tokenizer). The blank is the pad
token; tokens are reordered so the blank is index 0.

Words and tokens (what alignment needs: the ids of each word as the model
emits them in a sentence, and where one word ends and the next begins):

- a character vocabulary: the word's characters; words are separated by the
  tokenizer's ``word_delimiter_token`` (``|``) when the vocabulary has it;
- a vocabulary of word pieces: the tokenizer's own pieces of the word, whose
  word boundaries come from ``word_delimiter_token`` (a separator token), from
  SentencePiece's word-start marker ``▁`` or from WordPiece's ``##``
  continuation prefix. A piece vocabulary with none of these (e.g. GPT-2's
  byte-level BPE) or a tokenizer that splits text into characters while the
  vocabulary has pieces is refused at load time, naming the model dir and
  what to set; nothing falls back to characters.

ESPnet: ``token_type: char`` (``<space>`` between words) or ``bpe`` (its
SentencePiece model: ``▁`` starts a word, no separator token).
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from s2s_plugin.asr.common import (
    check_layer,
    estimate_frame_rate,
    greedy_tokens,
    pick_device,
    prepare_wave,
    tokens_to_text,
)
from s2s_plugin.asr.tokens import UnknownTokenError
from s2s_plugin.data.io import PathLike
from s2s_plugin.errors import ConfigError, DataError
from s2s_plugin.safe_load import check_checkpoint, load_checkpoint

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def no_nltk_download():
    """Importing espnet2.tasks.asr imports g2p_en, which calls nltk.download: keep it offline."""
    try:
        import nltk
    except ImportError:
        yield
        return
    saved = nltk.download
    nltk.download = lambda *a, **k: False
    try:
        yield
    finally:
        nltk.download = saved


def _char_word_ids(word: str, index: dict[str, int], upper: bool) -> list[int]:
    w = word.upper() if upper else word
    missing = sorted({c for c in w if c not in index})
    if missing:
        raise UnknownTokenError(word, missing)
    return [index[c] for c in w]


def _only_upper(tokens: Sequence[str]) -> bool:
    """True when the single-character tokens have upper- but no lower-case letters."""
    letters = [t for t in tokens if len(t) == 1 and t.isalpha()]
    return any(t.isupper() for t in letters) and not any(t.islower() for t in letters)


#: ESPnet component names the light builder knows: config value -> (module, class).
_ESPNET_FRONTENDS = {"default": ("espnet2.asr.frontend.default", "DefaultFrontend")}
_ESPNET_NORMALIZE = {"global_mvn": ("espnet2.layers.global_mvn", "GlobalMVN"),
                     "utterance_mvn": ("espnet2.layers.utterance_mvn", "UtteranceMVN")}
_ESPNET_ENCODERS = {
    "conformer": ("espnet2.asr.encoder.conformer_encoder", "ConformerEncoder"),
    "transformer": ("espnet2.asr.encoder.transformer_encoder", "TransformerEncoder"),
    "e_branchformer": ("espnet2.asr.encoder.e_branchformer_encoder", "EBranchformerEncoder"),
    "branchformer": ("espnet2.asr.encoder.branchformer_encoder", "BranchformerEncoder"),
}
_CTC_PARTS = ("frontend", "normalize", "encoder", "ctc")


def _espnet_class(table: dict, name: str):
    import importlib

    module, cls = table[name]
    return getattr(importlib.import_module(module), cls)


def _light_espnet_parts(args: dict, n_tokens: int):
    """The frontend, normalisation, encoder and CTC of an ESPnet ASR config, built from espnet2's
    component classes without importing ``espnet2.tasks`` (slow, pulls in every model family).
    None when the config uses a component this does not know (then ASRTask builds it)."""
    import torch

    from espnet2.asr.ctc import CTC

    if args.get("preencoder") or args.get("postencoder") or args.get("encoder") not in _ESPNET_ENCODERS:
        return None
    if args.get("frontend") not in _ESPNET_FRONTENDS or args.get("normalize") not in (None, *_ESPNET_NORMALIZE):
        return None
    parts = torch.nn.Module()
    parts.frontend = _espnet_class(_ESPNET_FRONTENDS, args["frontend"])(**(args.get("frontend_conf") or {}))
    parts.normalize = None
    if args.get("normalize"):
        parts.normalize = _espnet_class(_ESPNET_NORMALIZE, args["normalize"])(**(args.get("normalize_conf") or {}))
    parts.preencoder = parts.postencoder = None
    parts.encoder = _espnet_class(_ESPNET_ENCODERS, args["encoder"])(
        input_size=parts.frontend.output_size(), **(args.get("encoder_conf") or {}))
    parts.ctc = CTC(odim=n_tokens, encoder_output_size=parts.encoder.output_size(), **(args.get("ctc_conf") or {}))
    return parts


def _espnet_token_list(args: dict, config: PathLike) -> list[str]:
    tokens = args.get("token_list")
    if isinstance(tokens, str):
        path = Path(tokens) if Path(tokens).is_file() else Path(config).parent / Path(tokens).name
        if not path.is_file():
            raise DataError(f"{config}: token_list file '{tokens}' not found")
        tokens = path.read_text(encoding="utf-8").split()
    if not tokens:
        raise DataError(f"{config}: no token_list")
    return list(tokens)


class EspnetCTCModel:
    """The CTC branch of an ESPnet ASR model (an ``espnet2`` ``ESPnetASRModel`` checkpoint).

    Configs with the usual components (default frontend; global or utterance MVN;
    Conformer, Transformer, (E-)Branchformer encoder) are rebuilt from espnet2's
    classes directly, loading only the frontend, normalisation, encoder and CTC
    weights (an attention decoder is ignored); any other config is built by
    ``espnet2.tasks.asr.ASRTask.build_model_from_file``. Example::

        model = EspnetCTCModel("asr/config.yaml", "asr/valid.acc.ave.pth")
        model.log_posteriors(wave, 16000).shape     # (T, len(model.tokens))

    Args:
        asr_config: ESPnet's training config.yaml.
        model_file: the weights (.pth).
        bpemodel: the SentencePiece model of a ``bpe`` token type.
        frame_rate: output frames per second; measured when None.
        stats_file: the global MVN statistics, when the config's path does not hold them.
        device: where to run it.
    """

    def __init__(self, asr_config: PathLike, model_file: PathLike, bpemodel: PathLike | None = None,
                 frame_rate: float | None = None, stats_file: PathLike | None = None,
                 device: str = "cpu") -> None:
        from s2s_plugin.config import load_yaml

        self.device = pick_device(device)
        args = load_yaml(asr_config)
        if stats_file is not None:
            args["normalize_conf"] = {**(args.get("normalize_conf") or {}), "stats_file": str(stats_file)}
        self.tokens: list[str] = _espnet_token_list(args, asr_config)
        parts = _light_espnet_parts(args, len(self.tokens))
        if parts is not None:
            state = load_checkpoint(model_file, "ESPnet model file", error=ConfigError)
            parts.load_state_dict({k: v for k, v in state.items() if k.split(".")[0] in _CTC_PARTS})
            self.model = parts.to(self.device).eval()
        else:
            # ESPnet reads the file with torch.load(weights_only=False): vet it first
            check_checkpoint(model_file, "ESPnet model file", error=ConfigError)
            with no_nltk_download():
                from espnet2.tasks.asr import ASRTask
            self.model, _ = ASRTask.build_model_from_file(str(asr_config), str(model_file), self.device)
            self.model.eval()
        if self.model.ctc is None:
            raise DataError(f"{asr_config}: this ESPnet model has no CTC branch (ctc_weight 0)")
        self.token_type = args.get("token_type", "char")
        if self.token_type not in ("char", "bpe"):
            raise DataError(f"{asr_config}: token_type '{self.token_type}' is not supported (char and bpe are)")
        self.index = {t: i for i, t in enumerate(self.tokens)}
        self.space_id: int | None = self.index.get("<space>")
        self.sp = None
        if self.token_type == "bpe":
            import sentencepiece as spm

            if bpemodel is None or not Path(bpemodel).is_file():
                raise DataError(f"{asr_config}: a bpe model needs its SentencePiece model "
                                f"(bpemodel: {bpemodel}); put it next to the config")
            self.sp = spm.SentencePieceProcessor(model_file=str(bpemodel))
        self.sample_rate: int = _parse_rate((args.get("frontend_conf") or {}).get("fs", 16000))
        self.num_layers: int = len(getattr(self.model.encoder, "encoders", []))
        self.frame_rate: float = frame_rate or estimate_frame_rate(self.log_posteriors, self.sample_rate)

    @classmethod
    def from_exp(cls, exp_dir: PathLike, cfg: dict, device: str = "cpu") -> EspnetCTCModel:
        for key in ("asr_config", "model_file"):
            if not Path(cfg.get(key) or "").is_file():
                raise DataError(f"{exp_dir}/config.yaml: {key} '{cfg.get(key)}' not found; the imported "
                                f"ESPnet model was moved? Import it again with `s2s ctc import`")
        return cls(cfg["asr_config"], cfg["model_file"], cfg.get("bpemodel"), cfg.get("frame_rate"),
                   cfg.get("stats_file"), device)

    def word_ids(self, word: str) -> list[int]:
        if self.sp is None:
            return _char_word_ids(word, self.index, upper=False)
        pieces = self.sp.encode(word, out_type=str)
        missing = [p for p in pieces if p not in self.index or self.sp.piece_to_id(p) == self.sp.unk_id()]
        if missing:
            raise UnknownTokenError(word, sorted({c for c in word if self.sp.unk_id() in self.sp.encode(c)})
                                    or missing)
        return [self.index[p] for p in pieces]

    def _features(self, wav: np.ndarray, sr: int):
        """Frontend, normalisation and pre-encoder of one waveform: ``(feats, lengths)``."""
        import torch

        x = prepare_wave(wav, sr, self.sample_rate)
        speech = torch.from_numpy(x)[None].to(self.device)
        lens = torch.tensor([len(x)], device=self.device)
        m = self.model
        feats, flens = m.frontend(speech, lens) if m.frontend is not None else (speech, lens)
        if m.normalize is not None:
            feats, flens = m.normalize(feats, flens)
        if m.preencoder is not None:
            feats, flens = m.preencoder(feats, flens)
        return feats, flens

    def log_posteriors(self, wav: np.ndarray, sr: int) -> np.ndarray:
        import torch

        m = self.model
        with torch.inference_mode():
            feats, flens = self._features(wav, sr)
            enc, elens, _ = m.encoder(feats, flens)
            if isinstance(enc, tuple):  # intermediate CTC outputs
                enc = enc[0]
            if m.postencoder is not None:
                enc, elens = m.postencoder(enc, elens)
            logp = m.ctc.log_softmax(enc)
        return logp[0, : int(elens[0])].float().cpu().numpy()

    def layer_features(self, wav: np.ndarray, sr: int, layer: int) -> np.ndarray:
        import inspect

        import torch

        check_layer(layer, self.num_layers)
        if "return_all_hs" not in inspect.signature(self.model.encoder.forward).parameters:
            raise DataError(f"the ESPnet encoder {type(self.model.encoder).__name__} cannot return its "
                            "hidden layers (no return_all_hs)")
        with torch.inference_mode():
            feats, flens = self._features(wav, sr)
            (_, hiddens), hlens, _ = self.model.encoder(feats, flens, return_all_hs=True)
        return hiddens[layer - 1][0, : int(hlens[0])].float().cpu().numpy()

    def transcribe(self, wavs: Sequence[np.ndarray], sr: int | None = None) -> list[str]:
        out = []
        for w in wavs:
            ids = greedy_tokens(self.log_posteriors(w, sr or self.sample_rate))
            out.append(tokens_to_text([self.tokens[i] for i in ids]))
        return out


def _parse_rate(fs) -> int:
    if isinstance(fs, str):
        import humanfriendly

        return int(humanfriendly.parse_size(fs))
    return int(fs)


class HFCTCModel:
    """A transformers CTC model (``Wav2Vec2ForCTC``, ``Wav2Vec2BertForCTC``, ...) from a local dir.

    Example::

        model = HFCTCModel("/models/w2v-bert-2.0-ctc-fr")
        model.tokens[0]               # '<pad>': the CTC blank, moved to index 0
        model.layer_features(wave, 16000, 20).shape

    Args:
        model_dir: written by ``save_pretrained`` (model, feature extractor, tokenizer).
        frame_rate: output frames per second; measured when None.
        device: where to run it.
    """

    def __init__(self, model_dir: PathLike, frame_rate: float | None = None, device: str = "cpu") -> None:
        from transformers import AutoModelForCTC, AutoProcessor

        model_dir = Path(model_dir)
        if not model_dir.is_dir():
            raise DataError(f"{model_dir}: transformers model dir not found")
        self.model_dir = model_dir
        self.device = pick_device(device)
        self.processor = AutoProcessor.from_pretrained(str(model_dir), local_files_only=True)
        self.model = AutoModelForCTC.from_pretrained(str(model_dir), local_files_only=True).to(self.device).eval()
        tok = self.processor.tokenizer
        vocab_size = int(self.model.config.vocab_size)
        names = tok.convert_ids_to_tokens(list(range(vocab_size)))
        names = [n if n is not None else f"<unused{i}>" for i, n in enumerate(names)]
        blank = self.model.config.pad_token_id
        if blank is None:
            blank = tok.pad_token_id
        if blank is None:
            raise DataError(f"{model_dir}: no pad token (the CTC blank of transformers models) in the config")
        #: column order that puts the blank first
        self.order = np.array([blank] + [i for i in range(vocab_size) if i != blank])
        self.tokens: list[str] = [names[i] for i in self.order]
        self.index = {t: i for i, t in enumerate(self.tokens)}
        delim = getattr(tok, "word_delimiter_token", None)
        self.space_id: int | None = self.index.get(delim) if delim else None
        self.upper = _only_upper(self.tokens)
        #: ``char``, ``bpe`` (``▁`` word starts), ``wordpiece`` (``##`` continuations) or ``pieces`` (delimited)
        self.token_type: str = _hf_token_type(tok, self.tokens, delim, model_dir)
        self.sample_rate: int = int(self.processor.feature_extractor.sampling_rate)
        self.num_layers: int = int(self.model.config.num_hidden_layers)
        self.frame_rate: float = frame_rate or estimate_frame_rate(self.log_posteriors, self.sample_rate)

    def word_ids(self, word: str) -> list[int]:
        """The word's token ids as the model emits them (characters, or the tokenizer's pieces).

        Raises:
            UnknownTokenError: a character (or piece) the vocabulary lacks.
        """
        if self.token_type == "char":
            return _char_word_ids(word, self.index, self.upper)
        tok = self.processor.tokenizer
        pieces = tok.tokenize(word.upper() if self.upper else word)
        bad = [p for p in pieces if p not in self.index or p == tok.unk_token]
        if bad or not pieces:
            missing = sorted({c for c in word if tok.unk_token in tok.tokenize(c) or not tok.tokenize(c)})
            raise UnknownTokenError(word, missing or bad or [word])
        if self.token_type == "bpe" and not pieces[0].startswith(SP_MARK):
            raise DataError(f"{self.model_dir}: the tokenizer gave '{word}' the pieces {pieces}, whose first does "
                            f"not start with '{SP_MARK}': it does not mark word starts as its vocabulary does")
        return [self.index[p] for p in pieces]

    def _forward(self, wav: np.ndarray, sr: int, hidden: bool = False):
        import torch

        x = prepare_wave(wav, sr, self.sample_rate)
        inputs = self.processor.feature_extractor(x, sampling_rate=self.sample_rate, return_tensors="pt")
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        with torch.inference_mode():
            return self.model(**inputs, output_hidden_states=hidden)

    def log_posteriors(self, wav: np.ndarray, sr: int) -> np.ndarray:
        import torch

        logits = self._forward(wav, sr).logits[0].float()
        return torch.log_softmax(logits, dim=-1).cpu().numpy()[:, self.order]

    def layer_features(self, wav: np.ndarray, sr: int, layer: int) -> np.ndarray:
        check_layer(layer, self.num_layers)
        out = self._forward(wav, sr, hidden=True)
        feats = out.hidden_states[layer][0].float().cpu().numpy()
        if feats.shape[0] != out.logits.shape[1]:
            raise DataError(f"layer {layer} has {feats.shape[0]} frames but the CTC output {out.logits.shape[1]}"
                            " (an adapter subsamples after the encoder); its features are at another rate")
        return feats

    def transcribe(self, wavs: Sequence[np.ndarray], sr: int | None = None) -> list[str]:
        tok = self.processor.tokenizer
        drop = {t for t in (tok.unk_token, tok.bos_token, tok.eos_token, tok.pad_token) if t}
        out = []
        for w in wavs:
            ids = greedy_tokens(self.log_posteriors(w, sr or self.sample_rate))
            pieces = [self.tokens[i] for i in ids]
            if self.token_type == "wordpiece":  # a piece without ## starts a word
                pieces = [p[2:] if p.startswith("##") else SP_MARK + p for p in pieces]
            text = tokens_to_text(pieces, space_tokens=("|", "<space>"), drop=tuple(drop))
            out.append(text.lower() if self.upper else text)
        return out


SP_MARK = "\u2581"  # SentencePiece's word-start marker


def _hf_token_type(tok, tokens: Sequence[str], delim: str | None, model_dir: PathLike) -> str:
    """How a transformers tokenizer's tokens make words: ``char``, ``bpe`` (``▁`` starts a word),
    ``wordpiece`` (``##`` continues one) or ``pieces`` (word pieces between word delimiter tokens).

    Raises:
        DataError: a vocabulary of pieces whose word boundaries cannot be recovered.
    """
    specials = set(getattr(tok, "all_special_tokens", []) or []) | {delim}
    pieces = [t for t in tokens if t not in specials and not (t.startswith("<") and t.endswith(">"))]
    multi = [t for t in pieces if len(t) > 1]
    if not multi:
        return "char"
    name = type(tok).__name__
    sample = max(multi, key=len).lstrip(SP_MARK).removeprefix("##") or multi[0]
    if len(sample) > 1 and all(len(p) <= 1 for p in tok.tokenize(sample)):
        raise DataError(f"{model_dir}: its tokenizer ({name}) splits text into characters, but the vocabulary has "
                        f"{len(multi)} multi-character tokens (e.g. {multi[0]!r}): the ids the model emits cannot be "
                        "found from a transcript; save the model with the tokenizer that made its vocabulary "
                        "(e.g. a SentencePiece BPE tokenizer)")
    if any(t.startswith(SP_MARK) for t in pieces):
        return "bpe"
    if any(t.startswith("##") for t in pieces):
        return "wordpiece"
    if delim and delim in tokens:
        return "pieces"
    raise DataError(f"{model_dir}: its tokenizer ({name}) has word pieces (e.g. {multi[0]!r}) but marks no word "
                    f"boundaries: no word_delimiter_token in the vocabulary, no '{SP_MARK}' word-start pieces "
                    "(SentencePiece), no '##' continuation pieces (WordPiece), so words cannot be told apart in its "
                    "output; set word_delimiter_token in tokenizer_config.json to the token the model emits between "
                    f"words, or save the model with a tokenizer that marks word starts ('{SP_MARK}' or '##')")


def _find_espnet_files(src: Path, model_file: str | None) -> tuple[Path, Path, dict]:
    from s2s_plugin.config import load_yaml

    config = src / "config.yaml"
    if not config.is_file():
        cands = sorted(src.glob("**/config.yaml"))
        if len(cands) != 1:
            raise DataError(f"{src}: expected ESPnet's config.yaml in it (found {len(cands)})")
        config = cands[0]
    if model_file:
        weights = Path(model_file) if Path(model_file).is_absolute() else src / model_file
        if not weights.is_file():
            raise DataError(f"{weights}: model file not found")
    else:
        cands = sorted(src.glob("**/*.pth"))
        if len(cands) != 1:
            raise DataError(f"{src}: found {len(cands)} .pth files ({', '.join(p.name for p in cands[:5])}); "
                            "choose one with --model_file")
        weights = cands[0]
    return config.resolve(), weights.resolve(), load_yaml(config)


def _find_bpemodel(src: Path, config: Path, args: dict) -> Path | None:
    if args.get("token_type") != "bpe":
        return None
    given = args.get("bpemodel")
    cands = [Path(given), config.parent / given, src / given] if given else []
    cands += sorted(src.glob("**/*.model"))
    for c in cands:
        if c.is_file():
            return c.resolve()
    raise DataError(f"{config}: token_type bpe but its SentencePiece model ({given}) was not found; "
                    f"copy it into {src}")


def _find_stats_file(src: Path, config: Path, args: dict) -> Path | None:
    """The global MVN statistics of an ESPnet config: its path, or the same name in the model dir."""
    if args.get("normalize") != "global_mvn":
        return None
    given = (args.get("normalize_conf") or {}).get("stats_file")
    cands = [Path(given), config.parent / given, src / given, *sorted(src.glob(f"**/{Path(given).name}"))] \
        if given else []
    cands += sorted(src.glob("**/feats_stats.npz"))
    for c in cands:
        if c.is_file():
            return c.resolve()
    raise DataError(f"{config}: normalize is global_mvn but its stats_file ({given}) was not found; "
                    f"copy it into {src}")


#: what marks each kind of model dir: an ESPnet ASR dir holds config.yaml and .pth weights (at its top or
#: below, as in ESPnet's packed exp dirs), a transformers dir holds config.json at its top
MODEL_DIR_KINDS = {"espnet": "config.yaml and *.pth weights (ESPnet)",
                   "hf": "config.json (transformers, e.g. a *ForCTC model saved with save_pretrained)"}


def detect_model_type(src: PathLike) -> str:
    """What ``src`` holds, from its files: ``espnet`` or ``hf`` (see :data:`MODEL_DIR_KINDS`).

    Raises:
        DataError: ``src`` is no dir, looks like neither kind, or like both (naming the files that
            say so, and ``--type`` that settles it).
    """
    src = Path(src)
    if not src.is_dir():
        raise DataError(f"{src}: model dir not found")
    found = {"espnet": [p for p in (next(src.glob("**/config.yaml"), None), next(src.glob("**/*.pth"), None))
                        if p is not None],
             "hf": [src / "config.json"] if (src / "config.json").is_file() else []}
    kinds = [k for k in ("espnet", "hf") if len(found[k]) == (2 if k == "espnet" else 1)]
    if len(kinds) == 1:
        return kinds[0]
    what = "; ".join(f"{k}: {v}" for k, v in MODEL_DIR_KINDS.items())
    if not kinds:
        seen = ", ".join(sorted(p.name for p in src.iterdir())[:8]) or "nothing"
        raise DataError(f"{src}: neither an ESPnet ASR dir nor a transformers CTC model dir (it holds {seen}); "
                        f"expected {what}")
    files = ", ".join(str(p.relative_to(src)) for k in kinds for p in found[k])
    raise DataError(f"{src}: looks like both an ESPnet ASR dir and a transformers model dir ({files}); "
                    "say which with --type espnet or --type hf")


def import_ctc_model(src: PathLike, kind: str | None, exp_dir: PathLike, model_file: str | None = None,
                     device: str = "cpu") -> dict:
    """Check an external CTC model and describe it in ``exp_dir`` (config.yaml, tokens.txt).

    Args:
        src: the ESPnet model dir or transformers dir.
        kind: ``espnet`` or ``hf``; ``None`` tells them apart by their files (:func:`detect_model_type`).
        exp_dir: the exp dir to write.
        model_file: the ESPnet weights inside ``src`` when it holds several .pth files.

    Returns:
        The config written.

    Raises:
        DataError: a missing or unusable model.
    """
    from s2s_plugin.config import save_resolved
    from s2s_plugin.data.io import atomic_write

    src = Path(src).resolve()
    if not src.is_dir():
        raise DataError(f"{src}: model dir not found")
    kind = kind or detect_model_type(src)
    exp_dir = Path(exp_dir)
    if kind == "espnet":
        config, weights, args = _find_espnet_files(src, model_file)
        bpemodel = _find_bpemodel(src, config, args)
        stats = _find_stats_file(src, config, args)
        model = EspnetCTCModel(config, weights, bpemodel, stats_file=stats, device=device)
        cfg = {"type": "espnet", "source": str(src), "asr_config": str(config), "model_file": str(weights),
               "bpemodel": str(bpemodel) if bpemodel else None, "stats_file": str(stats) if stats else None}
    elif kind == "hf":
        model = HFCTCModel(src, device=device)
        cfg = {"type": "hf", "source": str(src), "model_dir": str(src)}
    else:
        raise DataError(f"unknown model type '{kind}'; choose espnet or hf")
    cfg.update(frame_rate=model.frame_rate, sample_rate=model.sample_rate, num_layers=model.num_layers,
               vocab_size=len(model.tokens))
    exp_dir.mkdir(parents=True, exist_ok=True)
    with atomic_write(exp_dir / "tokens.txt") as f:
        f.write("".join(f"{t}\n" for t in model.tokens))
    save_resolved(cfg, exp_dir)
    logger.info("imported %s CTC model %s -> %s: %d tokens, %.1f frames/s, %d layers, %d Hz", kind, src,
                exp_dir, len(model.tokens), model.frame_rate, model.num_layers, model.sample_rate)
    return cfg
