"""French realisation.

    from s2s_plugin.corpora.mini import fr
    fr.realise(Sentence("trans", Pronoun("3sg", "f"), "eat", obj=NP("apple", "pl", "indef"),
                        tense="past", neg=True))
    # "elle n'a pas mangé de pommes"

What it handles: gender/number agreement of articles, adjectives (most after
the noun; grand, petit, vieux, jeune, nouveau, beau before it, with vieil,
nouvel, bel before a vowel and ``de`` for ``des`` before them), predicate
adjectives and the participles of *être* verbs; elision (``l'``, ``j'``,
``n'``, ``d'``) and ``mon`` for ``ma`` before a vowel (an initial h is mute:
the lexicon has no aspirated h); partitive ``du``/``de la``/``de l'`` for mass
nouns; ``ne ... pas`` around the finite verb with ``de`` for an indefinite
object; present, passé composé (imparfait for stative verbs) and futur simple.
"""
from __future__ import annotations

import functools

from s2s_plugin.corpora.mini.lexicon import ADJECTIVES, ADVERBS, NOUNS, NUMBERS, VERBS
from s2s_plugin.corpora.mini.structure import NP, PERSONS, Pronoun, Sentence

# Irregular verbs: present (6 persons), past participle, future stem, imperfect stem.
_IRREGULAR: dict[str, dict[str, str]] = {
    "être": dict(pres="suis es est sommes êtes sont", pp="été", fut="ser", imp="ét"),
    "avoir": dict(pres="ai as a avons avez ont", pp="eu", fut="aur", imp="av"),
    "boire": dict(pres="bois bois boit buvons buvez boivent", pp="bu", fut="boir"),
    "voir": dict(pres="vois vois voit voyons voyez voient", pp="vu", fut="verr"),
    "lire": dict(pres="lis lis lit lisons lisez lisent", pp="lu", fut="lir"),
    "écrire": dict(pres="écris écris écrit écrivons écrivez écrivent", pp="écrit", fut="écrir"),
    "ouvrir": dict(pres="ouvre ouvres ouvre ouvrons ouvrez ouvrent", pp="ouvert", fut="ouvrir"),
    "peindre": dict(pres="peins peins peint peignons peignez peignent", pp="peint", fut="peindr"),
    "suivre": dict(pres="suis suis suit suivons suivez suivent", pp="suivi", fut="suivr"),
    "dormir": dict(pres="dors dors dort dormons dormez dorment", pp="dormi", fut="dormir"),
    "courir": dict(pres="cours cours court courons courez courent", pp="couru", fut="courr"),
    "venir": dict(pres="viens viens vient venons venez viennent", pp="venu", fut="viendr"),
    "partir": dict(pres="pars pars part partons partez partent", pp="parti", fut="partir"),
    # -er verbs with stem changes
    "acheter": dict(pres="achète achètes achète achetons achetez achètent", pp="acheté", fut="achèter"),
    "appeler": dict(pres="appelle appelles appelle appelons appelez appellent", pp="appelé", fut="appeller"),
    "nettoyer": dict(pres="nettoie nettoies nettoie nettoyons nettoyez nettoient", pp="nettoyé",
                     fut="nettoier"),
}
_REGULAR_RE = {"vendre", "entendre", "attendre"}
_FUT_END = "ai as a ons ez ont".split()
_IMP_END = "ais ais ait ions iez aient".split()


@functools.lru_cache(maxsize=None)
def conjugate(inf: str) -> dict[str, list[str] | str]:
    """``{"pres": [6 forms], "fut": [6 forms], "pp": participle[, "imp": [6 forms]]}``.

    Raises:
        KeyError: a verb that is neither regular (-er, or vendre-type -re) nor listed.
    """
    if inf in _IRREGULAR:
        spec = _IRREGULAR[inf]
        out: dict[str, list[str] | str] = {"pres": spec["pres"].split(), "pp": spec["pp"],
                                           "fut": [spec["fut"] + e for e in _FUT_END]}
        if "imp" in spec:
            out["imp"] = [spec["imp"] + e for e in _IMP_END]
        return out
    if inf.endswith("er"):
        stem = inf[:-2]
        nous = stem + "e" if stem.endswith("g") else stem[:-1] + "ç" if stem.endswith("c") else stem
        pres = [stem + "e", stem + "es", stem + "e", nous + "ons", stem + "ez", stem + "ent"]
        return {"pres": pres, "pp": stem + "é", "fut": [inf + e for e in _FUT_END]}
    if inf in _REGULAR_RE:
        stem = inf[:-2]
        pres = [stem + "s", stem + "s", stem, stem + "ons", stem + "ez", stem + "ent"]
        return {"pres": pres, "pp": stem + "u", "fut": [inf[:-1] + e for e in _FUT_END]}
    raise KeyError(f"French verb '{inf}' is not in the conjugation tables")


_SUBJECT = {"1sg": "je", "2sg": "tu", "3sg.m": "il", "3sg.f": "elle", "1pl": "nous", "2pl": "vous",
            "3pl.m": "ils", "3pl.f": "elles"}
_POSSESSIVE = {"1sg": ("mon", "ma", "mes"), "2sg": ("ton", "ta", "tes"), "1pl": ("notre", "notre", "nos")}
_ELIDING = {"je", "ne", "le", "la", "de"}
_VOWELS = set("aâàeéèêëiîïoôuûùüyœh")


def starts_with_vowel(word: str) -> bool:
    return word[:1] in _VOWELS


def elide(words: list[str]) -> list[str]:
    """``je ai`` -> ``j'ai``, ``la eau`` -> ``l'eau``, ``ne a`` -> ``n'a`` (one token each)."""
    out: list[str] = []
    i = 0
    while i < len(words):
        w = words[i]
        if w in _ELIDING and i + 1 < len(words) and starts_with_vowel(words[i + 1]):
            out.append(w[:-1] + "'" + words[i + 1])
            i += 2
        else:
            out.append(w)
            i += 1
    return out


def noun_phrase(np: NP, negated: bool = False) -> list[str]:
    """The words of ``np`` before elision; ``negated``: the object of a negated verb (``pas de``)."""
    noun = NOUNS[np.noun]
    form = noun.forms["fr"]
    g, sg = form.gender, np.number == "sg"
    n = form.sg if sg else form.pl
    core, pre = [n], False
    if np.adj:
        a = ADJECTIVES[np.adj].forms["fr"]
        adj = a.form(g, np.number)
        if a.pre:
            if a.alt and g == "m" and sg and starts_with_vowel(n):
                adj = a.alt
            core, pre = [adj, n], True
        else:
            core = [n, adj]
    if np.det == "def":
        det = [("le" if g == "m" else "la") if sg else "les"]
    elif np.det == "indef":
        if negated:
            det = ["de"]
        elif noun.mass:
            det = ["de", "le"] if g == "m" and starts_with_vowel(core[0]) else \
                ["du"] if g == "m" else ["de", "la"]
        elif sg:
            det = ["un" if g == "m" else "une"]
        else:
            det = ["de" if pre else "des"]
    elif np.det == "num":
        det = [NUMBERS["fr"][np.count]]
    else:
        m, f, pl = _POSSESSIVE[np.owner]
        det = [pl if not sg else m if g == "m" or starts_with_vowel(core[0]) else f]
    return det + core


def _agree(participle: str, gender: str, number: str) -> str:
    return participle + ("e" if gender == "f" else "") + ("s" if number == "pl" else "")


def realise_words(s: Sentence) -> list[str]:
    """The words of ``s`` in French."""
    p = PERSONS.index(s.person)
    if isinstance(s.subj, Pronoun):
        subj = [_SUBJECT.get(f"{s.subj.person}.{s.subj.sex}") or _SUBJECT[s.subj.person]]
        gender, number = s.subj.sex, s.subj.number
    else:
        subj = noun_phrase(s.subj)
        gender, number = NOUNS[s.subj.noun].forms["fr"].gender, s.subj.number

    def negate(finite: str) -> list[str]:
        return ["ne", finite, "pas"] if s.neg else [finite]

    if s.frame == "cop":
        tense = "imp" if s.tense == "past" else s.tense
        vp = negate(conjugate("être")[tense][p]) + [ADJECTIVES[s.pred].forms["fr"].form(gender, number)]
    else:
        verb = VERBS[s.pred]
        table = conjugate(verb.lemma["fr"])
        if s.tense == "past" and verb.stative:
            vp = negate(table["imp"][p])
        elif s.tense == "past":
            aux = conjugate("être" if verb.etre else "avoir")["pres"][p]
            pp = _agree(table["pp"], gender, number) if verb.etre else table["pp"]
            vp = negate(aux) + [pp]
        else:
            vp = negate(table[s.tense][p])
        if s.obj is not None:
            vp += noun_phrase(s.obj, negated=s.neg)
    if s.loc:
        vp += ["dans"] + noun_phrase(NP(s.loc))
    if s.adv:
        vp.append(ADVERBS["fr"][s.tense])
    return elide(subj + vp)


def realise(s: Sentence) -> str:
    return " ".join(realise_words(s))
