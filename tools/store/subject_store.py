"""Where named subjects are kept: a second collection beside the photos, in the same store.

Why in Milvus and not in a file: a subject lives with the library it was learned from, on Milvus
Lite or on a server, and moves with it (``photocomic migrate``). Each subject is one row whose
vector is the learned model's direction (the weights of a linear model on the embeddings), so
the store's own search ranks the library by the model.
"""

from __future__ import annotations

import hashlib
import json
import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from photocomic.tools.errors import InvalidInput
from photocomic.tools.store.rows import ID_MASK
from photocomic.tools.store.schema import VECTOR_INDEX

if TYPE_CHECKING:
    from photocomic.tools.store.photo_store import PhotoStore

MAX_NAME = 200
MAX_EXAMPLES = 1000
_FIELDS = ["key", "name", "positives", "negatives", "info", "vector"]


def subject_key(name: str) -> str:
    """Names are case-insensitive and blind to extra spaces: "Cola", " cola " are one subject."""
    return " ".join(name.casefold().split())


def subject_id(key: str) -> int:
    return int.from_bytes(hashlib.sha1(key.encode()).digest()[:8], "big") & ID_MASK


@dataclass
class Subject:
    """A named subject: examples, counter-examples and the model learned from them."""

    name: str
    positives: list[int] = field(default_factory=list)
    negatives: list[int] = field(default_factory=list)
    weights: np.ndarray | None = None  # unit direction of the linear model
    info: dict[str, Any] = field(default_factory=dict)  # bias, scale, when trained, figures

    @property
    def key(self) -> str:
        return subject_key(self.name)

    def decision(self, vectors: np.ndarray) -> np.ndarray:
        """The model's score before the sigmoid, for unit embeddings."""
        if self.weights is None:
            return np.zeros(len(vectors), dtype=np.float32)
        scale = float(self.info.get("scale", 1.0))
        return vectors @ self.weights * scale + float(self.info.get("bias", 0.0))

    def probability(
        self, vectors: np.ndarray, tags: Sequence[dict[str, float]] | None = None
    ) -> np.ndarray:
        """How likely each photo shows the subject: from its embedding, and when its labels
        are given and the subject learned the labels it goes with, from both."""
        if tags is None or "blend_scale" not in self.info:
            return _expit(self.decision(vectors).astype(np.float64))
        # float64: far from the subject, float32 probabilities would all be 0 and tie
        score = self.blend(vectors, tags).astype(np.float64) * float(self.info["blend_scale"])
        return _expit(score + float(self.info.get("blend_bias", 0.0)))

    def blend(self, vectors: np.ndarray, tags: Sequence[dict[str, float]]) -> np.ndarray:
        """The embedding's projection and the labels' agreement, each in units of its spread
        over the library, the labels weighted by ``label_share``."""
        if self.weights is None:
            return np.zeros(len(vectors), dtype=np.float32)
        info = self.info
        projection = vectors @ self.weights / float(info.get("spread_projection") or 1.0)
        labels = float(info.get("spread_labels") or 0.0)
        if not labels:
            return projection
        share = float(info.get("label_share", 0.0)) / labels
        return projection + share * agreement(tags, info.get("label_weights") or {})

    def sheets(self) -> dict[str, str]:
        """Its character sheets: the comic id kept for each style."""
        kept = self.info.get("sheets") or {}
        return {
            str(style): str(entry["comic_id"])
            for style, entry in kept.items()
            if isinstance(entry, dict) and entry.get("comic_id")
        }


class SubjectStore:
    """The subjects collection of one photo store (created when the first subject is)."""

    def __init__(self, store: PhotoStore) -> None:
        self.store = store
        self.name = f"{store.collection}_subjects"

    def _client(self) -> Any:
        return self.store.client

    def exists(self) -> bool:
        with self.store.guard("read subjects"):
            return bool(self._client().has_collection(self.name))

    def _ensure(self, dim: int) -> None:
        if self.exists():
            return
        from pymilvus import DataType, MilvusClient

        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        schema.add_field("key", DataType.VARCHAR, max_length=MAX_NAME * 4)
        schema.add_field("name", DataType.VARCHAR, max_length=MAX_NAME * 4)
        for name in ("positives", "negatives"):
            schema.add_field(
                name, DataType.ARRAY, element_type=DataType.INT64, max_capacity=MAX_EXAMPLES
            )
        schema.add_field("info", DataType.VARCHAR, max_length=16384)
        index = self._client().prepare_index_params()
        index.add_index("vector", **VECTOR_INDEX)
        with self.store.guard("create the subjects"):
            self._client().create_collection(
                self.name, schema=schema, index_params=index, consistency_level="Strong"
            )

    def _load(self) -> None:
        with self.store.guard("load subjects"):
            self._client().load_collection(self.name)

    def all(self) -> list[Subject]:
        if not self.exists():
            return []
        self._load()
        with self.store.guard("read subjects"):
            rows = self._client().query(self.name, filter="id >= 0", output_fields=_FIELDS)
        return sorted((_from_row(r) for r in rows), key=lambda s: s.key)

    def get(self, name: str) -> Subject | None:
        if not self.exists():
            return None
        self._load()
        key = subject_key(name)
        with self.store.guard("read subjects"):
            rows = self._client().get(self.name, ids=[subject_id(key)], output_fields=_FIELDS)
        return _from_row(rows[0]) if rows else None

    def save(self, subject: Subject, dim: int) -> None:
        self._ensure(dim)
        weights = subject.weights if subject.weights is not None else _placeholder(dim)
        row = {
            "id": subject_id(subject.key),
            "vector": np.asarray(weights, dtype=np.float32).tolist(),
            "key": subject.key,
            "name": subject.name,
            "positives": subject.positives[-MAX_EXAMPLES:],
            "negatives": subject.negatives[-MAX_EXAMPLES:],
            "info": json.dumps(subject.info),
        }
        with self.store.guard("save the subject"):
            self._client().upsert(self.name, [row])
            self._client().flush(self.name)

    def delete(self, name: str) -> None:
        if self.exists():
            with self.store.guard("remove the subject"):
                self._client().delete(self.name, ids=[subject_id(subject_key(name))])
                self._client().flush(self.name)

    def copy_to(self, other: SubjectStore) -> int:
        """Every subject into another store's subjects (a migration): the same photo ids."""
        subjects = self.all()
        info = self.store.model_info()
        for subject in subjects:
            dim = info.dim if info else (len(subject.weights) if subject.weights is not None else 1)
            other.save(subject, dim)
        return len(subjects)


def _placeholder(dim: int) -> np.ndarray:
    """A subject not trained yet still needs a vector (Milvus wants one per row)."""
    vector = np.zeros(dim, dtype=np.float32)
    vector[0] = 1.0
    return vector


def _from_row(row: dict[str, Any]) -> Subject:
    info = json.loads(row.get("info") or "{}")
    vector = np.asarray(row["vector"], dtype=np.float32) if info.get("trained_at") else None
    return Subject(
        name=str(row["name"]),
        positives=[int(i) for i in row.get("positives") or []],
        negatives=[int(i) for i in row.get("negatives") or []],
        weights=vector,
        info=info,
    )


_JOINERS = {"\u200c", "\u200d"}  # zero-width (non-)joiners, as in emoji sequences


def check_name(name: str) -> str:
    """The name as shown (spaces folded); InvalidInput for one people could misread."""
    shown = " ".join(name.split())
    if not shown:
        raise InvalidInput("a subject needs a name: 'Cola', 'Grandma', 'the red car'")
    if len(shown) > MAX_NAME:
        raise InvalidInput(f"a subject's name is at most {MAX_NAME} characters")
    hidden = [c for c in shown if unicodedata.category(c)[0] == "C" and c not in _JOINERS]
    if hidden:
        raise InvalidInput(
            f"a subject's name cannot hold control or direction characters (such as "
            f"U+{ord(hidden[0]):04X}): they hide or reorder what people read; use letters, "
            "digits, spaces and emoji"
        )
    return shown


def agreement(tags: Sequence[dict[str, float]], weights: dict[str, float]) -> np.ndarray:
    """How much each photo's labels agree with a subject's: the weighted sum of the square
    roots of its label probabilities (roots, so a second label still counts)."""
    return np.array(
        [sum(math.sqrt(max(0.0, s)) * weights.get(label, 0.0) for label, s in t.items())
         for t in tags],
        dtype=np.float32,
    )  # fmt: skip


def _expit(x: np.ndarray) -> np.ndarray:
    """The logistic function, with SciPy loaded only when a subject is scored (importing it
    costs every engine start a quarter of a second)."""
    from scipy.special import expit

    return np.asarray(expit(x))
