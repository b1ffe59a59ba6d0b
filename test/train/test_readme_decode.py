"""The README's plain-transformers lines decode a model trained here exactly as ``s2s decode`` does.

The block runs as the README shows it, in a fresh Python without s2s_plugin, from
a directory laid out as a recipe's (``exp/s2st_scheduled/model``, ``dump/test_fr``).
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from s2s_plugin.bin.main import main
from s2s_plugin.data.io import read_kaldi_text
from s2s_plugin.train.run import Run

ROOT = Path(__file__).resolve().parents[2]
MARKER = "<!-- test/train/test_readme_decode.py runs this block as it stands -->"


def readme_block() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert MARKER in text, "the README lost its plain-transformers decoding block"
    block = re.match(r"\s*```python\n(.*?)```", text.split(MARKER, 1)[1], re.S)
    assert block, "the marker is not followed by a ```python block"
    return block.group(1)


@pytest.fixture(scope="module")
def trained(dumps, vocab_path, tmp_path_factory):
    from s2s_plugin.registry import reset_registry
    from train_testutils import load_tiny

    reset_registry()
    cfg = load_tiny(dumps, vocab_path, trainer__max_steps=160, trainer__val_check_interval=40, trainer__save_every=40)
    exp = tmp_path_factory.mktemp("recipe") / "exp" / "s2st_scheduled"
    out = Run(cfg, exp).fit()
    reset_registry()
    return exp.parents[1], out


def test_exported_model_is_a_standard_directory(trained, vocab_path):
    from transformers import AutoTokenizer

    from s2s_plugin.llm.sequence import Example, SequenceBuilder, Side
    from s2s_plugin.llm.vocab import Vocabulary

    _, model_dir = trained
    vocab = Vocabulary.load(vocab_path)
    tok = AutoTokenizer.from_pretrained(model_dir)
    example = Example("u", Side("fr", [3, 0, 19, 7], []), Side("en", [], []))
    assert tok("<s_src><lang_fr><u3><u0><u19><u7><t_src>").input_ids == SequenceBuilder(vocab).prompt(example)
    gen = json.loads((model_dir / "generation_config.json").read_text())
    assert (gen["eos_token_id"], gen["pad_token_id"]) == (vocab.special("<eos>"), vocab.pad_id)
    assert not [p for p in model_dir.iterdir() if p.is_dir()]  # nothing in subdirectories (sentencepiece text)


def test_readme_lines_give_the_tokens_of_s2s_decode(trained, dumps, registry):
    root, model_dir = trained
    (root / "dump").mkdir(exist_ok=True)
    (root / "dump" / "test_fr").symlink_to(dumps["dev"])
    report = ("\nimport json, sys\njson.dump({'utt': utt, 'src': text_only(src_text), 'tgt': text_only(tgt_text), "
              "'units': re.findall(r'<u(\\d+)>', speech), 'hyp': hyp, "
              "'ours': sorted(m for m in sys.modules if m.startswith('s2s_plugin'))}, open('readme.json', 'w'))\n")
    proc = subprocess.run([sys.executable, "-c", readme_block() + report], cwd=root, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads((root / "readme.json").read_text())
    assert got["ours"] == []  # plain transformers only
    assert got["hyp"] and proc.stdout.startswith(got["utt"] + " ")
    out = root / "exp" / "s2st_scheduled" / "decode_test_fr"
    assert main(["decode", "--model_dir", str(model_dir), "--dir", str(root / "dump" / "test_fr"), "--out", str(out),
                 "constrain=false", "batch_size=1", "device=cpu", "dtype=float32"]) == 0
    utt = got["utt"]
    assert read_kaldi_text(out / "hyp_text.fr", allow_empty_value=True)[utt] == got["src"]
    assert read_kaldi_text(out / "hyp_text.en", allow_empty_value=True)[utt] == got["tgt"]
    assert read_kaldi_text(out / "hyp_units.en", allow_empty_value=True)[utt].split() == got["units"]
