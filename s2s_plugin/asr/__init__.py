"""ASR: the CTC model of stages 3-5 and the scoring ASR models of stage 11.

    s2s ctc train --config conf/ctc.yaml --train_dirs dump/train_fr --valid_dirs dump/dev_fr --exp exp/ctc
    s2s ctc eval --exp exp/ctc --dirs dump/dev_fr

    from s2s_plugin.asr.ctc import load_ctc_model
    model = load_ctc_model("exp/ctc")            # implements s2s_plugin.protocols.CTCModel

The same CTC model aligns words (stage 5, aligner ``ctc_segmentation``), feeds the
``ctc_kmeans`` unit tokenizer (stage 4, ``layer_features``) and, trained on
English target speech only, scores generated speech (stage 11, ``asr_model``
``ctc`` in :mod:`s2s_plugin.asr.scorers`).
"""
from s2s_plugin import hookimpl
from s2s_plugin.asr.scorers import CtcASR, EspnetASR, WhisperASR

__all__ = ["CtcASR", "WhisperASR", "EspnetASR"]


@hookimpl
def register_asr_models() -> list[type]:
    return [CtcASR, WhisperASR, EspnetASR]
