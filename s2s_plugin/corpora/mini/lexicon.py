"""The words of the mini corpus: nouns, adjectives and verbs in four languages.

    from s2s_plugin.corpora.mini.lexicon import NOUNS, ADJECTIVES, VERBS

    NOUNS["horse"].forms["fr"]       # NounForm(sg='cheval', pl='chevaux', gender='m', el=False)
    ADJECTIVES["old"].forms["fr"]    # AdjForm(m_sg='vieux', f_sg='vieille', ..., pre=True, alt='vieil')
    VERBS["eat"].lemma["es"]         # 'comer' (conjugated by s2s_plugin.corpora.mini.es)

Each entry is a *concept* with one realisation per language, so a sentence is
chosen once as an abstract structure and then realised in every language
(translations correct by construction). Standard varieties, matching the
espeak-ng voices: French of France; Spanish of Spain (vosotros, coche,
ordenador, zumo); European Portuguese (chávena, sumo, tu with 2nd person
verbs, preterite ``-ámos``); American English spelling (target voice en-us).

Tags say what a noun is (``person``, ``animal``, ``food``, ``mass``,
``portable``, ``place`` ...); verbs and adjectives select their nouns through
them, which keeps sentences sensible ("the cat drinks the milk", never "the
milk reads the cat"). The tables are parsed and checked at import; a malformed
line raises ``ValueError`` naming it.
"""
from __future__ import annotations

from dataclasses import dataclass

SOURCE_LANGS = ("fr", "es", "pt")
LANGS = SOURCE_LANGS + ("en",)
GENDERS = ("m", "f")

# -- plural rules (exceptions are written in the tables) ------------------------------------------

_ES_DEACCENT = str.maketrans("áéíóú", "aeiou")


def en_plural(w: str) -> str:
    if w.endswith(("s", "x", "z", "ch", "sh")):
        return w + "es"
    if w.endswith("y") and w[-2:-1] not in ("a", "e", "i", "o", "u"):
        return w[:-1] + "ies"
    return w + "s"


def fr_plural(w: str, adjective: bool = False) -> str:
    if w.endswith(("s", "x", "z")):
        return w
    if w.endswith("eau"):
        return w + "x"
    if w.endswith("al"):
        return w[:-2] + "aux"
    return w + "s"


def es_plural(w: str) -> str:
    if w.endswith("z"):
        return w[:-1] + "ces"
    if w[-1] in "aeiouáéó":
        return w + "s"
    if w[-1] in "ns" and any(c in w[-3:-1] for c in "áéíóú"):
        # a stressed last syllable loses its accent: ratón -> ratones, jardín -> jardines
        return w[:-3] + w[-3:].translate(_ES_DEACCENT) + "es"
    return w + "es"


def pt_plural(w: str) -> str:
    if w.endswith("ão") or w.endswith("il") or w.endswith("s") or w.endswith("x"):
        raise ValueError(f"Portuguese plural of '{w}' is not regular: write it in the table")
    if w[-1] in "aeiouáéíóúãõâêô":
        return w + "s"
    if w.endswith("m"):
        return w[:-1] + "ns"
    if w.endswith("al"):
        return w[:-2] + "ais"
    if w.endswith("el"):
        return w[:-2] + "éis"
    if w.endswith("ol"):
        return w[:-2] + "óis"
    if w.endswith("ul"):
        return w[:-2] + "uis"
    if w[-1] in "rz":
        return w + "es"
    raise ValueError(f"no Portuguese plural rule for '{w}': write it in the table")


_PLURAL = {"fr": fr_plural, "es": es_plural, "pt": pt_plural, "en": en_plural}

# -- records -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NounForm:
    """A noun in one language: singular, plural, grammatical gender.

    ``el`` marks a Spanish feminine noun with a stressed initial a- that takes
    ``el``/``un`` in the singular (``el agua fría``).
    """

    sg: str
    pl: str
    gender: str = "m"
    el: bool = False


@dataclass(frozen=True)
class Noun:
    """A noun concept: its tags and its form in every language."""

    concept: str
    tags: frozenset[str]
    forms: dict[str, NounForm]

    @property
    def mass(self) -> bool:
        return "mass" in self.tags

    @property
    def countable_plural(self) -> bool:
        return not ("mass" in self.tags or "sgonly" in self.tags)


@dataclass(frozen=True)
class AdjForm:
    """An adjective in one language.

    Attributes:
        m_sg, f_sg, m_pl, f_pl: the four agreeing forms (English: all equal).
        pre: placed before the noun (French BAGS adjectives; every English adjective).
        alt: French masculine singular before a vowel (``vieil``, ``nouvel``, ``bel``).
        copula: Spanish/Portuguese predicate copula, ``ser`` or ``estar``.
    """

    m_sg: str
    f_sg: str
    m_pl: str
    f_pl: str
    pre: bool = False
    alt: str = ""
    copula: str = ""

    def form(self, gender: str, number: str) -> str:
        if gender == "f":
            return self.f_sg if number == "sg" else self.f_pl
        return self.m_sg if number == "sg" else self.m_pl


@dataclass(frozen=True)
class Adjective:
    """An adjective concept: its scale (``group``), the noun tags it applies to, its forms."""

    concept: str
    group: str
    applies: frozenset[str]
    forms: dict[str, AdjForm]


@dataclass(frozen=True)
class Verb:
    """A verb concept.

    Attributes:
        frame: ``intr`` or ``trans``.
        subj, obj: noun tags the subject / object must have one of.
        places: place tags a location phrase may have (empty: no location).
        en: English base form and simple past (``look for``/``looked for``).
        lemma: the infinitive per source language (conjugation tables live in
            the language modules).
        stative: its past is the imperfect (``avait``, ``tenía``, ``tinha``), not the perfective.
        etre: French passé composé with *être* (participle agrees with the subject).
        no_a: Spanish never puts the personal ``a`` before its object (``tener``).
    """

    concept: str
    frame: str
    subj: frozenset[str]
    obj: frozenset[str]
    places: frozenset[str]
    en: tuple[str, str]
    lemma: dict[str, str]
    stative: bool = False
    etre: bool = False
    no_a: bool = False


# -- tables ------------------------------------------------------------------------------------
# Nouns: concept | en sg[/pl] | fr sg[/pl] gender | es sg[/pl] gender [el] | pt sg[/pl] gender | tags

_NOUNS = """
man        | man/men         | homme m       | hombre m     | homem m        | person
woman      | woman/women     | femme f       | mujer f      | mulher f       | person
boy        | boy             | garçon m      | niño m       | menino m       | person
girl       | girl            | fille f       | niña f       | menina f       | person
friend.m   | friend          | ami m         | amigo m      | amigo m        | person
friend.f   | friend          | amie f        | amiga f      | amiga f        | person
teacher.m  | teacher         | enseignant m  | maestro m    | professor m    | person
teacher.f  | teacher         | enseignante f | maestra f    | professora f   | person
neighbor.m | neighbor        | voisin m      | vecino m     | vizinho m      | person
neighbor.f | neighbor        | voisine f     | vecina f     | vizinha f      | person
king       | king            | roi m         | rey m        | rei m          | person
queen      | queen           | reine f       | reina f      | rainha f       | person
father     | father          | père m        | padre m      | pai m          | person sgonly
mother     | mother          | mère f        | madre f      | mãe f          | person sgonly
brother    | brother         | frère m       | hermano m    | irmão/irmãos m | person
sister     | sister          | sœur f        | hermana f    | irmã f         | person
cook.m     | cook            | cuisinier m   | cocinero m   | cozinheiro m   | person
cook.f     | cook            | cuisinière f  | cocinera f   | cozinheira f   | person
student.m  | student         | étudiant m    | estudiante m | estudante m    | person
student.f  | student         | étudiante f   | estudiante f | estudante f    | person
singer.m   | singer          | chanteur m    | cantante m   | cantor m       | person
singer.f   | singer          | chanteuse f   | cantante f   | cantora f      | person
doctor     | doctor          | médecin m     | médico m     | médico m       | person
baby       | baby            | bébé m        | bebé m       | bebé m         | person
cat        | cat             | chat m        | gato m       | gato m         | animal land pet
dog        | dog             | chien m       | perro m      | cão/cães m     | animal land pet swimmer
bird       | bird            | oiseau m      | pájaro m     | pássaro m      | animal land bird small
horse      | horse           | cheval m      | caballo m    | cavalo m       | animal land
cow        | cow             | vache f       | vaca f       | vaca f         | animal land
mouse      | mouse/mice      | souris f      | ratón m      | rato m         | animal land small
fish       | fish/fish       | poisson m     | pez m        | peixe m        | animal swimmer small
rabbit     | rabbit          | lapin m       | conejo m     | coelho m       | animal land pet small
duck       | duck            | canard m      | pato m       | pato m         | animal land swimmer small
sheep      | sheep/sheep     | mouton m      | oveja f      | ovelha f       | animal land
pig        | pig             | cochon m      | cerdo m      | porco m        | animal land
hen        | hen             | poule f       | gallina f    | galinha f      | animal land small
fox        | fox             | renard m      | zorro m      | raposa f       | animal land
bear       | bear            | ours m        | oso m        | urso m         | animal land
wolf       | wolf/wolves     | loup m        | lobo m       | lobo m         | animal land
lion       | lion            | lion m        | león m       | leão/leões m   | animal land
goat       | goat            | chèvre f      | cabra f      | cabra f        | animal land
frog       | frog            | grenouille f  | rana f       | rã f           | animal land swimmer small
monkey     | monkey          | singe m       | mono m       | macaco m       | animal land
elephant   | elephant        | éléphant m    | elefante m   | elefante m     | animal land
tiger      | tiger           | tigre m       | tigre m      | tigre m        | animal land
apple      | apple           | pomme f       | manzana f    | maçã f         | food fruit cuttable
banana     | banana          | banane f      | plátano m    | banana f       | food fruit
orange     | orange          | orange f      | naranja f    | laranja f      | food fruit cuttable
pear       | pear            | poire f       | pera f       | pera f         | food fruit cuttable
lemon      | lemon           | citron m      | limón m      | limão/limões m | food fruit cuttable
strawberry | strawberry      | fraise f      | fresa f      | morango m      | food fruit
tomato     | tomato/tomatoes | tomate f      | tomate m     | tomate m       | food cuttable
carrot     | carrot          | carotte f     | zanahoria f  | cenoura f      | food cuttable
cake       | cake            | gâteau m      | pastel m     | bolo m         | food cuttable dish
egg        | egg             | œuf m         | huevo m      | ovo m          | food
cookie     | cookie          | biscuit m     | galleta f    | bolacha f      | food
salad      | salad           | salade f      | ensalada f   | salada f       | food dish
bread      | bread           | pain m        | pan m        | pão/pães m     | food mass cuttable
cheese     | cheese          | fromage m     | queso m      | queijo m       | food mass cuttable
rice       | rice            | riz m         | arroz m      | arroz m        | food mass dish temp
meat       | meat            | viande f      | carne f      | carne f        | food mass cuttable dish temp
soup       | soup            | soupe f       | sopa f       | sopa f         | food mass dish temp
water      | water           | eau f         | agua f el    | água f         | drink mass temp
milk       | milk            | lait m        | leche f      | leite m        | drink mass temp
coffee     | coffee          | café m        | café m       | café m         | drink mass temp dish
tea        | tea             | thé m         | té m         | chá m          | drink mass temp dish
juice      | juice           | jus m         | zumo m       | sumo m         | drink mass
wine       | wine            | vin m         | vino m       | vinho m        | drink mass
book       | book            | livre m       | libro m      | livro m        | artefact readable writable openable portable
letter     | letter          | lettre f      | carta f      | carta f        | artefact readable writable portable
newspaper  | newspaper       | journal m     | periódico m  | jornal m       | artefact readable portable
door       | door            | porte f       | puerta f     | porta f        | artefact openable paintable pushable
window     | window          | fenêtre f     | ventana f    | janela f       | artefact openable breakable washable
box        | box             | boîte f       | caja f       | caixa f        | artefact openable portable container pushable
car        | car             | voiture f     | coche m      | carro m        | artefact vehicle washable paintable pushable
table      | table           | table f       | mesa f       | mesa f         | artefact furniture paintable washable pushable
chair      | chair           | chaise f      | silla f      | cadeira f      | artefact furniture breakable portable paintable pushable
key        | key             | clé f         | llave f      | chave f        | artefact portable throwable
bag        | bag             | sac m         | bolsa f      | saco m         | artefact portable container openable
hat        | hat             | chapeau m     | sombrero m   | chapéu m       | artefact portable clothing throwable
shirt      | shirt           | chemise f     | camisa f     | camisa f       | artefact portable clothing washable
shoe       | shoe            | chaussure f   | zapato m     | sapato m       | artefact portable clothing washable throwable
cup        | cup             | tasse f       | taza f       | chávena f      | artefact portable breakable container washable
glass      | glass           | verre m       | vaso m       | copo m         | artefact portable breakable container washable
bottle     | bottle          | bouteille f   | botella f    | garrafa f      | artefact portable breakable container openable
knife      | knife/knives    | couteau m     | cuchillo m   | faca f         | artefact portable washable
ball       | ball            | ballon m      | pelota f     | bola f         | artefact portable throwable
pen        | pen             | stylo m       | bolígrafo m  | caneta f       | artefact portable
computer   | computer        | ordinateur m  | ordenador m  | computador m   | artefact breakable
phone      | phone           | téléphone m   | teléfono m   | telefone m     | artefact portable breakable
bike       | bike            | vélo m        | bicicleta f  | bicicleta f    | artefact vehicle washable paintable pushable
boat       | boat            | bateau m      | barco m      | barco m        | artefact vehicle paintable pushable
painting   | painting        | tableau m     | cuadro m     | quadro m       | artefact portable
clock      | clock           | horloge f     | reloj m      | relógio m      | artefact breakable
house      | house           | maison f      | casa f       | casa f         | artefact building paintable
dress      | dress           | robe f        | vestido m    | vestido m      | artefact portable clothing washable
toy        | toy             | jouet m       | juguete m    | brinquedo m    | artefact portable breakable throwable
flower     | flower          | fleur f       | flor f       | flor f         | plant portable
tree       | tree            | arbre m       | árbol m      | árvore f       | plant
garden     | garden          | jardin m      | jardín m     | jardim m       | place outdoor
park       | park            | parc m        | parque m     | parque m       | place outdoor
street     | street          | rue f         | calle f      | rua f          | place outdoor
forest     | forest          | forêt f       | bosque m     | floresta f     | place outdoor
village    | village         | village m     | pueblo m     | aldeia f       | place outdoor
field      | field           | champ m       | campo m      | campo m        | place outdoor
city       | city            | ville f       | ciudad f     | cidade f       | place outdoor
kitchen    | kitchen         | cuisine f     | cocina f     | cozinha f      | place indoor kitchen
bedroom    | bedroom         | chambre f     | habitación f | quarto m       | place indoor
lake       | lake            | lac m         | lago m       | lago m         | place water
river      | river           | rivière f     | río m        | rio m          | place water
sea        | sea             | mer f         | mar m        | mar m          | place water
"""

# Adjectives: concept | group | en | fr m/f [pre [alt]] | es m/f[/mpl/fpl] copula | pt ... copula | noun tags
_ADJECTIVES = """
red       | color    | red       | rouge/rouge                 | rojo/roja ser                   | vermelho/vermelha ser   | artefact
black     | color    | black     | noir/noire                  | negro/negra ser                 | preto/preta ser         | artefact animal
white     | color    | white     | blanc/blanche               | blanco/blanca ser               | branco/branca ser       | artefact animal
green     | color    | green     | vert/verte                  | verde/verde ser                 | verde/verde ser         | artefact
blue      | color    | blue      | bleu/bleue                  | azul/azul ser                   | azul/azul ser           | artefact
yellow    | color    | yellow    | jaune/jaune                 | amarillo/amarilla ser           | amarelo/amarela ser     | artefact
gray      | color    | gray      | gris/grise                  | gris/gris ser                   | cinzento/cinzenta ser   | artefact animal
big       | size     | big       | grand/grande pre            | grande/grande ser               | grande/grande ser       | artefact animal plant
small     | size     | small     | petit/petite pre            | pequeño/pequeña ser             | pequeno/pequena ser     | artefact animal plant
old       | age      | old       | vieux/vieille pre vieil     | viejo/vieja ser                 | velho/velha ser         | person animal artefact plant
young     | age      | young     | jeune/jeune pre             | joven/joven/jóvenes/jóvenes ser | jovem/jovem ser         | person animal
new       | age      | new       | nouveau/nouvelle pre nouvel | nuevo/nueva ser                 | novo/nova ser           | artefact
heavy     | weight   | heavy     | lourd/lourde                | pesado/pesada ser               | pesado/pesada ser       | portable furniture
light     | weight   | light     | léger/légère                | ligero/ligera ser               | leve/leve ser           | portable
expensive | price    | expensive | cher/chère                  | caro/cara ser                   | caro/cara ser           | artefact drink
clean     | clean    | clean     | propre/propre               | limpio/limpia estar             | limpo/limpa estar       | washable building furniture
dirty     | clean    | dirty     | sale/sale                   | sucio/sucia estar               | sujo/suja estar         | washable building furniture animal
hot       | temp     | hot       | chaud/chaude                | caliente/caliente estar         | quente/quente estar     | temp
cold      | temp     | cold      | froid/froide                | frío/fría estar                 | frio/fria estar         | temp drink
fast      | speed    | fast      | rapide/rapide               | rápido/rápida ser               | rápido/rápida ser       | animal vehicle person
slow      | speed    | slow      | lent/lente                  | lento/lenta ser                 | lento/lenta ser         | animal vehicle person
tired     | mood     | tired     | fatigué/fatiguée            | cansado/cansada estar           | cansado/cansada estar   | person animal
sick      | mood     | sick      | malade/malade               | enfermo/enferma estar           | doente/doente estar     | person animal
happy     | mood     | happy     | content/contente            | contento/contenta estar         | contente/contente estar | person animal
sad       | mood     | sad       | triste/triste               | triste/triste estar             | triste/triste estar     | person animal
strong    | strength | strong    | fort/forte                  | fuerte/fuerte ser               | forte/forte ser         | person animal
beautiful | beauty   | beautiful | beau/belle pre bel          | bonito/bonita ser               | bonito/bonita ser       | person animal artefact plant
full      | fill     | full      | plein/pleine                | lleno/llena estar               | cheio/cheia estar       | container
empty     | fill     | empty     | vide/vide                   | vacío/vacía estar               | vazio/vazia estar       | container
"""

# Verbs: concept | frame | en base/past | fr | es | pt | flags | place tags | subject tags | object tags
_VERBS = """
eat      | trans | eat/ate             | manger     | comer     | comer     |              | outdoor indoor | person animal  | food
drink    | trans | drink/drank         | boire      | beber     | beber     |              | outdoor indoor | person land    | drink
see      | trans | see/saw             | voir       | ver       | ver       |              | outdoor        | person animal  | person animal artefact plant food
hear     | trans | hear/heard          | entendre   | oír       | ouvir     |              | outdoor indoor | person land    | person animal
buy      | trans | buy/bought          | acheter    | comprar   | comprar   |              | outdoor        | person         | portable food drink vehicle building
sell     | trans | sell/sold           | vendre     | vender    | vender    |              | outdoor        | person         | portable food drink vehicle building
read     | trans | read/read           | lire       | leer      | ler       |              | outdoor indoor | person         | readable
write    | trans | write/wrote         | écrire     | escribir  | escrever  |              | indoor         | person         | writable
open     | trans | open/opened         | ouvrir     | abrir     | abrir     |              |                | person         | openable
close    | trans | close/closed        | fermer     | cerrar    | fechar    |              |                | person         | openable
find     | trans | find/found          | trouver    | encontrar | encontrar |              | outdoor indoor | person land    | portable animal
look_for | trans | look for/looked for | chercher   | buscar    | procurar  |              | outdoor indoor | person land    | portable animal person
carry    | trans | carry/carried       | porter     | llevar    | levar     |              | outdoor        | person         | portable fruit
wash     | trans | wash/washed         | laver      | lavar     | lavar     |              | indoor         | person         | washable animal
prepare  | trans | prepare/prepared    | préparer   | preparar  | preparar  |              | kitchen        | person         | dish
cut      | trans | cut/cut             | couper     | cortar    | cortar    |              | kitchen        | person         | cuttable
break    | trans | break/broke         | casser     | romper    | partir    |              | indoor         | person land    | breakable
clean    | trans | clean/cleaned       | nettoyer   | limpiar   | limpar    |              |                | person         | washable building furniture
draw     | trans | draw/drew           | dessiner   | dibujar   | desenhar  |              | outdoor indoor | person         | person animal artefact plant
paint    | trans | paint/painted       | peindre    | pintar    | pintar    |              | outdoor        | person         | paintable
catch    | trans | catch/caught        | attraper   | atrapar   | apanhar   |              | outdoor        | person land    | small throwable
throw    | trans | throw/threw         | lancer     | lanzar    | atirar    |              | outdoor        | person         | throwable
push     | trans | push/pushed         | pousser    | empujar   | empurrar  |              | outdoor        | person land    | pushable
call     | trans | call/called         | appeler    | llamar    | chamar    |              | outdoor indoor | person         | person pet
help     | trans | help/helped         | aider      | ayudar    | ajudar    |              | outdoor indoor | person         | person
wait_for | trans | wait for/waited for | attendre   | esperar   | esperar   |              | outdoor        | person land    | person
follow   | trans | follow/followed     | suivre     | seguir    | seguir    |              | outdoor        | person land    | person animal
water    | trans | water/watered       | arroser    | regar     | regar     |              | outdoor        | person         | plant
have     | trans | have/had            | avoir      | tener     | ter       | stative no_a |                | person         | portable animal vehicle building food drink
sleep    | intr  | sleep/slept         | dormir     | dormir    | dormir    |              | outdoor indoor | person animal  |
run      | intr  | run/ran             | courir     | correr    | correr    |              | outdoor        | person land    |
sing     | intr  | sing/sang           | chanter    | cantar    | cantar    |              | outdoor indoor | person bird    |
dance    | intr  | dance/danced        | danser     | bailar    | dançar    |              | outdoor indoor | person         |
walk     | intr  | walk/walked         | marcher    | caminar   | caminhar  |              | outdoor        | person land    |
work     | intr  | work/worked         | travailler | trabajar  | trabalhar |              | outdoor indoor | person         |
swim     | intr  | swim/swam           | nager      | nadar     | nadar     |              | water          | person swimmer |
cry      | intr  | cry/cried           | pleurer    | llorar    | chorar    |              | outdoor indoor | person         |
play     | intr  | play/played         | jouer      | jugar     | brincar   |              | outdoor indoor | person land    |
jump     | intr  | jump/jumped         | sauter     | saltar    | saltar    |              | outdoor        | person land    |
shout    | intr  | shout/shouted       | crier      | gritar    | gritar    |              | outdoor        | person         |
arrive   | intr  | arrive/arrived      | arriver    | llegar    | chegar    | etre         |                | person land    |
come     | intr  | come/came           | venir      | venir     | vir       | etre         |                | person land    |
leave    | intr  | leave/left          | partir     | salir     | sair      | etre         |                | person land    |
"""


def _rows(table: str, n_fields: int, name: str):
    for lineno, line in enumerate(table.strip("\n").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = [f.strip() for f in line.split("|")]
        if len(fields) != n_fields:
            raise ValueError(f"lexicon {name} line {lineno}: expected {n_fields} fields, got "
                             f"{len(fields)}: {line!r}")
        yield lineno, fields


def _noun_form(cell: str, lang: str, where: str) -> NounForm:
    parts = cell.split()
    if len(parts) not in (2, 3) or parts[1] not in GENDERS or (len(parts) == 3 and parts[2] != "el"):
        raise ValueError(f"{where}: expected 'singular[/plural] m|f [el]', got {cell!r}")
    sg, _, pl = parts[0].partition("/")
    return NounForm(sg, pl or _PLURAL[lang](sg), parts[1], len(parts) == 3)


def _parse_nouns() -> dict[str, Noun]:
    out: dict[str, Noun] = {}
    for lineno, (concept, en, fr, es, pt, tags) in _rows(_NOUNS, 6, "nouns"):
        where = f"lexicon nouns line {lineno} ({concept})"
        tagset = frozenset(tags.split())
        sg, _, pl = en.partition("/")
        forms = {"en": NounForm(sg, pl or en_plural(sg))}
        for lang, cell in (("fr", fr), ("es", es), ("pt", pt)):
            forms[lang] = _noun_form(cell, lang, where)
        if concept in out:
            raise ValueError(f"{where}: duplicate concept")
        out[concept] = Noun(concept, tagset, forms)
    return out


def _adj_form(cell: str, lang: str, where: str) -> AdjForm:
    parts = cell.split()
    forms = parts[0].split("/")
    if len(forms) not in (2, 4):
        raise ValueError(f"{where}: expected 'masc/fem[/masc_pl/fem_pl] ...', got {cell!r}")
    if len(forms) == 2:
        plural = (lambda w: fr_plural(w, adjective=True)) if lang == "fr" else _PLURAL[lang]
        forms += [plural(forms[0]), plural(forms[1])]
    rest = parts[1:]
    if lang == "fr":
        pre = bool(rest) and rest[0] == "pre"
        alt = rest[1] if pre and len(rest) == 2 else ""
        if rest and not pre or len(rest) > 2:
            raise ValueError(f"{where}: French adjective flags are 'pre [before-vowel form]', got {cell!r}")
        return AdjForm(*forms, pre=pre, alt=alt)
    if rest not in (["ser"], ["estar"]):
        raise ValueError(f"{where}: the {lang} adjective needs its copula, ser or estar: {cell!r}")
    return AdjForm(*forms, copula=rest[0])


def _parse_adjectives() -> dict[str, Adjective]:
    out: dict[str, Adjective] = {}
    for lineno, (concept, group, en, fr, es, pt, applies) in _rows(_ADJECTIVES, 7, "adjectives"):
        where = f"lexicon adjectives line {lineno} ({concept})"
        forms = {"en": AdjForm(en, en, en, en, pre=True)}
        for lang, cell in (("fr", fr), ("es", es), ("pt", pt)):
            forms[lang] = _adj_form(cell, lang, where)
        out[concept] = Adjective(concept, group, frozenset(applies.split()), forms)
    return out


_VERB_FLAGS = {"stative", "etre", "no_a"}


def _parse_verbs() -> dict[str, Verb]:
    out: dict[str, Verb] = {}
    for lineno, fields in _rows(_VERBS, 10, "verbs"):
        concept, frame, en, fr, es, pt, flags, places, subj, obj = fields
        where = f"lexicon verbs line {lineno} ({concept})"
        base, sep, past = en.partition("/")
        flagset = set(flags.split())
        if frame not in ("intr", "trans") or not sep or flagset - _VERB_FLAGS:
            raise ValueError(f"{where}: bad frame, English forms or flags")
        if (frame == "trans") != bool(obj):
            raise ValueError(f"{where}: a transitive verb needs object tags, an intransitive one none")
        out[concept] = Verb(concept, frame, frozenset(subj.split()), frozenset(obj.split()),
                            frozenset(places.split()), (base, past), {"fr": fr, "es": es, "pt": pt},
                            stative="stative" in flagset, etre="etre" in flagset, no_a="no_a" in flagset)
    return out


NOUNS: dict[str, Noun] = _parse_nouns()
ADJECTIVES: dict[str, Adjective] = _parse_adjectives()
VERBS: dict[str, Verb] = _parse_verbs()

#: Spelled-out numbers 2..12 (Portuguese 2 agrees in gender).
NUMBERS: dict[str, dict[int, str]] = {
    "en": dict(zip(range(2, 13), "two three four five six seven eight nine ten eleven twelve".split())),
    "fr": dict(zip(range(2, 13), "deux trois quatre cinq six sept huit neuf dix onze douze".split())),
    "es": dict(zip(range(2, 13), "dos tres cuatro cinco seis siete ocho nueve diez once doce".split())),
    "pt": dict(zip(range(2, 13), "dois três quatro cinco seis sete oito nove dez onze doze".split())),
}
PT_FEMININE_NUMBERS = {2: "duas"}
NUMBER_RANGE = (2, 12)

#: Sentence-final time adverbs: past -> yesterday, future -> tomorrow.
ADVERBS: dict[str, dict[str, str]] = {
    "en": {"past": "yesterday", "fut": "tomorrow"},
    "fr": {"past": "hier", "fut": "demain"},
    "es": {"past": "ayer", "fut": "mañana"},
    "pt": {"past": "ontem", "fut": "amanhã"},
}


def _check() -> None:
    noun_tags = set().union(*(n.tags for n in NOUNS.values()))
    for adj in ADJECTIVES.values():
        unknown = adj.applies - noun_tags
        if unknown:
            raise ValueError(f"lexicon: adjective '{adj.concept}' names unknown noun tags {sorted(unknown)}")
    for verb in VERBS.values():
        unknown = (verb.subj | verb.obj | verb.places) - noun_tags
        if unknown:
            raise ValueError(f"lexicon: verb '{verb.concept}' names unknown noun tags {sorted(unknown)}")


_check()


def content_words() -> dict[str, set[str]]:
    """Every content word form per language (for documentation and tests)."""
    out: dict[str, set[str]] = {lang: set() for lang in LANGS}
    for noun in NOUNS.values():
        for lang, f in noun.forms.items():
            out[lang].update((f.sg, f.pl))
    for adj in ADJECTIVES.values():
        for lang, f in adj.forms.items():
            out[lang].update((f.m_sg, f.f_sg, f.m_pl, f.f_pl) + ((f.alt,) if f.alt else ()))
    return out
