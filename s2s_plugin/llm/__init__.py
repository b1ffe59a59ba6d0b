"""LLM decoders, the joint vocabulary and chain-of-thought token sequences.

Built-in decoder: ``hf`` (any transformers causal LM from a local directory,
or randomly initialised from a config).
"""
from s2s_plugin import hookimpl


@hookimpl
def register_llm_decoders() -> list[type]:
    from s2s_plugin.llm.hf import HFDecoder  # light: transformers is imported inside its methods

    return [HFDecoder]
