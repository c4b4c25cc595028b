"""The ImageNet class data and the words → tags mapping that ``find_photos`` relies on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from photocomic.tools.photos import taxonomy
from photocomic.tools.photos.taxonomy import (
    CATEGORIES,
    category_matrix,
    class_by_label,
    classes_in,
    imagenet_classes,
    no_match_message,
    resolve_words,
    suggest_words,
)
from timm.data import ImageNetInfo

DATA = Path(__file__).resolve().parents[1] / "tools" / "data" / "imagenet.json"


def by_wnid() -> dict[str, taxonomy.ImageNetClass]:
    return {cls.wnid: cls for cls in imagenet_classes()}


def test_classes_follow_timm_output_order() -> None:
    classes = imagenet_classes()
    info = ImageNetInfo()
    assert len(classes) == info.num_classes() == 1000
    assert [c.index for c in classes] == list(range(1000))
    assert [c.wnid for c in classes] == [info.index_to_label_name(i) for i in range(1000)]
    assert [c.wnid for c in classes] == sorted(c.wnid for c in classes)


def test_labels_are_short_unique_lower_case_and_names_hold_the_lemmas() -> None:
    classes = imagenet_classes()
    labels = [c.label for c in classes]
    assert len(set(labels)) == 1000
    assert all(label == label.lower() and label.strip() == label for label in labels)
    info = ImageNetInfo()
    for cls in classes:
        lemmas = [x.strip().lower() for x in info.index_to_description(cls.index).split(",")]
        assert set(lemmas) <= set(cls.names), cls
    known = by_wnid()
    assert known["n02106166"].label == "border collie"
    assert known["n03445777"].label == "golf ball"
    assert known["n02099601"].label == "golden retriever"
    assert known["n01440764"].names == ("tench", "tinca tinca")


def test_data_file_is_small_and_carries_the_wordnet_licence() -> None:
    assert DATA.stat().st_size < 1_000_000
    data = json.loads(DATA.read_text(encoding="utf-8"))
    assert "WordNet 3.0 Copyright 2006 by Princeton University" in data["license"]
    ancestors = {a for row in data["classes"] for a in row["ancestors"]}
    assert ancestors <= set(data["synsets"])
    assert all("n00001740" in row["ancestors"] for row in data["classes"])  # entity


def test_every_class_has_exactly_one_category() -> None:
    matrix = category_matrix()
    assert matrix.shape == (1000, len(CATEGORIES))
    assert matrix.dtype == np.float32
    assert set(np.unique(matrix)) <= {0.0, 1.0}
    assert (matrix.sum(axis=1) == 1).all()
    for cls in imagenet_classes():
        assert matrix[cls.index, CATEGORIES.index(cls.category)] == 1
    assert len(CATEGORIES) == len(set(CATEGORIES)) and CATEGORIES[-1] == "object"
    assert all(classes_in(name) for name in CATEGORIES)


def test_category_matrix_is_a_fresh_copy() -> None:
    category_matrix()[0, :] = 7
    assert category_matrix()[0].sum() == 1


def test_softmax_sums_into_category_probabilities() -> None:
    logits = np.random.default_rng(0).normal(size=(3, 1000)).astype(np.float32)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    per_category = probs @ category_matrix()
    assert per_category.shape == (3, len(CATEGORIES))
    np.testing.assert_allclose(per_category.sum(axis=1), 1.0, rtol=1e-5)


def test_all_dog_breeds_and_only_they_are_dogs() -> None:
    breeds = [c for c in imagenet_classes() if "n02085620" <= c.wnid <= "n02113978"]
    assert len(breeds) == 118
    assert all(c.category == "dog" for c in breeds)
    assert [c.index for c in classes_in("dog")] == list(range(151, 269))
    known = by_wnid()
    for wnid in ("n02115641", "n02114367", "n02119022"):  # dingo, timber wolf, red fox
        assert known[wnid].category == "mammal"


@pytest.mark.parametrize(
    ("wnid", "category"),
    [
        ("n02123045", "cat"),  # tabby
        ("n02123159", "cat"),  # tiger cat
        ("n02123394", "cat"),  # Persian cat
        ("n02123597", "cat"),  # Siamese cat
        ("n02124075", "cat"),  # Egyptian cat
        ("n02129604", "mammal"),  # tiger
        ("n02129165", "mammal"),  # lion
        ("n01530575", "bird"),  # brambling
        ("n01608432", "bird"),  # kite
        ("n02012849", "bird"),  # crane, the bird
        ("n01484850", "fish"),  # great white shark
        ("n01443537", "fish"),  # goldfish
        ("n01744401", "reptile"),  # rock python
        ("n01641577", "amphibian"),  # bullfrog
        ("n02206856", "insect"),  # bee
        ("n01773797", "invertebrate"),  # garden spider
        ("n09835506", "person"),  # ballplayer
        ("n07753592", "food"),  # banana
        ("n07873807", "food"),  # pizza
        ("n07697537", "food"),  # hotdog
        ("n07892512", "food"),  # red wine
        ("n07930864", "household"),  # cup (a drink in WordNet, cups in the photos)
        ("n11939491", "plant"),  # daisy
        ("n13054560", "plant"),  # bolete
        ("n09472597", "landscape"),  # volcano
        ("n09428293", "landscape"),  # seashore
        ("n04285008", "vehicle"),  # sports car
        ("n03769881", "vehicle"),  # minibus
        ("n04146614", "vehicle"),  # school bus
        ("n03272562", "vehicle"),  # electric locomotive
        ("n02704792", "vehicle"),  # amphibian, the vehicle
        ("n03792782", "vehicle"),  # mountain bike
        ("n02690373", "aircraft"),  # airliner
        ("n04552348", "aircraft"),  # warplane
        ("n04266014", "aircraft"),  # space shuttle
        ("n03773504", "weapon"),  # missile
        ("n04273569", "boat"),  # speedboat
        ("n03095699", "boat"),  # container ship
        ("n03028079", "building"),  # church
        ("n03788195", "building"),  # mosque
        ("n02793495", "building"),  # barn
        ("n04200800", "building"),  # shoe shop
        ("n04366367", "structure"),  # suspension bridge
        ("n03126707", "object"),  # crane, the lifting device
        ("n02963159", "clothing"),  # cardigan
        ("n04120489", "clothing"),  # running shoe
        ("n02676566", "instrument"),  # acoustic guitar
        ("n03445777", "sports"),  # golf ball
        ("n04099969", "furniture"),  # rocking chair
        ("n03642806", "electronics"),  # laptop
        ("n04442312", "household"),  # toaster
        ("n03481172", "tool"),  # hammer
    ],
)
def test_known_classes_land_in_the_right_category(wnid: str, category: str) -> None:
    assert by_wnid()[wnid].category == category


def test_category_counts_add_up() -> None:
    counts = {name: len(classes_in(name)) for name in CATEGORIES}
    assert sum(counts.values()) == 1000
    assert counts["dog"] == 118 and counts["cat"] == 5 and counts["bird"] == 59


def test_class_by_label() -> None:
    assert class_by_label("golden retriever").wnid == "n02099601"
    with pytest.raises(KeyError):
        class_by_label("unicorn")


@pytest.mark.parametrize("text", ["dog", "dogs", "Dog", " DOGS ", "puppies"])
def test_dog_words_name_the_dog_category(text: str) -> None:
    query = resolve_words(text)
    assert query.categories == ("dog",)
    assert query.labels == ()
    assert len(query.indices) == 118
    assert query and not query.empty


@pytest.mark.parametrize("text", ["cat", "cats", "kitten"])
def test_cat_words_name_house_cats_only(text: str) -> None:
    query = resolve_words(text)
    assert query.categories == ("cat",)
    assert "tiger" not in query.labels and "lion" not in query.labels


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Border Collie", "border collie"),
        ("border collies", "border collie"),
        ("border-collie", "border collie"),
        ("Border_Collie", "border collie"),
        ("golf ball", "golf ball"),
        ("golf balls", "golf ball"),
        ("golden retriever", "golden retriever"),
        ("Alsatian", "german shepherd"),  # a lemma synonym
        ("German shepherd dog", "german shepherd"),
        ("hot dog", "hotdog"),
        ("tabby", "tabby"),
        ("tabby cat", "tabby"),
        ("geese", "goose"),
        ("jeans", "jean"),
        ("carpenters kit", "carpenter's kit"),
        ("Jack-o'-lantern", "jack-o'-lantern"),
    ],
)
def test_labels_synonyms_and_plurals_name_one_class(text: str, label: str) -> None:
    query = resolve_words(text)
    assert query.labels == (label,)
    assert query.categories == ()
    assert query.indices == (class_by_label(label).index,)


def test_every_label_and_name_finds_its_class() -> None:
    for cls in imagenet_classes():
        for text in (cls.label, *cls.names):
            query = resolve_words(text)
            assert cls.index in query.indices, (text, query)
            assert cls.label in query.labels or cls.category in query.categories


def test_own_names_come_before_ancestor_matches() -> None:
    assert resolve_words("plane").labels == ("plane", "airliner")
    assert resolve_words("crane").labels == ("crane (wading bird)", "crane (lifting device)")


def test_ancestor_words_name_their_classes() -> None:
    retrievers = resolve_words("retrievers")
    assert "golden retriever" in retrievers.labels and "labrador retriever" in retrievers.labels
    assert retrievers.categories == ()
    cars = resolve_words("car")
    assert {"sports car", "convertible", "cab"} <= set(cars.labels)
    assert "airliner" not in cars.labels
    animals = resolve_words("animals")
    assert set(animals.categories) == {
        "dog", "cat", "bird", "fish", "reptile", "amphibian", "insect", "invertebrate", "mammal",
    }  # fmt: skip
    assert animals.labels == ()


def test_category_word_that_is_also_a_class_name_gives_both() -> None:
    query = resolve_words("amphibian")
    assert query.categories == ("amphibian",)
    assert query.labels == ("amphibian",)  # the amphibious vehicle


def test_lists_and_phrases_give_the_union() -> None:
    assert resolve_words("cats and dogs").categories == ("dog", "cat")
    assert resolve_words("tabby or siamese").labels == ("tabby", "siamese cat")
    query = resolve_words("photos of dogs at the beach")
    assert query.categories == ("dog",)
    assert set(query.labels) == {"seashore", "sandbar"}
    assert query.unmatched == ()
    partial = resolve_words("dogs in the sky")
    assert partial.categories == ("dog",) and partial.unmatched == ("sky",)


@pytest.mark.parametrize("text", ["", "   ", "zzzz", "unicorn", "sky"])
def test_unknown_words_match_nothing(text: str) -> None:
    query = resolve_words(text)
    assert not query and query.empty
    assert query.categories == () and query.labels == () and query.indices == ()


def test_suggestions_for_misspellings() -> None:
    assert suggest_words("border colie")[0] == "border collie"
    assert "golden retriever" in suggest_words("goldn retriver")
    assert "dog" in suggest_words("dgo")
    assert suggest_words("qqqqqqqq") == []
    message = no_match_message("dgo")
    assert '"dgo"' in message and "dog" in message
    assert "Try a category" in no_match_message("qqqqqqqq")
