"""The ``hf`` LLM decoder: a transformers causal LM, extended with units and specials.

From a local directory (the real recipe: Llama-3.2-1B) or from a config with
random weights (the embedded recipe's model before its text pretraining, and
tests). Nothing is ever fetched from a hub::

    dec = HFDecoder(path="/models/Llama-3.2-1B", dropout=0.2)
    model = dec.build(vocab)            # embeddings: [kept text | specials | units]

    dec = HFDecoder(config={"model_type": "llama", "hidden_size": 128, "num_hidden_layers": 2,
                            "num_attention_heads": 4, "intermediate_size": 256})
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from s2s_plugin.errors import ConfigError

#: config attributes that hold dropout probabilities, by model family
_DROPOUT_KEYS = ("attention_dropout", "hidden_dropout", "resid_pdrop", "embd_pdrop", "attn_pdrop",
                 "dropout", "activation_dropout", "hidden_dropout_prob", "attention_probs_dropout_prob")


class HFDecoder:
    """A transformers causal LM as the S2ST decoder.

    Args:
        path: a local model directory (``config.json`` + weights). Mutually exclusive with ``config``.
        config: a transformers config as a dict with ``model_type`` (random initialisation).
        dropout: set on every dropout attribute the model's config has (the paper: 0.2).
            Llama-family models only have attention dropout.
        init_new: how new (unit and special) embedding rows start: ``mean`` of the existing rows,
            or ``normal`` with the config's ``initializer_range``.
        lora: ``{r, alpha, dropout, target_modules, export}`` to train LoRA adapters (peft) instead of all
            weights; the embedding and output rows stay trainable so the new tokens can be learnt.
            ``export: merged`` (the default) writes ``exp/<tag>/model`` with the adapters merged into the
            weights; ``export: adapter`` writes a peft adapter that names ``path`` as its base model
            (whose weights are then not copied; needs ``path``). Other keys go to peft's ``LoraConfig``.
        gradient_checkpointing: trade compute for activation memory.
        dtype: ``float32`` or ``bfloat16`` weights.
    """

    name = "hf"

    def __init__(self, path: str | None = None, config: dict[str, Any] | None = None, dropout: float = 0.2,
                 init_new: Literal["mean", "normal"] = "mean", lora: dict[str, Any] | None = None,
                 gradient_checkpointing: bool = False, dtype: str = "float32") -> None:
        if (path is None) == (config is None):
            raise ConfigError("llm 'hf': give exactly one of 'path' (a local model directory) or "
                              "'config' (a transformers config dict for random initialisation); at stage 8 "
                              "s2st.sh passes stage 7's exp/lm/model as llm.path when it has a --pretrain_conf")
        if init_new not in ("mean", "normal"):
            raise ConfigError(f"llm 'hf': init_new must be 'mean' or 'normal', got {init_new!r}")
        if dtype not in ("float32", "bfloat16"):
            raise ConfigError(f"llm 'hf': dtype must be 'float32' or 'bfloat16', got {dtype!r}")
        self.lora_export = str((lora or {}).get("export", "merged"))
        if self.lora_export not in ("merged", "adapter"):
            raise ConfigError(f"llm 'hf': lora.export must be 'merged' or 'adapter', got {self.lora_export!r}")
        if self.lora_export == "adapter" and path is None:
            raise ConfigError("llm 'hf': lora.export: adapter saves the adapter beside its base model's path, "
                              "but the model comes from 'config' (random init); use lora.export: merged")
        self.path, self.config, self.dropout = path, config, float(dropout)
        self.init_new, self.lora, self.gradient_checkpointing, self.dtype = init_new, lora, \
            gradient_checkpointing, dtype

    # -- loading --------------------------------------------------------------
    def load_base(self):
        """The model as it comes: from ``path`` or randomly initialised from ``config``."""
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM

        dtype = getattr(torch, self.dtype)
        if self.path is not None:
            p = Path(self.path)
            if not (p / "config.json").is_file():
                raise ConfigError(
                    f"llm 'hf': no model at {p} (expected {p}/config.json and its weights). Put a "
                    "transformers causal LM directory there, e.g. Llama-3.2-1B downloaded from its model "
                    "page with `huggingface-cli download meta-llama/Llama-3.2-1B --local-dir "
                    f"{p}` on a machine with access; this toolkit never downloads at run time.")
            cfg = AutoConfig.from_pretrained(p, local_files_only=True)
            self._set_dropout(cfg)
            return AutoModelForCausalLM.from_pretrained(p, config=cfg, local_files_only=True, dtype=dtype)
        cfg_dict = dict(self.config)  # type: ignore[arg-type]
        if "seed" in cfg_dict:
            raise ConfigError("llm 'hf': config.seed is not used: trainer.seed seeds the random init (and "
                              "everything else random in a run); remove llm.config.seed")
        model_type = cfg_dict.pop("model_type", None)
        if model_type is None:
            raise ConfigError("llm 'hf': config needs 'model_type' (e.g. llama)")
        cfg = AutoConfig.for_model(model_type, **cfg_dict)
        self._set_dropout(cfg)
        # the weights come from torch's global generator, which the run seeds (trainer.seed)
        return AutoModelForCausalLM.from_config(cfg, dtype=dtype)

    @classmethod
    def load_trained(cls, model_dir: str | Path, device: Any = "cpu", dtype: Any = None) -> Any:
        """Stage 9: the model stage 8 exported to ``model_dir``, on ``device`` in ``dtype``, in eval mode.

        A merged export (and one written before the standard layout) is a transformers model
        directory; a LoRA adapter export (``lora.export: adapter``) is loaded onto its base
        model, laid out as ``model_dir/vocab.yaml``, and merged.

        Raises:
            ConfigError: an adapter whose base model directory is gone.
        """
        from transformers import AutoModelForCausalLM

        model_dir = Path(model_dir)
        if (model_dir / "adapter_config.json").is_file():
            import json

            from peft import PeftModel

            from s2s_plugin.llm.vocab import Vocabulary

            base = json.loads((model_dir / "adapter_config.json").read_text(encoding="utf-8"))
            base = base.get("base_model_name_or_path")
            if not base or not (Path(base) / "config.json").is_file():
                raise ConfigError(f"{model_dir}/adapter_config.json: its base model {base!r} is not there; put the "
                                  "model this adapter was trained on at that path (llm.path of the training "
                                  "config), or retrain with lora.export: merged")
            model = cls(path=base, dtype="float32").build(Vocabulary.load(model_dir / "vocab.yaml"))
            model = PeftModel.from_pretrained(model, model_dir).merge_and_unload()
            model = model.to(dtype) if dtype is not None else model
        else:
            model = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True, dtype=dtype)
        return model.to(device).eval()

    def _set_dropout(self, cfg) -> None:
        for key in _DROPOUT_KEYS:
            if hasattr(cfg, key) and isinstance(getattr(cfg, key), (int, float)):
                setattr(cfg, key, self.dropout)

    def build(self, vocab) -> Any:
        """The base model with its vocabulary laid out as ``vocab`` (pruned text, specials, units).

        A model saved by this toolkit (stage 7's text LM, stage 8's final model)
        records its layout in ``config.s2s_layout``: its text, special and unit
        rows are then carried over by token, and only tokens it lacks get new rows.
        """
        model = self.load_base()
        n_rows = model.get_input_embeddings().weight.shape[0]
        layout = getattr(model.config, "s2s_layout", None)
        if layout is None and n_rows < vocab.text_size:
            raise ConfigError(f"llm 'hf': the model has {n_rows} embedding rows but its text tokenizer "
                              f"has {vocab.text_size} tokens; the tokenizer and model do not match")
        rows = row_map(layout, vocab, n_rows)
        if rows != list(range(n_rows)):
            remap_vocab(model, rows, self.init_new)
        model.config.s2s_layout = layout_of(vocab)
        return self.finish(model)

    def finish(self, model):
        """Gradient checkpointing and LoRA on a model whose vocabulary is final."""
        if self.gradient_checkpointing:
            model.gradient_checkpointing_enable()
            model.config.use_cache = False
        if self.lora:
            from peft import LoraConfig, get_peft_model

            lora = dict(self.lora)
            lora.pop("export", None)
            peft_cfg = LoraConfig(r=int(lora.pop("r", 16)), lora_alpha=int(lora.pop("alpha", 32)),
                                  lora_dropout=float(lora.pop("dropout", 0.05)),
                                  target_modules=lora.pop("target_modules", ["q_proj", "k_proj", "v_proj",
                                                                             "o_proj"]),
                                  modules_to_save=["embed_tokens", "lm_head"], task_type="CAUSAL_LM", **lora)
            model = get_peft_model(model, peft_cfg)
        return model


def layout_of(vocab) -> dict[str, Any]:
    """The vocabulary layout a model is saved with (``config.s2s_layout``)."""
    return {"tokenizer_size": vocab.text_size, "text_ids": vocab.kept_text, "specials": list(vocab.specials),
            "n_units": vocab.n_units}


def row_map(layout: dict[str, Any] | None, vocab, n_rows: int) -> list[int | None]:
    """For each row of ``vocab``'s layout, the model row it comes from (``None``: a new token).

    Args:
        layout: the model's ``s2s_layout`` (``None``: a plain text LLM whose rows are tokenizer ids).
        vocab: the target vocabulary.
        n_rows: the model's embedding rows.

    Raises:
        ConfigError: the model was laid out for another text tokenizer.
    """
    text_ids = vocab.kept_text if vocab.kept_text is not None else list(range(vocab.text_size))
    if layout is None:
        return [*text_ids, *[None] * (len(vocab) - len(text_ids))]
    if layout.get("tokenizer_size") != vocab.text_size:
        raise ConfigError(f"llm 'hf': the model was trained with a text tokenizer of {layout.get('tokenizer_size')} "
                          f"tokens, the vocabulary has {vocab.text_size}; use the vocabulary it was built with")
    old_text = layout.get("text_ids")
    old_pos = {t: i for i, t in enumerate(old_text)} if old_text is not None else None
    n_old_text = len(old_text) if old_text is not None else layout["tokenizer_size"]
    old_specials = {sp: n_old_text + i for i, sp in enumerate(layout.get("specials", []))}
    unit0, n_old_units = n_old_text + len(old_specials), int(layout.get("n_units", 0))
    rows: list[int | None] = [old_pos.get(t) if old_pos is not None else t for t in text_ids]
    rows += [old_specials.get(sp) for sp in vocab.specials]
    rows += [unit0 + u if u < n_old_units else None for u in range(vocab.n_units)]
    if any(r is not None and r >= n_rows for r in rows):
        raise ConfigError(f"llm 'hf': config.s2s_layout describes more rows than the model's {n_rows}")
    return rows


def resize_vocab(model, keep_rows: list[int], new_size: int, init_new: str = "mean") -> None:
    """Give ``model`` a vocabulary of ``new_size``: rows ``keep_rows`` first, then new rows.

    Works for tied and untied input/output embeddings; new rows are the mean of
    the existing rows (``mean``) or drawn from N(0, initializer_range).
    """
    remap_vocab(model, [*keep_rows, *[None] * (new_size - len(keep_rows))], init_new)


def remap_vocab(model, rows: list[int | None], init_new: str = "mean") -> None:
    """Rebuild ``model``'s embedding and output rows: row ``i`` copies old row ``rows[i]``, or is new (``None``).

    New rows are the mean of the existing rows (``mean``) or drawn from N(0, initializer_range).
    """
    import torch

    emb = model.get_input_embeddings()
    out = model.get_output_embeddings()
    tied = out is not None and out.weight.data_ptr() == emb.weight.data_ptr()
    std = float(getattr(model.config, "initializer_range", 0.02))
    new_size = len(rows)
    old = torch.tensor([r if r is not None else 0 for r in rows], dtype=torch.long)
    is_new = torch.tensor([r is None for r in rows])

    def remap(weight: torch.Tensor) -> torch.Tensor:
        if init_new == "mean":
            fill = weight.mean(dim=0, keepdim=True).expand(new_size, -1)
        else:
            fill = torch.randn(new_size, weight.shape[1], dtype=weight.dtype) * std
        return torch.where(is_new[:, None], fill.to(weight.dtype), weight[old])

    with torch.no_grad():
        new_emb = torch.nn.Embedding(new_size, emb.weight.shape[1], dtype=emb.weight.dtype)
        new_emb.weight.copy_(remap(emb.weight))
        model.set_input_embeddings(new_emb)
        if out is not None:
            bias = getattr(out, "bias", None)
            new_out = torch.nn.Linear(out.weight.shape[1], new_size, bias=bias is not None,
                                      dtype=out.weight.dtype)
            if tied:
                new_out.weight = new_emb.weight
            else:
                new_out.weight.copy_(remap(out.weight))
            if bias is not None:
                new_out.bias.copy_(torch.where(is_new, bias.new_zeros(()), bias[old]))
            model.set_output_embeddings(new_out)
    model.config.vocab_size = new_size
    for attr in ("pad_token_id", "bos_token_id", "eos_token_id"):
        setattr(model.config, attr, None)  # the tokenizer's ids no longer apply; our specials do
