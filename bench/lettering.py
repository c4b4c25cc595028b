"""What lettering and books cost: the time to letter a script on a drawing, to make a PDF and a
CBZ of comics, and their sizes, on real photos laid out by the offline storyboard.

    python bench/lettering.py --photos ../shared/datasets/photos-1k --comics 8
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

from photocomic.tools.comics.books import cbz_of, cover_page, pdf_of
from photocomic.tools.comics.contract import ComicRecord, ComicRequest
from photocomic.tools.comics.lettering import letter, panel_boxes
from photocomic.tools.comics.script_contract import ScriptPanel
from photocomic.tools.comics.studio import ComicStudio
from photocomic.tools.config import Settings
from photocomic.tools.contract import PhotoRef
from PIL import Image

SCRIPT = [
    {"lines": [{"kind": "caption", "text": "Saturday, 7 a.m."},
               {"who": "Cola", "text": "There you are, little mouse!"}]},
    {"lines": [{"kind": "sound", "text": "BOING"}]},
    {"lines": [{"who": "Max", "text": "Is that mine?", "kind": "thought"},
               {"who": "Cola", "text": "我的！这是我的老鼠。"}]},
    {"lines": [{"who": "Max", "text": "שלי!"}, {"kind": "caption", "text": "Конец."}]},
]  # fmt: skip


def cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--photos", type=Path, required=True)
    parser.add_argument("--comics", type=int, default=8)
    args = parser.parse_args()
    paths = sorted(args.photos.glob("*.JPEG"))[: args.comics * 2]
    script = [ScriptPanel.model_validate(p) for p in SCRIPT]
    with tempfile.TemporaryDirectory() as work:
        studio = ComicStudio(Settings(data_dir=Path(work)))
        records: list[ComicRecord] = []
        for n in range(args.comics):
            refs = [PhotoRef(path=str(p)) for p in paths[2 * n : 2 * n + 2]]
            request = ComicRequest(prompt="Cola and the mouse", backend="storyboard", script=SCRIPT)
            made = studio.generate(request, refs)
            assert isinstance(made, ComicRecord)
            records.append(made)
        with Image.open(str(records[0].art_path)) as opened:
            art = opened.convert("RGB")
        boxes = panel_boxes("storyboard", 4, "grid", art.size)
        letter(art, script, boxes)  # fonts loaded
        times = []
        for _ in range(20):
            started = time.perf_counter()
            letter(art, script, boxes)
            times.append(time.perf_counter() - started)
        cover = cover_page("Cola and the mouse", records[0])
        pages = [cover, *(r.path for r in records)]
        started = time.perf_counter()
        pdf = pdf_of(pages, "Cola and the mouse", "en")
        pdf_seconds = time.perf_counter() - started
        started = time.perf_counter()
        cbz = cbz_of(pages, "Cola and the mouse", "en", [r.comic_id for r in records])
        cbz_seconds = time.perf_counter() - started
    print(json.dumps({
        "cpu": cpu(), "drawing": f"{art.width}x{art.height}",
        "lines": sum(len(p.lines) for p in script),
        "letter_ms_median": round(statistics.median(times) * 1000, 1),
        "letter_ms_max": round(max(times) * 1000, 1),
        "book_pages": len(pages), "pdf_seconds": round(pdf_seconds, 2),
        "pdf_mb": round(len(pdf) / 1e6, 1), "cbz_seconds": round(cbz_seconds, 2),
        "cbz_mb": round(len(cbz) / 1e6, 1),
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
