"""Rows written to a local store's Milvus Lite without the round trip through its gRPC server.

Milvus Lite 3 runs inside this process. Through pymilvus, each row is packed into protobuf,
unpacked by Lite's own gRPC server into the same dict, and handed to the collection's
``upsert``, which then checks every one of a vector's 1,280 numbers in a Python loop. All of it
holds the GIL that the indexing workers need between decoding and embedding: for 1,000 photos
(AMD EPYC, pages of 32) 0.87 s of CPU, against 0.50 s handing the dicts to the collection
directly and 0.21 s when the vector's element types are checked in one pass in C
(bench/RESULTS.md, "The store's writes"). The collection method is the one Lite's server calls,
with the same checks of every field: a vector holding anything but Python floats gets Lite's
own loop and its own error. ``tests/test_lite_writes.py`` compares the rows with rows written
through pymilvus. Installed only for the Milvus Lite versions it was checked against.
"""

from __future__ import annotations

from typing import Any

import numpy as np

CHECKED_VERSIONS = ("3.2.",)  # the Milvus Lite releases whose validation this wraps


def usable() -> bool:
    """Whether this Milvus Lite is one the direct write was checked against (checks installed)."""
    try:
        import milvus_lite
        from milvus_lite.engine import collection
    except ImportError:
        return False
    if not str(getattr(milvus_lite, "__version__", "")).startswith(CHECKED_VERSIONS):
        return False
    original = collection.validate_record
    if getattr(original, "photocomic_original", None) is None:
        checked = _checking_floats_at_once(original)
        checked.photocomic_original = original  # type: ignore[attr-defined]
        collection.validate_record = checked
    return True


def upsert(db: Any, collection: str, entities: list[dict[str, Any]]) -> None:
    """``entities`` (PhotoRow.to_entity) upserted into ``collection`` of the Lite ``db``."""
    db.get_collection(collection).upsert([_record(e) for e in entities])


def _record(entity: dict[str, Any]) -> dict[str, Any]:
    """The entity with its numpy arrays (the vector) as lists, as Lite's server would give it
    (Lite takes numpy scalars in its other fields as they are)."""
    return {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in entity.items()}


class _Length(list):  # type: ignore[type-arg]
    """Stands for a vector whose elements were checked already: its length, nothing to walk."""

    def __init__(self, length: int) -> None:
        super().__init__()
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Any:
        return iter(())


def _checking_floats_at_once(original: Any) -> Any:
    """Lite's ``validate_record`` with a float vector's element check made in one C pass; any
    other vector goes through Lite's own check unchanged."""
    from milvus_lite.schema.types import DataType

    def validate_record(record: dict[str, Any], schema: Any, **options: Any) -> Any:
        field = next((f for f in schema.fields if f.dtype == DataType.FLOAT_VECTOR), None)
        vector = record.get(field.name) if field is not None else None
        if field is None or type(vector) is not list or not set(map(type, vector)) <= {float}:
            return original(record, schema, **options)
        record[field.name] = _Length(len(vector))
        try:
            return original(record, schema, **options)
        finally:
            record[field.name] = vector

    return validate_record
