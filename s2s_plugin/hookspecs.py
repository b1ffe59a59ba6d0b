"""Hook specifications: one per kind of pluggable component.

Every hook returns a list of classes; each class carries a class attribute
``name``, the name configs select it by (``{name: step, every: 300}``).
Built-in components register through these same hooks (the modules listed in
``s2s_plugin.registry.BUILTIN_PLUGIN_MODULES``); third-party packages implement them in a module
named by an entry point of the group ``s2s_plugin``::

    # pyproject.toml of a plugin package
    [project.entry-points.s2s_plugin]
    my_plugin = "my_package.plugin"

The interface a class of each kind implements is in ``s2s_plugin/protocols.py``.
Run ``s2s plugins`` to list everything registered.
"""
from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("s2s_plugin")

#: kind -> hook name. A kind is what a config block is built as; the order is
#: the order of ``s2s plugins``.
KINDS: dict[str, str] = {
    "unit_tokenizer": "register_unit_tokenizers",
    "aligner": "register_aligners",
    "interleave_scheduler": "register_interleave_schedulers",
    "llm_decoder": "register_llm_decoders",
    "vocoder": "register_vocoders",
    "asr_model": "register_asr_models",
    "quality_scorer": "register_quality_scorers",
}


@hookspec
def register_unit_tokenizers() -> list[type]:
    """Return unit tokenizer classes: audio -> discrete speech units.

    Returns:
        Classes with a ``name`` attribute; used by stage 4 (unit extraction).
    """


@hookspec
def register_aligners() -> list[type]:
    """Return word aligner classes: audio + words -> word time spans (CTM).

    Returns:
        Classes with a ``name`` attribute; used by stage 5 (word alignment).
    """


@hookspec
def register_interleave_schedulers() -> list[type]:
    """Return interleaving scheduler classes: global step -> text ratio p.

    Returns:
        Classes with a ``name`` attribute implementing
        :class:`s2s_plugin.protocols.InterleaveScheduler`; used by stage 8.
    """


@hookspec
def register_llm_decoders() -> list[type]:
    """Return LLM decoder classes: the language model that reads and writes tokens.

    Returns:
        Classes with a ``name`` attribute; used by stages 6-9.
    """


@hookspec
def register_vocoders() -> list[type]:
    """Return vocoder classes: discrete units -> waveform.

    Returns:
        Classes with a ``name`` attribute; used by stage 10.
    """


@hookspec
def register_asr_models() -> list[type]:
    """Return ASR model classes used for scoring (ASR-BLEU).

    Returns:
        Classes with a ``name`` attribute; used by stage 11.
    """


@hookspec
def register_quality_scorers() -> list[type]:
    """Return speech quality scorer classes: waveform -> one number (e.g. a predicted MOS, a distortion in dB).

    Returns:
        Classes with a ``name`` attribute implementing
        :class:`s2s_plugin.protocols.QualityScorer`; used by stage 11 (the ``quality`` block of
        ``conf/score.yaml``).
    """
