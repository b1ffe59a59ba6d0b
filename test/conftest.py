"""Shared fixtures. Plugins installed on the machine never leak into tests:
entry-point loading is disabled for the whole suite (tests that exercise entry
points run ``s2s`` in a subprocess with their own environment)."""
from __future__ import annotations

import os

os.environ["S2S_PLUGIN_DISABLE_ENTRYPOINTS"] = "1"
# Recipes and CLIs run in subprocesses (python -m s2s_plugin.bin.main from a recipe dir) import
# this checkout's package, not whatever an editable install points to.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (_ROOT, os.environ.get("PYTHONPATH")) if p)
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest  # noqa: E402

from s2s_plugin.registry import Registry, reset_registry  # noqa: E402


@pytest.fixture
def registry():
    """A fresh registry with the built-ins only, also installed as the process-wide one."""
    import s2s_plugin.registry as reg_mod

    reset_registry()
    reg = Registry.create(entrypoints=False)
    reg_mod._REGISTRY = reg
    yield reg
    reset_registry()


#: a tiny multilingual text corpus for sentencepiece fixtures
SENTENCES = [
    "le chat noir mange", "la maison blanche", "les chats ne mangent pas", "deux chiens rouges",
    "the black cat eats", "the white house", "the cats do not eat", "two red dogs",
    "el gato negro come", "la casa blanca", "los gatos no comen", "dos perros rojos",
]


@pytest.fixture(scope="session")
def spm_model(tmp_path_factory):
    import sentencepiece as spm

    d = tmp_path_factory.mktemp("spm")
    text = d / "text.txt"
    text.write_text("\n".join(SENTENCES * 20) + "\n")
    spm.SentencePieceTrainer.train(input=str(text), model_prefix=str(d / "bpe"), vocab_size=60,
                                   model_type="bpe", character_coverage=1.0, bos_id=-1, eos_id=-1,
                                   num_threads=1, minloglevel=2)
    return d / "bpe.model"
