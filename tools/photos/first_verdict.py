"""The first comparison of forward passes on a CPU, made in a child process.

An engine that finds no verdict kept for its model would load the model in PyTorch, convert
and time it, and then run OpenVINO where OpenVINO wins, with PyTorch still in the process for
as long as the engine lives: on an AMD EPYC it held 1.41 GB after indexing 1,000 photos,
against 0.51 GB for an engine that loaded the kept OpenVINO model (bench/RESULTS.md, "Memory
at 100,000 photos"). Made in a child, the comparison leaves the verdict and the converted model
in the folder of compiled models, and the engine loads the winner alone.

    python -m photocomic.tools.photos.first_verdict '{"model": ..., "compiled_dir": ...}'
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time

from photocomic.tools.config import Settings

log = logging.getLogger(__name__)

# What the child needs to build the same model and keep its verdict where the engine looks.
MODEL_FIELDS = {"model", "weights", "device", "precision", "compiled_dir", "forward"}
CHILD_SECONDS = 300  # converting and timing take about 10 s; a child stuck longer is ended


def measure_in_child(settings: Settings) -> bool:
    """Run the comparison for ``settings``' model in a child process; whether it finished (a
    verdict is then kept, unless one of the two forward passes could not be built)."""
    started = time.monotonic()
    command = [sys.executable, "-m", __name__, settings.model_dump_json(include=MODEL_FIELDS)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=CHILD_SECONDS)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.info("the forward passes were not compared in a child process (%s)", exc)
        return False
    if done.returncode != 0:
        log.info("comparing the forward passes failed: %s", done.stderr.strip()[-400:])
        return False
    log.info("forward passes compared in a child process in %.1f s", time.monotonic() - started)
    return True


def main(argv: list[str]) -> int:
    """Build the PyTorch model of the settings given and compile it as for a long run, which
    keeps the faster forward pass and the verdict in the folder of compiled models."""
    from photocomic.tools.photos.embedder import Embedder

    Embedder.from_settings(Settings.model_validate_json(argv[0])).speed_up()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
