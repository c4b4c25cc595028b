"""How close indexing runs to what this machine allows, and whether ONNX Runtime would help.

For the default model on photos-1k (and on the same photos at 12 MP, when the cache of
bench/run.py has them), on this machine, measured in one process:

- model-only: the forward pass on ready tensors, laid out as the indexer does on a CPU (one
  worker per core, one torch thread each, batches of 4);
- decode-only: opening, decoding (JPEG draft) and resizing the photos, one worker per core;
- pipeline: photocomic's indexer on the same photos into a fresh Milvus Lite store (the model
  already loaded), and its share of min(model-only, decode-only);
- ONNX Runtime, fp32 and int8 (static quantisation, per channel), model-only on the same
  tensors, and whether their embeddings keep the retrieval rule of tools/precision.py on
  Imagenette (precision@10 within 0.005 of torch fp32, every photo finds itself first with a
  score of at least 0.99).

    python bench/limits.py [--photos DIR] [--onnx] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
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
PHONE = Path(tempfile.gettempdir()) / "photocomic-bench" / "phone-photos"
WORK = Path(tempfile.gettempdir()) / "photocomic-bench-limits"


def cpus() -> int:
    return max(1, len(os.sched_getaffinity(0)))


def decode_only(paths: list[Path], embedder: Any) -> tuple[float, list[np.ndarray]]:
    from photocomic.tools.photos.images import open_photo

    def work(path: Path) -> np.ndarray:
        return embedder.prepare(open_photo(path, min_side=embedder.decode_side).image)

    started = time.perf_counter()
    with ThreadPoolExecutor(cpus()) as pool:
        prepared = list(pool.map(work, paths))
    return len(paths) / (time.perf_counter() - started), prepared


def model_only(embedder: Any, prepared: list[np.ndarray], batch: int = 4) -> float:
    groups = [prepared[i : i + batch] for i in range(0, len(prepared), batch)]
    with embedder.worker_threads() as init, ThreadPoolExecutor(cpus(), initializer=init) as pool:
        list(pool.map(embedder.embed, groups[:4]))  # warm
        started = time.perf_counter()
        list(pool.map(embedder.embed, groups))
    return len(prepared) / (time.perf_counter() - started)


def pipeline(paths_folder: Path, embedder: Any, count: int) -> float:
    import shutil

    from photocomic.tools.config import Settings
    from photocomic.tools.photos.indexer import Indexer
    from photocomic.tools.store.photo_store import PhotoStore

    data = WORK / "pipeline-data"
    shutil.rmtree(data, ignore_errors=True)
    with PhotoStore(Settings(data_dir=data)) as store:
        indexer = Indexer(store, lambda: embedder, embedder.name)
        started = time.perf_counter()
        summary = indexer.index([paths_folder])
        seconds = time.perf_counter() - started
    shutil.rmtree(data, ignore_errors=True)
    return summary.added / seconds


def limits_for(folder: Path, embedder: Any, name: str) -> dict[str, Any]:
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))
    decode_rate, prepared = decode_only(paths, embedder)
    embedder.speed_up()  # the pipeline traces the model for long runs; so does this
    model_rate = model_only(embedder, prepared)
    pipe_rate = pipeline(folder, embedder, len(paths))
    limit = min(model_rate, decode_rate)
    return {
        "photos": len(paths),
        "model_only_per_s": round(model_rate, 1),
        "decode_only_per_s": round(decode_rate, 1),
        "pipeline_per_s": round(pipe_rate, 1),
        "share_of_limit": round(pipe_rate / limit, 3),
        "bound_by": "model" if model_rate < decode_rate else "decode",
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
    parser.add_argument("--phone", type=Path, default=PHONE)
    parser.add_argument("--onnx", action="store_true", help="also measure ONNX Runtime")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    os.environ.setdefault("TQDM_DISABLE", "1")
    sys.path.insert(0, str(REPO))
    from photocomic.tools.photos.embedder import Embedder

    embedder = Embedder()
    results: dict[str, Any] = {"precision": embedder.precision, "cpus": cpus()}
    results["photos_1k"] = limits_for(args.photos, embedder, "photos-1k")
    print(json.dumps(results, indent=1), flush=True)
    if args.phone.is_dir():
        results["phone_12mp"] = limits_for(args.phone, embedder, "photos-1k at 12 MP")
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
