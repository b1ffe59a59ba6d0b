"""Built-in unit tokenizers (stage 4): frame features + k-means -> discrete speech units.

    s2s units fit --config conf/units.yaml --dirs dump/train_fr dump/train_es --lang fr es en --exp exp/units
    s2s units label --exp exp/units --dir dump/test_fr --lang fr en
    s2s units stats --dirs dump/test_fr
    s2s units import --kmeans km/hubert_L9_km500.bin --config conf/units_peer.yaml --exp exp/units

Tokenizers, selected by ``tokenizer.name`` in ``conf/units.yaml``:

- ``mfcc_kmeans``: Kaldi MFCCs + deltas, per-utterance CMVN (no model needed);
- ``ctc_kmeans``: one encoder layer of the stage-3 CTC model (the analog of the
  paper's ASR-fine-tuned w2v-BERT units);
- ``s3prl_kmeans``: one layer of an s3prl upstream (HuBERT, mHuBERT, wav2vec 2.0,
  ...) loaded from a local checkpoint;
- ``hf_kmeans``: one hidden layer of a transformers SSL model directory
  (w2v-BERT 2.0, HuBERT, wav2vec 2.0, or their CTC fine-tuned versions).

``s2s units import`` (:mod:`s2s_plugin.units.peer`) sets the k-means of any of
them from a peer's file (fairseq / ESPnet joblib, pickle, ``.npy``) instead of a
fit; docs/units.md.

Each fits a streaming mini-batch k-means (:mod:`s2s_plugin.units.kmeans`) whose
memory does not grow with the corpus. Heavy libraries load only when a
tokenizer first extracts features.
"""
from s2s_plugin import hookimpl
from s2s_plugin.units.tokenizers import CtcKmeans, HfKmeans, MfccKmeans, S3prlKmeans

__all__ = ["MfccKmeans", "CtcKmeans", "S3prlKmeans", "HfKmeans"]


@hookimpl
def register_unit_tokenizers() -> list[type]:
    return [MfccKmeans, CtcKmeans, S3prlKmeans, HfKmeans]
