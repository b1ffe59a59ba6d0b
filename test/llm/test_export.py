"""The exported model directory: a joint tokenizer with the trained ids, weights once, LoRA merged or as an adapter."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from s2s_plugin.llm.export import UNIT_FORMAT, joint_tokenizer
from s2s_plugin.llm.hf import HFDecoder
from s2s_plugin.llm.vocab import build_vocabulary
from s2s_plugin.train.checkpoint import export_model

CORPUS = ["le chat noir mange", "la maison blanche", "les chats ne mangent pas", "deux chiens rouges",
          "the black cat eats", "the white house", "the cats do not eat", "été à l'école, ﬁn"]
PRUNE = ["le chat noir mange", "the black cat eats"]


def _spm(tmp: Path, model_type: str) -> Path:
    import sentencepiece as spm

    (tmp / "text.txt").write_text("\n".join(CORPUS * 20) + "\n")
    spm.SentencePieceTrainer.train(input=str(tmp / "text.txt"), model_prefix=str(tmp / model_type), vocab_size=60,
                                   model_type=model_type, character_coverage=1.0, bos_id=-1, eos_id=-1,
                                   num_threads=1, minloglevel=2, hard_vocab_limit=False)
    return tmp / f"{model_type}.model"


def _hf_tokenizer_dir(d: Path) -> Path:
    """A byte-level BPE tokenizer (as Llama's) whose post-processor adds a BOS, saved as transformers does."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tk.train_from_iterator(CORPUS * 10, trainers.BpeTrainer(vocab_size=300, special_tokens=["<|bos|>", "<|eos|>"],
                                                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tk.post_processor = processors.TemplateProcessing(single="<|bos|> $A", special_tokens=[("<|bos|>", 0)])
    PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<|bos|>", eos_token="<|eos|>").save_pretrained(d)
    return d


def _tokenizer_source(kind: str, tmp: Path) -> dict[str, str]:
    if kind == "hf":
        return {"kind": "hf", "path": str(_hf_tokenizer_dir(tmp / "hf"))}
    return {"kind": "sentencepiece", "path": str(_spm(tmp, kind))}


@pytest.mark.parametrize("pruned", [False, True], ids=["full", "pruned"])
@pytest.mark.parametrize("kind", ["bpe", "unigram", "hf"])
def test_joint_tokenizer_has_the_trained_ids(kind, pruned, tmp_path):
    from transformers import AutoTokenizer

    vocab = build_vocabulary(_tokenizer_source(kind, tmp_path), n_units=12, langs=["fr", "en"],
                             prune_texts=PRUNE if pruned else None)
    joint_tokenizer(vocab, 512).save_pretrained(tmp_path / "out")
    tok = AutoTokenizer.from_pretrained(tmp_path / "out")
    for sp in vocab.specials:
        assert tok.convert_tokens_to_ids(sp) == vocab.special(sp)
    for u in range(vocab.n_units):
        assert tok.convert_tokens_to_ids(UNIT_FORMAT.format(u)) == vocab.unit_id(u)
    assert (tok.eos_token_id, tok.pad_token_id) == (vocab.special("<eos>"), vocab.pad_id)
    # text encodes and decodes as in training: no BOS added, the text tokenizer's pieces at the vocabulary's ids
    # (sentencepiece normalises whitespace as training splits words; a byte-level BPE keeps every space)
    odd = ["  le   chat  "] if kind != "hf" else []
    for sentence in PRUNE if pruned else [*CORPUS, *odd]:
        ours = [i for ids in vocab.encode_words(sentence.split()) for i in ids]
        assert tok(sentence).input_ids == ours, sentence
        assert tok.decode(ours) == vocab.decode_text(ours)
    prompt = [vocab.special("<s_src>"), vocab.special("<lang_fr>"), vocab.unit_id(3), vocab.unit_id(11),
              vocab.unit_id(0), vocab.special("<t_src>")]
    assert tok("<s_src><lang_fr><u3><u11><u0><t_src>").input_ids == prompt
    if pruned:  # pruned pieces stay (a BPE's merges need them), at ids the model does not have
        assert len(tok) > len(vocab) and all(i >= len(vocab) for t, i in tok.get_vocab().items()
                                             if i not in range(len(vocab)))


def _base_dir(d: Path, tok_dir: Path, hidden: int, tied: bool) -> Path:
    """A local LLM directory as downloaded: config, weights and its tokenizer's files."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tok_dir)
    cfg = AutoConfig.for_model("llama", vocab_size=len(tok), hidden_size=hidden, intermediate_size=2 * hidden,
                               num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                               max_position_embeddings=256, tie_word_embeddings=tied)
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(cfg).save_pretrained(d)
    tok.save_pretrained(d)
    return d


def _dir_bytes(d: Path) -> int:
    return sum(f.stat().st_size for f in d.rglob("*") if f.is_file())


def test_exported_dir_is_standard_and_stores_the_weights_once(tmp_path):
    """The vocabulary's tokenizer path is the LLM's own directory (as in the CVSS recipe): its weights stay out."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = _base_dir(tmp_path / "base", _hf_tokenizer_dir(tmp_path / "tok"), hidden=256, tied=False)
    vocab = build_vocabulary({"kind": "hf", "path": str(base)}, n_units=40, langs=["fr"])
    vocab.save(tmp_path / "vocab.yaml")
    model = HFDecoder(path=str(base)).build(vocab)
    out = export_model(model, None, tmp_path / "vocab.yaml", tmp_path / "model")
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    assert abs(_dir_bytes(out) - params) < 0.05 * params, (_dir_bytes(out), params)
    assert sorted(f.name for f in out.rglob("*.safetensors")) == ["model.safetensors"]
    gen = json.loads((out / "generation_config.json").read_text())
    assert (gen["eos_token_id"], gen["pad_token_id"]) == (vocab.special("<eos>"), vocab.pad_id)
    tok = AutoTokenizer.from_pretrained(out)
    loaded = AutoModelForCausalLM.from_pretrained(out)
    assert len(tok) == loaded.config.vocab_size == len(vocab)
    x = torch.tensor([tok("<s_src><lang_fr><u1><u39><t_src>").input_ids])
    assert torch.allclose(loaded(x).logits, model.eval()(x).logits, atol=1e-5)
    assert (out / "vocab.yaml").is_file() and (out / "text_tokenizer" / "tokenizer.json").is_file()


@pytest.mark.parametrize("tied", [True, False], ids=["tied", "untied"])
def test_lora_merged_or_adapter(tied, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = _base_dir(tmp_path / "base", _hf_tokenizer_dir(tmp_path / "tok"), hidden=64, tied=tied)
    vocab = build_vocabulary({"kind": "hf", "path": str(base)}, n_units=10, langs=["fr"])
    vocab.save(tmp_path / "vocab.yaml")
    x = torch.randint(0, len(vocab), (1, 12), generator=torch.Generator().manual_seed(0))
    logits = {}
    for mode in ("merged", "adapter"):
        torch.manual_seed(1)
        model = HFDecoder(path=str(base), dropout=0.0, lora={"r": 4, "export": mode}).build(vocab)
        with torch.no_grad():  # as if trained: adapters, embedding and output rows all moved
            for p in model.parameters():
                if p.requires_grad:
                    p.add_(0.1 * torch.randn_like(p))
        logits[mode] = model.eval()(x).logits
        out = export_model(model, None, tmp_path / "vocab.yaml", tmp_path / mode, model_vocab=vocab,
                           lora_export=mode)
        assert torch.allclose(HFDecoder.load_trained(out)(x).logits, logits[mode], atol=1e-5)  # s2s decode's
        if mode == "merged":
            plain = AutoModelForCausalLM.from_pretrained(out)
        else:
            assert not (out / "model.safetensors").exists() and (out / "adapter_model.safetensors").is_file()
            assert json.loads((out / "adapter_config.json").read_text())["base_model_name_or_path"] == \
                str(base.resolve())
            plain = AutoModelForCausalLM.from_pretrained(base)  # the README's lines
            plain.resize_token_embeddings(len(AutoTokenizer.from_pretrained(out)))
            plain = PeftModel.from_pretrained(plain, out)
        assert torch.allclose(plain.eval()(x).logits, logits[mode], atol=1e-5)
    with pytest.raises(Exception, match="lora.export must be"):
        HFDecoder(path=str(base), lora={"export": "both"})
    with pytest.raises(Exception, match="use lora.export: merged"):
        HFDecoder(config={"model_type": "llama"}, lora={"export": "adapter"})
