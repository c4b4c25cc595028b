"""Rows written straight into a local store's Milvus Lite (``tools/store/lite_writes.py``) are
the rows pymilvus would have written, and what Milvus Lite refuses is still refused."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from lite_rows import DIM, row
from photocomic.tools.config import Settings
from photocomic.tools.errors import PhotocomicError
from photocomic.tools.store import lite_writes
from photocomic.tools.store.milvus import Connection
from photocomic.tools.store.photo_store import PhotoStore
from photocomic.tools.store.rows import PhotoRow


def _tagged(n: int, version: int = 0) -> PhotoRow:
    photo = row(n, version)
    photo.labels, photo.label_scores = ["border collie", "kelpie"], [0.75, 0.125]
    photo.categories, photo.category_scores = ["dog"], [np.float32(0.875)]  # type: ignore[list-item]
    return photo


def _written(folder: Path, through_pymilvus: bool, monkeypatch: pytest.MonkeyPatch) -> dict:
    if through_pymilvus:
        monkeypatch.setattr(
            Connection, "upsert", lambda self, name, entities: self.client.upsert(name, entities)
        )
    with PhotoStore(Settings(data_dir=folder)) as store:
        store.ensure_collection("test-model", DIM, None)
        store.upsert([_tagged(n) for n in range(40)])
        store.flush()
        store.upsert([_tagged(n, 1) for n in range(10, 20)])  # new versions, not flushed
        ids = [_tagged(n).photo_id for n in range(40)]
        rows = {r.photo_id: asdict(r) for r in store.get(ids, with_vectors=True)}
        query = np.stack([_tagged(n).vector for n in (3, 12)])  # type: ignore[misc]
        hits = [[(h.row.photo_id, h.score) for h in found] for found in store.search(query, 5)]
    monkeypatch.undo()
    return {"rows": rows, "hits": hits}


def test_rows_written_directly_read_back_as_rows_written_through_pymilvus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    direct = _written(tmp_path / "direct", False, monkeypatch)
    client = _written(tmp_path / "client", True, monkeypatch)
    assert direct["rows"].keys() == client["rows"].keys() and len(direct["rows"]) == 40
    for pid, mine in direct["rows"].items():
        theirs = client["rows"][pid]
        assert np.array_equal(mine.pop("vector"), theirs.pop("vector"))
        assert mine == theirs
    assert direct["hits"] == client["hits"]
    newer = direct["rows"][_tagged(12).photo_id]
    assert newer["size"] == _tagged(12, 1).size  # the new version, not the flushed one


@pytest.mark.parametrize(
    ("vector", "said"),
    [
        ([0.5] * (DIM - 1) + ["0.5"], "must be numeric"),
        ([0.5] * (DIM - 1) + [True], "must be numeric"),
        ([0.5] * (DIM + 1), "expected dim"),
    ],
)
def test_a_vector_milvus_lite_refuses_is_still_refused(
    tmp_path: Path, vector: list[object], said: str
) -> None:
    with PhotoStore(Settings(data_dir=tmp_path)) as store:
        store.ensure_collection("test-model", DIM, None)
        assert store.connection._direct_writes  # type: ignore[attr-defined]
        entity = _tagged(1).to_entity() | {"vector": vector}
        with pytest.raises(Exception, match=said):
            lite_writes.upsert(store.connection._lite.db, store.collection, [entity])  # type: ignore[union-attr]
        bad = _tagged(2)
        bad.vector = np.zeros(DIM + 1, dtype=np.float32)
        with pytest.raises(PhotocomicError):
            store.upsert([bad])
        store.upsert([_tagged(3)])
        assert store.count() == 1  # what was refused left nothing behind


def test_a_flush_writes_the_table_milvus_lite_itself_builds(tmp_path: Path) -> None:
    """The memtable's rows as one table, taken with Arrow, equal Lite's own cell by cell build,
    with several batches and keys written twice (the newer row is the one kept)."""
    from milvus_lite.storage.memtable import MemTable

    with PhotoStore(Settings(data_dir=tmp_path)) as store:
        store.ensure_collection("test-model", DIM, None)
        for start in range(0, 60, 20):
            store.upsert([_tagged(n) for n in range(start, start + 20)])
        store.upsert([_tagged(n, 1) for n in range(5, 25)])
        memtable = store.connection._lite.db.get_collection(store.collection)._memtable  # type: ignore[union-attr]
        rows = [(b, r) for b, r, _ in memtable._pk_index.values()]
        assert len(rows) == 60 and len({b for b, _ in rows}) > 3
        ours = MemTable._build_data_table(memtable, rows)
        theirs = MemTable._build_data_table.photocomic_original(memtable, rows)  # type: ignore[attr-defined]
        assert ours.equals(theirs) and ours.schema.equals(theirs.schema, check_metadata=True)
        store.flush()
        assert store.count() == 60
        newer = store.get([_tagged(12).photo_id])[0]
        assert newer.size == _tagged(12, 1).size and newer.labels == ["border collie", "kelpie"]
