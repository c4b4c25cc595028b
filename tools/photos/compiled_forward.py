"""The model's forward pass compiled for this CPU, for long runs in fp32: OpenVINO where it is
installed and measures faster here, else TorchScript (traced and frozen).

On a CPU without native bf16 the model is the bottleneck of indexing ordinary photos, and
OpenVINO's CPU plugin ran EfficientNet-Lite0 about 1.25 times as fast as the frozen TorchScript
on an AMD EPYC with AVX2 (model only: 117 against 93 photos/s, bench/RESULTS.md), with the same
embeddings (lowest cosine 0.99999988). Which one is faster depends on the CPU, so both are built
and timed once, on the spot, and the faster kept.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import sys
import threading
import time
import warnings
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from photocomic.tools.photos.cpu import cpu_identity

log = logging.getLogger(__name__)

Forward = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
_TIMED_BATCH = 4  # the indexer's workers embed 4 photos at a time
_TIMED_RUNS = 5


class OpenVinoForward:
    """The module compiled by OpenVINO for the CPU in fp32, one stream per core, so that each
    indexing worker's call runs on a core of its own; each calling thread has its own request.
    ``saved`` is where the converted model is kept (converting takes seconds, reading it back
    a quarter of one)."""

    def __init__(
        self, module: torch.nn.Module, example: torch.Tensor, streams: int, saved: Path | None
    ) -> None:
        if not _keep_telemetry_out():
            raise RuntimeError("OpenVINO's telemetry was loaded by another part of this process")
        import openvino as ov

        if saved is not None and saved.is_file():
            model = ov.Core().read_model(str(saved))
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = ov.convert_model(module, example_input=example.contiguous())
            model.reshape([-1, *example.shape[1:]])
            if saved is not None:
                _save_openvino(ov, model, saved)
        self.compiled = ov.Core().compile_model(model, "CPU", {
            "INFERENCE_PRECISION_HINT": "f32",  # its default is bf16 on CPUs that have it
            "NUM_STREAMS": str(streams),
            "INFERENCE_NUM_THREADS": str(streams),
            "PERFORMANCE_HINT": "THROUGHPUT",
        })  # fmt: skip
        self._local = threading.local()

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        request.infer({0: x.contiguous().numpy()})
        features, logits = (request.get_output_tensor(i).data.copy() for i in (0, 1))
        return torch.from_numpy(features), torch.from_numpy(logits)


def torchscript(module: torch.nn.Module, example: torch.Tensor) -> Forward:
    """The module traced and frozen (batch norms folded into the convolutions)."""
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        traced = torch.jit.freeze(torch.jit.trace(module.eval(), example))
        traced(example)
    return traced  # type: ignore[no-any-return]


def _save_openvino(ov: Any, model: Any, saved: Path) -> None:
    """Write the converted model under a name of its own, then put it in place (weights first,
    then the description a reader looks for), so another process never reads half of it."""
    saved.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    part = saved.with_name(f".{saved.stem}-{os.getpid()}-{threading.get_ident()}.xml")
    ov.save_model(model, str(part), compress_to_fp16=False)
    os.replace(part.with_suffix(".bin"), saved.with_suffix(".bin"))
    os.replace(part, saved)


def _write_verdict(kept: Path, verdict: dict[str, str]) -> None:
    kept.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    part = kept.with_name(f".{kept.name}-{os.getpid()}-{threading.get_ident()}.json")
    part.write_text(json.dumps(verdict))
    os.replace(part, kept.with_suffix(".json"))


def openvino_usable() -> bool:
    """OpenVINO can be tried: it is installed and its telemetry could be kept out of this
    process (see :func:`_keep_telemetry_out`)."""
    if not _keep_telemetry_out():
        return False
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def _keep_telemetry_out() -> bool:
    """OpenVINO's converter sends usage events to Google Analytics, and writes a client id in
    the home folder, unless a consent file there says no. photocomic sends nothing anywhere and
    writes only in its own folders, so the telemetry package is made unimportable in this
    process before OpenVINO loads: OpenVINO then uses the no-op stub it ships for installations
    without it. False when another part of the process loaded it first."""
    sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]
    return sys.modules["openvino_telemetry"] is None


def seconds_per_batch(forward: Forward, example: torch.Tensor) -> float:
    """The best of a few timed calls on one thread, as an indexing worker makes them."""
    batch = example.expand(_TIMED_BATCH, -1, -1, -1).contiguous(memory_format=torch.channels_last)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            forward(batch)
            best = float("inf")
            for _ in range(_TIMED_RUNS):
                started = time.perf_counter()
                forward(batch)
                best = min(best, time.perf_counter() - started)
    finally:
        torch.set_num_threads(before)
    return best


def fastest_forward(
    module: torch.nn.Module,
    example: torch.Tensor,
    workers: int,
    kept: Path | None = None,
    openvino: bool = True,
) -> tuple[Forward, str]:
    """TorchScript, and OpenVINO where allowed (``openvino``) and usable; the faster on this
    CPU, and its name. Any failure of one keeps the other; a failure of both raises. ``kept``
    (a file name without suffix, unique to the model, its weights, the libraries and the CPU)
    keeps the converted model and the verdict, so the next run builds only the winner."""
    verdict = _kept_verdict(kept)
    wanted = openvino and openvino_usable()
    if verdict == "torchscript" or (verdict == "openvino" and not wanted):
        return torchscript(module, example), "torchscript"
    saved = kept.with_suffix(".xml") if kept is not None else None
    if verdict == "openvino":
        try:
            return OpenVinoForward(module, example, workers, saved), "openvino"
        except Exception as exc:
            log.info("the kept OpenVINO model did not load (%s); converting again", exc)
            for suffix in (".xml", ".bin", ".json"):
                kept.with_suffix(suffix).unlink(missing_ok=True)  # type: ignore[union-attr]
    made: dict[str, Forward] = {}
    try:
        made["torchscript"] = torchscript(module, example)
    except Exception as exc:  # an unusual model: the eager one is just as right
        log.info("no TorchScript for this model (%s)", exc)
    if wanted:
        try:
            made["openvino"] = OpenVinoForward(module, example, workers, saved)
        except Exception as exc:
            log.info("no OpenVINO for this model (%s)", exc)
    if not made:
        raise RuntimeError("neither TorchScript nor OpenVINO could compile the model")
    timed: dict[str, float] = {}
    for candidate, forward in made.items():
        try:
            timed[candidate] = seconds_per_batch(forward, example)
        except Exception as exc:  # built, but it cannot run this model: the other one can
            log.info("%s failed on its first call (%s)", candidate, exc)
    if not timed:
        raise RuntimeError("neither TorchScript nor OpenVINO could run the model")
    name = min(timed, key=timed.__getitem__)
    said = ", ".join(f"{n} {s * 1000:.1f} ms per {_TIMED_BATCH}" for n, s in timed.items())
    log.info("forward pass: %s (%s)", name, said)
    if kept is not None and len(timed) == 2:  # a verdict only from a real comparison
        _write_verdict(kept, {"faster": name, "ms": said})
    return made[name], name


def _kept_verdict(kept: Path | None) -> str | None:
    try:
        return str(json.loads(kept.with_suffix(".json").read_text())["faster"]) if kept else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def kept_name(folder: Path, model: str, weights: str, input_size: int) -> Path:
    """Where the compiled forms of this model are kept: one name per model, weights file (its
    size and time), input size, the versions of torch and OpenVINO and the CPU (the folder is
    the user's, and a home folder may be shared by machines whose verdicts differ)."""
    try:  # from its metadata: importing it here would let its telemetry in
        ov_version = metadata.version("openvino")
    except metadata.PackageNotFoundError:
        ov_version = "none"
    try:
        info = os.stat(weights)
        stamp = f"{info.st_size}:{info.st_mtime_ns}"
    except OSError:
        stamp = "-"
    key = "|".join(
        (model, weights, stamp, str(input_size), torch.__version__, ov_version, cpu_identity())
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    # no dots: timm names such as "resnet50.a1_in1k" would lose the digest to with_suffix
    return folder / f"{re.sub(r'[^A-Za-z0-9_-]', '_', model)}-{digest}"


def example_input(size: int, device: torch.device) -> torch.Tensor:
    return torch.zeros(1, 3, size, size, device=device).contiguous(
        memory_format=torch.channels_last
    )
