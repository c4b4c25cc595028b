"""Milvus Lite's search without its two passes over every row.

Milvus Lite 3 (pure Python) starts each search by walking every stored row twice in Python, to
find each primary key's newest version and to drop deleted ones (``_update_max_seqs`` and
``_build_local_mask`` in ``milvus_lite.search.executor_indexed``): about 0.7 µs a row, 60 ms of
a search at 100,000 photos, where the HNSW lookup itself takes about 1 ms. Nothing in its API
avoids them (bench/RESULTS.md, "Big libraries").

:func:`search_without_row_passes` returns the same results by another route: which rows of the
sealed segments are newest is found once per set of segments with numpy (segments never change;
compaction replaces them) and kept; each search then corrects it only for what changed since,
the few rows in the memtable and the deletes, through each segment's own ``pk_to_row``. The
rest (filters, per-source recall, merge, entity projection) is Milvus Lite's own code path, step
for step. It is installed only for the Milvus Lite versions it was checked against and only
for integer primary keys (photocomic's); ``tests/test_lite_search.py`` compares it with the
original on upserts, deletes, unflushed rows and filters, and with a Milvus server. The
array filters themselves are evaluated column-wise (``lite_filters``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from typing import Any

import numpy as np
from photocomic.tools.store import lite_filters

CHECKED_VERSIONS = ("3.2.",)  # the Milvus Lite releases whose internals photocomic replaces
_lock = threading.Lock()
_newest_cache: dict[tuple[int, ...], tuple[tuple[Any, ...], list[np.ndarray]]] = {}


def checked_lite() -> bool:
    """Whether the installed Milvus Lite is a release whose internals this package's Lite
    replacements (search, filters, writes) were checked against."""
    try:
        import milvus_lite
    except ImportError:
        return False
    return str(getattr(milvus_lite, "__version__", "")).startswith(CHECKED_VERSIONS)


def install() -> bool:
    """Use it for Milvus Lite searches in this process; False (nothing changed) for a Milvus
    Lite this was not checked against."""
    if not checked_lite():
        return False
    from milvus_lite.engine import collection

    lite_filters.install()
    _bound_memory()
    original = collection.execute_search_with_index
    if getattr(original, "photocomic_original", None) is not None:
        return True

    def search(**kwargs: Any) -> list[list[dict[str, Any]]]:
        found = search_without_row_passes(**kwargs)
        return original(**kwargs) if found is None else found

    search.photocomic_original = original  # type: ignore[attr-defined]
    collection.execute_search_with_index = search
    return True


SEGMENT_ROWS = 20_000  # the largest segment compaction writes (Milvus Lite's own: 100,000)
MEMTABLE_BYTES = 64 * 2**20  # rows held before a flush (Milvus Lite's own: 128 MiB)


def _bound_memory() -> None:
    """Smaller segments and memtable than Milvus Lite's defaults: its compaction reads, merges
    and sorts up to twice a segment's rows at once (several copies of 1 GB of vectors at
    100,000 photos) and then builds a new index for all of them, which took an indexing
    engine past 4 GB; searching five segments instead of one costs about a millisecond. A
    memtable size set in MILVUS_LITE_MEMTABLE_MEMORY_LIMIT_BYTES is kept."""
    from milvus_lite.engine import collection, compaction

    compaction.MAX_SEGMENT_ROWS = min(compaction.MAX_SEGMENT_ROWS, SEGMENT_ROWS)
    if "MILVUS_LITE_MEMTABLE_MEMORY_LIMIT_BYTES" not in os.environ:
        collection.MEMTABLE_MEMORY_LIMIT = min(collection.MEMTABLE_MEMORY_LIMIT, MEMTABLE_BYTES)


def _newest_in_segments(segments: tuple[Any, ...]) -> list[np.ndarray]:
    """Per segment, which rows hold their key's newest version among the segments."""
    if not segments:
        return []
    key = tuple(id(s) for s in segments)
    with _lock:
        cached = _newest_cache.get(key)
        if cached is not None:
            return [m.copy() for m in cached[1]]
    pks = [np.asarray(s.pks, dtype=np.int64) for s in segments]
    seqs = [np.asarray(s.seqs, dtype=np.int64) for s in segments]
    all_pks, all_seqs = np.concatenate(pks), np.concatenate(seqs)
    newest = np.ones(len(all_pks), dtype=bool)
    if len(all_pks):
        order = np.lexsort((all_seqs, all_pks))
        sorted_pks, sorted_seqs = all_pks[order], all_seqs[order]
        starts = np.flatnonzero(np.r_[True, sorted_pks[1:] != sorted_pks[:-1]])
        most = np.maximum.reduceat(sorted_seqs, starts)
        group = np.cumsum(np.r_[True, sorted_pks[1:] != sorted_pks[:-1]]) - 1
        newest[order] = sorted_seqs == most[group]
    masks = np.split(newest, np.cumsum([len(p) for p in pks])[:-1])
    with _lock:
        _newest_cache.clear()  # one generation of segments per process is enough
        _newest_cache[key] = (segments, masks)
    return [m.copy() for m in masks]


def _correct(
    segments: tuple[Any, ...],
    masks: list[np.ndarray],
    mt_pks: list[Any],
    mt_seqs: np.ndarray,
    newer: Iterable[tuple[Any, int]],
) -> np.ndarray:
    """Rows shadowed by a newer memtable row or a delete; returns the memtable's own mask."""
    mt_mask = np.ones(len(mt_pks), dtype=bool)
    mt_rows = {pk: i for i, pk in enumerate(mt_pks)}
    for pk, seq in zip(mt_pks, np.asarray(mt_seqs).tolist(), strict=True):
        for segment, mask in zip(segments, masks, strict=True):
            row = segment.pk_to_row.get(pk)
            if row is not None:
                if int(segment.seqs[row]) < seq:
                    mask[row] = False
                elif int(segment.seqs[row]) > seq:
                    mt_mask[mt_rows[pk]] = False
    for pk, deleted_at in newer:
        for segment, mask in zip(segments, masks, strict=True):
            row = segment.pk_to_row.get(pk)
            if row is not None and deleted_at > int(segment.seqs[row]):
                mask[row] = False
        where = mt_rows.get(pk)
        if where is not None and deleted_at > int(mt_seqs[where]):
            mt_mask[where] = False
    return mt_mask


def search_without_row_passes(
    query_vectors: np.ndarray,
    segments: Iterable[Any],
    memtable: Any,
    delta_index: Any,
    top_k: int,
    metric_type: str,
    pk_field: str,
    vector_field: str,
    partition_names: list[str] | None = None,
    compiled_filter: Any = None,
    output_fields: list[str] | None = None,
    indexed_filter_plan: Any = None,
    project_record_fn: Any = None,
    search_params: dict[str, Any] | None = None,
) -> list[list[dict[str, Any]]] | None:
    """``execute_search_with_index``'s results, or None where it must answer itself (keys
    that are not integers, a delete index of another shape, a segment with null vectors)."""
    tombstones = getattr(delta_index, "_map", None)
    queries = np.asarray(query_vectors, dtype=np.float32).reshape(-1, query_vectors.shape[-1])
    nq = len(queries)
    if nq == 0 or top_k <= 0:
        return [[] for _ in range(nq)]
    wanted = set(partition_names) if partition_names else None
    scope = tuple(
        s for s in segments if s.num_rows > 0 and (wanted is None or s.partition in wanted)
    )
    snapshot = memtable_snapshot(memtable, vector_field, partition_names,
                                 include_table=compiled_filter is not None)  # fmt: skip
    if snapshot is None:
        return None
    mt_pks, mt_seqs, mt_vecs, mt_refs, mt_table = snapshot
    if not scope and not mt_pks:
        return [[] for _ in range(nq)]
    if not isinstance(tombstones, dict) or not all(
        isinstance(s.pks[0], int) and s.vector_data(vector_field)[1] is None for s in scope
    ):
        return None
    masks = _newest_in_segments(scope)
    newer = [
        *tombstones.items(),
        *((pk, e[0]) for pk, e in memtable.delete_index_snapshot().items()),
    ]
    mt_mask = _correct(scope, masks, list(mt_pks), mt_seqs, newer)
    if compiled_filter is not None:
        _filter(scope, masks, mt_mask, mt_table, compiled_filter, indexed_filter_plan)
    sources = [
        (s.vector_data(vector_field)[0], m, s.indexes.get(vector_field))
        for s, m in zip(scope, masks, strict=True)
    ]
    if mt_pks:
        sources.append((mt_vecs, mt_mask, None))
    candidates = _recalled(queries, sources, top_k, metric_type, search_params)
    return _merged(candidates, scope, list(mt_pks), mt_refs, memtable, top_k, pk_field,
                   vector_field, output_fields, project_record_fn)  # fmt: skip


def memtable_snapshot(
    memtable: Any, vector_field: str, partition_names: list[str] | None, include_table: bool
) -> tuple[list[Any], np.ndarray, np.ndarray, list[tuple[int, int]], Any] | None:
    """``MemTable.to_search_snapshot`` with the vectors taken from its Arrow batches by numpy,
    where Milvus Lite turns each one into a Python list of floats (about a second and 400 MB
    for the 20,000 rows a memtable holds while indexing); None where a vector is null."""
    import pyarrow as pa

    wanted = set(partition_names) if partition_names else None
    with memtable._lock:
        batches = tuple(memtable._insert_batches)
        found = list(memtable._pk_index.items())
        columns = [b.column(vector_field) for b in batches]
        if any(c.null_count for c in columns):
            return None
        if wanted is not None:
            homes = [b.column("_partition").to_pylist() for b in batches]
            found = [(pk, ref) for pk, ref in found if homes[ref[0]][ref[1]] in wanted]
        where = np.asarray([ref[:2] for _, ref in found], dtype=np.int64).reshape(-1, 2)
        dim = columns[0].type.list_size if columns else 0
        vectors = np.zeros((len(found), dim), dtype=np.float32)
        for number, column in enumerate(columns):
            picked = np.flatnonzero(where[:, 0] == number)
            if len(picked):
                flat = column.flatten().to_numpy(zero_copy_only=False).reshape(-1, dim)
                vectors[picked] = flat[where[picked, 1]]
    table = None
    if include_table:
        if not found:
            table = memtable._data_schema.empty_table()
        else:
            starts = np.cumsum([0, *(b.num_rows for b in batches)])[:-1]
            rows = pa.array(starts[where[:, 0]] + where[:, 1], type=pa.int64())
            table = pa.Table.from_batches(batches).take(rows)
            if "_partition" in table.column_names:
                table = table.drop(["_partition"])
    pks = [pk for pk, _ in found]
    seqs = np.asarray([ref[2] for _, ref in found], dtype=np.uint64)
    refs = [(int(b), int(r)) for b, r in where]
    return pks, seqs, vectors if len(found) else np.zeros((0, 0), np.float32), refs, table


def _filter(
    scope: tuple[Any, ...],
    masks: list[np.ndarray],
    mt_mask: np.ndarray,
    mt_table: Any,
    compiled_filter: Any,
    plan: Any,
) -> None:
    """The scalar filter, evaluated by Milvus Lite per source, narrows the masks in place."""
    from milvus_lite.search.filter import evaluate_mask
    from milvus_lite.search.indexed_filter import evaluate_segment_filter

    for segment, mask in zip(scope, masks, strict=True):
        mask &= evaluate_segment_filter(segment, compiled_filter, plan).astype(bool)
    if len(mt_mask) and mt_table is not None:
        mt_mask &= evaluate_mask(compiled_filter, mt_table).astype(bool)


def _recalled(
    queries: np.ndarray,
    sources: list[tuple[np.ndarray, np.ndarray, Any]],
    top_k: int,
    metric_type: str,
    params: dict[str, Any] | None,
) -> list[list[tuple[float, int, int]]]:
    """Each source's top ``top_k`` among its valid rows (its own index, else brute force), as
    (distance, source, row) per query."""
    from milvus_lite.index.brute_force import BruteForceIndex

    candidates: list[list[tuple[float, int, int]]] = [[] for _ in range(len(queries))]
    for number, (vectors, mask, index) in enumerate(sources):
        if len(mask) == 0 or not mask.any():
            continue
        index = index or BruteForceIndex.build(vectors, metric_type)
        ids, distances = index.search(
            queries, top_k, valid_mask=None if mask.all() else mask, params=params
        )
        for q in range(len(queries)):
            for j in range(top_k):
                if int(ids[q, j]) < 0:
                    break
                candidates[q].append((float(distances[q, j]), number, int(ids[q, j])))
    return candidates


def _merged(
    candidates: list[list[tuple[float, int, int]]],
    scope: tuple[Any, ...],
    mt_pks: list[Any],
    mt_refs: list[tuple[int, int]],
    memtable: Any,
    top_k: int,
    pk_field: str,
    vector_field: str,
    output_fields: list[str] | None,
    project_record_fn: Any,
) -> list[list[dict[str, Any]]]:
    """The best ``top_k`` of every source per query, ties broken by source and row, each
    entity projected as Milvus Lite projects it."""
    if project_record_fn is not None:
        project = project_record_fn
    elif output_fields is None:

        def project(record: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in record.items() if k not in (pk_field, vector_field)}
    else:
        keep = set(output_fields) - {pk_field}

        def project(record: dict[str, Any]) -> dict[str, Any]:
            return {k: record[k] for k in keep if k in record}

    results = []
    for found in candidates:
        found.sort(key=lambda c: (c[0], c[1], c[2]))
        answer = []
        for distance, number, row in found[:top_k]:
            if number < len(scope):
                record = scope[number].row_to_dict(row)
                pk = record.get(pk_field) if pk_field in record else scope[number].pks[row]
            else:
                record = memtable.materialize_row(*mt_refs[row])
                pk = record.get(pk_field) if pk_field in record else mt_pks[row]
            answer.append({"id": pk, "distance": distance, "entity": project(record)})
        results.append(answer)
    return results
