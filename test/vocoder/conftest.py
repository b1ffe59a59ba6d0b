"""Fixtures of the vocoder tests: a little espeak-ng speech with trivial units, as a dump dir."""
from __future__ import annotations

import pytest
from vocoder_testutils import Corpus, make_corpus


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Corpus:
    """Five English espeak-ng utterances (16 kHz), their units, and a dump dir holding both."""
    return make_corpus(tmp_path_factory.mktemp("vocoder_corpus"))
