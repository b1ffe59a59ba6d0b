"""Corpora the toolkit can make or prepare itself.

    s2s corpus mini --config conf/corpus.yaml --out data --nj 2

- :mod:`s2s_plugin.corpora.mini`: the embedded synthetic speech-to-speech
  translation corpus (a small grammar realised in French, Spanish, Portuguese
  and English, spoken by espeak-ng, with oracle word timings).
- :mod:`s2s_plugin.corpora.cvss`: CVSS-C/T X->En with Common Voice 4 source
  speech, from releases downloaded beforehand (``s2s corpus-cvss``).
"""
