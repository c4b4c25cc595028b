"""A small file must not cost gigabytes: decoding is judged by decoded bytes, high bit depths
are reduced a strip at a time, and large decodes take turns.

Measured in a child process (its peak resident memory, ``ru_maxrss``) on a 14000x14000 16-bit
greyscale PNG of zeros: 371 KB on disk, 392 MB decoded, 4.9 GB before this was fixed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

PEAK = r"""
import resource, sys, threading
from photocomic.tools.photos.images import open_photo
open_photo(sys.argv[1], min_side=224)  # imports and first use out of the way
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
data = open(sys.argv[2], "rb").read()
done = []
threads = [threading.Thread(target=lambda: done.append(open_photo(data, min_side=224)))
           for _ in range(int(sys.argv[3]))]
for t in threads: t.start()
for t in threads: t.join()
assert len(done) == len(threads) and min(done[0].image.size) >= 224
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) // 1024)
"""


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bomb")
    Image.new("RGB", (64, 64)).save(folder / "small.png")
    Image.new("I;16", (14000, 14000), 0).save(folder / "bomb.png")
    assert (folder / "bomb.png").stat().st_size < 1_000_000
    return {"small": folder / "small.png", "bomb": folder / "bomb.png"}


@pytest.mark.parametrize("at_once", [1, 2])
def test_a_16_bit_bomb_costs_a_few_hundred_megabytes(bomb: dict[str, Path], at_once: int) -> None:
    run = subprocess.run(
        [sys.executable, "-c", PEAK, str(bomb["small"]), str(bomb["bomb"]), str(at_once)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    grown_mb = int(run.stdout.strip())
    assert grown_mb < 1_000, f"{at_once} decodes at once grew the peak by {grown_mb} MB"


def test_a_picture_too_large_once_decoded_is_refused_before_decoding(tmp_path: Path) -> None:
    from photocomic.tools.errors import DecodeError
    from photocomic.tools.photos.images import open_photo

    path = tmp_path / "wide.tif"
    Image.new("RGBA", (14000, 14000)).save(path, compression="tiff_deflate")
    with pytest.raises(DecodeError, match="MB decoded"):
        open_photo(path)
