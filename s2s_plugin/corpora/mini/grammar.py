"""Sample abstract sentences and realise them in every language.

    import random
    from s2s_plugin.corpora.mini.grammar import sample_sentence, realise, region

    rng = random.Random("1:train:fr")
    s = sample_sentence(rng)              # a Sentence whose realisations all have 3..12 words
    realise(s, "fr"), realise(s, "en")    # ('les deux chats noirs ne dormiront pas', ...)
    region(s.key(), heldout_fraction=0.1) # 'train', 'dev' or 'test', from a hash of the structure

Text normalisation (every language): lowercase letters (accents kept), words
separated by one space, no punctuation except the French elision apostrophe,
which stays inside its word (``l'homme``, ``n'a``, ``j'ai``). Numbers are
spelled out. Sampling is weighted so that every phenomenon is frequent:
negation in ~30% of sentences, each tense a third, adjectives, numbers and
possessives in a good share of the noun phrases. Selection restrictions come
from the lexicon's tags.
"""
from __future__ import annotations

import functools
import hashlib
import random
import re
from collections.abc import Sequence

from s2s_plugin.corpora.mini import en, es, fr, pt
from s2s_plugin.corpora.mini.lexicon import (ADJECTIVES, LANGS, NOUNS, NUMBER_RANGE, VERBS, Adjective, Noun)
from s2s_plugin.corpora.mini.structure import NP, OWNERS, PERSONS, TENSES, Pronoun, Sentence

MIN_WORDS, MAX_WORDS = 3, 12
LETTERS = "a-zàâäçéèêëîïôöûùüÿñáíóúãõœ"
#: One word of normalised text (any language): letters, with at most one elision apostrophe inside.
WORD_RE = re.compile(f"^[{LETTERS}]+(?:'[{LETTERS}]+)?$")

_REALISERS = {"en": en.realise_words, "fr": fr.realise_words, "es": es.realise_words, "pt": pt.realise_words}

P_NEGATION = 0.3
P_PRONOUN = 0.3      # subject is a pronoun (when persons may be the subject)
P_ADJECTIVE = 0.3    # a noun phrase has an adjective
P_LOCATION = 0.3     # a clause has "in the <place>" (when its verb allows places)
P_ADVERB = 0.25      # a past/future clause ends with yesterday/tomorrow
FRAMES = (("trans", 0.45), ("intr", 0.3), ("cop", 0.25))
SUBJECT_DETS = (("def", 0.5), ("num", 0.2), ("poss", 0.3))
OBJECT_DETS = (("def", 0.4), ("indef", 0.3), ("num", 0.1), ("poss", 0.2))


def realise_words(s: Sentence, lang: str) -> list[str]:
    """The words of ``s`` in ``lang`` (``en``, ``fr``, ``es`` or ``pt``)."""
    return _REALISERS[lang](s)


def realise(s: Sentence, lang: str) -> str:
    """The normalised text of ``s`` in ``lang``."""
    return " ".join(_REALISERS[lang](s))


def region(key: str, heldout_fraction: float) -> str:
    """Which part of the sentence space ``key`` belongs to: ``train``, ``dev`` or ``test``.

    A fixed hash of the structure's key (independent of the seed and of the
    language), so a held-out structure is held out in every language and every run.
    """
    u = int.from_bytes(hashlib.sha1(key.encode("utf-8")).digest()[:8], "big") / 2.0 ** 64
    if u < heldout_fraction / 2:
        return "dev"
    if u < heldout_fraction:
        return "test"
    return "train"


def _weighted(rng: random.Random, choices: Sequence[tuple[str, float]]) -> str:
    return rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]


@functools.lru_cache(maxsize=None)
def _nouns(tags: frozenset[str]) -> list[Noun]:
    return [n for n in NOUNS.values() if n.tags & tags and "place" not in n.tags]


def _adjective(rng: random.Random, noun: Noun, avoid_group: str = "") -> str:
    fits = [a.concept for a in ADJECTIVES.values() if a.applies & noun.tags and a.group != avoid_group]
    return rng.choice(fits) if fits and rng.random() < P_ADJECTIVE else ""


def _noun_phrase(rng: random.Random, noun: Noun, role: str, negated: bool = False,
                 avoid_group: str = "") -> NP:
    if "sgonly" in noun.tags:  # the father, my mother (never "a father", "two mothers")
        det = _weighted(rng, (("def", 0.6), ("poss", 0.4)))
    elif noun.mass:
        det = _weighted(rng, (("def", 0.4), ("indef", 0.45), ("poss", 0.15)) if role == "obj"
                        else (("def", 0.7), ("poss", 0.3)))
    else:
        det = _weighted(rng, OBJECT_DETS if role == "obj" else SUBJECT_DETS)
    number = "sg" if not noun.countable_plural else "pl" if det == "num" else rng.choice(("sg", "sg", "pl"))
    if negated and det == "indef" and not noun.mass:
        number = "pl"  # "ne ... pas une pomme", "no come una manzana" are marked: use the plural
    count = rng.randint(*NUMBER_RANGE) if det == "num" else 0
    owner = rng.choice(OWNERS) if det == "poss" else ""
    return NP(noun.concept, number, det, count, owner, _adjective(rng, noun, avoid_group))


def _subject(rng: random.Random, tags: frozenset[str], avoid_group: str = "") -> NP | Pronoun:
    if "person" in tags and rng.random() < P_PRONOUN:
        return Pronoun(rng.choice(PERSONS), rng.choice(("m", "f")))
    return _noun_phrase(rng, rng.choice(_nouns(tags)), "subj", avoid_group=avoid_group)


def _draw(rng: random.Random) -> Sentence:
    frame = _weighted(rng, FRAMES)
    tense = rng.choice(TENSES)
    neg = rng.random() < P_NEGATION
    adv = tense != "pres" and rng.random() < P_ADVERB
    if frame == "cop":
        adj: Adjective = rng.choice(list(ADJECTIVES.values()))
        subj = _subject(rng, adj.applies, avoid_group=adj.group)
        return Sentence("cop", subj, adj.concept, tense=tense, neg=neg, adv=adv)
    verb = rng.choice([v for v in VERBS.values() if v.frame == frame])
    subj = _subject(rng, verb.subj)
    obj = None
    if frame == "trans":
        subj_noun = getattr(subj, "noun", "")
        obj_noun = rng.choice([n for n in _nouns(verb.obj) if n.concept != subj_noun])
        obj = _noun_phrase(rng, obj_noun, "obj", negated=neg)
    loc = ""
    if verb.places and rng.random() < P_LOCATION:
        loc = rng.choice([n.concept for n in NOUNS.values() if "place" in n.tags and n.tags & verb.places])
    return Sentence(frame, subj, verb.concept, obj, tense, neg, loc, adv)


def fits(s: Sentence) -> bool:
    """Every realisation has MIN_WORDS..MAX_WORDS words."""
    return all(MIN_WORDS <= len(realise_words(s, lang)) <= MAX_WORDS for lang in LANGS)


def sample_sentence(rng: random.Random) -> Sentence:
    """A random sentence whose realisations all have 3..12 words."""
    while True:
        s = _draw(rng)
        if fits(s):
            return s
