"""photocomic's Milvus Lite search path (``tools/store/lite_search.py``) returns exactly what
Milvus Lite's own executor returns, on a collection with a history of writes, with filters."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from lite_rows import DIM, build_history
from photocomic.tools.config import Settings
from photocomic.tools.find.filters import SearchFilters
from photocomic.tools.store.lite_search import search_without_row_passes
from photocomic.tools.store.photo_store import PhotoStore

FILTERS = [
    "",
    SearchFilters(folder="/library/roll1").expression(),
    SearchFilters(within=["/library/roll2", "/library/roll3"]).expression(),
    "taken_at >= 1700200000 and taken_at < 1700900000",
]


def test_rows_not_flushed_yet_are_found_before_any_segment_exists(tmp_path: Path) -> None:
    from lite_rows import row

    with PhotoStore(Settings(data_dir=tmp_path)) as store:
        store.ensure_collection("test-model", DIM, None)
        store.upsert([row(n) for n in range(5)])
        hits = store.search(np.stack([row(2).vector]), 3)[0]  # type: ignore[list-item]
    assert hits[0].row.photo_id == row(2).photo_id and len(hits) == 3


def test_the_same_hits_as_milvus_lite_itself_after_upserts_deletes_and_unflushed_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from milvus_lite.engine import collection as lite_collection

    with PhotoStore(Settings(data_dir=tmp_path)) as store:
        installed = lite_collection.execute_search_with_index
        original = installed.photocomic_original  # photocomic's path is in place
        history = build_history(store)
        compared: list[tuple[object, object]] = []

        def both(**kwargs: object) -> object:
            theirs = original(**kwargs)
            compared.append((search_without_row_passes(**kwargs), copy.deepcopy(theirs)))
            return theirs  # Milvus Lite turns its distances into scores in place

        monkeypatch.setattr(lite_collection, "execute_search_with_index", both)
        queries = np.random.default_rng(5).standard_normal((12, DIM)).astype(np.float32)
        for expr in FILTERS:
            for limit in (1, 10, 400):
                store.search(queries, limit, expr)
        monkeypatch.setattr(lite_collection, "execute_search_with_index", installed)
        ours = store.search(queries, 400)
    assert len(compared) == len(FILTERS) * 3
    for mine, theirs in compared:
        assert mine is not None, "the quick path declined a photocomic collection"
        assert mine == theirs
    seen = {h.row.photo_id: h.row.size for hits in ours for h in hits}
    assert not seen.keys() & history["gone"]
    assert all(seen[pid] == 1000 + v for pid, v in history["versions"].items() if pid in seen)
    assert len(seen) == 320 - len(history["gone"])  # every live row, each once


ARRAY_FILTERS = [
    *FILTERS[1:3],
    SearchFilters(folder="/library/roll1", within=["/library"]).expression()
    + " and taken_at >= 1700300000",
    'array_contains_any(labels, ["dog", "golf ball"]) or taken_at < 1700100000',
    'not array_contains(labels, "dog")',
    'array_contains_all(labels, ["dog", "cat"])',
    "array_contains_any(folders, [1, 2, 3])",
]


def test_array_filters_judged_column_wise_as_milvus_lite_judges_them_row_by_row(
    tmp_path: Path,
) -> None:
    from lite_rows import row
    from milvus_lite.search.filter import eval as backends
    from photocomic.tools.store.lite_filters import evaluate_columns

    tags = [["dog"], ["dog", "cat"], ["cat"], [], ["golf ball", "dog"]]
    with PhotoStore(Settings(data_dir=tmp_path)) as store:
        build_history(store)
        tagged = [replace(row(n, 4), labels=tags[n % 5], label_scores=[0.5] * len(tags[n % 5]))
                  for n in range(60, 90)]  # fmt: skip
        store.upsert(tagged[:15])
        store.flush()
        store.upsert(tagged[15:])  # tagged rows in a segment and in the memtable
        lite = store.connection._lite.db.get_collection(store.collection)  # type: ignore[union-attr]
        segments, _ = lite._read_snapshot()
        memtable = lite._memtable.to_search_snapshot(vector_field="vector", include_table=True)[4]
        tables = [s.table for s in segments] + [memtable]
        interpreter = backends.evaluate_python.photocomic_original
        for expr in ARRAY_FILTERS:
            compiled = lite._compile_filter(expr)
            assert compiled.backend == "python"
            for table in tables * 2:  # the second time from the masks kept per table
                ours = evaluate_columns(compiled, table)
                assert ours is not None, expr
                assert ours.to_pylist() == interpreter(compiled, table).to_pylist(), expr
        held = [tags[n % 5] for n in range(60, 90)]
        found = store.client.query(store.collection, filter=ARRAY_FILTERS[5], output_fields=["id"])
    assert len(found) == sum("dog" in t and "cat" in t for t in held) > 0


def test_a_kept_filter_mask_is_never_used_for_another_table() -> None:
    """Masks are kept per table while it lives: a new table (a compaction's, the memtable's
    next snapshot) is judged afresh, even where it reuses a dead table's id."""
    import weakref

    import pyarrow as pa
    from photocomic.tools.store import lite_filters

    made: list[str] = []

    def mask_of(label: str) -> np.ndarray:
        made.append(label)
        return np.array([label == "first"])

    first = pa.table({"folders": [[1]]})
    assert lite_filters._kept_mask(first, ("folders",), lambda: mask_of("first")).tolist() == [True]
    assert lite_filters._kept_mask(first, ("folders",), lambda: mask_of("again")).tolist() == [True]
    second, gone = pa.table({"folders": [[2]]}), pa.table({"folders": [[3]]})
    dead = weakref.ref(gone)
    del gone
    # as if a dead table's entry sat under the id the new table now has
    lite_filters._kept[(id(second), "folders")] = (dead, np.array([True]))
    kept = lite_filters._kept_mask(second, ("folders",), lambda: mask_of("second"))
    assert kept.tolist() == [False] and made == ["first", "second"]


def test_the_memtable_read_by_numpy_as_milvus_lite_reads_it(tmp_path: Path) -> None:
    from photocomic.tools.store.lite_search import memtable_snapshot

    with PhotoStore(Settings(data_dir=tmp_path)) as store:
        build_history(store)
        memtable = store.connection._lite.db.get_collection(store.collection)._memtable  # type: ignore[union-attr]
        for table in (False, True):
            for partitions in (None, ["_default"], ["elsewhere"]):
                ours = memtable_snapshot(memtable, "vector", partitions, table)
                theirs = memtable.to_search_snapshot("vector", partitions, table)
                assert ours is not None and len(ours[0]) == len(theirs[0])
                assert ours[0] == theirs[0] and ours[3] == theirs[3]
                assert np.array_equal(ours[1], theirs[1]) and np.array_equal(ours[2], theirs[2])
                assert (ours[4] is None) == (theirs[4] is None)
                assert ours[4] is None or ours[4].equals(theirs[4])
        assert len(memtable_snapshot(memtable, "vector", None, False)[0]) > 20  # type: ignore[index]
