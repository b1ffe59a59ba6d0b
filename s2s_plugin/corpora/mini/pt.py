"""European Portuguese realisation.

    from s2s_plugin.corpora.mini import pt
    pt.realise(Sentence("intr", NP("girl", "pl", "poss", owner="1sg"), "play", loc="garden"))
    # 'as minhas meninas brincam no jardim'

What it handles: gender/number agreement of articles, possessives (with their
article: ``o meu``, ``as nossas``), numbers (``dois``/``duas``) and
(post-nominal) adjectives; irregular plurals (``cães``, ``azuis``); bare
plural and mass indefinites; ``em`` + article -> ``no``/``na``/``nos``/``nas``;
``ser``/``estar`` chosen by the adjective; subject pronouns dropped in the 1st
person and for ``tu``, ``vocês`` (with 3rd plural verbs) for the plural you;
``não`` before the verb; present, preterite (``-ámos``; imperfect for
stative verbs and the copula) and future, with orthographic preterites
(brinquei, cheguei, dancei).
"""
from __future__ import annotations

import functools

from s2s_plugin.corpora.mini.lexicon import ADJECTIVES, ADVERBS, NOUNS, NUMBERS, PT_FEMININE_NUMBERS, VERBS
from s2s_plugin.corpora.mini.structure import NP, PERSONS, Pronoun, Sentence

_ENDINGS = {
    "ar": dict(pres="o as a amos ais am", pret="ei aste ou ámos astes aram",
               imp="ava avas ava ávamos áveis avam"),
    "er": dict(pres="o es e emos eis em", pret="i este eu emos estes eram", imp="ia ias ia íamos íeis iam"),
    "ir": dict(pres="o es e imos is em", pret="i iste iu imos istes iram", imp="ia ias ia íamos íeis iam"),
}
_FUT_END = "ei ás á emos eis ão".split()
_IRREGULAR: dict[str, dict[str, str]] = {
    "ser": dict(pres="sou és é somos sois são", pret="fui foste foi fomos fostes foram",
                imp="era eras era éramos éreis eram"),
    "estar": dict(pres="estou estás está estamos estais estão",
                  pret="estive estiveste esteve estivemos estivestes estiveram"),
    "ter": dict(pres="tenho tens tem temos tendes têm", pret="tive tiveste teve tivemos tivestes tiveram",
                imp="tinha tinhas tinha tínhamos tínheis tinham"),
    "ver": dict(pres="vejo vês vê vemos vedes veem", pret="vi viste viu vimos vistes viram",
                imp="via vias via víamos víeis viam"),
    "ler": dict(pres="leio lês lê lemos ledes leem", pret="li leste leu lemos lestes leram",
                imp="lia lias lia líamos líeis liam"),
    "ouvir": dict(pres="ouço ouves ouve ouvimos ouvis ouvem"),
    "seguir": dict(pres="sigo segues segue seguimos seguis seguem"),
    "dormir": dict(pres="durmo dormes dorme dormimos dormis dormem"),
    "vir": dict(pres="venho vens vem vimos vindes vêm", pret="vim vieste veio viemos viestes vieram",
                imp="vinha vinhas vinha vínhamos vínheis vinham"),
    "sair": dict(pres="saio sais sai saímos saís saem", pret="saí saíste saiu saímos saístes saíram",
                 imp="saía saías saía saíamos saíeis saíam"),
}


@functools.lru_cache(maxsize=None)
def conjugate(inf: str) -> dict[str, list[str]]:
    """``{"pres", "pret", "imp", "fut"}``, each 6 forms (1sg 2sg 3sg 1pl 2pl 3pl; 2pl is *vós*)."""
    ending, stem = inf[-2:], inf[:-2]
    if ending not in _ENDINGS:
        raise KeyError(f"Portuguese verb '{inf}' is not an -ar/-er/-ir verb")
    out = {tense: [stem + e for e in ends.split()] for tense, ends in _ENDINGS[ending].items()}
    if ending == "ar":  # orthographic preterite 1sg: brinquei, cheguei, dancei
        for old, new in (("c", "qu"), ("g", "gu"), ("ç", "c")):
            if stem.endswith(old):
                out["pret"][0] = stem[: -len(old)] + new + "ei"
    out["fut"] = [inf + e for e in _FUT_END]
    for tense, forms in _IRREGULAR.get(inf, {}).items():
        out[tense] = forms.split()
    return out


_SUBJECT = {"3sg.m": "ele", "3sg.f": "ela", "2pl": "vocês", "3pl.m": "eles", "3pl.f": "elas"}
_POSSESSIVE = {"1sg": ("meu", "minha", "meus", "minhas"), "2sg": ("teu", "tua", "teus", "tuas"),
               "1pl": ("nosso", "nossa", "nossos", "nossas")}
_ARTICLE = {("m", "sg"): "o", ("f", "sg"): "a", ("m", "pl"): "os", ("f", "pl"): "as"}


def noun_phrase(np: NP) -> list[str]:
    noun = NOUNS[np.noun]
    form = noun.forms["pt"]
    g, sg = form.gender, np.number == "sg"
    core = [form.sg if sg else form.pl]
    if np.adj:
        core.append(ADJECTIVES[np.adj].forms["pt"].form(g, np.number))
    if np.det == "def":
        det = [_ARTICLE[(g, np.number)]]
    elif np.det == "indef":
        det = [] if noun.mass or not sg else ["um" if g == "m" else "uma"]
    elif np.det == "num":
        det = [PT_FEMININE_NUMBERS.get(np.count, NUMBERS["pt"][np.count]) if g == "f"
               else NUMBERS["pt"][np.count]]
    else:
        det = [_ARTICLE[(g, np.number)], _POSSESSIVE[np.owner][(0 if g == "m" else 1) + (0 if sg else 2)]]
    return det + core


def realise_words(s: Sentence) -> list[str]:
    """The words of ``s`` in Portuguese."""
    person = "3pl" if s.person == "2pl" else s.person  # vocês takes 3rd person plural verbs
    p = PERSONS.index(person)
    if isinstance(s.subj, Pronoun):
        word = _SUBJECT.get(f"{s.subj.person}.{s.subj.sex}") or _SUBJECT.get(s.subj.person)
        subj = [word] if word else []
        gender, number = s.subj.sex, s.subj.number
    else:
        subj = noun_phrase(s.subj)
        gender, number = NOUNS[s.subj.noun].forms["pt"].gender, s.subj.number
    neg = ["não"] if s.neg else []
    if s.frame == "cop":
        adj = ADJECTIVES[s.pred].forms["pt"]
        tense = "imp" if s.tense == "past" else s.tense
        vp = neg + [conjugate(adj.copula)[tense][p], adj.form(gender, number)]
    else:
        verb = VERBS[s.pred]
        tense = {"pres": "pres", "fut": "fut", "past": "imp" if verb.stative else "pret"}[s.tense]
        vp = neg + [conjugate(verb.lemma["pt"])[tense][p]]
        if s.obj is not None:
            vp += noun_phrase(s.obj)
    if s.loc:
        article, *rest = noun_phrase(NP(s.loc))
        vp += ["n" + article] + rest  # em + o = no, em + a = na
    if s.adv:
        vp.append(ADVERBS["pt"][s.tense])
    return subj + vp


def realise(s: Sentence) -> str:
    return " ".join(realise_words(s))
