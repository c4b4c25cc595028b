"""How close indexing runs to what this machine allows, and whether ONNX Runtime would help.

For the default model on photos-1k and on the same photos at 12 MP (4032x3024 copies made once,
as bench/run.py makes them), measured in one process with the indexer's own stages
(``Indexer._decoded``: its worker pool, chunks of 4, read-ahead and one torch thread per
worker), each five times, interleaved, medians compared:

- decode-only: the indexer's decoder without the model (open, JPEG draft, resize, pixel
  signature);
- model-only: the same workers embedding and tagging the photos decoded before;
- pipeline: ``Indexer.index`` on the same folder into a fresh Milvus Lite store (scan, decode,
  embed, tag, write), the model already loaded;
- the ceiling of two jobs sharing the same cores, 1 / (1/model-only + 1/decode-only), and the
  pipeline's share of it;
- with --onnx: ONNX Runtime, fp32 and int8 (static quantisation, per channel), model-only on
  the same tensors, and whether their embeddings keep the retrieval rule of
  tools/precision.py on Imagenette.

    python bench/limits.py [--photos DIR] [--no-phone] [--runs N] [--onnx] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "datasets"
PHOTOS = SHARED / "photos-1k"
IMAGENETTE = SHARED / "imagenette-dev"
WORK = Path(tempfile.gettempdir()) / "photocomic-bench-limits"


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def cpus() -> int:
    return max(1, len(os.sched_getaffinity(0)))


def decode_only(paths: list[Path], embedder: Any) -> tuple[float, list[np.ndarray]]:
    """Prepared tensors for the ONNX comparison (one worker per core)."""
    from photocomic.tools.photos.images import open_photo

    def work(path: Path) -> np.ndarray:
        return embedder.prepare(open_photo(path, min_side=embedder.decode_side).image)

    started = time.perf_counter()
    with ThreadPoolExecutor(cpus()) as pool:
        prepared = list(pool.map(work, paths))
    return len(paths) / (time.perf_counter() - started), prepared


def model_only(embedder: Any, prepared: list[np.ndarray], batch: int = 4) -> float:
    """torch's forward pass on ready tensors, for the ONNX comparison."""
    groups = [prepared[i : i + batch] for i in range(0, len(prepared), batch)]
    with embedder.worker_threads() as init, ThreadPoolExecutor(cpus(), initializer=init) as pool:
        list(pool.map(embedder.embed, groups[:4]))  # warm
        started = time.perf_counter()
        list(pool.map(embedder.embed, groups))
    return len(prepared) / (time.perf_counter() - started)


class Stages:
    """The indexer's own stages, timed apart: its worker pool, chunks, read-ahead and thread
    set-up (``Indexer._decoded``) around a decoder that only decodes (decode-only: open,
    JPEG draft, resize, pixel signature) or only embeds and tags photos decoded before
    (model-only). The pipeline is ``Indexer.index`` itself into a fresh store."""

    def __init__(self, folder: Path, embedder: Any) -> None:
        from photocomic.tools.folders import scan_folder
        from photocomic.tools.photos.indexer import Indexer, _Decoder
        from photocomic.tools.photos.tagging import Tagger

        self.folder, self.embedder = folder, embedder
        self.entries = scan_folder(folder.resolve()).files
        self.indexer = Indexer(None, lambda: embedder, embedder.name)  # type: ignore[arg-type]
        prepared: dict[str, Any] = {}
        self.prepared = prepared

        class DecodeOnly(_Decoder):
            def __call__(self, entries: list[Any]) -> list[Any]:
                return [self.decode(entry) for entry in entries]

        class ModelOnly(_Decoder):
            def decode(self, entry: Any) -> Any:
                return prepared[entry.path]

        tagger = Tagger.for_embedder(embedder)
        self.decode_only = DecodeOnly(embedder, tagger)
        self.model_only = ModelOnly(embedder, tagger)

    def _rate(self, decoder: Any, keep: bool = False) -> float:
        started = time.perf_counter()
        for entry, outcome in self.indexer._decoded(self.entries, decoder, None):
            if keep:
                self.prepared[entry.path] = outcome
        return len(self.entries) / (time.perf_counter() - started)

    def decode_rate(self) -> float:
        return self._rate(self.decode_only, keep=True)

    def model_rate(self) -> float:
        return self._rate(self.model_only)

    def pipeline_rate(self) -> float:
        import shutil

        from photocomic.tools.config import Settings
        from photocomic.tools.photos.indexer import Indexer
        from photocomic.tools.store.photo_store import PhotoStore

        data = WORK / "pipeline-data"
        shutil.rmtree(data, ignore_errors=True)
        with PhotoStore(Settings(data_dir=data)) as store:
            indexer = Indexer(store, lambda: self.embedder, self.embedder.name)
            started = time.perf_counter()
            summary = indexer.index([self.folder])
            seconds = time.perf_counter() - started
        shutil.rmtree(data, ignore_errors=True)
        return summary.added / seconds


def limits_for(folder: Path, embedder: Any, name: str, runs: int = 5) -> dict[str, Any]:
    """Each rate ``runs`` times, interleaved (decode, model, pipeline, then again), so a
    change of load weighs on all three; the medians are compared (the pipeline does all of
    each stage's work, so it cannot beat them). The ceiling is what two jobs sharing the same
    cores allow: 1 / (1/model-only + 1/decode-only)."""
    stages = Stages(folder, embedder)
    embedder.speed_up()  # the pipeline traces the model for long runs; so does this
    rates: dict[str, list[float]] = {"decode": [], "model": [], "pipeline": []}
    for _ in range(runs):
        rates["decode"].append(stages.decode_rate())
        rates["model"].append(stages.model_rate())
        rates["pipeline"].append(stages.pipeline_rate())
    model, decode, pipe = (statistics.median(rates[k]) for k in ("model", "decode", "pipeline"))
    ceiling = 1 / (1 / model + 1 / decode)
    return {
        "photos": len(stages.entries),
        "model_only_per_s": round(model, 1),
        "decode_only_per_s": round(decode, 1),
        "ceiling_per_s": round(ceiling, 1),
        "pipeline_per_s": round(pipe, 1),
        "share_of_ceiling": round(pipe / ceiling, 3),
        "runs": {k: [round(v, 1) for v in vs] for k, vs in rates.items()},
        "name": name,
    }


# -- ONNX Runtime --------------------------------------------------------------------------


def onnx_figures(embedder: Any, prepared: list[np.ndarray]) -> dict[str, Any]:
    import onnxruntime as ort
    import torch

    WORK.mkdir(parents=True, exist_ok=True)
    fp32_path = WORK / "lite0.onnx"
    example = torch.zeros(4, 3, embedder.input_size, embedder.input_size)

    class Features(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = embedder.model.to(memory_format=torch.contiguous_format)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.model.forward_head(self.model.forward_features(x), pre_logits=True)

    with torch.inference_mode():
        torch.onnx.export(
            Features().eval(), example, str(fp32_path), input_names=["x"], output_names=["f"],
            dynamic_axes={"x": {0: "n"}}, dynamo=False,
        )  # fmt: skip
    embedder.model.to(memory_format=torch.channels_last)
    int8_path = WORK / "lite0-int8.onnx"
    _quantise(fp32_path, int8_path, embedder, prepared[:64])
    figures: dict[str, Any] = {}
    for label, path in (("fp32", fp32_path), ("int8", int8_path)):
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        sessions = [
            ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            for _ in range(cpus())
        ]
        tensors = [_tensor(embedder, prepared[i : i + 4]) for i in range(0, len(prepared), 4)]

        def run(job: tuple[int, np.ndarray], sessions: list[Any] = sessions) -> np.ndarray:
            return sessions[job[0] % len(sessions)].run(None, {"x": job[1]})[0]

        with ThreadPoolExecutor(cpus()) as pool:
            list(pool.map(run, enumerate(tensors[:4])))
            started = time.perf_counter()
            list(pool.map(run, enumerate(tensors)))
        figures[f"onnx_{label}_model_only_per_s"] = round(
            len(prepared) / (time.perf_counter() - started), 1
        )
        figures[f"onnx_{label}_rule"] = _rule(
            embedder, lambda batch, s=sessions[0]: s.run(None, {"x": batch})[0]
        )
    return figures


def _tensor(embedder: Any, batch: list[np.ndarray]) -> np.ndarray:
    array = np.stack(batch).astype(np.float32).transpose(0, 3, 1, 2)
    mean = embedder._mean.cpu().numpy()
    std = embedder._std.cpu().numpy()
    return np.ascontiguousarray((array - mean) / std, dtype=np.float32)


def _quantise(source: Path, target: Path, embedder: Any, calibration: list[np.ndarray]) -> None:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(
                [
                    {"x": _tensor(embedder, calibration[i : i + 4])}
                    for i in range(0, len(calibration), 4)
                ]
            )

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    prepared = source.with_suffix(".pre.onnx")
    quant_pre_process(str(source), str(prepared))
    quantize_static(
        str(prepared), str(target), Reader(), quant_format=QuantFormat.QDQ, per_channel=True
    )


def _rule(embedder: Any, run: Any) -> dict[str, Any]:
    """The retrieval rule's figures for another engine against torch fp32, on Imagenette."""
    from photocomic.tools.photos.images import open_photo

    paths, labels, query = [], [], []
    for split in ("train", "val"):
        for folder in sorted((IMAGENETTE / split).iterdir()):
            for path in sorted(folder.iterdir()):
                paths.append(path)
                labels.append(folder.name)
                query.append(split == "val")
    prepared = [embedder.prepare(open_photo(p, min_side=embedder.decode_side).image) for p in paths]
    reference = np.vstack(
        [embedder.embed(prepared[i : i + 16]).vectors for i in range(0, len(paths), 16)]
    )
    other = np.vstack(
        [run(_tensor(embedder, prepared[i : i + 4])) for i in range(0, len(paths), 4)]
    )
    other /= np.linalg.norm(other, axis=1, keepdims=True)
    labels_array, query_array = np.array(labels), np.array(query)

    def p10(v: np.ndarray) -> float:
        nearest = np.argsort(-(v[query_array] @ v[~query_array].T), axis=1)[:, :10]
        return float(
            (labels_array[~query_array][nearest] == labels_array[query_array][:, None]).mean()
        )

    scores = other @ reference.T
    own = scores[np.arange(len(paths)), np.arange(len(paths))]
    figures = {
        "p10_torch_fp32": round(p10(reference), 4),
        "p10": round(p10(other), 4),
        "self_first": round(float((scores.argmax(axis=1) == np.arange(len(paths))).mean()), 4),
        "min_self_score": round(float(own.min()), 4),
    }
    from photocomic.tools.photos.precision import rule_passes

    measured = {**figures, "p10_fp32": figures["p10_torch_fp32"], "p10_bf16": figures["p10"]}
    figures["rule_passes"] = rule_passes(measured)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--photos", type=Path, default=PHOTOS)
    parser.add_argument("--no-phone", action="store_true", help="skip the 12 MP copies")
    parser.add_argument("--runs", type=int, default=5, help="runs of each rate (medians kept)")
    parser.add_argument("--onnx", action="store_true", help="also measure ONNX Runtime")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    os.environ.setdefault("TQDM_DISABLE", "1")
    sys.path.insert(0, str(REPO))
    from photocomic.tools.photos.embedder import Embedder

    embedder = Embedder()
    results: dict[str, Any] = {"precision": embedder.precision, "cpus": cpus()}
    results["cpu"] = cpu_model()
    results["photos_1k"] = limits_for(args.photos, embedder, "photos-1k", args.runs)
    results["forward_pass"] = embedder.forward_name  # chosen by speed_up on this CPU
    print(json.dumps(results, indent=1), flush=True)
    if not args.no_phone:
        from run import phone_photos  # the 12 MP copies bench/run.py makes, once

        phone = phone_photos(args.photos, WORK)
        results["phone_12mp"] = limits_for(phone, embedder, "photos-1k at 12 MP", args.runs)
        print(json.dumps(results["phone_12mp"], indent=1), flush=True)
    if args.onnx:
        paths = sorted(p for p in args.photos.iterdir())[:256]
        _, prepared = decode_only(paths, embedder)
        results["torch_model_only_per_s_same_tensors"] = round(model_only(embedder, prepared), 1)
        results |= onnx_figures(embedder, prepared)
        print(json.dumps(results, indent=1), flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
