"""Spanish (of Spain) realisation.

    from s2s_plugin.corpora.mini import es
    es.realise(Sentence("trans", NP("dog", "sg", "def"), "see", obj=NP("woman", "sg", "def"),
                        tense="past"))
    # 'el perro vio a la mujer'

What it handles: gender/number agreement of articles, possessives and
(post-nominal) adjectives; ``el``/``un`` before feminine nouns with a stressed
a- (``el agua fría``); bare plural and mass indefinites; the personal ``a``
before human objects and definite/possessive animal objects, with ``a el`` ->
``al``; ``ser``/``estar`` chosen by the adjective; subject pronouns dropped
in the 1st and 2nd person (vosotros for the plural you); ``no`` before the
verb; present, preterite (imperfect for stative verbs and the copula) and
future, with orthographic preterites (busqué, llegué, lancé).
"""
from __future__ import annotations

import functools

from s2s_plugin.corpora.mini.lexicon import ADJECTIVES, ADVERBS, NOUNS, NUMBERS, VERBS
from s2s_plugin.corpora.mini.structure import NP, PERSONS, Pronoun, Sentence

_ENDINGS = {
    "ar": dict(pres="o as a amos áis an", pret="é aste ó amos asteis aron",
               imp="aba abas aba ábamos abais aban"),
    "er": dict(pres="o es e emos éis en", pret="í iste ió imos isteis ieron", imp="ía ías ía íamos íais ían"),
    "ir": dict(pres="o es e imos ís en", pret="í iste ió imos isteis ieron", imp="ía ías ía íamos íais ían"),
}
_FUT_END = "é ás á emos éis án".split()
# Irregular forms (6 persons each); "fut" is an irregular future stem.
_IRREGULAR: dict[str, dict[str, str]] = {
    "ser": dict(pres="soy eres es somos sois son", pret="fui fuiste fue fuimos fuisteis fueron",
                imp="era eras era éramos erais eran"),
    "estar": dict(pres="estoy estás está estamos estáis están",
                  pret="estuve estuviste estuvo estuvimos estuvisteis estuvieron"),
    "tener": dict(pres="tengo tienes tiene tenemos tenéis tienen",
                  pret="tuve tuviste tuvo tuvimos tuvisteis tuvieron", fut="tendr"),
    "ver": dict(pres="veo ves ve vemos veis ven", pret="vi viste vio vimos visteis vieron",
                imp="veía veías veía veíamos veíais veían"),
    "leer": dict(pret="leí leíste leyó leímos leísteis leyeron"),
    "oír": dict(pres="oigo oyes oye oímos oís oyen", pret="oí oíste oyó oímos oísteis oyeron",
                imp="oía oías oía oíamos oíais oían", fut="oir"),
    "cerrar": dict(pres="cierro cierras cierra cerramos cerráis cierran"),
    "encontrar": dict(pres="encuentro encuentras encuentra encontramos encontráis encuentran"),
    "regar": dict(pres="riego riegas riega regamos regáis riegan"),
    "jugar": dict(pres="juego juegas juega jugamos jugáis juegan"),
    "dormir": dict(pres="duermo duermes duerme dormimos dormís duermen",
                   pret="dormí dormiste durmió dormimos dormisteis durmieron"),
    "seguir": dict(pres="sigo sigues sigue seguimos seguís siguen",
                   pret="seguí seguiste siguió seguimos seguisteis siguieron"),
    "venir": dict(pres="vengo vienes viene venimos venís vienen",
                  pret="vine viniste vino vinimos vinisteis vinieron", fut="vendr"),
    "salir": dict(pres="salgo sales sale salimos salís salen", fut="saldr"),
}


@functools.lru_cache(maxsize=None)
def conjugate(inf: str) -> dict[str, list[str]]:
    """``{"pres", "pret", "imp", "fut"}``, each 6 forms (1sg 2sg 3sg 1pl 2pl 3pl)."""
    ending, stem = inf[-2:].replace("í", "i"), inf[:-2]
    if ending not in _ENDINGS:
        raise KeyError(f"Spanish verb '{inf}' is not an -ar/-er/-ir verb")
    out = {tense: [stem + e for e in ends.split()] for tense, ends in _ENDINGS[ending].items()}
    if ending == "ar":  # orthographic preterite 1sg: busqué, llegué, lancé
        for old, new in (("c", "qu"), ("g", "gu"), ("z", "c")):
            if stem.endswith(old):
                out["pret"][0] = stem[: -len(old)] + new + "é"
    spec = _IRREGULAR.get(inf, {})
    out["fut"] = [spec.get("fut", inf) + e for e in _FUT_END]
    for tense in ("pres", "pret", "imp"):
        if tense in spec:
            out[tense] = spec[tense].split()
    return out


_SUBJECT = {"3sg.m": "él", "3sg.f": "ella", "3pl.m": "ellos", "3pl.f": "ellas"}  # others dropped
_POSSESSIVE = {"1sg": ("mi", "mi", "mis", "mis"), "2sg": ("tu", "tu", "tus", "tus"),
               "1pl": ("nuestro", "nuestra", "nuestros", "nuestras")}


def noun_phrase(np: NP) -> list[str]:
    noun = NOUNS[np.noun]
    form = noun.forms["es"]
    g, sg = form.gender, np.number == "sg"
    core = [form.sg if sg else form.pl]
    if np.adj:
        core.append(ADJECTIVES[np.adj].forms["es"].form(g, np.number))
    masc = g == "m" or (form.el and sg)  # el agua, un agua
    if np.det == "def":
        det = [("el" if masc else "la") if sg else ("los" if g == "m" else "las")]
    elif np.det == "indef":
        det = [] if noun.mass or not sg else ["un" if masc else "una"]
    elif np.det == "num":
        det = [NUMBERS["es"][np.count]]
    else:
        forms = _POSSESSIVE[np.owner]
        det = [forms[(0 if g == "m" else 1) + (0 if sg else 2)]]
    return det + core


def _object(s: Sentence) -> list[str]:
    assert s.obj is not None
    words = noun_phrase(s.obj)
    tags = NOUNS[s.obj.noun].tags
    personal = "person" in tags or ("animal" in tags and s.obj.det in ("def", "poss"))
    if personal and not VERBS[s.pred].no_a:
        return ["al"] + words[1:] if words[0] == "el" else ["a"] + words
    return words


def realise_words(s: Sentence) -> list[str]:
    """The words of ``s`` in Spanish."""
    p = PERSONS.index(s.person)
    if isinstance(s.subj, Pronoun):
        word = _SUBJECT.get(f"{s.subj.person}.{s.subj.sex}")
        subj = [word] if word else []
        gender, number = s.subj.sex, s.subj.number
    else:
        subj = noun_phrase(s.subj)
        gender, number = NOUNS[s.subj.noun].forms["es"].gender, s.subj.number
    neg = ["no"] if s.neg else []
    if s.frame == "cop":
        adj = ADJECTIVES[s.pred].forms["es"]
        tense = "imp" if s.tense == "past" else s.tense
        vp = neg + [conjugate(adj.copula)[tense][p], adj.form(gender, number)]
    else:
        verb = VERBS[s.pred]
        tense = {"pres": "pres", "fut": "fut", "past": "imp" if verb.stative else "pret"}[s.tense]
        vp = neg + [conjugate(verb.lemma["es"])[tense][p]]
        if s.obj is not None:
            vp += _object(s)
    if s.loc:
        vp += ["en"] + noun_phrase(NP(s.loc))
    if s.adv:
        vp.append(ADVERBS["es"][s.tense])
    return subj + vp


def realise(s: Sentence) -> str:
    return " ".join(realise_words(s))
