"""Abstract sentence structures: what a sentence says, before any language.

    from s2s_plugin.corpora.mini.structure import NP, Pronoun, Sentence

    s = Sentence("trans", NP("cat", "pl", "def", adj="black"), "eat",
                 obj=NP("apple", "sg", "indef"), tense="past", neg=True)
    s.key()   # 'trans|past|neg|S=cat.pl.def..black|V=eat|O=apple.sg.indef..|L=|A=0'

A structure is realised in each language by ``s2s_plugin.corpora.mini.{fr,es,pt,en}``
(see :func:`s2s_plugin.corpora.mini.grammar.realise`). Its :meth:`Sentence.key`
is the identity used to split the sentence space into train and held-out parts.
"""
from __future__ import annotations

from dataclasses import dataclass

PERSONS = ("1sg", "2sg", "3sg", "1pl", "2pl", "3pl")
TENSES = ("pres", "past", "fut")
DETERMINERS = ("def", "indef", "num", "poss")
OWNERS = ("1sg", "2sg", "1pl")


@dataclass(frozen=True)
class NP:
    """A noun phrase.

    Attributes:
        noun: a noun concept of the lexicon.
        number: ``sg`` or ``pl``.
        det: ``def`` (the), ``indef`` (a / partitive / bare plural), ``num``
            (a spelled-out number, plural) or ``poss`` (my, your, our).
        count: the number for ``det == "num"`` (2..12).
        owner: ``1sg``, ``2sg`` or ``1pl`` for ``det == "poss"``.
        adj: an adjective concept, or ``""``.
    """

    noun: str
    number: str = "sg"
    det: str = "def"
    count: int = 0
    owner: str = ""
    adj: str = ""

    def __post_init__(self) -> None:
        if self.number not in ("sg", "pl") or self.det not in DETERMINERS:
            raise ValueError(f"bad noun phrase {self!r}")
        if (self.det == "num") != bool(self.count) or (self.det == "num" and self.number != "pl"):
            raise ValueError(f"a numbered noun phrase is plural with a count: {self!r}")
        if (self.det == "poss") != bool(self.owner) or (self.owner and self.owner not in OWNERS):
            raise ValueError(f"a possessive noun phrase needs an owner in {OWNERS}: {self!r}")

    def key(self) -> str:
        return f"{self.noun}.{self.number}.{self.det}{self.count or ''}.{self.owner}.{self.adj}"


@dataclass(frozen=True)
class Pronoun:
    """A personal pronoun subject; ``sex`` drives agreement (``elle est fatiguée``)."""

    person: str
    sex: str = "m"

    def __post_init__(self) -> None:
        if self.person not in PERSONS or self.sex not in ("m", "f"):
            raise ValueError(f"bad pronoun {self!r}")

    @property
    def number(self) -> str:
        return self.person[1:]

    def key(self) -> str:
        return f"pro.{self.person}.{self.sex}"


@dataclass(frozen=True)
class Sentence:
    """One clause.

    Attributes:
        frame: ``intr`` (subject verb), ``trans`` (subject verb object) or
            ``cop`` (subject is adjective).
        subj: the subject.
        pred: the verb concept (``intr``/``trans``) or the adjective concept (``cop``).
        obj: the object of a ``trans`` clause.
        tense: ``pres``, ``past`` or ``fut``.
        neg: negated.
        loc: a place concept ("in the garden"), or ``""``.
        adv: a time adverb matching the tense (past: yesterday, future: tomorrow).
    """

    frame: str
    subj: NP | Pronoun
    pred: str
    obj: NP | None = None
    tense: str = "pres"
    neg: bool = False
    loc: str = ""
    adv: bool = False

    def __post_init__(self) -> None:
        if self.frame not in ("intr", "trans", "cop") or self.tense not in TENSES:
            raise ValueError(f"bad sentence {self!r}")
        if (self.frame == "trans") != (self.obj is not None):
            raise ValueError(f"only a transitive clause has an object: {self!r}")
        if self.adv and self.tense == "pres":
            raise ValueError("a time adverb goes with the past or the future")

    @property
    def person(self) -> str:
        """The person/number the finite verb agrees with."""
        if isinstance(self.subj, Pronoun):
            return self.subj.person
        return "3" + self.subj.number

    def key(self) -> str:
        obj = self.obj.key() if self.obj else ""
        return (f"{self.frame}|{self.tense}|{'neg' if self.neg else 'pos'}|S={self.subj.key()}|"
                f"V={self.pred}|O={obj}|L={self.loc}|A={int(self.adv)}")
