"""``hf_frozen_text``: the built-in ``hf`` decoder with its text embedding rows frozen.

    llm:
      name: hf_frozen_text
      path: exp/lm/model
    optim:
      weight_decay: 0.0    # AdamW's decay would still shrink the frozen rows

Only the new (special and unit) rows of the embedding and output layers, and the
transformer blocks, learn: the text LLM's token embeddings stay as pretrained.
Stage 8 writes ``name: hf_frozen_text`` to ``exp/<tag>/model/llm.yaml``, so stage 9
finds this class again and loads the model with its ``load_trained`` (the one it
inherits: the exported directory is a standard transformers model).
"""
from __future__ import annotations

from typing import Any

import torch

from s2s_plugin.llm.hf import HFDecoder


class HFFrozenText(HFDecoder):
    """:class:`s2s_plugin.llm.hf.HFDecoder` whose rows ``0 .. vocab.n_text - 1`` get no gradient."""

    name = "hf_frozen_text"

    def build(self, vocab: Any) -> Any:
        model = super().build(vocab)
        n_text = vocab.n_text
        layers = {id(m.weight): m.weight for m in (model.get_input_embeddings(), model.get_output_embeddings())
                  if m is not None}
        for weight in layers.values():  # tied embeddings: one weight, one hook
            mask = torch.ones(weight.shape[0], 1, dtype=weight.dtype)
            mask[:n_text] = 0.0
            weight.register_hook(lambda grad, mask=mask: grad * mask.to(grad.device, grad.dtype))
        return model
