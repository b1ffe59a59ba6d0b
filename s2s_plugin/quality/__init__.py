"""Speech quality scorers of stage 11 (``quality_scorer`` plugins): one number per utterance.

    from s2s_plugin.registry import get_registry

    scorer = get_registry().build("quality_scorer", {"name": "wada_snr"})
    scorer.score([wave], 16000)         # [24.3]

Built-ins, selected by the ``quality`` block of ``conf/score.yaml``:

- ``utmos22_strong``: the UTMOS22 strong learner, a predicted naturalness MOS
  (1-5), from SpeechMOS's released checkpoint file (:mod:`.utmos`);
- ``wada_snr``: WADA-SNR, a blind estimate of the signal-to-noise ratio in dB;
  needs no model and costs next to nothing, but sees additive noise only and
  is not a MOS (:mod:`.wada`);
- ``mcd_dtw``: the mel-cepstral distortion (dB, lower is better) of our
  speech from the reference speech after DTW; needs no model but the
  reference target speech of each utterance (:mod:`.mcd`).

Higher is better unless a scorer sets ``higher_is_better = False``; a scorer
with ``needs_reference = True`` gets each utterance's reference speech.

They implement :class:`s2s_plugin.protocols.QualityScorer`; docs/quality.md
says what each measures and where the checkpoint goes.
"""
from s2s_plugin import hookimpl
from s2s_plugin.quality.mcd import MelCepstralDistortion
from s2s_plugin.quality.utmos import Utmos22Strong
from s2s_plugin.quality.wada import WadaSNR

__all__ = ["MelCepstralDistortion", "Utmos22Strong", "WadaSNR"]


@hookimpl
def register_quality_scorers() -> list[type]:
    return [MelCepstralDistortion, Utmos22Strong, WadaSNR]
