"""A converted model run by OpenVINO on the CPU, without PyTorch: read from the folder of
compiled models, with the photo's preparation (uint8 to float, mean and std, channel order)
inside the graph.

Feeding uint8 pixels straight to OpenVINO ran EfficientNet-Lite0 at 161 photos/s on 2 AVX2
cores, against 117/s when PyTorch first normalised and reordered them (bench/limits.py), and
an engine that finds the converted model kept loads it in 0.4 s instead of 4.3 s of importing
PyTorch and timm.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
from photocomic.tools.photos.embedding import ModelFacts, PhotoEmbedder, PixelForward
from photocomic.tools.photos.precision import Decision


def keep_telemetry_out() -> bool:
    """OpenVINO's converter sends usage events to Google Analytics, and writes a client id in
    the home folder, unless a consent file there says no. photocomic sends nothing anywhere and
    writes only in its own folders, so the telemetry package is made unimportable in this
    process before OpenVINO loads: OpenVINO then uses the no-op stub it ships for installations
    without it. False when another part of the process loaded it first."""
    sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]
    return sys.modules["openvino_telemetry"] is None


def openvino_usable() -> bool:
    """OpenVINO can be tried: it is installed and its telemetry could be kept out."""
    if not keep_telemetry_out():
        return False
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def save_converted(model: Any, saved: Path) -> None:
    """Write a converted model under a name of its own, then put it in place (weights first,
    then the description a reader looks for), so another process never reads half of it."""
    import openvino as ov

    saved.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    part = saved.with_name(f".{saved.stem}-{os.getpid()}-{threading.get_ident()}.xml")
    ov.save_model(model, str(part), compress_to_fp16=False)
    os.replace(part.with_suffix(".bin"), saved.with_suffix(".bin"))
    os.replace(part, saved)


class OpenVinoRunner:
    """The model compiled for the CPU in fp32, one stream per core, so that each indexing
    worker's call runs on a core of its own; each calling thread has its own request."""

    def __init__(self, model: Path | Any, facts: ModelFacts, streams: int) -> None:
        """``model``: a converted model, or the file it was saved to."""
        if not keep_telemetry_out():
            raise RuntimeError("OpenVINO's telemetry was loaded by another part of this process")
        import openvino as ov
        from openvino.preprocess import PrePostProcessor

        core = ov.Core()
        if isinstance(model, Path):
            model = core.read_model(str(model))
        steps = PrePostProcessor(model)  # changes ``model`` itself: a converted one is not kept
        steps.input().tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC"))
        steps.input().preprocess().convert_element_type(ov.Type.f32).mean(
            [m * 255 for m in facts.mean]
        ).scale([s * 255 for s in facts.std])
        steps.input().model().set_layout(ov.Layout("NCHW"))
        self.compiled = core.compile_model(steps.build(), "CPU", {
            "INFERENCE_PRECISION_HINT": "f32",  # its default is bf16 on CPUs that have it
            "NUM_STREAMS": str(streams),
            "INFERENCE_NUM_THREADS": str(streams),
            "PERFORMANCE_HINT": "THROUGHPUT",
        })  # fmt: skip
        self._local = threading.local()
        # One call now, in one thread: two indexing workers making the process's first call
        # at once deadlocked in the bindings' one-time set-up of their numpy bridge (each
        # waiting for the other and the GIL), and the index run waited for ever.
        self(np.zeros((1, facts.input_size, facts.input_size, 3), dtype=np.uint8))

    def __call__(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        request.infer({0: np.ascontiguousarray(pixels)})
        features, logits = (request.get_output_tensor(i).data.copy() for i in (0, 1))
        return features, logits


class OpenVinoEmbedder(PhotoEmbedder):
    """A kept converted model with its facts: what an engine loads when this CPU's verdict
    is OpenVINO, with no PyTorch in the process."""

    forward_name = "openvino"

    def __init__(
        self, name: str, saved: Path, facts: ModelFacts, decision: Decision, streams: int
    ) -> None:
        self.name, self.facts, self.decision = name, facts, decision
        self._runner = OpenVinoRunner(saved, facts, streams)

    def _pixel_forward(self) -> PixelForward:
        return self._runner
