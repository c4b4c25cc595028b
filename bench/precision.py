"""Measure the retrieval rule that lets photocomic embed in bf16 (tools/precision.py).

For each model: every Imagenette photo (train and val) is embedded in fp32 and in bf16. The
rule's figures are precision@10 of the val photos searched among the train photos, in each
precision, and, for every photo, whether its bf16 embedding finds its own fp32 embedding first
among all fp32 embeddings, and with what score. The figures are written to
tools/data/precision.json (the table photocomic decides by) and printed.

    python bench/precision.py [--dataset DIR] [--model NAME --weights FILE] [--write]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DATASET = REPO.parent / "shared" / "datasets" / "imagenette-dev"
TABLE = REPO / "tools" / "data" / "precision.json"


def photos(dataset: Path) -> tuple[list[Path], list[str], list[bool]]:
    paths, labels, is_query = [], [], []
    for split in ("train", "val"):
        for folder in sorted((dataset / split).iterdir()):
            for path in sorted(folder.iterdir()):
                paths.append(path)
                labels.append(folder.name)
                is_query.append(split == "val")
    return paths, labels, is_query


def embed(
    paths: list[Path], model: str, weights: Path | None, precision: str
) -> tuple[np.ndarray, float]:
    from photocomic.tools.photos.embedder import Embedder
    from photocomic.tools.photos.images import open_photo

    embedder = Embedder(model, weights, "cpu", precision)
    assert embedder.precision == precision
    prepared = [embedder.prepare(open_photo(p, min_side=embedder.decode_side).image) for p in paths]
    started = time.perf_counter()
    vectors = np.vstack(
        [embedder.embed(prepared[i : i + 16]).vectors for i in range(0, len(prepared), 16)]
    )
    return vectors, time.perf_counter() - started


def precision_at_10(vectors: np.ndarray, labels: np.ndarray, query: np.ndarray) -> float:
    gallery, queries = vectors[~query], vectors[query]
    nearest = np.argsort(-(queries @ gallery.T), axis=1)[:, :10]
    return float((labels[~query][nearest] == labels[query][:, None]).mean())


def measure(dataset: Path, model: str, weights: Path | None) -> dict[str, object]:
    paths, labels_list, query_list = photos(dataset)
    labels, query = np.array(labels_list), np.array(query_list)
    fp32, seconds32 = embed(paths, model, weights, "fp32")
    bf16, seconds16 = embed(paths, model, weights, "bf16")
    scores = bf16 @ fp32.T
    own = scores[np.arange(len(paths)), np.arange(len(paths))]
    return {
        "p10_fp32": round(precision_at_10(fp32, labels, query), 4),
        "p10_bf16": round(precision_at_10(bf16, labels, query), 4),
        "self_first": round(float((scores.argmax(axis=1) == np.arange(len(paths))).mean()), 4),
        "min_self_score": round(float(own.min()), 4),
        "min_cosine": round(float((fp32 * bf16).sum(axis=1).min()), 5),
        "photos": len(paths),
        "dataset": "imagenette-dev (600 train + 150 val)",
        "measured": date.today().isoformat(),
        "forward_seconds": {"fp32": round(seconds32, 1), "bf16": round(seconds16, 1)},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", type=Path, default=DATASET)
    parser.add_argument("--model", default="tf_efficientnet_lite0")
    parser.add_argument("--weights", type=Path)
    parser.add_argument("--write", action="store_true", help="record the figures in the table")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    from photocomic.tools.photos.precision import rule_passes

    figures = measure(args.dataset, args.model, args.weights)
    figures["rule_passes"] = rule_passes(figures)
    print(json.dumps({args.model: figures}, indent=2))
    if args.write:
        table = json.loads(TABLE.read_text()) if TABLE.exists() else {"models": {}}
        table["models"][args.model] = figures
        TABLE.write_text(json.dumps(table, indent=2) + "\n")
        print(f"written to {TABLE.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
