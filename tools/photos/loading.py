"""Which embedder a setting loads: the kept OpenVINO model when this CPU's verdict is OpenVINO
(no PyTorch in the process: 0.3 s instead of 4.3 s before the first photo is embedded), else
the timm model in PyTorch, which compiles itself for long runs. An engine with no verdict yet
has it made in a child process first (``first_verdict``), so that it never holds PyTorch where
OpenVINO wins."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from photocomic.tools.config import Settings
from photocomic.tools.photos.cpu import available_cpus, cpu_has_native_bf16, gpu_may_be_present
from photocomic.tools.photos.embedding import PhotoEmbedder
from photocomic.tools.photos.kept_models import kept_name, kept_verdict, weights_source
from photocomic.tools.photos.precision import Decision, decide

if TYPE_CHECKING:
    from photocomic.tools.photos.openvino_model import OpenVinoEmbedder

log = logging.getLogger(__name__)


def load_embedder(settings: Settings, verdict_apart: bool = False) -> PhotoEmbedder:
    """The kept OpenVINO model when this CPU's verdict is OpenVINO, else the PyTorch model
    (which compiles itself for long runs). ``verdict_apart`` (a long-lived engine): with no
    verdict kept where OpenVINO may win, compare the forward passes in a child process first."""
    found = _kept_openvino(settings)
    if found is None and verdict_apart and _verdict_missing(settings):
        from photocomic.tools.photos.first_verdict import measure_in_child

        if measure_in_child(settings):
            found = _kept_openvino(settings)
    if found is not None:
        return found
    from photocomic.tools.photos.embedder import Embedder

    return Embedder.from_settings(settings)


def _openvino_may_run(settings: Settings) -> tuple[Path, Decision] | None:
    """Where the PyTorch model would run fp32 on this CPU, so that OpenVINO may run it: where
    its kept compiled forms are named, and the precision decision."""
    if settings.forward != "auto" or settings.device not in ("auto", "cpu"):
        return None
    if settings.device == "auto" and gpu_may_be_present():
        return None
    decision = decide(settings.model, settings.precision, cpu_has_native_bf16())
    if decision.precision != "fp32":
        return None
    try:
        kept = kept_name(
            settings.compiled_dir, settings.model, weights_source(settings.model, settings.weights)
        )
    except ImportError:  # the packaged weights are missing: the PyTorch path says so
        return None
    return kept, decision


def _verdict_missing(settings: Settings) -> bool:
    from photocomic.tools.photos.openvino_model import openvino_usable

    found = _openvino_may_run(settings)
    return found is not None and kept_verdict(found[0]) is None and openvino_usable()


def _kept_openvino(settings: Settings) -> OpenVinoEmbedder | None:
    """Only where the PyTorch model would run fp32 on this CPU and choose OpenVINO too."""
    found = _openvino_may_run(settings)
    if found is None:
        return None
    kept, decision = found
    verdict = kept_verdict(kept)
    if verdict is None or verdict[0] != "openvino" or not kept.with_suffix(".xml").is_file():
        return None
    from photocomic.tools.photos.openvino_model import OpenVinoEmbedder, openvino_usable

    if not openvino_usable():
        return None
    try:
        return OpenVinoEmbedder(
            settings.model, kept.with_suffix(".xml"), verdict[1], decision, available_cpus()
        )
    except Exception as exc:  # a damaged file: the PyTorch path converts it again
        log.info("the kept OpenVINO model %s did not load (%s)", kept, exc)
        return None
