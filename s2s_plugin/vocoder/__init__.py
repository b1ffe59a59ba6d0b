"""Built-in vocoders (stage 10): discrete units -> waveform.

    s2s vocoder fit --config conf/vocoder.yaml --dirs dump/train_fr dump/train_es --lang en --exp exp/vocoder
    s2s vocoder synth --exp exp/vocoder --units exp/decode/test_fr/units.en --out exp/decode/test_fr/synth

Vocoders, selected by ``vocoder.name`` in ``conf/vocoder.yaml``:

- ``world``: per-unit WORLD statistics (F0, coded spectral envelope, band
  aperiodicity) fitted on training target speech and its units, smoothed and
  synthesised with pyworld; trains in seconds on CPU;
- ``concat``: unit selection: plays back the stretches of the training target
  speech whose units match, joined where the unit contexts agree, with short
  crossfades; fits in seconds (the embedded recipe's: the scoring ASR hears its
  output almost as well as the reference speech);
- ``unit_hifigan``: a pretrained unit HiFi-GAN from a local ParallelWaveGAN
  (``checkpoint-*.pkl`` + ``config.yml``; the paper's) or fairseq CodeHiFiGAN
  (``g_*``/``model.pt`` + ``config.json``) checkpoint.

They implement :class:`s2s_plugin.protocols.Vocoder`. pyworld and torch are
imported only when a vocoder first analyses, loads or synthesises.
"""
from s2s_plugin import hookimpl
from s2s_plugin.vocoder.concat import ConcatVocoder
from s2s_plugin.vocoder.unit_hifigan import UnitHiFiGAN
from s2s_plugin.vocoder.world import WorldVocoder

__all__ = ["WorldVocoder", "ConcatVocoder", "UnitHiFiGAN"]


@hookimpl
def register_vocoders() -> list[type]:
    return [WorldVocoder, ConcatVocoder, UnitHiFiGAN]
