"""Milvus Lite's array filters evaluated column-wise instead of row by row.

Milvus Lite 3 evaluates a filter holding ``array_contains`` (photocomic's folder and root
filters, its tag filters) with its row-wise Python interpreter: every row of every segment is
turned into a dict first, about 70 µs a row, seconds per search at 30,000 photos, and every
search an assistant makes carries the caller's roots. No index of Milvus Lite covers array
fields (its scalar INVERTED index takes scalars only).

:func:`evaluate_columns` answers the same filter with pyarrow: ``array_contains``,
``array_contains_any`` and ``array_contains_all`` on a list column by flattening it once, and
whatever else the filter joins to them (comparisons, ``in``) by Milvus Lite's own Arrow backend,
combined with the same three-valued ``and``/``or``/``not`` the interpreter uses. A filter it does
not cover goes to the interpreter as before. ``tests/test_lite_search.py`` compares both. An
array filter's mask is kept per table while the table lives (sealed segments never change), so
the roots and folder every search carries are judged once per segment.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from functools import reduce
from typing import Any

import numpy as np

# Nodes Milvus Lite's Arrow backend evaluates itself (no row-wise function inside).
_ARROW_NODES = (
    "IntLit", "FloatLit", "StringLit", "BoolLit", "ListLit", "FieldRef", "CmpOp", "InOp",
    "ArithOp", "IsNullOp",
)  # fmt: skip


# Masks of array filters kept per table: a sealed segment's table never changes (a compaction
# makes new ones), and every search of a conversation carries the same roots and often the same
# folder; judging them took 20 ms a search at 100,000 photos on a 2-core AVX2 CPU.
MASKS_KEPT = 256  # about 20 KB each for a segment of 20,000 rows
_kept: OrderedDict[tuple[Any, ...], tuple[weakref.ref[Any], np.ndarray]] = OrderedDict()
_kept_lock = threading.Lock()


def _kept_mask(table: Any, key: tuple[Any, ...], make: Callable[[], np.ndarray]) -> np.ndarray:
    """The mask ``make`` gives for ``table``, made once while the table lives (an entry whose
    table has gone, and whose id came back, is made again)."""
    full = (id(table), *key)
    with _kept_lock:
        found = _kept.get(full)
        if found is not None and found[0]() is table:
            _kept.move_to_end(full)
            return found[1]
    mask = make()
    mask.flags.writeable = False
    with _kept_lock:
        _kept[full] = (weakref.ref(table), mask)
        while len(_kept) > MASKS_KEPT:
            _kept.popitem(last=False)
    return mask


def install() -> None:
    """Route Milvus Lite's row-wise filter evaluation through :func:`evaluate_columns`."""
    from milvus_lite.search.filter import eval as backends

    original = backends.evaluate_python
    if getattr(original, "photocomic_original", None) is not None:
        return

    def evaluate(compiled: Any, data: Any) -> Any:
        found = evaluate_columns(compiled, data)
        return original(compiled, data) if found is None else found

    evaluate.photocomic_original = original  # type: ignore[attr-defined]
    backends.evaluate_python = evaluate


def evaluate_columns(compiled: Any, data: Any) -> Any:
    """The filter's mask as a pyarrow BooleanArray (unknown is False, as in the interpreter),
    or None where the filter holds something only the interpreter evaluates."""
    import pyarrow as pa
    import pyarrow.compute as pc

    table = pa.Table.from_batches([data]) if isinstance(data, pa.RecordBatch) else data
    result = _node(compiled.ast, table)
    if result is None:
        return None
    return pc.fill_null(result, False)


def _node(node: Any, table: Any) -> Any:
    import pyarrow.compute as pc

    kind = type(node).__name__
    if kind in ("And", "Or"):
        parts = [_node(operand, table) for operand in node.operands]
        if any(p is None for p in parts):
            return None
        return reduce(pc.and_kleene if kind == "And" else pc.or_kleene, parts)
    if kind == "Not":
        inner = _node(node.operand, table)
        return None if inner is None else pc.invert(inner)
    if kind == "ArrayContainsOp":
        return _contains(node, table)
    if _arrow_only(node):
        return _arrow(node, table)
    return None


def _arrow_only(node: Any) -> bool:
    if type(node).__name__ not in _ARROW_NODES:
        return False
    children = [getattr(node, f) for f in getattr(node, "__dataclass_fields__", {})]
    for child in children:
        items = child if isinstance(child, tuple) else (child,)
        if any(hasattr(i, "__dataclass_fields__") and not _arrow_only(i) for i in items):
            return False
    return True


def _arrow(node: Any, table: Any) -> Any:
    """A boolean sub-expression by Milvus Lite's Arrow backend, as a column."""
    import pyarrow as pa
    from milvus_lite.search.filter.eval.arrow_backend import _eval

    result = _eval(node, table)
    if isinstance(result, pa.Scalar):
        return pa.array([result.as_py()] * table.num_rows, type=pa.bool_())
    if isinstance(result, pa.ChunkedArray):
        result = result.combine_chunks() if result.num_chunks else pa.array([], pa.bool_())
    return result if pa.types.is_boolean(result.type) else None


def _contains(node: Any, table: Any) -> Any:
    """``array_contains*`` on a list column: which rows hold the value(s); a null list holds
    nothing, as in the interpreter."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if type(node.value).__name__ != "FieldRef":
        return None
    name = node.value.name
    value_type = table.schema.field(name).type
    if not pa.types.is_list(value_type) and not pa.types.is_large_list(value_type):
        return None
    literals = node.values.elements if type(node.values).__name__ == "ListLit" else (node.values,)
    wanted = _literals(literals, value_type.value_type)
    if wanted is None:
        return None

    def held() -> np.ndarray:
        column = table.column(name)
        column = column.combine_chunks() if column.num_chunks else pa.array([], column.type)
        flat = pc.list_flatten(column)
        owners = pc.list_parent_indices(column).to_numpy(zero_copy_only=False)
        if node.mode != "all":
            return _rows_holding(flat, owners, wanted, len(column))
        every = np.ones(len(column), dtype=bool)
        for value in wanted:
            every &= _rows_holding(flat, owners, [value], len(column))
        return every & column.is_valid().to_numpy(zero_copy_only=False)

    return pa.array(_kept_mask(table, (name, node.mode, tuple(wanted)), held), type=pa.bool_())


def _literals(literals: tuple[Any, ...], value_type: Any) -> list[Any] | None:
    """The literal values, where their kind is the list's own (else the interpreter judges)."""
    import pyarrow as pa

    kinds = {type(lit).__name__ for lit in literals}
    if pa.types.is_integer(value_type) and kinds <= {"IntLit"}:
        return [int(lit.value) for lit in literals]
    if pa.types.is_string(value_type) and kinds <= {"StringLit"}:
        return [str(lit.value) for lit in literals]
    return None


def _rows_holding(flat: Any, owners: np.ndarray, values: list[Any], rows: int) -> np.ndarray:
    """Rows with at least one element among ``values`` (a null element matches nothing)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    held = np.zeros(rows, dtype=bool)
    if len(flat) and values:
        hits = pc.is_in(flat, value_set=pa.array(values, type=flat.type))
        held[owners[pc.fill_null(hits, False).to_numpy(zero_copy_only=False)]] = True
    return held
