"""The Milvus collection of photos: schema, one-process lock, upsert, delete, search, filters.

Milvus Lite (a local file) is the default; an ``http://host:19530`` URI points the same code at
a Milvus server, a cluster or Zilliz Cloud. Every photo is one row whose primary key is derived
from its path, so indexing a file again replaces its row instead of adding a second one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .config import Settings
from .errors import ModelMismatch, NotFound, PhotocomicError, StoreBusy

log = logging.getLogger(__name__)
# Milvus Lite serves pymilvus in-process; index creation asks it for a method it does not
# implement and the gRPC server logs that as an error with a traceback. It is harmless.
logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
# When another process holds a Milvus Lite folder its server manager logs a traceback; we
# report that case ourselves with the holder's pid (see lite_lock_holder).
logging.getLogger("milvus_lite.server_manager").setLevel(logging.CRITICAL)

SCHEMA_VERSION = "1"
MAX_PATH_BYTES = 4096
MAX_TAGS = 5
_PROP_MODEL = "photocomic.model"
_PROP_DIM = "photocomic.dim"
_PROP_SCHEMA = "photocomic.schema"
_ID_MASK = (1 << 52) - 1  # ids stay exact in JSON numbers (JavaScript clients)
_SCALAR_FIELDS = [
    "path", "folder", "size", "mtime", "width", "height", "taken_at",
    "labels", "label_scores", "categories", "category_scores",
]  # fmt: skip
_QUERY_PAGE = 4000


def photo_id_for(path: str) -> int:
    """A stable id from the file's path: the same file always gets the same row."""
    digest = hashlib.sha1(path.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") & _ID_MASK


@dataclass
class PhotoRow:
    """One photo as stored; ``vector`` is present only when asked for."""

    photo_id: int
    path: str
    folder: str
    size: int
    mtime: float
    width: int
    height: int
    taken_at: int
    labels: list[str] = field(default_factory=list)
    label_scores: list[float] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    category_scores: list[float] = field(default_factory=list)
    vector: np.ndarray | None = None

    def to_entity(self) -> dict[str, Any]:
        if self.vector is None:
            raise ValueError("a row needs its vector to be stored")
        entity = {name: getattr(self, name) for name in _SCALAR_FIELDS}
        entity["id"] = self.photo_id
        entity["vector"] = self.vector
        return entity

    @classmethod
    def from_entity(cls, entity: dict[str, Any]) -> PhotoRow:
        vector = entity.get("vector")
        return cls(
            photo_id=int(entity["id"]),
            path=entity["path"],
            folder=entity["folder"],
            size=int(entity["size"]),
            mtime=float(entity["mtime"]),
            width=int(entity["width"]),
            height=int(entity["height"]),
            taken_at=int(entity["taken_at"]),
            labels=list(entity.get("labels") or []),
            label_scores=[float(s) for s in entity.get("label_scores") or []],
            categories=list(entity.get("categories") or []),
            category_scores=[float(s) for s in entity.get("category_scores") or []],
            vector=np.asarray(vector, dtype=np.float32) if vector is not None else None,
        )


@dataclass(frozen=True)
class Hit:
    row: PhotoRow
    score: float


def quote(value: str) -> str:
    """A string literal for a Milvus filter expression."""
    return json.dumps(value, ensure_ascii=False)


def like_prefix(prefix: str) -> str:
    """A ``like`` pattern matching every string that starts with ``prefix``."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return quote(escaped + "%")


class StoreLock:
    """One process at a time on a Milvus Lite file, and a message naming the holder."""

    def __init__(self, db_path: str) -> None:
        self.path = Path(db_path + ".lock")
        self._handle: Any = None

    def acquire(self) -> None:
        try:
            import fcntl
        except ImportError:  # Windows: Milvus Lite does not run there either
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 (held until release)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise StoreBusy(
                f"the photo store {self.path.with_suffix('')} is in use by another photocomic "
                f"process ({holder}). Stop that process (a running 'photocomic serve'?) or "
                f"point --db / PHOTOCOMIC_DB at another store."
            ) from None
        handle.seek(0)
        handle.truncate()
        command = " ".join(Path(a).name if i == 0 else a for i, a in enumerate(sys.argv[:3]))
        handle.write(f"pid {os.getpid()}: {command}\n")
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def lite_lock_holder(db_path: str) -> str | None:
    """Who holds Milvus Lite's own lock on ``db_path`` (any process, photocomic or not).

    None when the lock is free. On Linux the holder's pid and command come from /proc/locks.
    """
    try:
        import fcntl
    except ImportError:
        return None
    lock = Path(db_path) / "LOCK"
    try:
        with open(lock, "rb") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                inode = os.fstat(handle.fileno()).st_ino
            else:
                fcntl.flock(handle, fcntl.LOCK_UN)
                return None
    except OSError:
        return None
    return _lock_owner(inode) or "a process that holds its lock file"


def _lock_owner(inode: int) -> str | None:
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF" (a "->" marks waiters)
        if len(parts) < 6 or parts[1] != "FLOCK" or "->" in parts:
            continue
        if parts[5].rsplit(":", 1)[-1] == str(inode):
            pid = parts[4]
            try:
                raw = Path(f"/proc/{pid}/cmdline").read_bytes()
                words = " ".join(raw.decode(errors="replace").split("\0")[:3]).split()
                command = " ".join(words)[:160]
            except OSError:
                command = ""
            return f"pid {pid}" + (f": {command}" if command else "")
    return None


class LocalMilvus:
    """Milvus Lite served to pymilvus over a Unix socket beside the store file.

    Given a ``.db`` path, pymilvus starts Milvus Lite's gRPC server on a loopback TCP port,
    without authentication: while photocomic runs, any local user could connect to it and read
    or change the photo index. A Unix socket is a file in the (private) data folder whose
    permissions apply (owner only). Falls back to pymilvus's own way when the socket path is
    too long for the OS or this Milvus Lite lacks the pieces.
    """

    MAX_SOCKET_PATH = 100  # sun_path holds 104 (macOS) or 108 (Linux) bytes with the NUL

    def __init__(self, server: Any, db: Any, socket_path: str) -> None:
        self.server = server
        self.db = db
        self.socket_path = socket_path
        self.client_uri = "unix:" + socket_path
        self._stopped = False
        import atexit

        atexit.register(self.stop)  # like pymilvus's server manager: close Milvus at exit

    @classmethod
    def start(cls, db_path: str) -> LocalMilvus | None:
        socket_path = db_path + ".sock"
        if len(os.fsencode(socket_path)) > cls.MAX_SOCKET_PATH or not hasattr(os, "fchmod"):
            return None
        try:
            from milvus_lite.adapter.grpc.server import _build_server
            from milvus_lite.db import MilvusLite
        except ImportError:
            return None
        db = MilvusLite(db_path)  # takes Milvus Lite's own lock (DataDirLockedError if held)
        try:
            # Both locks are ours: a socket file left by a killed run is stale.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(socket_path)
            server = _build_server(db, 10)
            old_mask = os.umask(0o177)  # the socket is created owner-only (rw-------)
            try:
                bound = server.add_insecure_port("unix:" + socket_path)
            finally:
                os.umask(old_mask)
            if not bound:
                raise OSError(f"cannot listen on {socket_path}")
            server.start()
        except BaseException:
            db.close()
            raise
        return cls(server, db, socket_path)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        with contextlib.suppress(Exception):
            self.server.stop(0.2).wait(1)
        with contextlib.suppress(Exception):
            self.db.close()
        with contextlib.suppress(OSError):
            os.unlink(self.socket_path)


class PhotoStore:
    """The photo collection in Milvus. Open it with :meth:`open`; close it when done."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.uri = settings.db_uri
        self.collection = settings.collection
        self._lock: StoreLock | None = None
        self._loaded = False
        # The whole collection's path -> (id, size, mtime), kept in step with every write, and
        # saved beside a local store after each flush (see _read_states).
        self._states: dict[str, tuple[int, int, float]] | None = None
        self._states_model: tuple[str, int] | None = None
        self._states_file = (
            Path(f"{self.uri}.{self.collection}.files.json") if settings.is_local_db else None
        )
        self._states_read = False
        if settings.is_local_db:
            Path(self.uri).parent.mkdir(parents=True, exist_ok=True)
            self._lock = StoreLock(self.uri)
            self._lock.acquire()
        self._lite: LocalMilvus | None = None
        try:
            from pymilvus import MilvusClient

            token = settings.milvus_token.get_secret_value() if settings.milvus_token else ""
            client_uri = self.uri
            if settings.is_local_db:
                self._lite = LocalMilvus.start(self.uri)
                client_uri = self._lite.client_uri if self._lite else self.uri
            self.client = MilvusClient(uri=client_uri, token=token)
        except Exception as exc:
            self.close()
            holder = lite_lock_holder(self.uri) if settings.is_local_db else None
            if holder is not None:
                raise StoreBusy(
                    f"the photo store {self.uri} is in use by another process ({holder}). "
                    "Stop that process or point --db / PHOTOCOMIC_DB at another store."
                ) from None
            raise PhotocomicError(
                f"cannot open the photo store at {self.uri}: {exc}. Check --db / PHOTOCOMIC_DB "
                "(and PHOTOCOMIC_MILVUS_TOKEN for a server)."
            ) from None

    def close(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()
            self.client = None
            if self.settings.is_local_db and getattr(self, "_lite", None) is None:
                # pymilvus leaves the in-process Milvus Lite server (and its data-folder lock)
                # running until the process exits; stop it so the store can be opened again.
                with contextlib.suppress(Exception):
                    from milvus_lite.server_manager import server_manager_instance

                    server_manager_instance.release_server(self.uri)
        lite = getattr(self, "_lite", None)
        if lite is not None:
            lite.stop()
            self._lite = None
        if client is not None:
            # Milvus Lite writes its files once more while closing: save the file states
            # again, so that they match the store as it now stays
            self._save_states()
        if self._lock is not None:
            self._lock.release()

    def __enter__(self) -> PhotoStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the collection and the model it was built with ---------------------------------

    def exists(self) -> bool:
        if self._known_model():
            return True
        return bool(self.client.has_collection(self.collection))

    def model_info(self) -> tuple[str, int] | None:
        """(model name, dimension) recorded with the collection, or None when there is none."""
        if self._known_model():
            return self._states_model
        if not self.exists():
            return None
        props = self.client.describe_collection(self.collection).get("properties") or {}
        if _PROP_MODEL not in props:
            return None
        info = str(props[_PROP_MODEL]), int(props[_PROP_DIM])
        if self._states_file is not None:
            self._states_model = info  # a local store we hold the lock of: it cannot change
        return info

    def _known_model(self) -> bool:
        """A local store's model, known without asking Milvus (two calls per search saved)."""
        return self._read_states() or (
            self._states_file is not None and self._states_model is not None
        )

    def ensure_collection(self, model: str, dim: int) -> None:
        """Create the collection for this model, or check that it was built with the same one."""
        info = self.model_info()
        if info is None and self.exists():
            raise PhotocomicError(
                f"the Milvus collection '{self.collection}' at {self.uri} was not made by "
                "photocomic; choose another with PHOTOCOMIC_COLLECTION"
            )
        if info is not None:
            if info != (model, dim):
                raise ModelMismatch(
                    f"the store {self.uri} was built with model {info[0]} ({info[1]}-d); "
                    f"cannot index with {model} ({dim}-d). Use --model {info[0]}, or a "
                    f"separate store for {model} (--db another.db or PHOTOCOMIC_COLLECTION)."
                )
            self._load()
            return
        from pymilvus import DataType, MilvusClient

        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        schema.add_field("path", DataType.VARCHAR, max_length=MAX_PATH_BYTES)
        schema.add_field("folder", DataType.VARCHAR, max_length=MAX_PATH_BYTES)
        schema.add_field("size", DataType.INT64)
        schema.add_field("mtime", DataType.DOUBLE)
        schema.add_field("width", DataType.INT64)
        schema.add_field("height", DataType.INT64)
        schema.add_field("taken_at", DataType.INT64)
        for names, scores in (("labels", "label_scores"), ("categories", "category_scores")):
            schema.add_field(
                names, DataType.ARRAY, element_type=DataType.VARCHAR,
                max_capacity=MAX_TAGS, max_length=128,
            )  # fmt: skip
            schema.add_field(
                scores, DataType.ARRAY, element_type=DataType.FLOAT, max_capacity=MAX_TAGS
            )
        index = self.client.prepare_index_params()
        index.add_index(
            "vector", index_type="HNSW", metric_type="COSINE",
            params={"M": 16, "efConstruction": 200},
        )  # fmt: skip
        self._forget_saved_states()
        self.client.create_collection(
            self.collection,
            schema=schema,
            index_params=index,
            properties={_PROP_MODEL: model, _PROP_DIM: str(dim), _PROP_SCHEMA: SCHEMA_VERSION},
        )
        if self._states_file is not None:
            self._states, self._states_model = {}, (model, dim)
        self._loaded = True

    def require(self) -> tuple[str, int]:
        """The model info of an existing collection, loaded for search; NotFound if empty."""
        info = self.model_info()
        if info is None:
            raise NotFound(
                f"no photos indexed yet in {self.uri}; run 'photocomic index FOLDER' first"
            )
        self._load()
        return info

    def _load(self) -> None:
        if not self._loaded:
            self.client.load_collection(self.collection)
            self._loaded = True

    # -- rows ------------------------------------------------------------------------------

    def count(self) -> int:
        if not self.exists():
            return 0
        self._load()
        result = self.client.query(self.collection, filter="", output_fields=["count(*)"])
        return int(result[0]["count(*)"])

    def upsert(self, rows: Sequence[PhotoRow]) -> None:
        if rows:
            self._forget_saved_states()
            self.client.upsert(self.collection, [row.to_entity() for row in rows])
            if self._states is not None:
                for row in rows:
                    self._states[row.path] = (row.photo_id, row.size, row.mtime)

    def delete(self, photo_ids: Sequence[int]) -> None:
        if not photo_ids:
            return
        self._forget_saved_states()
        for start in range(0, len(photo_ids), _QUERY_PAGE):
            self.client.delete(self.collection, ids=list(photo_ids[start : start + _QUERY_PAGE]))
        if self._states is not None:
            gone = set(photo_ids)
            self._states = {p: s for p, s in self._states.items() if s[0] not in gone}

    def flush(self) -> None:
        self.client.flush(self.collection)
        self._save_states()

    # -- file states, saved for a quick re-scan ---------------------------------------------

    # A re-scan must know every indexed file's size and mtime. Asking Milvus Lite costs a
    # collection load plus a query that materialises whole rows (vectors too): about 4 s for
    # 10,000 photos. So a local store keeps them in a file beside it, valid only while the
    # store's own files are exactly as they were when it was written (names, sizes, mtimes,
    # inodes): it is deleted before any write and written again after a flush, and the store
    # lock keeps other photocomic processes out meanwhile. Whenever in doubt, Milvus answers.

    def _store_signature(self) -> str | None:
        root = Path(self.uri)
        parts = []
        try:
            for folder, _, names in os.walk(root):
                for name in names:
                    if name != "LOCK":
                        info = os.stat(os.path.join(folder, name))
                        where = os.path.relpath(os.path.join(folder, name), root)
                        parts.append(f"{where}|{info.st_size}|{info.st_mtime_ns}|{info.st_ino}")
        except OSError:
            return None
        return hashlib.sha1("\n".join(sorted(parts)).encode()).hexdigest() if parts else None

    def _read_states(self) -> bool:
        """Load the saved file states once; True when they are loaded and valid."""
        if not self._states_read and self._states_file is not None:
            self._states_read = True
            try:
                saved = json.loads(self._states_file.read_text(encoding="utf-8"))
                valid = (
                    saved.get("version") == 1
                    and saved.get("collection") == self.collection
                    and saved.get("signature") == self._store_signature()
                )
                if valid:
                    self._states_model = (str(saved["model"]), int(saved["dim"]))
                    self._states = {
                        path: (int(i), int(size), float(mtime))
                        for path, (i, size, mtime) in saved["files"].items()
                    }
            except (OSError, ValueError, KeyError, TypeError):
                self._states, self._states_model = None, None
        return self._states is not None and self._states_model is not None

    def _forget_saved_states(self) -> None:
        self._states_read = True
        if self._states_file is not None:
            with contextlib.suppress(FileNotFoundError):
                self._states_file.unlink()

    def _save_states(self) -> None:
        if self._states_file is None or self._states is None or self._states_model is None:
            return
        signature = self._store_signature()
        if signature is None:
            return
        saved = {
            "version": 1,
            "collection": self.collection,
            "model": self._states_model[0],
            "dim": self._states_model[1],
            "signature": signature,
            "files": self._states,
        }
        temporary = self._states_file.with_suffix(".tmp")
        try:
            temporary.write_text(json.dumps(saved, ensure_ascii=False), encoding="utf-8")
            os.replace(temporary, self._states_file)
        except OSError as exc:
            log.debug("could not save file states: %s", exc)

    def get(self, photo_ids: Sequence[int], with_vectors: bool = False) -> list[PhotoRow]:
        """Rows in the order asked; unknown ids raise NotFound naming them."""
        if not photo_ids:
            return []
        self.require()
        fields = [*_SCALAR_FIELDS, "vector"] if with_vectors else _SCALAR_FIELDS
        found = {
            int(e["id"]): PhotoRow.from_entity(e)
            for e in self.client.get(self.collection, ids=list(photo_ids), output_fields=fields)
        }
        missing = [pid for pid in photo_ids if pid not in found]
        if missing:
            raise NotFound(
                f"unknown photo id {missing[0]}"
                + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
                + ": use an id from a search result, or index the photo first"
            )
        return [found[pid] for pid in photo_ids]

    def find_path(self, path: str) -> PhotoRow | None:
        if not self.exists():
            return None
        self._load()
        rows = self.client.query(
            self.collection, filter=f"path == {quote(path)}", output_fields=_SCALAR_FIELDS
        )
        return PhotoRow.from_entity(rows[0]) if rows else None

    def iter_rows(
        self, expr: str = "", fields: Sequence[str] | None = None, with_vectors: bool = False
    ) -> Iterator[PhotoRow | dict[str, Any]]:
        """Every row matching ``expr`` (PhotoRow unless ``fields`` is given).

        Ids are uniform hashes, so slicing the id range gives pages of even size on any
        Milvus deployment, without the query iterator (which Milvus Lite lacks).
        """
        wanted = list(fields) if fields is not None else list(_SCALAR_FIELDS)
        if with_vectors:
            wanted.append("vector")
        self._load()
        pages = max(1, -(-self.count() // _QUERY_PAGE))
        step = -(-(_ID_MASK + 1) // pages)
        for start in range(0, _ID_MASK + 1, step):
            where = f"id >= {start} and id < {start + step}"
            page = self.client.query(
                self.collection,
                filter=f"{where} and ({expr})" if expr else where,
                output_fields=wanted,
            )
            for entity in page:
                yield PhotoRow.from_entity(entity) if fields is None else entity

    def file_states(self, folder: str) -> dict[str, tuple[int, int, float]]:
        """path → (photo id, size, mtime) of every row under ``folder``, for a re-scan."""
        prefix = folder.rstrip(os.sep) + os.sep
        if self._read_states() and self._states is not None:
            return {p: s for p, s in self._states.items() if p.startswith(prefix)}
        if self._states_file is not None and self._states is None:
            # a local store: read every row's state once, keep it in step, save it
            info = self.model_info()
            everything: dict[str, tuple[int, int, float]] = {}
            for entity in self.iter_rows(fields=["path", "size", "mtime"]):
                assert isinstance(entity, dict)
                everything[entity["path"]] = (
                    int(entity["id"]), int(entity["size"]), float(entity["mtime"])
                )  # fmt: skip
            self._states = everything
            if info is not None:
                self._states_model = info
                self._save_states()
            return {p: s for p, s in everything.items() if p.startswith(prefix)}
        states: dict[str, tuple[int, int, float]] = {}
        for entity in self.iter_rows(
            f"path like {like_prefix(prefix)}", fields=["path", "size", "mtime"]
        ):
            assert isinstance(entity, dict)
            path = entity["path"]
            if path.startswith(prefix):
                states[path] = (int(entity["id"]), int(entity["size"]), float(entity["mtime"]))
        return states

    def search(
        self,
        vectors: np.ndarray | Sequence[Sequence[float]],
        limit: int,
        expr: str = "",
        with_vectors: bool = False,
    ) -> list[list[Hit]]:
        """Nearest photos by cosine similarity, one list per query vector.

        ``with_vectors`` returns the hits' vectors too, for re-ranking (diversity, examples).
        """
        data = [np.asarray(v, dtype=np.float32).tolist() for v in vectors]
        fields = [*_SCALAR_FIELDS, "vector"] if with_vectors else _SCALAR_FIELDS
        results = self.client.search(
            self.collection,
            data=data,
            limit=limit,
            filter=expr,
            output_fields=fields,
            search_params={"metric_type": "COSINE", "params": {"ef": max(64, limit * 2)}},
        )
        return [
            [Hit(PhotoRow.from_entity({**h["entity"], "id": h["id"]}), float(h["distance"]))
             for h in hits]
            for hits in results
        ]  # fmt: skip

