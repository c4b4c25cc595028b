"""Bringing a collection made by an older photocomic to today's schema, without re-embedding.

Schema 1 matched folders with ``like`` patterns (which Milvus servers parse differently from
Milvus Lite) and had no room for file names that are not UTF-8. The rows are copied, vectors
and all, into a new collection with the folder ids and raw paths filled in; then the old one is
dropped and the new one takes its name. Killed half-way, the next open starts the copy again;
killed between the drop and the rename, the next open finishes the rename.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

from photocomic.tools.store.rows import PhotoRow
from photocomic.tools.store.schema import PROP_DIM, PROP_MODEL, PROP_PRECISION, StoreView

log = logging.getLogger(__name__)
PAGE = 1000


def staging_name(collection: str) -> str:
    return f"{collection}__upgrade"


def upgrade_collection(store: StoreView, from_schema: str) -> None:

    client, name = store.client, store.collection
    staging = staging_name(name)
    props = client.describe_collection(name).get("properties") or {}
    model, dim = str(props[PROP_MODEL]), int(props[PROP_DIM])
    log.warning(
        "upgrading the photo collection %s from schema %s (no re-embedding)", name, from_schema
    )
    with store.guard("upgrade the collection"):
        if client.has_collection(staging):
            client.drop_collection(staging)
        precision = json.loads(props[PROP_PRECISION]) if PROP_PRECISION in props else None
        store.create(staging, model, dim, precision)
        client.load_collection(name)
        copied = 0
        for page in _old_pages(store):
            rows = [PhotoRow.from_entity({**e, "raw_path": ""}).to_entity() for e in page]
            if rows:
                client.upsert(staging, rows)
            copied += len(rows)
        client.flush(staging)
        client.drop_collection(name)
        client.rename_collection(staging, name)
    store.states.forget()
    log.warning("upgraded %s: %d photos kept", name, copied)


def finish_interrupted_upgrade(store: StoreView) -> bool:
    """Rename a finished staging collection whose original was already dropped."""
    client, name = store.client, store.collection
    staging = staging_name(name)
    with store.guard("finish an upgrade"):
        if client.has_collection(name) or not client.has_collection(staging):
            return False
        client.rename_collection(staging, name)
    return True


def _old_pages(store: StoreView) -> Iterator[list[dict[str, Any]]]:
    """Every row of a schema-1 collection with its vector, a page of ids at a time."""
    from photocomic.tools.store.rows import ID_MASK

    client, name = store.client, store.collection
    fields = [
        "path", "size", "mtime", "width", "height", "taken_at", "labels", "label_scores",
        "categories", "category_scores", "vector",
    ]  # fmt: skip
    total = int(client.query(name, filter="", output_fields=["count(*)"])[0]["count(*)"])
    pages = max(1, -(-total // PAGE))
    step = -(-(ID_MASK + 1) // pages)
    for start in range(0, ID_MASK + 1, step):
        yield client.query(
            name, filter=f"id >= {start} and id < {start + step}", output_fields=fields
        )
