"""``photocomic comic``: draw (or dry-run) a comic through the library's owner, with progress."""

from __future__ import annotations

import argparse
import json
import os
import sys

from photocomic.tools.requests import ComicRequest
from photocomic.tools.results import ComicRecord, DryRunResult, JobSnapshot

from .engine_client import Door, job_error


def photo_items(items: list[str]) -> list[int | str]:
    """Photo ids stay numbers; paths become absolute (the engine runs elsewhere)."""
    return [int(i) if i.strip().isdigit() else os.path.abspath(i) for i in items]


def run_comic(args: argparse.Namespace, door: Door) -> int:
    from .cli import follow

    request = ComicRequest(
        prompt=args.prompt, photos=photo_items(args.photo or []), subject=args.subject,
        style=args.style,
        panels=args.panels, layout=args.layout, refine=args.refine, size=args.size,
        quality=args.quality, model=args.image_model, backend=args.backend, dry_run=args.dry_run,
    )  # fmt: skip
    shown = {"last": ""}

    def show(job: JobSnapshot) -> None:
        if sys.stderr.isatty() and job.message != shown["last"]:
            print(f"\rphotocomic: {job.message}   ", end="", file=sys.stderr, flush=True)
            shown["last"] = job.message

    job = follow(door, door.call("comic", request, JobSnapshot), show)
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
        for note in result.notes:
            print(f"  note: {note}", file=sys.stderr)
    else:
        _print_dry_run(result)
    return 0


def _print_dry_run(result: DryRunResult) -> None:
    print("dry run: nothing was sent.")
    print(f"model {result.model}, size {result.size}, quality {result.quality}, {result.layout}")
    for image in result.images:
        print(f"  image {image.source} {image.width}x{image.height} {image.format}")
    print("prompt:\n" + result.prompt)
