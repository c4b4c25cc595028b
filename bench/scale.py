"""Big libraries in one run: a 100,000-photo store built while it answers searches (peak
memory), search latency by photo id, by photo id within a folder and the caller's roots, by a
new 500x375 image, the vector search alone, the duplicate check and a re-scan, on Milvus Lite
and (with --milvus-server) on a Milvus server, side by side.

The rows are synthetic (say so in any table): the real embeddings and pixel signatures of
photos-1k, repeated with a little noise so neighbourhoods look like a real library's; each row's
file exists on disk (an empty file), so a re-scan does the real scan, stat and diff. Latency is
measured in-process through ``photocomic.tools`` (``Searcher``), warm, after the store was
closed and opened again. Peak RSS is this process's (it holds the store, as the engine does,
and the model), sampled every 50 ms while rows are written in the indexer's pages of 256 and a
thread searches.

    python bench/scale.py [--milvus-server PATH/TO/milvus-server] [--sizes 30000,100000]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from measure import percentiles, timed, upsert_in_pages

REPO = Path(__file__).resolve().parent.parent
PHOTOS = REPO.parent / "shared" / "datasets" / "photos-1k"
WORK = Path(tempfile.gettempdir()) / "photocomic-bench-scale"
TOKEN = "root:Milvus"


def real_library(work: Path) -> tuple[np.ndarray, list[np.ndarray]]:
    """The default model's embeddings and pixel signatures of photos-1k (indexed once into a
    cached store; a re-scan makes the signatures of a store indexed before they were kept)."""
    from photocomic.tools.config import Settings
    from photocomic.tools.owner.library import Library
    from photocomic.tools.policy import Scope

    with Library(Settings(data_dir=work / "photos-1k")) as lib:
        lib.index(Scope(), str(PHOTOS))
        ids = [r.photo_id for r in lib.store.iter_rows()]
        kept, thumbs = lib.store.signatures.read(ids), lib.store.signatures.thumbs(ids)
        return np.stack([kept[i].vector for i in ids]), [thumbs[i] for i in ids]


def library_files(work: Path, size: int) -> Path:
    """``size`` empty files in folders of 1,000, made once."""
    root = work / f"files-{size}"
    marker = root / ".complete"
    if not marker.exists():
        for n in range(size):
            folder = root / f"roll{n // 1000:03d}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"IMG_{n:06d}.jpg").touch()
        marker.touch()
    return root


def fill(store: Any, library: tuple[np.ndarray, list[np.ndarray]], root: Path) -> dict[str, Any]:
    """Rows for every file under ``root`` (their real size and mtime), written in the
    indexer's pages of 256 while another thread searches, as an engine does while it indexes
    and answers; the peak RSS of this process meanwhile."""
    from photocomic.tools.folders import scan_folder
    from photocomic.tools.store.rows import PhotoRow, photo_id_for

    vectors, thumbs = library
    rng = np.random.default_rng(1)
    started = time.perf_counter()
    store.ensure_collection("tf_efficientnet_lite0", vectors.shape[1], None)

    def rows() -> Iterator[Any]:
        for n, entry in enumerate(scan_folder(root.resolve()).files):
            base = (
                vectors[n % len(vectors)]
                + rng.standard_normal(vectors.shape[1]).astype(np.float32) * 0.01
            )
            yield PhotoRow(
                photo_id=photo_id_for(entry.path), path=entry.path, size=entry.size,
                mtime=entry.mtime, width=4032, height=3024, taken_at=1_700_000_000 + n * 60,
                labels=["label"], label_scores=[0.5], categories=["category"],
                category_scores=[0.5], vector=base / np.linalg.norm(base),
                thumb=thumbs[n % len(thumbs)],
            )  # fmt: skip

    searches: list[float] = []
    with RssPeak() as peak, Searching(store, vectors, searches):
        upsert_in_pages(store, rows(), page=256)
    return {
        "build_seconds": round(time.perf_counter() - started, 1),
        "peak_rss_mb_while_building_and_searching": round(peak.mb),
        "searches_while_building": percentiles(searches) if searches else None,
    }


class RssPeak:
    """The peak resident memory of this process, sampled every 50 ms while in the block."""

    def __init__(self) -> None:
        self.mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.is_set():
            self.mb = max(self.mb, me.memory_info().rss / 2**20)
            self._stop.wait(0.05)

    def __enter__(self) -> RssPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class Searching:
    """A thread searching the store by vector, every 100 ms, while in the block."""

    def __init__(self, store: Any, vectors: np.ndarray, seconds: list[float]) -> None:
        self.store, self.vectors, self.seconds = store, vectors, seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._search, daemon=True)

    def _search(self) -> None:
        n = 0
        while not self._stop.wait(0.1):
            started = time.perf_counter()
            try:
                self.store.search(self.vectors[n % len(self.vectors)][None], 10)
            except Exception:  # the collection is being created: nothing to search yet
                continue
            self.seconds.append(time.perf_counter() - started)
            n += 1

    def __enter__(self) -> Searching:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def measure(
    settings: Any,
    library: tuple[np.ndarray, list[np.ndarray]],
    root: Path,
    size: int,
    queries: int,
) -> dict[str, Any]:
    from photocomic.tools.find.filters import SearchFilters
    from photocomic.tools.find.search import Searcher
    from photocomic.tools.photos.indexer import Indexer
    from photocomic.tools.photos.loading import load_embedder
    from photocomic.tools.store.photo_store import PhotoStore

    embedder = load_embedder(settings)  # the model as the engine loads it while it indexes
    embedder.speed_up()  # compiled as for a long run (OpenVINO's runtime included, if chosen)
    vectors = library[0]
    figures: dict[str, Any] = {"rows": size, "forward_pass": embedder.forward_name}
    with PhotoStore(settings) as store:
        if store.count() != size:
            figures |= fill(store, library, root)
    with PhotoStore(settings) as store:
        store.require()
        ids = [
            e["id"]
            for e in store.client.query(
                store.collection, filter="id >= 0", output_fields=["id"], limit=500
            )
        ]
        searcher = Searcher(store, lambda: embedder)
        picks = iter(ids * 10)
        figures["by_id"] = percentiles(
            timed(lambda: searcher.similar(photo_ids=[next(picks)], limit=10), queries)
        )
        within = SearchFilters(folder=str(root.resolve() / "roll007"), within=[str(root.resolve())])
        figures["by_id_in_a_folder_within_roots"] = percentiles(timed(
            lambda: searcher.similar(photo_ids=[next(picks)], limit=10, filters=within), queries
        ))  # fmt: skip
        files = sorted(PHOTOS.iterdir())
        pick_files = iter(files * 3)
        figures["by_new_image"] = percentiles(
            timed(lambda: searcher.similar(sources=[str(next(pick_files))], limit=10), queries)
        )
        figures["vector_only"] = percentiles(timed(lambda: store.search(vectors[:1], 10), queries))
        started = time.perf_counter()
        report = searcher.duplicates()
        figures["duplicates_seconds"] = round(time.perf_counter() - started, 2)
        figures["duplicate_groups"] = len(report.groups)
        indexer = Indexer(store, lambda: embedder, "tf_efficientnet_lite0")
        started = time.perf_counter()
        summary = indexer.index([root])
        figures["rescan_seconds"] = round(time.perf_counter() - started, 2)
        assert summary.unchanged == size, summary
    return figures


def lite_profile(settings: Any, vectors: np.ndarray) -> list[str]:
    """Where a Milvus Lite search spends its time: its engine called directly, profiled."""
    from photocomic.tools.store.photo_store import PhotoStore

    with PhotoStore(settings) as store:
        store.require()
        collection = store.connection._lite.db.get_collection(store.collection)  # type: ignore[union-attr]
        query = dict(query_vectors=[vectors[0].tolist()], top_k=10, metric_type="COSINE",
                     output_fields=["path"], search_params={"ef": 64})  # fmt: skip
        collection.search(**query)
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(10):
            collection.search(**query)
        profile.disable()
    stats = pstats.Stats(profile)
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][3])[:8]  # type: ignore[attr-defined]
    return [f"{v[3] / 10 * 1000:7.1f} ms  {Path(k[0]).name}:{k[1]}({k[2]})" for k, v in rows]


@contextmanager
def milvus_server(command: str, work: Path) -> Iterator[str]:
    data = work / "milvus-data"
    data.mkdir(parents=True, exist_ok=True)
    with open(work / "milvus.log", "ab") as log:
        process = subprocess.Popen(
            [command, "--data", str(data), "--authorization-enabled", "true"],
            stdout=log, stderr=log, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", 19530), 1):
                    break
            except OSError:
                time.sleep(1)
        time.sleep(5)
        yield "http://127.0.0.1:19530"
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="30000,100000")
    parser.add_argument(
        "--milvus-server", help="the milvus-server command (pip install milvus==2.3.5)"
    )
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    os.environ.setdefault("TQDM_DISABLE", "1")
    sys.path.insert(0, str(REPO))
    from photocomic.tools.config import Settings

    args.work.mkdir(parents=True, exist_ok=True)
    library = real_library(args.work)
    vectors = library[0]
    from photocomic.tools.photos.cpu import cpu_has_native_bf16

    results: dict[str, Any] = {
        "note": "synthetic rows: photos-1k embeddings and signatures repeated with noise",
        "cpu": next((line.split(":", 1)[1].strip() for line in
                     Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name")), "unknown"),
        "native_bf16": cpu_has_native_bf16(),
        "cpus": len(os.sched_getaffinity(0)),
    }  # fmt: skip
    sizes = [int(s) for s in args.sizes.split(",")]
    for size in sizes:
        root = library_files(args.work, size)
        lite = Settings(data_dir=args.work / f"lite-{size}")
        results[f"lite_{size}"] = measure(lite, library, root, size, args.queries)
        results[f"lite_{size}"]["profile"] = lite_profile(lite, vectors)
        print(json.dumps({f"lite_{size}": results[f"lite_{size}"]}, indent=1), flush=True)
    if args.milvus_server:
        with milvus_server(args.milvus_server, args.work) as uri:
            for size in sizes:
                root = library_files(args.work, size)
                remote = Settings(
                    data_dir=args.work / "server-data",
                    db=uri,
                    milvus_token=TOKEN,
                    collection=f"scale_{size}",
                )
                results[f"server_{size}"] = measure(remote, library, root, size, args.queries)
                print(
                    json.dumps({f"server_{size}": results[f"server_{size}"]}, indent=1), flush=True
                )
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
