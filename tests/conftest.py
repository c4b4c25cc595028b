"""Shared fixtures: real JPEG files made with Pillow, and an isolated data folder per test."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

REPO = Path(__file__).resolve().parent.parent
# huggingface_hub reads this once, when it is first imported (a test module may import timm
# while being collected): set per test, it came too late and each download was retried.
os.environ["HF_HUB_OFFLINE"] = "1"


def scene(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A distinct photo-like picture: a gradient sky, ground, and a few blurred shapes."""
    rng = np.random.default_rng(seed)
    width, height = size
    top, bottom = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    ramp = np.linspace(0.0, 1.0, height)[:, None, None]
    pixels = (top * (1 - ramp) + bottom * ramp).repeat(width, axis=1)
    pixels += rng.normal(0, 6, pixels.shape)
    img = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(3, 8))):
        x0, y0 = int(rng.integers(0, width - 40)), int(rng.integers(0, height - 40))
        x1 = x0 + int(rng.integers(30, width // 2))
        y1 = y0 + int(rng.integers(30, height // 2))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        else:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
    return img.filter(ImageFilter.GaussianBlur(1.2))


def write_photos(
    folder: Path,
    count: int,
    start: int = 0,
    prefix: str = "photo",
    size: tuple[int, int] = (640, 480),
) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(start, start + count):
        path = folder / f"{prefix}_{n:04d}.jpg"
        scene(n, size).save(path, "JPEG", quality=90)
        paths.append(path)
    return paths


ENGINE_IDLE = "20"  # seconds an engine a test started stays up after its last call


def stop_engine(data_dir: Path) -> None:
    """Ask the engine of ``data_dir`` (if one runs) to leave, as `photocomic engine --stop`."""
    from photocomic.tools.owner.client import socket_path

    if socket_path(data_dir).exists():
        subprocess.run(
            [sys.executable, "-m", "photocomic.server.cli", "engine", "--stop",
             "--data-dir", str(data_dir)],
            capture_output=True, timeout=60, check=False,
        )  # fmt: skip


HOSTILE = "pc-hostile"  # a second local user, for the tests that play another user


@pytest.fixture(scope="module")
def hostile_user() -> str | None:
    """A second, unprivileged local user (only root can make one; None otherwise)."""
    if os.getuid() != 0:
        return None
    try:
        pwd.getpwnam(HOSTILE)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/bin/false",
                        HOSTILE], check=True, capture_output=True)  # fmt: skip
    return HOSTILE


@pytest.fixture
def spy() -> Iterator[Path]:
    """A folder the other user can reach (pytest's own are this user's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="pc-spy-"))
    os.chmod(folder, 0o777)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own data folder (and folder of compiled models) and no inherited
    photocomic or OpenAI settings; an engine the test started for that folder is stopped
    afterwards."""
    for name in list(os.environ):
        if name.startswith(("PHOTOCOMIC_", "OPENAI_")):
            monkeypatch.delenv(name, raising=False)
    data = tmp_path / "data"
    monkeypatch.setenv("PHOTOCOMIC_DATA_DIR", str(data))
    monkeypatch.setenv("PHOTOCOMIC_COMPILED_DIR", str(tmp_path / "compiled"))
    monkeypatch.setenv("PHOTOCOMIC_ENGINE_IDLE", ENGINE_IDLE)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    yield data
    stop_engine(data)


@pytest.fixture
def photo_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    write_photos(folder, 12)
    write_photos(folder / "trip", 6, start=100)
    return folder


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """The real ``photocomic`` command in a child process, as a user would run it. One that
    runs out of time fails with the stacks of its library's engine."""
    environment = {**os.environ, **(env or {})}
    try:
        return subprocess.run(
            [sys.executable, "-m", "photocomic.server.cli", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=environment,
        )
    except subprocess.TimeoutExpired:
        data = Path(environment.get("PHOTOCOMIC_DATA_DIR", ""))
        raise AssertionError(f"photocomic {' '.join(args)} ran out of time; its engine:\n"
                             f"{engine_stacks(data)}") from None  # fmt: skip


def engine_stacks(data_dir: Path) -> str:
    """The end of the engine's log after asking it for every thread's stack (SIGUSR1)."""
    try:
        pid = int((data_dir / "engine.lock").read_text().split()[-1])
        os.kill(pid, signal.SIGUSR1)
        time.sleep(1.0)
        return (data_dir / "engine.log").read_text(errors="replace")[-12_000:]
    except (OSError, ValueError, IndexError) as exc:
        return f"(no engine to ask: {exc})"


@pytest.fixture(scope="session")
def lite0() -> Iterator[object]:
    """The default embedder, loaded once for the whole run."""
    from photocomic.tools.photos.embedder import Embedder

    yield Embedder()
