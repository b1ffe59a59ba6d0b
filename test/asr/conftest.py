"""Fixtures of the CTC model tests (helpers in asr_testutils.py)."""
from __future__ import annotations

import pytest
from asr_testutils import TRAIN_UTTS, write_set


@pytest.fixture(scope="session")
def tiny_sets(tmp_path_factory):
    """``(train_dir, valid_dir)``: six and two utterances of a few French/English words."""
    root = tmp_path_factory.mktemp("ctc_sets")
    train = write_set(root / "train_fr", TRAIN_UTTS)
    valid = write_set(root / "dev_fr", {"s3_g": ("le loup la lune", "a wolf the moon"),
                                        "s3_h": ("le lit", "the bed")})
    return train, valid
