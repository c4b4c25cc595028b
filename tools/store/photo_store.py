"""The Milvus collection of photos: schema, upsert, delete, search, filters, file states.

Milvus Lite (a local file) is the default; an ``http://host:19530`` URI points the same code at
a Milvus server, a cluster or Zilliz Cloud. Every expression sent here is one that Milvus 2.3
servers parse as Milvus Lite does: integer comparisons, ``in`` lists and ``array_contains`` on
integer arrays, never string patterns.

Consistency: the collection is created with "Session" consistency, so every search and query
sees what this client wrote (one process owns a library and does all its writes), without the
wait for the newest timestamp that "Strong" costs on every search. Counts and the file states
an index run diffs against are read with "Strong", so a new process after a crash sees every
row the dead one wrote.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from photocomic.tools.config import Settings
from photocomic.tools.errors import ModelMismatch, NotFound, PhotocomicError, unknown_photo
from photocomic.tools.store.milvus import Connection, unavailable
from photocomic.tools.store.rows import (
    ID_MASK,
    MAX_FOLDER_DEPTH,
    SCALAR_FIELDS,
    Hit,
    PhotoRow,
    entity_path,
    folder_expression,
    photo_id_for,
)
from photocomic.tools.store.schema import (
    MAX_PATH_CHARS,
    MAX_TAGS,
    PROP_DIM,
    PROP_MODEL,
    PROP_PRECISION,
    PROP_SCHEMA,
    QUERY_PAGE,
    SCHEMA_VERSION,
    SESSION,
    STRONG,
    VECTOR_INDEX,
    ModelInfo,
)
from photocomic.tools.store.signatures import Signature, Signatures
from photocomic.tools.store.states import FileStates

log = logging.getLogger(__name__)
# Milvus Lite serves pymilvus in-process; index creation asks it for a method it does not
# implement and the gRPC server logs that as an error with a traceback. It is harmless.
logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
logging.getLogger("milvus_lite.server_manager").setLevel(logging.CRITICAL)


class PhotoStore:
    """The photo collection in Milvus. Open it; close it when done."""

    def __init__(self, settings: Settings, connection: Connection | None = None) -> None:
        """On ``connection`` (shared by the collections of one store), else one of its own."""
        self.settings = settings
        self.uri = settings.db_uri
        self.collection = settings.collection
        self.local = settings.is_local_db
        self._loaded = False
        self._info: ModelInfo | None = None
        self.states = FileStates(self, settings)
        self.signatures = Signatures(settings)
        self._owns = connection is None
        if connection is None:
            token = settings.milvus_token.get_secret_value() if settings.milvus_token else ""
            connection = Connection(self.uri, self.local, token)
        self.connection = connection
        self.client: Any = connection.client

    def close(self) -> None:
        if self.client is None:
            return
        self.client = None
        if self._owns:
            self.connection.close()
        self.states.save()  # Milvus Lite wrote its files once more while closing

    def __enter__(self) -> PhotoStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def guard(self, doing: str) -> Iterator[None]:
        """Milvus failures as one line naming the store, what failed and what to do."""
        try:
            yield
        except PhotocomicError:
            raise
        except Exception as exc:
            if type(exc).__module__.startswith(("pymilvus", "grpc", "milvus_lite")):
                raise unavailable(self.uri, exc, doing) from None
            raise

    # -- the collection and the model it was built with ---------------------------------

    def exists(self) -> bool:
        if self._info is not None:
            return True
        with self.guard("check the collection"):
            if self.client.has_collection(self.collection):
                return True
        from photocomic.tools.store.upgrade import finish_interrupted_upgrade

        return finish_interrupted_upgrade(self)

    def model_info(self) -> ModelInfo | None:
        """What the collection was built with, or None when there is no collection yet."""
        if self._info is not None:
            return self._info
        known = self.states.model()
        if known is not None:
            self._info = known
            return known
        if not self.exists():
            return None
        with self.guard("read the collection"):
            props = self.client.describe_collection(self.collection).get("properties") or {}
        if PROP_MODEL not in props:
            raise PhotocomicError(
                f"the Milvus collection '{self.collection}' at {self.uri} was not made by "
                "photocomic; choose another with PHOTOCOMIC_COLLECTION"
            )
        schema = str(props.get(PROP_SCHEMA, "1"))
        if schema != SCHEMA_VERSION:
            from photocomic.tools.store.upgrade import upgrade_collection

            upgrade_collection(self, schema)
            return self.model_info()
        precision = json.loads(props[PROP_PRECISION]) if PROP_PRECISION in props else None
        self._info = ModelInfo(str(props[PROP_MODEL]), int(props[PROP_DIM]), precision)
        return self._info

    def ensure_collection(self, model: str, dim: int, precision: dict[str, Any] | None) -> None:
        """Create the collection for this model, or check that it was built with the same one."""
        info = self.model_info()
        if info is not None:
            if (info.model, info.dim) != (model, dim):
                raise ModelMismatch(
                    f"the store {self.uri} was built with model {info.model} ({info.dim}-d); "
                    f"cannot index with {model} ({dim}-d). Use --model {info.model}, or a "
                    f"separate store for {model} (--db another.db or PHOTOCOMIC_COLLECTION)."
                )
            self._load()
            self.signatures.belong_to(model)
            return
        self.create(self.collection, model, dim, precision)
        self.signatures.clear()
        self.signatures.belong_to(model)
        self._info = ModelInfo(model, dim, precision)
        self.states.start_empty(self._info)
        self._loaded = True

    def create(
        self, name: str, model: str, dim: int, precision: dict[str, Any] | None = None
    ) -> None:
        """A new, empty photo collection (schema version SCHEMA_VERSION)."""
        from pymilvus import DataType, MilvusClient

        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        schema.add_field("path", DataType.VARCHAR, max_length=MAX_PATH_CHARS)
        schema.add_field("raw_path", DataType.VARCHAR, max_length=MAX_PATH_CHARS)
        schema.add_field("folder", DataType.VARCHAR, max_length=MAX_PATH_CHARS)
        schema.add_field(
            "folders", DataType.ARRAY, element_type=DataType.INT64, max_capacity=MAX_FOLDER_DEPTH
        )
        for name_ in ("size", "width", "height", "taken_at"):
            schema.add_field(name_, DataType.INT64)
        schema.add_field("mtime", DataType.DOUBLE)
        for names, scores in (("labels", "label_scores"), ("categories", "category_scores")):
            schema.add_field(
                names, DataType.ARRAY, element_type=DataType.VARCHAR,
                max_capacity=MAX_TAGS, max_length=128,
            )  # fmt: skip
            schema.add_field(
                scores, DataType.ARRAY, element_type=DataType.FLOAT, max_capacity=MAX_TAGS
            )
        index = self.client.prepare_index_params()
        index.add_index("vector", **VECTOR_INDEX)
        properties = {PROP_MODEL: model, PROP_DIM: str(dim), PROP_SCHEMA: SCHEMA_VERSION}
        if precision is not None:
            properties[PROP_PRECISION] = json.dumps(precision, sort_keys=True)
        with self.states.changing(), self.guard("create the collection"):
            self.client.create_collection(
                name,
                schema=schema,
                index_params=None if self.local else index,
                consistency_level=SESSION,
                properties=properties,
            )
            if self.local:  # Milvus Lite builds it at once: not the SDK's 0.5 s poll
                self.client.create_index(name, index, sync=False)
                self.client.load_collection(name)

    def require(self) -> ModelInfo:
        """The model info of an existing collection, loaded for search; NotFound if empty."""
        info = self.model_info()
        if info is None:
            raise NotFound(f"no photos indexed yet in {self.uri}: [[index_first]]")
        self._load()
        return info

    def _load(self) -> None:
        if not self._loaded:
            with self.guard("load the collection"):
                self.client.load_collection(self.collection)
            self._loaded = True

    # -- rows ------------------------------------------------------------------------------

    def count(self, expr: str = "") -> int:
        if not self.exists():
            return 0
        self._load()
        with self.guard("count the photos"):
            result = self.client.query(
                self.collection, filter=expr, output_fields=["count(*)"],
                consistency_level=STRONG,
            )  # fmt: skip
        return int(result[0]["count(*)"])

    def upsert(self, rows: Sequence[PhotoRow]) -> None:
        if rows:
            with self.states.changing():
                with self.guard("store photos"):
                    self.connection.upsert(self.collection, [row.to_entity() for row in rows])
                self.states.record(rows)
                self.signatures.write(
                    Signature(r.photo_id, r.size, r.mtime, r.width, r.height, r.vector, r.thumb)
                    for r in rows
                    if r.thumb is not None and r.vector is not None
                )

    def upsert_entities(self, entities: list[dict[str, Any]]) -> None:
        """Rows exactly as another photocomic store holds them (a migration)."""
        if entities:
            with self.states.changing(), self.guard("store photos"):
                self.client.upsert(self.collection, entities)

    def delete(self, photo_ids: Sequence[int]) -> None:
        if not photo_ids:
            return
        with self.states.changing():
            with self.guard("remove photos"):
                for start in range(0, len(photo_ids), QUERY_PAGE):
                    page = list(photo_ids[start : start + QUERY_PAGE])
                    self.client.delete(self.collection, ids=page)
            self.states.drop(photo_ids)
            self.signatures.drop(photo_ids)

    def flush(self) -> None:
        with self.guard("flush"):
            self.client.flush(self.collection)
        self.states.save()

    def get(self, photo_ids: Sequence[int], with_vectors: bool = False) -> list[PhotoRow]:
        """Rows in the order asked; unknown ids raise NotFound naming them."""
        found = self.get_some(photo_ids, with_vectors)
        missing = [pid for pid in photo_ids if pid not in found]
        if missing:
            raise unknown_photo(missing[0], len(missing) - 1)
        return [found[pid] for pid in photo_ids]

    def get_some(self, photo_ids: Sequence[int], with_vectors: bool = False) -> dict[int, PhotoRow]:
        """The rows of those ids that exist, by id."""
        if not photo_ids:
            return {}
        self.require()
        fields = [*SCALAR_FIELDS, "vector"] if with_vectors else SCALAR_FIELDS
        with self.guard("read photos"):
            entities = self.client.get(self.collection, ids=list(photo_ids), output_fields=fields)
        return {int(e["id"]): PhotoRow.from_entity(e) for e in entities}

    def matching(self, photo_ids: Sequence[int], expr: str) -> set[int]:
        """Those of ``photo_ids`` that exist and meet ``expr``."""
        if not photo_ids:
            return set()
        listed = f"id in [{', '.join(str(int(i)) for i in photo_ids)}]"
        with self.guard("read photos"):
            rows = self.client.query(
                self.collection, filter=f"({listed}) and ({expr})" if expr else listed,
                output_fields=["id"],
            )  # fmt: skip
        return {int(r["id"]) for r in rows}

    def find_path(self, path: str) -> PhotoRow | None:
        """The row of a file by its path: looked up by the id the path hashes to."""
        if not self.exists():
            return None
        row = self.get_some([photo_id_for(path)]).get(photo_id_for(path))
        return row if row is not None and row.path == path else None

    def iter_entities(
        self, expr: str = "", fields: Sequence[str] | None = None, with_vectors: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Every row matching ``expr``, as Milvus returns them, a page at a time.

        Ids are uniform hashes, so slicing the id range gives pages of even size on any
        Milvus deployment, without the query iterator (which Milvus Lite lacks).
        """
        wanted = list(fields) if fields is not None else list(SCALAR_FIELDS)
        if with_vectors:
            wanted.append("vector")
        total = self.count(expr)
        if total == 0:
            return
        pages = max(1, -(-total // QUERY_PAGE))
        step = -(-(ID_MASK + 1) // pages)
        for start in range(0, ID_MASK + 1, step):
            yield from self.id_range(start, start + step, wanted, expr)

    def id_range(
        self, start: int, stop: int, fields: Sequence[str], expr: str = ""
    ) -> list[dict[str, Any]]:
        """The rows whose ids lie in ``[start, stop)`` (and match ``expr``): one page."""
        where = f"id >= {start} and id < {stop}"
        with self.guard("read photos"):
            return self.client.query(  # type: ignore[no-any-return]
                self.collection, filter=f"{where} and ({expr})" if expr else where,
                output_fields=list(fields), consistency_level=STRONG,
            )  # fmt: skip

    def iter_rows(self, expr: str = "", with_vectors: bool = False) -> Iterator[PhotoRow]:
        for entity in self.iter_entities(expr, with_vectors=with_vectors):
            yield PhotoRow.from_entity(entity)

    def file_states(self, folder: str) -> dict[str, tuple[int, int, float]]:
        """path → (photo id, size, mtime) of every row under ``folder``, for a re-scan."""
        prefix = folder.rstrip(os.sep) + os.sep
        cached = self.states.under(prefix)
        if cached is not None:
            return cached
        states = {}
        for entity in self.iter_entities(
            folder_expression(folder), fields=["path", "raw_path", "size", "mtime"]
        ):
            path = entity_path(entity)
            states[path] = (int(entity["id"]), int(entity["size"]), float(entity["mtime"]))
        return states

    def search(
        self,
        vectors: np.ndarray | Sequence[Sequence[float]],
        limit: int,
        expr: str = "",
        with_vectors: bool = False,
        offset: int = 0,
    ) -> list[list[Hit]]:
        """Nearest photos by cosine similarity, one list per query vector."""
        data = [np.asarray(v, dtype=np.float32).tolist() for v in vectors]
        fields = [*SCALAR_FIELDS, "vector"] if with_vectors else SCALAR_FIELDS
        params: dict[str, Any] = {"metric_type": "COSINE", "params": {"ef": max(64, limit * 2)}}
        if offset:
            params["offset"] = offset
        with self.guard("search"):
            results = self.client.search(
                self.collection,
                data=data,
                limit=limit,
                filter=expr,
                output_fields=fields,
                search_params=params,
            )
        return [
            [Hit(PhotoRow.from_entity({**h["entity"], "id": h["id"]}), float(h["distance"]))
             for h in hits]
            for hits in results
        ]  # fmt: skip

    def has_tags(self) -> bool:
        with self.guard("query tags"):
            rows = self.client.query(
                self.collection, filter="array_length(labels) > 0", output_fields=["id"], limit=1
            )
        return bool(rows)
