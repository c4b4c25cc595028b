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


def install() -> bool:
    """Write and flush this way in this process; False (nothing changed) for a Milvus Lite
    this was not checked against."""
    from photocomic.tools.store.lite_search import checked_lite

    if not checked_lite():
        return False
    from milvus_lite.engine import collection

    original = collection.validate_record
    if getattr(original, "photocomic_original", None) is None:
        checked = _checking_floats_at_once(original)
        checked.photocomic_original = original  # type: ignore[attr-defined]
        collection.validate_record = checked
    _install_flush()
    return True


def _install_flush() -> None:
    """Lite's memtable flush building its table column-wise with Arrow (``_rows_taken``)."""
    from milvus_lite.storage.memtable import MemTable

    original = MemTable._build_data_table
    if getattr(original, "photocomic_original", None) is None:
        _rows_taken.photocomic_original = original  # type: ignore[attr-defined]
        MemTable._build_data_table = _rows_taken


def _rows_taken(memtable: Any, rows: list[tuple[int, int]]) -> Any:
    """``MemTable._build_data_table``: the rows ``(batch, row)`` of the memtable's batches as
    one table of its data schema. Lite converts each cell to a Python value and back (a vector
    as 1,280 floats): 0.25 s for 1,000 photos at the end of every indexing run, with the GIL
    held. Arrow takes the same rows from the batches as they are; a batch of another shape
    goes to Lite's own code."""
    import pyarrow as pa

    batches, schema = memtable._insert_batches, memtable._data_schema
    if not rows or len({b.schema for b in batches}) != 1:
        return _rows_taken.photocomic_original(memtable, rows)  # type: ignore[attr-defined]
    starts = np.cumsum([0, *(b.num_rows for b in batches)])
    where = np.asarray(rows, dtype=np.int64)
    taken = pa.Table.from_batches(batches).take(pa.array(starts[where[:, 0]] + where[:, 1]))
    columns = [taken.column(name).cast(schema.field(name).type) for name in schema.names]
    return pa.Table.from_arrays(columns, schema=schema)


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
