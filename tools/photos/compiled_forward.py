"""The model's forward pass compiled for this CPU, for long runs in fp32: OpenVINO where it is
installed and measures faster here, else TorchScript (traced and frozen).

On a CPU without native bf16 the model is the bottleneck of indexing ordinary photos. On an AMD
EPYC with AVX2, one worker embedding 4 photos took 53 ms with OpenVINO (uint8 pixels in, the
preparation inside its graph) against 71 ms with the frozen TorchScript, with the same
embeddings (lowest cosine 0.9999999). Which one is faster depends on the CPU, so both are built
and timed once, on the spot, from uint8 pixels to raw outputs as the indexer calls them, and
the faster kept (``kept_models``): an engine then loads a kept OpenVINO model without PyTorch.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from photocomic.tools.photos.cpu import available_cpus
from photocomic.tools.photos.embedding import ModelFacts, PixelForward
from photocomic.tools.photos.kept_models import forget, kept_verdict, write_verdict
from photocomic.tools.photos.openvino_model import (
    OpenVinoRunner,
    keep_telemetry_out,
    openvino_usable,
    save_converted,
)

log = logging.getLogger(__name__)

Forward = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
_TIMED_BATCH = 4  # the indexer's workers embed 4 photos at a time
_TIMED_RUNS = 5


def converted_openvino(module: torch.nn.Module, example: torch.Tensor, saved: Path | None) -> Any:
    """The module converted by OpenVINO (read back from ``saved`` when it is there: converting
    takes seconds, reading a quarter of one), written to ``saved`` when it was not."""
    if not keep_telemetry_out():
        raise RuntimeError("OpenVINO's telemetry was loaded by another part of this process")
    import openvino as ov

    if saved is not None and saved.is_file():
        return ov.Core().read_model(str(saved))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ov.convert_model(module, example_input=example.contiguous())
    model.reshape([-1, *example.shape[1:]])
    if saved is not None:
        save_converted(model, saved)
    return model


def torchscript(module: torch.nn.Module, example: torch.Tensor) -> Forward:
    """The module traced and frozen (batch norms folded into the convolutions)."""
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        traced = torch.jit.freeze(torch.jit.trace(module.eval(), example))
        traced(example)
    return traced  # type: ignore[no-any-return]


def seconds_per_batch(forward: PixelForward, size: int) -> float:
    """The best of a few timed calls on one thread, as an indexing worker makes them."""
    batch = np.zeros((_TIMED_BATCH, size, size, 3), dtype=np.uint8)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
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
    facts: ModelFacts,
    glue: Callable[[Forward], PixelForward],
    kept: Path | None = None,
    openvino: bool = True,
) -> tuple[PixelForward, str]:
    """TorchScript (behind ``glue``, PyTorch's own preparation of the pixels), and OpenVINO
    where allowed and usable; the faster on this CPU from uint8 pixels to raw outputs, and its
    name. Any failure of one keeps the other; a failure of both raises. ``kept`` (see
    ``kept_models.kept_name``) keeps the converted model and the verdict, so the next run
    builds only the winner, or loads it without PyTorch at all."""
    example = example_input(facts.input_size)
    workers = available_cpus()
    verdict = kept_verdict(kept)
    wanted = openvino and openvino_usable()
    saved = kept.with_suffix(".xml") if kept is not None else None
    if verdict is not None and (verdict[0] == "torchscript" or not wanted):
        return glue(torchscript(module, example)), "torchscript"
    if verdict is not None:
        try:
            return OpenVinoRunner(converted_openvino(module, example, saved), facts, workers), (
                "openvino"
            )
        except Exception as exc:
            log.info("the kept OpenVINO model did not load (%s); converting again", exc)
            forget(kept)  # type: ignore[arg-type]
    made = _both(module, example, facts, glue, saved if wanted else None, wanted)
    timed: dict[str, float] = {}
    for candidate, forward in made.items():
        try:
            timed[candidate] = seconds_per_batch(forward, facts.input_size)
        except Exception as exc:  # built, but it cannot run this model: the other one can
            log.info("%s failed on its first call (%s)", candidate, exc)
    if not timed:
        raise RuntimeError("neither TorchScript nor OpenVINO could run the model")
    name = min(timed, key=timed.__getitem__)
    said = ", ".join(f"{n} {s * 1000:.1f} ms per {_TIMED_BATCH}" for n, s in timed.items())
    log.info("forward pass: %s (%s)", name, said)
    if kept is not None and len(timed) == 2:  # a verdict only from a real comparison
        write_verdict(kept, name, said, facts)
    return made[name], name


def _both(
    module: torch.nn.Module,
    example: torch.Tensor,
    facts: ModelFacts,
    glue: Callable[[Forward], PixelForward],
    saved: Path | None,
    openvino: bool,
) -> dict[str, PixelForward]:
    made: dict[str, PixelForward] = {}
    try:
        made["torchscript"] = glue(torchscript(module, example))
    except Exception as exc:  # an unusual model: the eager one is just as right
        log.info("no TorchScript for this model (%s)", exc)
    if openvino:
        try:
            converted = converted_openvino(module, example, saved)
            made["openvino"] = OpenVinoRunner(converted, facts, available_cpus())
        except Exception as exc:
            log.info("no OpenVINO for this model (%s)", exc)
    if not made:
        raise RuntimeError("neither TorchScript nor OpenVINO could compile the model")
    return made


def example_input(size: int) -> torch.Tensor:
    return torch.zeros(1, 3, size, size).contiguous(memory_format=torch.channels_last)
