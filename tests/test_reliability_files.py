"""Bad files indexed together with good ones, through the real ``photocomic index`` command.

Every good photo, however odd its format or name (CMYK, 16-bit, animated GIF, palette with
transparency, HEIC, a 255-byte name, a name that is not UTF-8, a folder named like a photo),
is indexed; every bad one (truncated, empty, text, decompression bomb, FIFO, socket,
unreadable, broken link, link loop, a file deleted between the scan and its decoding) is
reported in
``failed`` with a reason; the exit status is 3 and the summary says how many failed. Photos
indexed earlier keep their rows when they later turn bad.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pillow_heif
import pytest
from conftest import scene, write_photos
from PIL import Image
from reliability_support import WatchedRun, cli_command, run_json, store_contents

pillow_heif.register_heif_opener()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    body = kind + payload
    return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))


def raw_png(width: int, height: int, depth: int, colour: int, rows: bytes) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(rows))
        + png_chunk(b"IEND", b"")
    )


def write_good_files(folder: Path) -> list[Path]:
    """Unusual but valid photos; each must end up in the store."""
    folder.mkdir(parents=True, exist_ok=True)
    good: list[Path] = []

    cmyk = folder / "cmyk.jpg"
    scene(11, (320, 240)).convert("CMYK").save(cmyk, "JPEG", quality=90)
    good.append(cmyk)

    grey16 = folder / "grey16.png"
    ramp = np.linspace(0, 65535, 320 * 240, dtype=np.uint16).reshape(240, 320)
    Image.fromarray(ramp).save(grey16, "PNG")  # mode I;16
    good.append(grey16)

    rgb48 = folder / "rgb48.png"  # 16 bits per channel RGB, which Pillow cannot write itself
    pixels = (np.asarray(scene(12, (160, 120)), dtype=np.uint16) * 257).astype(">u2")
    rows = b"".join(b"\x00" + pixels[y].tobytes() for y in range(pixels.shape[0]))
    rgb48.write_bytes(raw_png(160, 120, 16, 2, rows))
    good.append(rgb48)

    gif = folder / "animated.gif"
    frames = [scene(20 + n, (160, 120)).convert("P") for n in range(4)]
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=80, loop=0)
    good.append(gif)

    palette = folder / "palette_alpha.png"
    picture = scene(13, (200, 150)).convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    picture.info["transparency"] = 0
    picture.save(palette, "PNG", transparency=0)
    good.append(palette)

    heic = folder / "phone.heic"
    scene(14, (320, 240)).save(heic, "HEIF", quality=80)
    good.append(heic)

    long_name = folder / ("long_" + "é" * 123 + ".jpg")  # 255 bytes in UTF-8
    assert len(long_name.name.encode()) == 255
    scene(15, (240, 180)).save(long_name, "JPEG")
    good.append(long_name)

    album = folder / "album.jpg"  # a folder named like a photo: walked into, not decoded
    album.mkdir()
    inside = album / "inside.jpg"
    scene(16, (240, 180)).save(inside, "JPEG")
    good.append(inside)

    good += write_photos(folder / "plain", 6, start=300)
    return good


# Root reads any file whatever its mode. To test the real chmod case as root, the child first
# drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from its capability bounding set
# (prctl PR_CAPBSET_DROP) and then execs the command: it stays root, but mode 000 now applies.
WITHOUT_DAC_OVERRIDE = (
    "import ctypes, os, sys\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "for cap in (1, 2):\n"
    "    if libc.prctl(24, cap, 0, 0, 0) != 0:\n"
    "        sys.exit(97)\n"
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])\n"
)


def unreadable_command(*args: str) -> list[str]:
    """The CLI, run so that a chmod 000 file really cannot be read (root or not)."""
    if os.geteuid() != 0:
        return cli_command(*args)
    return [sys.executable, "-c", WITHOUT_DAC_OVERRIDE, *cli_command(*args)[1:]]


@pytest.fixture
def socket_file(tmp_path: Path) -> Iterator[Path]:
    """A UNIX socket named like a photo (opening it for reading fails with ENXIO)."""
    holder = Path(tempfile.mkdtemp(prefix="pc-sock-"))
    path = holder / "sock.jpg"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    yield path
    server.close()
    shutil.rmtree(holder, ignore_errors=True)


def test_bad_files_are_reported_good_ones_indexed_and_earlier_rows_kept(
    tmp_path: Path, isolated_env: Path, socket_file: Path
) -> None:
    library = tmp_path / "library"
    good = write_good_files(library)
    earlier = write_photos(library / "earlier", 3, start=400, prefix="earlier")

    status, first, err = run_json("index", str(library))
    assert status == 0, err
    assert isinstance(first, dict)
    assert first["failed"] == []
    assert first["added"] == len(good) + len(earlier)

    # Photos indexed in the first run go bad: their rows must not be lost.
    data = earlier[0].read_bytes()
    earlier[0].write_bytes(data[: len(data) // 3])  # truncated by a bad copy
    earlier[1].unlink()
    earlier[1].symlink_to(library / "gone" / "earlier_0401.jpg")  # dangling now

    # New bad files next to new good ones.
    bad: dict[str, str] = {}  # file name -> words its reason must contain
    photo = (library / "plain" / "photo_0300.jpg").read_bytes()
    (library / "truncated.jpg").write_bytes(photo[: len(photo) // 2])
    bad["truncated.jpg"] = "truncated"
    (library / "empty.jpg").write_bytes(b"")
    bad["empty.jpg"] = "empty file"
    (library / "notes.jpg").write_text("shopping list: eggs, milk\n" * 40)
    bad["notes.jpg"] = "not an image"
    (library / "huge.png").write_bytes(raw_png(40000, 40000, 8, 2, b"\x00" * 64))
    bad["huge.png"] = "too large"
    os.mkfifo(library / "pipe.jpg")
    bad["pipe.jpg"] = "not a regular file"
    (library / "sock.jpg").symlink_to(socket_file)
    bad["sock.jpg"] = "not a regular file"
    (library / "broken.jpg").symlink_to(library / "nowhere.jpg")
    bad["broken.jpg"] = "broken symbolic link"
    (library / "loop_a.jpg").symlink_to(library / "loop_b.jpg")
    (library / "loop_b.jpg").symlink_to(library / "loop_a.jpg")
    bad["loop_a.jpg"] = bad["loop_b.jpg"] = "symbolic link loop"
    (library / "again").symlink_to(library, target_is_directory=True)  # a folder loop
    latin1 = os.fsencode(library) + b"/caf\xe9.jpg"  # a Latin-1 name: indexed like any other
    with open(latin1, "wb") as handle:
        handle.write(photo)
    # Enough new photos sort before it that this one is still waiting to be decoded when the
    # run shows its first progress; it is deleted then, between the scan and its decoding.
    fresh = write_photos(library / "fresh", 48, start=500)
    vanishing = library / "zzzz_vanishes.jpg"
    vanishing.write_bytes(photo)
    bad["zzzz_vanishes.jpg"] = "not found"

    run = WatchedRun(
        ["index", str(library), "--json"], {**os.environ, "PHOTOCOMIC_BATCH_SIZE": "4"}
    )
    assert run.wait_for(lambda: run.progress is not None, timeout=300), run.text()[-3000:]
    vanishing.unlink()
    status = run.finish(timeout=300)
    assert status == 3, run.text()[-3000:]
    summary = run.summary()

    failed = summary["failed"]
    assert isinstance(failed, list)
    reasons = {os.path.basename(item["path"]): item["error"] for item in failed}
    for name, words in bad.items():
        assert name in reasons, f"{name} not reported; failed: {reasons}"
        assert words in reasons[name], f"{name}: {reasons[name]!r} does not say {words!r}"
    assert "truncated" in reasons[earlier[0].name]
    assert "broken symbolic link" in reasons[earlier[1].name]
    assert all(item["error"] for item in failed)
    expected_failures = set(bad) | {earlier[0].name, earlier[1].name}
    assert set(reasons) == expected_failures, set(reasons) ^ expected_failures
    assert summary["added"] == len(fresh) + 1  # and the photo whose name is not UTF-8
    assert summary["unchanged"] == len(good) + 1  # earlier[2] is untouched
    assert summary["removed"] == 0

    contents = store_contents(isolated_env)
    stored = set(contents.paths)
    assert len(stored) == len(contents.paths) == contents.count
    assert {str(p) for p in [*good, *fresh, *earlier]} <= stored
    assert os.fsdecode(latin1) in stored  # its path round-trips byte for byte
    assert not any("zzzz_vanishes" in p or "truncated.jpg" in p for p in stored)


def test_a_photo_that_cannot_be_read_for_permission_reasons_is_reported(
    tmp_path: Path,
) -> None:
    """chmod 000 next to good photos: reported as permission denied, the others indexed."""
    library = tmp_path / "library"
    good = write_photos(library, 3, start=700)
    locked = library / "locked.jpg"
    scene(710).save(locked, "JPEG")
    locked.chmod(0)
    try:
        done = subprocess.run(
            unreadable_command("index", str(library)),
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        locked.chmod(stat.S_IRUSR | stat.S_IWUSR)
    assert done.returncode == 3, done.stderr[-3000:]
    assert f"{len(good) + 1} files: {len(good)} added" in done.stdout
    assert "1 failed" in done.stdout
    assert f"failed: {locked}: permission denied" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_fifo_given_as_a_query_image_is_refused_not_waited_on(tmp_path: Path) -> None:
    """Decoding never blocks on a pipe: the search command answers at once with a reason."""
    fifo = tmp_path / "query.jpg"
    os.mkfifo(fifo)
    done = subprocess.run(
        [sys.executable, "-c", "from photocomic.tools.photos.images import open_photo; import sys;"
         "open_photo(sys.argv[1])", str(fifo)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert "not a regular file" in done.stderr
