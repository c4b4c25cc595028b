"""``photocomic comic``: draw (or dry-run) a comic through the library's owner, with progress."""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path

from photocomic.tools.comics.contract import ComicRecord, DryRunResult, Region
from photocomic.tools.errors import InvalidInput
from photocomic.tools.owner.client import Door, job_error
from photocomic.tools.owner.contract import GenerateComic, JobSnapshot

from .cli_common import follow, photo_items


def run_comic(args: argparse.Namespace, door: Door) -> int:
    request = GenerateComic(
        prompt=args.prompt, photos=photo_items(args.photo or []), subject=args.subject,
        style=args.style,
        panels=args.panels, layout=args.layout, refine=args.refine, size=args.size,
        quality=args.quality, model=args.image_model, backend=args.backend, dry_run=args.dry_run,
        panel=args.panel, region=_region(args.region), variants=args.variants,
        markup_png=_markup(args.markup),
    )  # fmt: skip
    shown = {"last": ""}

    def show(job: JobSnapshot) -> None:
        if sys.stderr.isatty() and job.message != shown["last"]:
            print(f"\rphotocomic: {job.message}   ", end="", file=sys.stderr, flush=True)
            shown["last"] = job.message

    job = follow(door, door.call(request), show)
    if shown["last"]:
        print(file=sys.stderr)
    if job.state != "done" or job.record is None:
        raise job_error(job)
    result = job.record
    if args.json:
        json.dump(result.model_dump(mode="json"), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    elif isinstance(result, ComicRecord):
        parent = f" (refines {result.parent_id})" if result.parent_id else ""
        cost = f", about ${result.cost_usd:.3f}" if result.cost_usd is not None else ""
        print(
            f"comic {result.comic_id}{parent}: {result.path} ({result.model}, {result.size}{cost})"
        )
        others = [c for c in result.variants if c != result.comic_id]
        if others:
            print(f"  variants of the same request: {', '.join(others)} (photocomic comics)")
        for note in result.notes:
            print(f"  note: {note}", file=sys.stderr)
    else:
        _print_dry_run(result)
    return 0


def _region(text: str | None) -> Region | None:
    if text is None:
        return None
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 4 or not all(p.isdigit() for p in parts):
        raise InvalidInput(f"--region takes X,Y,W,H in the comic's pixels, not {text[:40]!r}")
    x, y, w, h = (int(p) for p in parts)
    return Region(x=x, y=y, w=w, h=h)


def _markup(path: str | None) -> str | None:
    if path is None:
        return None
    try:
        return base64.b64encode(Path(path).read_bytes()).decode()
    except OSError as exc:
        raise InvalidInput(f"cannot read --markup {path}: {exc.strerror}") from None


def _print_dry_run(result: DryRunResult) -> None:
    print("dry run: nothing was sent.")
    print(f"model {result.model}, size {result.size}, quality {result.quality}, {result.layout}")
    for image in result.images:
        print(f"  image {image.source} {image.width}x{image.height} {image.format}")
    if result.overlay is not None:
        print(f"  {result.overlay.source} {result.overlay.width}x{result.overlay.height} PNG")
    if result.drawings > 1:
        print(f"{result.drawings} variants")
    if result.estimated_cost_usd is not None:
        print(f"estimated cost: about ${result.estimated_cost_usd:.3f} (all variants)")
    print("prompt:\n" + result.prompt)
