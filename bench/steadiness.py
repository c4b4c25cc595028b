"""Whether a swing in the indexing rate is photocomic's or the machine's.

Rounds of the indexer's pipeline on photos-1k (``Indexer.index`` into a fresh store, the model
loaded once, as bench/limits.py runs it), each between two runs of a fixed CPU job that is not
photocomic's (float32 matrix products on every core through numpy's BLAS). If the pipeline
slows when the fixed job slows, the machine's speed moved (a shared host, its clock, its
neighbours); if the pipeline swings alone, the cause is in photocomic's path. Reports each
round, the spread of both (largest minus smallest, over the median) and their correlation.

With ``--commands`` a round is three ``photocomic index`` commands instead, as bench/run.py
times them: one that starts its engine (a new engine, the model loaded in the run's seconds),
then two back to back through an engine already running, each between runs of the fixed job;
so the spread of a command that starts cold can be told from the machine's and from the warm
command's, and the largest gap between the two warm runs of a round says how much of the
swing is within a run rather than in the machine's speed over minutes.

    python bench/steadiness.py [--photos DIR] [--rounds 10] [--commands] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from limits import PHOTOS, REPO, Stages, cpu_model, cpus
from run import (
    child_env,
    photocomic_command,
    photocomic_index,
    run_sampled,
    stop_engine,
    warm_page_cache,
    warm_up_engine,
)

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


def pipeline_rounds(photos: Path, rounds: int) -> dict[str, Any]:
    """The indexer's pipeline in process, each round between two runs of the fixed job."""
    sys.path.insert(0, str(REPO))
    from photocomic.tools.photos.embedder import Embedder

    embedder = Embedder()
    stages = Stages(photos, embedder)
    embedder.speed_up()  # compiled as for a long run, as the indexer has it
    pipeline: list[float] = []
    fixed: list[float] = []
    for _ in range(rounds):
        before = fixed_job_gflops()
        pipeline.append(round(stages.pipeline_rate(), 1))
        fixed.append(round((before + fixed_job_gflops()) / 2, 1))
        print(f"pipeline {pipeline[-1]:.1f} photos/s, fixed job {fixed[-1]:.1f} GFLOPS", flush=True)
    return {"forward_pass": embedder.forward_name, **summary({"pipeline": pipeline}, fixed)}


def command_rounds(photos: Path, rounds: int, work: Path) -> dict[str, Any]:
    """``photocomic index`` with a new engine, then twice through a warm one, each round; the
    fixed job before, between and after them. The two warm runs, back to back, tell a swing of
    the machine over minutes (both move together) from one in a run (they part); their engine's
    counters tell a run that waited (fewer cores busy) or faulted from one the CPU ran slower."""
    warm_page_cache(photos)
    rates: dict[str, list[float]] = {"cold": [], "warm": [], "warm_again": []}
    counters: list[dict[str, float]] = []
    fixed: list[float] = []
    for _ in range(rounds):
        jobs = [fixed_job_gflops()]
        rates["cold"].append(round(photocomic_index("cold", photos, work).per_second, 1))
        jobs.append(fixed_job_gflops())
        for kind in ("warm", "warm_again"):
            counters.append(counted_warm_run(photos, work))
            rates[kind].append(counters[-1]["photos_per_s"])
            jobs.append(fixed_job_gflops())
        fixed.append(round(statistics.mean(jobs), 1))
        print(", ".join(f"{kind} {runs[-1]:.1f} photos/s" for kind, runs in rates.items())
              + f", fixed job {fixed[-1]:.1f} GFLOPS; warm engine: "
              + "; ".join(json.dumps(c) for c in counters[-2:]), flush=True)  # fmt: skip
    pairs = zip(rates["warm"], rates["warm_again"], strict=True)
    gaps = [abs(a - b) / ((a + b) / 2) for a, b in pairs]
    cpu_ms = [c["cpu_ms_per_photo"] for c in counters]
    busy = [c["busy_cores"] for c in counters]
    return {
        **summary(rates, fixed), "warm_back_to_back_largest_gap": round(max(gaps), 3),
        "warm_cpu_ms_per_photo": cpu_ms, "warm_cpu_ms_per_photo_spread": spread(cpu_ms),
        "warm_busy_cores": [min(busy), max(busy)],
        "warm_minor_faults": [min(c["minor_faults"] for c in counters),
                              max(c["minor_faults"] for c in counters)],
    }  # fmt: skip


def counted_warm_run(photos: Path, work: Path) -> dict[str, float]:
    """One ``photocomic index`` through an engine already running (a few photos indexed
    first), with what its engine spent on it: CPU time per photo, the cores it kept busy on
    average and its minor page faults (from /proc, threads that ended included)."""
    data = work / "pc-data"
    shutil.rmtree(data, ignore_errors=True)
    warm_up_engine(photos, work, data)
    asked = photocomic_command("status", "--data-dir", str(data), "--json")
    status, _, _ = run_sampled(asked, child_env())
    pid = int(json.loads(status)["engine_pid"])
    before = _process_counters(pid)
    out, wall, _ = run_sampled(
        photocomic_command("index", str(photos), "--data-dir", str(data), "--json"), child_env()
    )
    after = _process_counters(pid)
    stop_engine(data)
    summary, cpu = json.loads(out), after[0] - before[0]
    return {
        "photos_per_s": round(summary["added"] / summary["seconds"], 1),
        "cpu_ms_per_photo": round(1000 * cpu / summary["added"], 2),
        "busy_cores": round(cpu / wall, 2), "minor_faults": after[1] - before[1],
    }  # fmt: skip


def _process_counters(pid: int) -> tuple[float, int]:
    """A process's user and system CPU seconds and its minor page faults so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), int(fields[7])


def summary(rates: dict[str, list[float]], fixed: list[float]) -> dict[str, Any]:
    """Each contender's runs, median, spread and correlation with the fixed job."""
    found: dict[str, Any] = {"fixed_job_gflops": fixed, "fixed_job_spread": spread(fixed)}
    for name, runs in rates.items():
        found[f"{name}_photos_per_s"] = runs
        found[f"{name}_median"] = statistics.median(runs)
        found[f"{name}_spread"] = spread(runs)
        found[f"{name}_correlation"] = round(float(np.corrcoef(runs, fixed)[0, 1]), 2)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--photos", type=Path, default=PHOTOS)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--commands", action="store_true",
                        help="time photocomic index commands, cold and warm, not the pipeline")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "pc-steadiness")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)  # fmt: skip
    os.environ.setdefault("TQDM_DISABLE", "1")
    if args.commands:
        args.work.mkdir(parents=True, exist_ok=True)
        found = command_rounds(args.photos, args.rounds, args.work)
    else:
        found = pipeline_rounds(args.photos, args.rounds)
    results: dict[str, Any] = {"cpu": cpu_model(), "cpus": cpus(), **found}
    print(json.dumps(results, indent=1))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
