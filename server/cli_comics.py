"""``photocomic comic``: draw (or dry-run) a comic through the library's owner, with progress."""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import sys
from pathlib import Path
from typing import get_args

from photocomic.tools.comics.book_contract import BookFormat, BookRequest
from photocomic.tools.comics.comic_store import as_tree
from photocomic.tools.comics.contract import ComicRecord, ComicsRequest, DryRunResult, Region
from photocomic.tools.errors import InvalidInput
from photocomic.tools.owner.client import Door, job_error
from photocomic.tools.owner.contract import GenerateComic, JobSnapshot, LetterComic

from .cli_common import (
    EXIT_OK,
    command,
    door_of,
    follow,
    json_flag,
    option,
    photo_items,
    print_json,
    shown,
    store_flags,
)


def _comic_arguments(p: argparse.ArgumentParser) -> None:
    option(p, "--prompt", GenerateComic, "prompt")
    p.add_argument("--photo", action="append", help="photo id or image path (repeatable)")
    p.add_argument(
        "--subject", action="append",
        help="a remembered subject: its sheet and best photos are the references (repeatable)",
    )  # fmt: skip
    option(p, "--style", GenerateComic, "style")
    option(p, "--panels", GenerateComic, "panels")
    option(p, "--layout", GenerateComic, "layout")
    option(p, "--refine", GenerateComic, "refine", metavar="COMIC_ID")
    option(p, "--panel", GenerateComic, "panel", type=int)
    p.add_argument(
        "--region", metavar="X,Y,W,H", help="with --refine: redraw only this box (comic pixels)"
    )
    p.add_argument(
        "--markup", metavar="PNG", help="with --refine: strokes on a transparent PNG over the comic"
    )
    option(p, "--script", GenerateComic, "script", metavar="FILE", type=read_script)
    option(p, "--animate", GenerateComic, "animate")
    option(p, "--frames", GenerateComic, "frames")
    option(p, "--frame-ms", GenerateComic, "frame_ms")
    option(p, "--variants", GenerateComic, "variants")
    option(p, "--size", GenerateComic, "size")
    option(p, "--quality", GenerateComic, "quality")
    option(p, "--model", GenerateComic, "model")
    option(p, "--backend", GenerateComic, "backend")
    option(p, "--dry-run", GenerateComic, "dry_run")
    store_flags(p)
    json_flag(p, "the comic record")


def _comics_arguments(p: argparse.ArgumentParser) -> None:
    option(p, "--limit", ComicsRequest, "limit", default=None, help="only the newest this many")
    store_flags(p)
    json_flag(p)


@command(
    "comic", "draw a comic from photos (OpenAI image model, or offline storyboard)",
    _comic_arguments,
)  # fmt: skip
def cmd_comic(args: argparse.Namespace) -> int:
    door = door_of(args)
    request = GenerateComic(
        prompt=args.prompt, photos=photo_items(args.photo or []), subjects=args.subject or [],
        style=args.style,
        panels=args.panels, layout=args.layout, refine=args.refine, size=args.size,
        quality=args.quality, model=args.model, backend=args.backend, dry_run=args.dry_run,
        panel=args.panel, region=_region(args.region), variants=args.variants,
        markup_png=_markup(args.markup), script=args.script, animate=args.animate,
        frames=args.frames, frame_ms=args.frame_ms,
    )  # fmt: skip
    return show_comic(args, door, door.call(request))


def read_script(path: str) -> list[object]:
    """A script file: JSON, a list with one entry per panel (the README shows one)."""
    try:
        loaded = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(f"cannot read --script {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"--script {path} is not JSON text: {exc}") from None
    if not isinstance(loaded, list):
        raise InvalidInput(
            f"--script {path} must hold a list with one entry per panel: "
            '[{"scene": "...", "lines": [{"who": "Cola", "text": "Mine!", "kind": "speech"}]}]'
        )
    return loaded


def _letter_arguments(p: argparse.ArgumentParser) -> None:
    option(p, "comic_id", LetterComic, "comic_id")
    option(p, "--script", LetterComic, "script", metavar="FILE", type=read_script)
    store_flags(p)
    json_flag(p, "the new comic record")


@command(
    "letter", "letter a comic's drawing again with other lines (no drawing, no cost)",
    _letter_arguments,
)  # fmt: skip
def cmd_letter(args: argparse.Namespace) -> int:
    door = door_of(args)
    job = door.call(LetterComic(comic_id=args.comic_id, script=args.script))
    return show_comic(args, door, job)


def _book_arguments(p: argparse.ArgumentParser) -> None:
    option(p, "comic_ids", BookRequest, "comic_ids", nargs="+", metavar="COMIC_ID")
    option(p, "--title", BookRequest, "title")
    p.add_argument("--out", required=True, metavar="FILE.pdf|FILE.cbz",
                   help="where to write the book; its ending chooses PDF or CBZ")  # fmt: skip
    option(p, "--language", BookRequest, "language")
    store_flags(p)
    json_flag(p, "the book")


@command("book", "collect comics into a PDF or CBZ book", _book_arguments)
def cmd_book(args: argparse.Namespace) -> int:
    out = Path(args.out).expanduser()
    ending = out.suffix.lower().lstrip(".")
    if ending not in get_args(BookFormat):
        raise InvalidInput(f"--out {args.out} must end in .pdf or .cbz: the ending is the format")
    if out.exists():
        raise InvalidInput(f"--out {args.out} exists: choose another file or remove it first")
    book = door_of(args).call(
        BookRequest(comic_ids=args.comic_ids, title=args.title, format=ending,
                    language=args.language)
    )  # fmt: skip
    try:
        shutil.copyfile(book.path, out)
    except OSError as exc:
        raise InvalidInput(
            f"cannot write --out {args.out}: {exc.strerror or exc}; the book is kept at "
            f"{book.path}"
        ) from None
    if args.json:
        print_json(book.model_dump(mode="json") | {"out": str(out)})
    else:
        print(f"book {book.book_id}: {shown(str(out))} ({book.format}, {book.pages} pages, "
              f"{book.bytes / 1e6:.1f} MB)")  # fmt: skip
    return EXIT_OK


def show_comic(args: argparse.Namespace, door: Door, job: JobSnapshot) -> int:
    """Follow a drawing job to its end and print the comic (or the dry run)."""
    said = {"last": ""}

    def show(job: JobSnapshot) -> None:
        if sys.stderr.isatty() and job.message != said["last"]:
            print(f"\rphotocomic: {job.message}   ", end="", file=sys.stderr, flush=True)
            said["last"] = job.message

    job = follow(door, job, show)
    if said["last"]:
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
        moving = f", {result.frames} frames of {result.frame_ms} ms" if result.frames else ""
        print(
            f"comic {result.comic_id}{parent}: {shown(result.path)} "
            f"({result.model}, {result.size}{cost}{moving})"
        )
        others = [c for c in result.variants if c != result.comic_id]
        if others:
            print(f"  variants of the same request: {', '.join(others)} (photocomic comics)")
        for note in result.notes:
            print(f"  note: {shown(note)}", file=sys.stderr)
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
    if result.output_format == "gif":
        print(f"output_format gif, frame_count {result.frame_count}, "
              f"frame_duration_ms {result.frame_duration_ms}, no streaming")  # fmt: skip
    for image in result.images:
        print(f"  image {shown(image.source)} {image.width}x{image.height} {image.format}")
    if result.overlay is not None:
        print(f"  {result.overlay.source} {result.overlay.width}x{result.overlay.height} PNG")
    if result.drawings > 1:
        print(f"{result.drawings} variants")
    if result.estimated_cost_usd is not None:
        print(f"estimated cost: about ${result.estimated_cost_usd:.3f} (all variants)")
    print("prompt:\n" + result.prompt)


@command("comics", "list the comics made so far", _comics_arguments)
def cmd_comics(args: argparse.Namespace) -> int:
    every = args.limit is None
    listed = door_of(args).call(ComicsRequest(limit=args.limit or 1, every=every))
    if args.json:
        print_json([c.model_dump(mode="json") for c in listed.comics])
        return EXIT_OK
    if not listed.comics:
        print("no comics yet: make one with 'photocomic comic --prompt ... --photo ...'")
    for depth, record in as_tree(listed.comics):  # refinements under what they refine
        branch = "  " * depth + ("└ " if depth else "")
        what = f"  panel {record.panel}" if record.panel else ""
        what += f"  variant {record.variant}" if record.variant else ""
        what += "  lettered" if record.letters else ""
        what += f"  animated ({record.frames} frames)" if record.format == "gif" else ""
        print(f"{branch}{record.comic_id}  {record.created_at[:16]}  {record.style}{what}  "
              f"{shown(record.path)}")  # fmt: skip
    return EXIT_OK
