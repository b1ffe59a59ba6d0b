"""English realisation (the target language).

    from s2s_plugin.corpora.mini import en
    en.realise(Sentence("intr", NP("cat", "pl", "def"), "sleep", tense="past", neg=True))
    # 'the cats did not sleep'

Adjectives precede the noun; negation uses do-support (``does not eat``, ``did
not eat``) except with *be* and *will*; the indefinite article is ``a``/``an``
by the next word's first letter; plural and mass indefinites are bare
(``eats apples``, ``drinks milk``). No contractions.
"""
from __future__ import annotations

from s2s_plugin.corpora.mini.lexicon import ADJECTIVES, ADVERBS, NOUNS, NUMBERS, VERBS
from s2s_plugin.corpora.mini.structure import NP, Pronoun, Sentence

PRONOUNS = {"1sg": "i", "2sg": "you", "3sg.m": "he", "3sg.f": "she", "1pl": "we", "2pl": "you", "3pl": "they"}
POSSESSIVES = {"1sg": "my", "2sg": "your", "1pl": "our"}
BE = {"pres": {"1sg": "am", "3sg": "is"}, "past": {"1sg": "was", "3sg": "was"}}


def third_singular(base: str) -> str:
    """``eat`` -> ``eats``; multi-word verbs inflect their first word (``looks for``)."""
    head, _, rest = base.partition(" ")
    if head == "have":
        form = "has"
    elif head.endswith(("s", "sh", "ch", "x", "z", "o")):
        form = head + "es"
    elif head.endswith("y") and head[-2:-1] not in ("a", "e", "i", "o", "u"):
        form = head[:-1] + "ies"
    else:
        form = head + "s"
    return f"{form} {rest}".strip()


def noun_phrase(np: NP) -> list[str]:
    noun = NOUNS[np.noun]
    form = noun.forms["en"]
    core = [form.sg if np.number == "sg" else form.pl]
    if np.adj:
        core.insert(0, ADJECTIVES[np.adj].forms["en"].m_sg)
    if np.det == "def":
        det = ["the"]
    elif np.det == "indef":
        det = [] if noun.mass or np.number == "pl" else ["an" if core[0][0] in "aeiou" else "a"]
    elif np.det == "num":
        det = [NUMBERS["en"][np.count]]
    else:
        det = [POSSESSIVES[np.owner]]
    return det + core


def _verb_group(s: Sentence) -> list[str]:
    person = s.person
    third = person == "3sg"
    if s.frame == "cop":
        if s.tense == "fut":
            be = ["will", "not", "be"] if s.neg else ["will", "be"]
        else:
            table = BE[s.tense]
            default = "are" if s.tense == "pres" else "were"
            be = [table.get(person, default)] + (["not"] if s.neg else [])
        return be + [ADJECTIVES[s.pred].forms["en"].m_sg]
    base, past = VERBS[s.pred].en
    if s.tense == "fut":
        return ["will", "not", base] if s.neg else ["will", base]
    if s.tense == "past":
        return ["did", "not", base] if s.neg else [past]
    if s.neg:
        return ["does" if third else "do", "not", base]
    return [third_singular(base) if third else base]


def realise_words(s: Sentence) -> list[str]:
    """The words of ``s`` in English."""
    if isinstance(s.subj, Pronoun):
        p = s.subj
        words = [PRONOUNS.get(f"{p.person}.{p.sex}") or PRONOUNS[p.person]]
    else:
        words = noun_phrase(s.subj)
    words += _verb_group(s)
    if s.obj is not None:
        words += noun_phrase(s.obj)
    if s.loc:
        words += ["in"] + noun_phrase(NP(s.loc))
    if s.adv:
        words.append(ADVERBS["en"][s.tense])
    return " ".join(words).split()


def realise(s: Sentence) -> str:
    return " ".join(realise_words(s))
