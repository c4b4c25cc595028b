"""Whether a swing in the indexing rate is photocomic's or the machine's.

Rounds of the indexer's pipeline on photos-1k (``Indexer.index`` into a fresh store, the model
loaded once, as bench/limits.py runs it), each between two runs of a fixed CPU job that is not
photocomic's (float32 matrix products on every core through numpy's BLAS). If the pipeline
slows when the fixed job slows, the machine's speed moved (a shared host, its clock, its
neighbours); if the pipeline swings alone, the cause is in photocomic's path. Reports each
round, the spread of both (largest minus smallest, over the median) and their correlation.

    python bench/steadiness.py [--photos DIR] [--rounds 10] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from limits import PHOTOS, REPO, Stages, cpu_model, cpus

_SIDE = 1536  # the fixed job's matrices: 40 products take about 1.7 s on two AVX2 cores
_PRODUCTS = 40


def fixed_job_gflops() -> float:
    """The same float32 matrix products every time, on every core."""
    matrix = np.random.default_rng(0).random((_SIDE, _SIDE), dtype=np.float32)
    started = time.perf_counter()
    for _ in range(_PRODUCTS):
        matrix @ matrix
    return _PRODUCTS * 2 * _SIDE**3 / (time.perf_counter() - started) / 1e9


def spread(values: list[float]) -> float:
    return round((max(values) - min(values)) / statistics.median(values), 3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--photos", type=Path, default=PHOTOS)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    os.environ.setdefault("TQDM_DISABLE", "1")
    sys.path.insert(0, str(REPO))
    from photocomic.tools.photos.embedder import Embedder

    embedder = Embedder()
    stages = Stages(args.photos, embedder)
    embedder.speed_up()  # compiled as for a long run, as the indexer has it
    pipeline: list[float] = []
    fixed: list[float] = []
    for _ in range(args.rounds):
        before = fixed_job_gflops()
        pipeline.append(round(stages.pipeline_rate(), 1))
        fixed.append(round((before + fixed_job_gflops()) / 2, 1))
        print(f"pipeline {pipeline[-1]:.1f} photos/s, fixed job {fixed[-1]:.1f} GFLOPS", flush=True)
    results: dict[str, Any] = {
        "cpu": cpu_model(), "cpus": cpus(), "forward_pass": embedder.forward_name,
        "pipeline_photos_per_s": pipeline, "fixed_job_gflops": fixed,
        "pipeline_median": statistics.median(pipeline), "pipeline_spread": spread(pipeline),
        "fixed_job_spread": spread(fixed),
        "correlation": round(float(np.corrcoef(pipeline, fixed)[0, 1]), 2),
    }  # fmt: skip
    print(json.dumps(results, indent=1))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
