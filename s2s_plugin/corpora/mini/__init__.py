"""The embedded synthetic S2ST corpus: a small grammar, four languages, espeak-ng speech.

    s2s corpus mini --config egs/mini_s2st/s2st1/conf/corpus.yaml --out data --nj 2

    from s2s_plugin.corpora.mini import build_corpus, load_mini_config
    build_corpus(load_mini_config("conf/corpus_tiny.yaml"), "data", nj=2)

Modules, in the order a sentence goes through them:

- ``lexicon``: nouns (with gender per language), adjectives, verbs, numbers;
- ``structure``: the abstract sentence (clause frame, noun phrases, tense, negation);
- ``grammar``: sampling structures and the hash split into train/dev/test;
- ``fr``, ``es``, ``pt``, ``en``: realisation (agreement, word order, negation, morphology);
- ``espeak``: libespeak-ng through ctypes, speech and word timings;
- ``config``, ``build``: the strict config and the writing of every set.
"""
from s2s_plugin.corpora.mini.build import build_corpus, plan_corpus
from s2s_plugin.corpora.mini.config import MiniCorpusConfig, load_mini_config

__all__ = ["MiniCorpusConfig", "build_corpus", "load_mini_config", "plan_corpus"]
