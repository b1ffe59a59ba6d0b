"""Word aligners (stage 5): audio + transcript -> one time span per word, written as CTM.

    s2s align --config conf/align.yaml --dir dump/train_fr              # both languages, one process
    s2s align-report --dirs dump/test_fr --lang fr en                   # against oracle.<lang>.ctm

Built-in aligners (kind ``aligner``): ``ctc_segmentation`` (CTC segmentation
on the stage-3 CTC model, as in the paper), ``uniform`` (equal spans, the
paper's no-alignment ablation) and ``ctm`` (external CTMs: Montreal Forced
Aligner, the corpus oracle). Each implements :class:`s2s_plugin.protocols.Aligner`.
CTC segmentation works on character, SentencePiece BPE and word-piece models
(word spans from token spans) and windows long recordings;
:mod:`s2s_plugin.align.plausibility` finds implausible alignments, which
``s2s align-report`` counts and the stage can drop.
"""
from s2s_plugin import hookimpl
from s2s_plugin.align.common import AlignmentError, AlignmentWarning
from s2s_plugin.align.ctcseg import CTCSegmentationAligner
from s2s_plugin.align.ctm import CTMAligner
from s2s_plugin.align.uniform import UniformAligner

__all__ = ["AlignmentError", "AlignmentWarning", "CTCSegmentationAligner", "CTMAligner", "UniformAligner"]


@hookimpl
def register_aligners() -> list[type]:
    return [CTCSegmentationAligner, UniformAligner, CTMAligner]
