"""The 1000 ImageNet-1k classes, their coarse categories, and words → tags.

Why: the default model's classifier head scores 1000 ImageNet classes at no extra cost, but
people search with words like "dog", "golden retriever" or "boats". This module turns class
indices into labels and coarse categories, and free text into the labels and categories it
names. The data (``data/imagenet.json``) is the WordNet 3.0 hierarchy above each class,
extracted offline by ``scripts/build_imagenet_taxonomy.py``; nothing is downloaded.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

_PACKAGE = "photocomic.tools"
_DATA_FILE = "imagenet.json"

# Ordered rules: a class gets the category of the first rule one of whose WNIDs is the class
# itself or one of its WordNet ancestors. The order settles overlaps (a warplane is an
# aircraft before it is a weapon, a missile a weapon before a vehicle, a pool table
# furniture). Each WNID is followed by its WordNet lemma, to keep the table readable.
_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    # WordNet's "cup" (n07930864) is a drink (punch); ImageNet's photos of it show cups.
    ("household", ("n07930864",)),
    # "menu" is filed under food (fare) in WordNet; its photos show printed cards.
    ("object", ("n07565083",)),
    ("dog", ("n02084071",)),  # dog, domestic dog
    ("cat", ("n02121808",)),  # domestic cat, house cat (big cats are mammals)
    ("bird", ("n01503061",)),  # bird
    ("fish", ("n02512053",)),  # fish (bony and cartilaginous)
    ("reptile", ("n01661091",)),  # reptile
    ("amphibian", ("n01627424",)),  # amphibian
    ("insect", ("n02159955",)),  # insect
    ("invertebrate", ("n01905661",)),  # invertebrate: spiders, crabs, snails, jellyfish...
    ("mammal", ("n01861778",)),  # mammal (all but dogs and house cats)
    ("person", ("n00007846",)),  # person
    ("food", ("n00021265", "n07555863")),  # food, nutrient; food, solid food (drinks too)
    (
        "plant",
        (
            "n00017222",  # plant, flora
            "n12992868",  # fungus
            "n13086908",  # plant part (acorn, hip, ear of corn)
        ),
    ),
    ("landscape", ("n09287968",)),  # geological formation: alp, cliff, seashore, valley...
    ("aircraft", ("n02686568", "n04264914")),  # aircraft; spacecraft
    ("boat", ("n04530566",)),  # vessel, watercraft
    ("weapon", ("n04565375",)),  # weapon, arm
    (
        "vehicle",
        (
            "n04524313",  # vehicle
            "n04019101",  # public transport (buses, trains)
            "n03322940",  # farm machine (harvester, thresher)
        ),
    ),
    (
        "building",
        (
            "n02913152",  # building, edifice
            "n03297735",  # establishment (shops, prison)
            "n03546340",  # housing (yurt, cliff dwelling)
            "n03171356",  # defensive structure (castle)
            "n02914991",  # building complex (lumbermill)
            "n04105068",  # roof (dome, thatch, tile roof, vault)
            "n02825657",  # bell cote
        ),
    ),
    (
        "structure",
        (
            "n04341686",  # structure, construction: bridges, fences, dams, monuments
            "n03933933",  # pier
            "n04562935",  # water tower
            "n03240683",  # drilling platform
        ),
    ),
    (
        "clothing",
        (
            "n03051540",  # clothing
            "n03380867",  # footwear, footgear
            "n03381126",  # footwear
            "n03045698",  # cloak
            "n02739668",  # armor
            "n02740764",  # armor plate (breastplate, pickelhaube)
            "n03725035",  # mask (gasmask, ski mask)
            "n03597469",  # jewelry
            "n04272054",  # spectacles (sunglasses)
            "n04355933",  # sunglass
        ),
    ),
    ("instrument", ("n03800933",)),  # musical instrument
    (
        "sports",
        (
            "n04285146",  # sports equipment
            "n02778669",  # ball (game equipment)
            "n04285622",  # sports implement (racket)
            "n04228054",  # ski
            "n04019541",  # puck, hockey puck
        ),
    ),
    ("furniture", ("n03405725",)),  # furniture
    (
        "electronics",
        (
            "n03278248",  # electronic equipment
            "n03277771",  # electronic device
            "n03196324",  # digital computer
            "n03274561",  # electro-acoustic transducer (loudspeaker, microphone)
            "n03078287",  # communication system (radio, television)
            "n02942699",  # camera
            "n03744840",  # memory device
            "n04074963",  # remote control
            "n03924679",  # photocopier
            "n04009552",  # projector
            "n06359193",  # web site
        ),
    ),
    (
        "household",
        (
            "n03528263",  # home appliance
            "n02729837",  # appliance
            "n03621049",  # kitchen utensil
            "n04381994",  # tableware
            "n03133538",  # crockery
            "n04531098",  # vessel (bucket, bottle, vase, tub)
            "n03438257",  # glass, drinking glass
            "n04183329",  # shaker
            "n04447443",  # toiletry
            "n03039947",  # cleaning implement
            "n02820210",  # bedclothes
            "n03932670",  # piece of cloth (towel, handkerchief)
            "n03636248",  # lamp
            "n03508101",  # heater
            "n03320046",  # fan
            "n03210683",  # dispenser
            "n03151500",  # cushion (pillow)
            "n03366823",  # floor cover (doormat, prayer rug)
            "n02851099",  # blind, screen (curtains, window shade)
            "n02839910",  # bin (ashcan)
        ),
    ),
    ("tool", ("n04451818",)),  # tool
)

FALLBACK_CATEGORY = "object"

#: Coarse categories, in a fixed order: the columns of :func:`category_matrix`.
CATEGORIES: tuple[str, ...] = (
    "dog",
    "cat",
    "bird",
    "fish",
    "reptile",
    "amphibian",
    "insect",
    "invertebrate",
    "mammal",
    "person",
    "food",
    "plant",
    "landscape",
    "aircraft",
    "boat",
    "weapon",
    "vehicle",
    "building",
    "structure",
    "clothing",
    "instrument",
    "sports",
    "furniture",
    "electronics",
    "household",
    "tool",
    FALLBACK_CATEGORY,
)
assert {name for name, _ in _RULES} <= set(CATEGORIES)

# Everyday words for a whole category that WordNet does not give as an ancestor.
_CATEGORY_ALIASES: dict[str, str] = {
    "puppy": "dog",
    "doggy": "dog",
    "doggie": "dog",
    "kitten": "cat",
    "kitty": "cat",
    "pussycat": "cat",
    "human": "person",
    "people": "person",
    "scenery": "landscape",
    "clothes": "clothing",
    "sport": "sports",
    "electronic": "electronics",
    "gadget": "electronics",
    "music": "instrument",
}

# Everyday words for a few classes that neither the lemmas nor the ancestors carry.
_LABEL_ALIASES: dict[str, tuple[str, ...]] = {
    "beach": ("seashore", "sandbar"),
    "sea": ("seashore",),
    "ocean": ("seashore",),
    "lake": ("lakeside",),
    "cow": ("ox",),
    "chicken": ("cock", "hen"),
    "beer": ("beer bottle", "beer glass"),
}

# Ancestors too abstract to be a search word ("entity", "whole", "instrumentality"...).
_ABSTRACT_ANCESTORS = frozenset(
    {
        "n00001740",  # entity
        "n00001930",  # physical entity
        "n00002137",  # abstraction
        "n00002684",  # object, physical object (the fallback category's own word)
        "n00003553",  # whole, unit
        "n03575240",  # instrumentality
        "n00020827",  # matter
        "n00024264",  # attribute
        "n00027807",  # shape, form
        "n00031921",  # relation
        "n00033020",  # communication
        "n00027167",  # location
    }
)

_IRREGULAR_PLURALS = {
    "people": "person",
    "men": "man",
    "women": "woman",
    "children": "child",
    "mice": "mouse",
    "geese": "goose",
    "teeth": "tooth",
    "feet": "foot",
    "oxen": "ox",
    "dice": "die",
    "cacti": "cactus",
    "fungi": "fungus",
}

_SEPARATORS = re.compile(r"\s*(?:[,;/&+|]|\band\b|\bor\b)\s*")
_ARTICLES = "a an the of at in on with some my our"
_STOPWORDS = frozenset(f"{_ARTICLES} photo photos picture pictures image images".split(" "))
_MAX_PHRASE = 5


@dataclass(frozen=True)
class ImageNetClass:
    """One output of the ImageNet head: where it is, what it is called, what kind it is."""

    index: int
    wnid: str
    label: str
    names: tuple[str, ...]
    category: str
    ancestors: tuple[str, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class TagQuery:
    """What a piece of text names: whole categories, single class labels, or nothing.

    ``labels`` leaves out classes whose whole category already matched; it lists first the
    classes named by their own name (label or synonym), then those named through a WordNet
    ancestor ("retriever", "car"). ``indices`` lists every class covered either way.
    ``unmatched`` holds the words that named nothing.
    """

    text: str
    categories: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    indices: tuple[int, ...] = ()
    unmatched: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.categories or self.labels)

    @property
    def empty(self) -> bool:
        return not self


@dataclass(frozen=True)
class _Taxonomy:
    classes: tuple[ImageNetClass, ...]
    by_label: dict[str, int]
    by_category: dict[str, frozenset[int]]
    names: dict[str, frozenset[int]]  # a class's own label, lemmas and aliases
    kinds: dict[str, frozenset[int]]  # lemmas of its ancestors


def normalize(text: str) -> str:
    """Lower case, hyphens and underscores as spaces, no apostrophes or dots, single spaces."""
    text = text.lower().replace("-", " ").replace("_", " ")
    text = re.sub(r"['’.]", "", text)
    return " ".join(text.split())


def _read_data() -> dict[str, Any]:
    # importlib.resources finds the file inside an installed wheel or zip; a namespace
    # package under some editable installs has no usable resource reader, so the file
    # beside this module is the fallback (it is the same file there).
    try:
        ref = resources.files(_PACKAGE).joinpath("data", _DATA_FILE)
        raw = ref.read_bytes()
    except (ModuleNotFoundError, NotADirectoryError, FileNotFoundError, TypeError):
        raw = (Path(__file__).parent.parent / "data" / _DATA_FILE).read_bytes()
    return json.loads(raw)


def _category_for(wnid: str, ancestors: tuple[str, ...]) -> str:
    lineage = {wnid, *ancestors}
    for category, wnids in _RULES:
        if lineage.intersection(wnids):
            return category
    return FALLBACK_CATEGORY


@lru_cache(maxsize=1)
def _taxonomy() -> _Taxonomy:
    data = _read_data()
    synsets = {wnid: tuple(names) for wnid, names in data["synsets"].items()}
    classes: list[ImageNetClass] = []
    for row in data["classes"]:
        ancestors = tuple(row["ancestors"])
        classes.append(
            ImageNetClass(
                index=row["index"],
                wnid=row["wnid"],
                label=row["label"],
                names=tuple(row["names"]),
                category=_category_for(row["wnid"], ancestors),
                ancestors=ancestors,
            )
        )
    if [c.index for c in classes] != list(range(len(classes))):
        raise ValueError(f"{_DATA_FILE}: class indices are not 0..{len(classes) - 1} in order")
    by_label = {cls.label: cls.index for cls in classes}

    by_category: dict[str, set[int]] = {name: set() for name in CATEGORIES}
    names: dict[str, set[int]] = {}
    kinds: dict[str, set[int]] = {}
    for cls in classes:
        by_category[cls.category].add(cls.index)
        for name in (cls.label, *cls.names):
            names.setdefault(normalize(name), set()).add(cls.index)
        for ancestor in cls.ancestors:
            if ancestor in _ABSTRACT_ANCESTORS:
                continue
            for name in synsets.get(ancestor, ()):
                kinds.setdefault(normalize(name), set()).add(cls.index)
    for word, labels in _LABEL_ALIASES.items():
        names.setdefault(word, set()).update(by_label[label] for label in labels)
    return _Taxonomy(
        classes=tuple(classes),
        by_label=by_label,
        by_category={k: frozenset(v) for k, v in by_category.items()},
        names={k: frozenset(v) for k, v in names.items()},
        kinds={k: frozenset(v) for k, v in kinds.items()},
    )


def imagenet_classes() -> list[ImageNetClass]:
    """The 1000 classes in model output order (index i is logit i)."""
    return list(_taxonomy().classes)


def class_by_label(label: str) -> ImageNetClass:
    """The class a stored tag label names (labels are unique)."""
    tax = _taxonomy()
    try:
        return tax.classes[tax.by_label[label]]
    except KeyError:
        raise KeyError(f"unknown ImageNet label {label!r}") from None


def classes_in(category: str) -> list[ImageNetClass]:
    """The classes of one category, in index order."""
    if category not in CATEGORIES:
        raise KeyError(f"unknown category {category!r}; known: {', '.join(CATEGORIES)}")
    tax = _taxonomy()
    return [tax.classes[i] for i in sorted(tax.by_category[category])]


@lru_cache(maxsize=1)
def _category_matrix() -> np.ndarray:
    classes = _taxonomy().classes
    matrix = np.zeros((len(classes), len(CATEGORIES)), dtype=np.float32)
    column = {name: i for i, name in enumerate(CATEGORIES)}
    for cls in classes:
        matrix[cls.index, column[cls.category]] = 1.0
    matrix.setflags(write=False)
    return matrix


def category_matrix() -> np.ndarray:
    """A (1000, len(CATEGORIES)) 0/1 float32 matrix, one 1 per row.

    ``softmax(logits) @ category_matrix()`` gives per-category probabilities in one product.
    Each call returns a fresh copy (100 kB), so callers may hand it to torch or modify it.
    """
    return _category_matrix().copy()


def _singulars(phrase: str) -> list[str]:
    """Singular guesses for the last word of a phrase ("golf balls" → "golf ball")."""
    head, _, last = phrase.rpartition(" ")
    prefix = f"{head} " if head else ""
    guesses: list[str] = []
    if last in _IRREGULAR_PLURALS:
        guesses.append(_IRREGULAR_PLURALS[last])
    if len(last) > 3 and last.endswith("ies"):
        guesses.append(last[:-3] + "y")
    if len(last) > 3 and last.endswith("ves"):
        guesses += [last[:-3] + "f", last[:-3] + "fe"]
    if len(last) > 3 and last.endswith("es"):
        guesses.append(last[:-2])
    if len(last) > 2 and last.endswith("s") and not last.endswith("ss"):
        guesses.append(last[:-1])
    return [prefix + guess for guess in guesses]


@dataclass
class _Match:
    """What the parts of a text named so far."""

    categories: set[str] = field(default_factory=set)
    direct: set[int] = field(default_factory=set)  # classes named by their own name
    indirect: set[int] = field(default_factory=set)  # classes named through an ancestor

    def add(self, other: _Match) -> None:
        self.categories |= other.categories
        self.direct |= other.direct
        self.indirect |= other.indirect


def _lookup(phrase: str) -> _Match | None:
    """What one normalized phrase names, or None if it names nothing.

    A category word names the category, plus any class of that very name (ImageNet has an
    amphibious vehicle called "amphibian"); other words name classes by their own names
    and through their ancestors. The phrase as written wins over its singular guesses.
    """
    tax = _taxonomy()
    for candidate in (phrase, *_singulars(phrase)):
        direct = set(tax.names.get(candidate, ()))
        category = candidate if candidate in tax.by_category else None
        category = category or _CATEGORY_ALIASES.get(candidate)
        if category is not None:
            return _Match({category}, direct)
        indirect = set(tax.kinds.get(candidate, ())) - direct
        if direct or indirect:
            return _Match(set(), direct, indirect)
    return None


def _scan(part: str, match: _Match) -> list[str]:
    """Greedy longest-phrase match over the words of a part that did not match whole."""
    unmatched: list[str] = []
    tokens = part.split()
    i = 0
    while i < len(tokens):
        for size in range(min(_MAX_PHRASE, len(tokens) - i), 0, -1):
            found = _lookup(" ".join(tokens[i : i + size]))
            if found is not None:
                match.add(found)
                i += size
                break
        else:
            if tokens[i] not in _STOPWORDS:
                unmatched.append(tokens[i])
            i += 1
    return unmatched


def resolve_words(text: str) -> TagQuery:
    """Map free text to the categories and class labels it names (empty if none).

    Case-insensitive; plurals, lemma synonyms ("alsatian" for German shepherd) and WordNet
    ancestors ("retriever", "snake", "car") count. A category word ("dog", "dogs") names
    the category. Several things may be listed ("cats, dogs", "tabby or siamese"); the
    result is their union, and words that name nothing are returned in ``unmatched``
    ("dogs at the sky" gives the dog category and ``unmatched=("sky",)``). A set of
    classes that fills whole categories ("animal") is reported as those categories.
    """
    tax = _taxonomy()
    phrase = normalize(text)
    match = _Match()
    unmatched: list[str] = []
    whole = _lookup(phrase) if phrase else None
    if whole is not None:
        match = whole
    else:
        for part in filter(None, _SEPARATORS.split(phrase)):
            found = _lookup(part)
            if found is not None:
                match.add(found)
            else:
                unmatched += _scan(part, match)

    indices = match.direct | match.indirect
    for name in CATEGORIES:
        members = tax.by_category[name]
        if members and members <= indices:
            match.categories.add(name)
    ordered = tuple(name for name in CATEGORIES if name in match.categories)
    covered: set[int] = set().union(*(tax.by_category[name] for name in ordered))
    first = sorted(match.direct - covered)
    then = sorted(match.indirect - match.direct - covered)
    return TagQuery(
        text=text,
        categories=ordered,
        labels=tuple(tax.classes[i].label for i in (*first, *then)),
        indices=tuple(sorted(indices | covered)),
        unmatched=tuple(dict.fromkeys(unmatched)),
    )


@lru_cache(maxsize=1)
def _vocabulary() -> tuple[str, ...]:
    tax = _taxonomy()
    words = [*CATEGORIES, *_CATEGORY_ALIASES, *sorted(tax.names), *sorted(tax.kinds)]
    return tuple(dict.fromkeys(words))


def suggest_words(text: str, limit: int = 5) -> list[str]:
    """Known words close to ``text`` (or to its unmatched words), for a "did you mean" hint."""
    query = resolve_words(text)
    targets = list(dict.fromkeys([normalize(text), *query.unmatched]))
    vocabulary = _vocabulary()
    suggestions: list[str] = []
    for target in targets:
        for candidate in (target, *_singulars(target)):
            suggestions += difflib.get_close_matches(candidate, vocabulary, n=limit, cutoff=0.6)
    return list(dict.fromkeys(suggestions))[:limit]


def no_match_message(text: str) -> str:
    """The sentence to show when ``text`` names no tag: what failed and what might work."""
    hints = suggest_words(text)
    message = f'No tag or category matches "{text}".'
    if hints:
        message += " Did you mean: " + ", ".join(hints) + "?"
    else:
        message += " Try a category: " + ", ".join(CATEGORIES) + "."
    return message
