"""The exported model as a standard Hugging Face directory: one tokenizer with every token, our eos and pad.

Stage 8 (and stage 7) call :func:`write_hf_files` on the directory they export
(through ``s2s_plugin.train.checkpoint.export_model``)::

    tok = joint_tokenizer(vocab)          # transformers PreTrainedTokenizerFast, ids as in training
    tok("<s_src><lang_fr><u3><u17><t_src>").input_ids == builder.prompt(example)

The joint tokenizer is the text tokenizer of the vocabulary (a sentencepiece
model converted to a ``tokenizers`` BPE or Unigram model, or a local transformers
tokenizer's own ``tokenizers`` model) renumbered to the vocabulary's ids, with
the special tokens and the units ``<u0> .. <uK-1>`` added at theirs. Ids are
those the model was trained with: ``[text tokens | specials | units]``. With a
pruned vocabulary the text pieces that were pruned stay in the tokenizer (a BPE
needs them as steps of its merges) at ids after the units, which the model does
not have: text made of pruned pieces cannot be fed to it, as in training.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from s2s_plugin.errors import ConfigError
from s2s_plugin.llm.vocab import Vocabulary

logger = logging.getLogger(__name__)

#: how a unit token is spelled in the exported tokenizer
UNIT_FORMAT = "<u{}>"
#: the subdirectory of the exported model that holds a copy of the text tokenizer of ``vocab.yaml`` (kind hf)
TEXT_TOKENIZER_DIR = "text_tokenizer"
#: sentencepiece's model types (ModelProto.TrainerSpec.ModelType)
_SPM_UNIGRAM, _SPM_BPE = 1, 2
#: sentencepiece piece types (ModelProto.SentencePiece.Type)
_SPM_NORMAL, _SPM_UNKNOWN, _SPM_CONTROL, _SPM_USER, _SPM_UNUSED, _SPM_BYTE = 1, 2, 3, 4, 5, 6


def _merges(vocab: dict[str, int], normal: set[str]) -> list[tuple[str, str]]:
    """BPE merges of a sentencepiece BPE model: every split of a piece into two pieces, earliest piece first.

    sentencepiece's BPE merges the adjacent pair whose result has the best score, and
    its pieces are numbered best score first, so the rank of a merge is its result's id.
    """
    ranked = []
    for piece in normal:
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            if left in normal and right in normal:
                ranked.append((vocab[piece], vocab[left], vocab[right], left, right))
    return [(left, right) for *_, left, right in sorted(ranked)]


def spm_tokenizer(path: str | Path) -> Any:
    """A ``tokenizers.Tokenizer`` that encodes and decodes like the sentencepiece model at ``path``.

    BPE and Unigram models; the normalisation (the model's precompiled rules), the
    dummy prefix, whitespace splitting and byte fallback follow the model's settings.

    Raises:
        ConfigError: a sentencepiece model of another type (word, char).
    """
    from sentencepiece import sentencepiece_model_pb2
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers
    from tokenizers.models import BPE, Unigram

    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(Path(path).read_bytes())
    spec, norm = proto.trainer_spec, proto.normalizer_spec
    pieces = [(p.piece, p.score, p.type) for p in proto.pieces]
    unk = spec.unk_id
    if spec.model_type == _SPM_BPE:
        vocab = {piece: i for i, (piece, _, _) in enumerate(pieces)}
        normal = {piece for piece, _, kind in pieces if kind == _SPM_NORMAL}
        tok = Tokenizer(BPE(vocab=vocab, merges=_merges(vocab, normal), unk_token=pieces[unk][0], fuse_unk=True,
                            byte_fallback=spec.byte_fallback))
    elif spec.model_type == _SPM_UNIGRAM:
        tok = Tokenizer(Unigram([(piece, score) for piece, score, _ in pieces], unk_id=unk,
                                byte_fallback=spec.byte_fallback))
    else:
        raise ConfigError(f"{path}: a sentencepiece model of type {spec.model_type} (word or char); the "
                          "exported tokenizer supports bpe and unigram models, the types stage 6 trains")
    steps = [normalizers.Precompiled(norm.precompiled_charsmap)] if norm.precompiled_charsmap else []
    if norm.remove_extra_whitespaces:
        steps += [normalizers.Strip(left=True, right=True), normalizers.Replace(Regex(" {2,}"), " ")]
    if steps:
        tok.normalizer = normalizers.Sequence(steps)
    prepend = "always" if norm.add_dummy_prefix else "never"
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme=prepend,
                                                 split=spec.split_by_whitespace)
    if spec.byte_fallback:
        tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                         *([decoders.Strip(" ", 1, 0)] if norm.add_dummy_prefix else [])])
    else:
        tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme=prepend, split=spec.split_by_whitespace)
    # control pieces are special tokens, user-defined pieces are matched whole; both keep their ids
    tok.add_tokens([AddedToken(piece, normalized=False, special=kind == _SPM_CONTROL)
                    for piece, _, kind in pieces if kind in (_SPM_CONTROL, _SPM_USER)])
    return tok


def _text_backend(vocab: Vocabulary) -> Any:
    """The text tokenizer of ``vocab`` as a ``tokenizers.Tokenizer`` with the text tokenizer's own ids."""
    from tokenizers import Tokenizer

    text = vocab.text_tokenizer
    if text.kind == "sentencepiece":
        return spm_tokenizer(text.path)
    backend = getattr(text._tok, "backend_tokenizer", None)
    if backend is None:
        raise ConfigError(f"{text.path}: a tokenizer without a fast (tokenizers) version; the exported model "
                          "needs one: save the tokenizer with tokenizer.json (PreTrainedTokenizerFast)")
    return Tokenizer.from_str(backend.to_str())  # a copy: the text tokenizer stays as it was


def _renumber(data: dict[str, Any], new_id: dict[int, int], extra: list[tuple[str, int]]) -> None:
    """Give the tokens of a tokenizer.json ``data`` the ids ``new_id`` and add the ``extra`` (token, id) pairs.

    The extra tokens enter the model's vocabulary too, so a Unigram model stays contiguous
    and no added token can take another id than the one given.
    """
    model = data["model"]
    kind = model.get("type")
    if kind in ("BPE", "WordPiece", "WordLevel"):
        vocab = {piece: new_id[i] for piece, i in model["vocab"].items()}
        for token, i in extra:
            vocab[token] = i
        model["vocab"] = dict(sorted(vocab.items(), key=lambda kv: kv[1]))
    elif kind == "Unigram":
        rows = {new_id[i]: row for i, row in enumerate(model["vocab"])}
        rows.update({i: [token, -1000.0] for token, i in extra})
        if sorted(rows) != list(range(len(rows))):
            raise ConfigError("the text tokenizer's ids have gaps; a Unigram tokenizer cannot be renumbered")
        model["vocab"] = [rows[i] for i in range(len(rows))]
        if model.get("unk_id") is not None:
            model["unk_id"] = new_id[model["unk_id"]]
    else:
        raise ConfigError(f"text tokenizer model {kind!r}: the exported tokenizer supports BPE, WordPiece, "
                          "WordLevel and Unigram models")
    for added in data.get("added_tokens") or []:
        added["id"] = new_id[added["id"]]
        if kind != "Unigram":
            model["vocab"].setdefault(added["content"], added["id"])
    # the model was trained on bare token sequences: no BOS/EOS added around text
    data["post_processor"] = None


def joint_tokenizer(vocab: Vocabulary, model_max_length: int | None = None) -> Any:
    """A transformers tokenizer holding every token of ``vocab`` at the id the model was trained with.

    Args:
        vocab: the joint vocabulary (text tokenizer loaded from its path).
        model_max_length: the model's context length, recorded in the tokenizer.

    Returns:
        A ``PreTrainedTokenizerFast`` with ``eos_token`` ``<eos>`` and ``pad_token`` ``<pad>``.

    Raises:
        ConfigError: the text tokenizer is not the one the vocabulary was built with.
    """
    from tokenizers import AddedToken, Tokenizer
    from transformers import PreTrainedTokenizerFast

    backend = _text_backend(vocab)
    old = backend.get_vocab(with_added_tokens=True)
    if max(old.values(), default=-1) + 1 != vocab.text_size:
        raise ConfigError(f"{vocab.text_tokenizer.path}: the text tokenizer has ids up to {max(old.values())}, "
                          f"the vocabulary was built with {vocab.text_size} text tokens; use the tokenizer "
                          "it was built with (stage 6)")
    kept = vocab.kept_text if vocab.kept_text is not None else list(range(vocab.text_size))
    new_id = {orig: i for i, orig in enumerate(kept)}
    pruned = sorted(set(old.values()) - set(new_id))
    new_id.update({orig: len(vocab) + k for k, orig in enumerate(pruned)})
    specials = [(sp, vocab.special(sp)) for sp in vocab.specials]
    units = [(UNIT_FORMAT.format(u), vocab.unit_id(u)) for u in range(vocab.n_units)]
    clash = sorted(set(old) & {t for t, _ in specials + units})
    if clash:
        raise ConfigError(f"the text tokenizer already has the token(s) {clash[:3]}, which the vocabulary adds as "
                          "specials or units; the exported tokenizer would hold them twice")
    data = json.loads(backend.to_str())
    _renumber(data, new_id, specials + units)
    tok = Tokenizer.from_str(json.dumps(data))
    tok.add_special_tokens([AddedToken(t, normalized=False, special=True) for t, _ in specials])
    tok.add_tokens([AddedToken(t, normalized=False, special=False) for t, _ in units])
    for token, i in specials + units:
        if tok.token_to_id(token) != i:  # never expected: tokenizers took another id
            raise RuntimeError(f"exported tokenizer: {token} got id {tok.token_to_id(token)}, the model's is {i}")
    kwargs = {"model_max_length": model_max_length} if model_max_length else {}
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", pad_token="<pad>",
                                   clean_up_tokenization_spaces=False, model_input_names=["input_ids", "attention_mask"],
                                   **kwargs)


def set_token_ids(model: Any, vocab: Vocabulary) -> None:
    """Put ``vocab``'s eos and pad in the model's config and a fresh generation config (greedy, no bos)."""
    from transformers import GenerationConfig

    eos, pad = vocab.special("<eos>"), vocab.pad_id
    model.config.eos_token_id, model.config.pad_token_id, model.config.bos_token_id = eos, pad, None
    model.generation_config = GenerationConfig(eos_token_id=eos, pad_token_id=pad, bos_token_id=None)


def copy_text_tokenizer(vocab_path: str | Path, out_dir: str | Path) -> Path:
    """Copy ``vocab.yaml`` and its text tokenizer's files (never a model's weights) into ``out_dir``.

    A sentencepiece model goes next to it (``bpe.model``, ``bpe.vocab``); a transformers
    tokenizer is saved to ``text_tokenizer/`` with its own ``save_pretrained``, which writes the
    tokenizer files only, even where the tokenizer's path is a whole LLM directory.
    """
    import shutil

    out_dir = Path(out_dir)
    vocab = Vocabulary.load(vocab_path)
    tok = Path(vocab.tokenizer["path"])
    if vocab.tokenizer["kind"] == "sentencepiece":
        shutil.copy2(tok, out_dir / tok.name)
        if tok.with_suffix(".vocab").is_file():
            shutil.copy2(tok.with_suffix(".vocab"), out_dir / tok.with_suffix(".vocab").name)
        rel = tok.name
    else:
        vocab.text_tokenizer._tok.save_pretrained(out_dir / TEXT_TOKENIZER_DIR)
        rel = TEXT_TOKENIZER_DIR
    vocab.tokenizer = dict(vocab.tokenizer, path=rel)
    vocab.save(out_dir / "vocab.yaml")
    return out_dir / "vocab.yaml"


def write_hf_files(out_dir: str | Path, model_vocab: Vocabulary, vocab_path: str | Path,
                   model_max_length: int | None = None) -> None:
    """The files besides the weights: joint tokenizer, ``vocab.yaml`` and its text tokenizer."""
    joint_tokenizer(model_vocab, model_max_length).save_pretrained(out_dir)
    copy_text_tokenizer(vocab_path, out_dir)

