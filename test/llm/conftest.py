"""Fixtures for the LLM tests: a tiny vocabulary (on the shared sentencepiece model of test/conftest.py)."""
from __future__ import annotations

import pytest

@pytest.fixture
def vocab(spm_model):
    from s2s_plugin.llm.vocab import build_vocabulary

    return build_vocabulary({"kind": "sentencepiece", "path": str(spm_model)}, n_units=50,
                            langs=["fr", "es", "en"])
