"""``photocomic search``, ``find`` and ``duplicates``: photos by example, by words or by a
subject's name, and near-identical shots."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from photocomic.tools.errors import PhotocomicError
from photocomic.tools.find.contract import (
    DuplicatesAnswer,
    DuplicatesRequest,
    FindRequest,
    PhotoInfo,
    PhotoInfoRequest,
    SearchResult,
    SimilarRequest,
)
from photocomic.tools.words import plural

from .cli_common import (
    EXIT_OK,
    command,
    door_of,
    filter_flags,
    json_flag,
    model_flags,
    option,
    print_json,
    shown,
    store_flags,
)

CHECK_QUIET = 2.0  # seconds a duplicate check runs before a bar shows how far it is
CHECK_BEAT = 0.5  # seconds between the bar's updates


def _search_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", nargs="*", metavar="IMAGE")
    p.add_argument("--id", type=int, action="append", help="an indexed photo's id (repeatable)")
    option(p, "--like", SimilarRequest, "like", type=int, action="append", default=None)
    option(p, "--unlike", SimilarRequest, "unlike", type=int, action="append", default=None)
    option(p, "--limit", SimilarRequest, "limit")
    option(p, "--diversify", SimilarRequest, "diversify")
    filter_flags(p)
    store_flags(p)
    model_flags(p)
    json_flag(p)


def _find_arguments(p: argparse.ArgumentParser) -> None:
    option(p, "text", FindRequest, "text", metavar="TEXT")
    option(p, "--limit", FindRequest, "limit")
    option(p, "--offset", FindRequest, "offset")
    option(p, "--diversify", FindRequest, "diversify")
    filter_flags(p)
    store_flags(p)
    json_flag(p)


def _duplicates_arguments(p: argparse.ArgumentParser) -> None:
    option(p, "--threshold", DuplicatesRequest, "threshold", type=float)
    option(p, "--folder", DuplicatesRequest, "folder")
    store_flags(p)
    json_flag(p)


def _filters(args: argparse.Namespace) -> dict[str, Any]:
    folder = os.path.abspath(args.folder) if args.folder else None
    return {"folder": folder, "taken_after": args.after, "taken_before": args.before,
            "tag": args.tag}  # fmt: skip


@command("search", "find the photos most like one or more images", _search_arguments)
def cmd_search(args: argparse.Namespace) -> int:
    if not args.images and not args.id and not args.like:
        raise PhotocomicError("give at least one query image, --id PHOTO_ID or --like PHOTO_ID")
    for path in args.images:
        if not os.path.isfile(path):
            raise PhotocomicError(f"query image not found: {path}")
    request = SimilarRequest(
        images=[os.path.abspath(p) for p in args.images], photo_ids=args.id or [],
        like=args.like or [], unlike=args.unlike or [], limit=args.limit,
        diversify=args.diversify, **_filters(args),
    )  # fmt: skip
    answer = door_of(args).call(request)
    if args.json:
        print_json([_result_json(r) for r in answer.results])
        return EXIT_OK
    for result in answer.results:
        _print_result(result)
    return EXIT_OK


@command(
    "find", "find photos by what they show ('dog', 'golf ball') or by a subject", _find_arguments
)
def cmd_find(args: argparse.Namespace) -> int:
    request = FindRequest(
        text=args.text, limit=args.limit, offset=args.offset, diversify=args.diversify,
        **_filters(args),
    )  # fmt: skip
    result = door_of(args).call(request).results[0]
    if result.note:
        print(f"note: {shown(result.note)}", file=sys.stderr)
    if args.json:
        print_json(_result_json(result))
    else:
        _print_result(result)
    return EXIT_OK


@command("duplicates", "groups of near-identical photos", _duplicates_arguments)
def cmd_duplicates(args: argparse.Namespace) -> int:
    folder = os.path.abspath(args.folder) if args.folder else None
    request = DuplicatesRequest(threshold=args.threshold, folder=folder, every=True)
    report = _checked(args, request)
    if args.json:
        print_json({"groups": [g.model_dump(mode="json") for g in report.groups]})
        return EXIT_OK
    extra = sum(len(g.photos) - 1 for g in report.groups)
    print(
        f"{plural(len(report.groups), 'group')} of near-identical photos "
        f"({plural(extra, 'extra copy', 'extra copies')}) among "
        f"{plural(report.checked, 'photo')}, threshold {report.threshold}"
    )
    for n, group in enumerate(report.groups, start=1):
        print(f"group {n}:")
        for photo in group.photos:
            print(f"  {photo.score:.3f}  {photo.photo_id:>16}  {shown(photo.path)}")
    return EXIT_OK


def _checked(args: argparse.Namespace, request: DuplicatesRequest) -> DuplicatesAnswer:
    """Follow the check to its end, with a bar on a terminal once it takes a while."""
    from tqdm import tqdm

    door, bar = door_of(args), None
    answer = door.call(request.model_copy(update={"wait": CHECK_QUIET}))
    try:
        while answer.state == "running":
            if bar is None:
                bar = tqdm(total=100, unit="%", file=sys.stderr, disable=None, leave=False)
            bar.set_description_str(answer.stage or "")
            bar.update(round(100 * (answer.progress or 0.0)) - bar.n)
            answer = door.call(request.model_copy(update={"wait": CHECK_BEAT}))
    finally:
        if bar is not None:
            bar.close()
    return answer


def _result_json(result: SearchResult) -> dict[str, Any]:
    return {"query": result.query, "hits": [h.model_dump(mode="json") for h in result.hits]}


def _print_result(result: SearchResult) -> None:
    print(f"{shown(result.query)}:")
    if not result.hits:
        print("  (no photos)")
    for hit in result.hits:
        print(f"  #{hit.rank:<3} {hit.score:.3f}  {hit.photo_id:>16}  {shown(hit.path)}")


def _info_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("photo", metavar="ID_OR_PATH", help="a photo id from a search, or its path")
    store_flags(p)
    json_flag(p)


@command("info", "everything the library knows about one photo", _info_arguments)
def cmd_info(args: argparse.Namespace) -> int:
    text = args.photo.strip()
    photo: int | str = int(text) if text.isdigit() else os.path.abspath(args.photo)
    info = door_of(args).call(PhotoInfoRequest(photo=photo))
    if args.json:
        print_json(info)
        return EXIT_OK
    print("\n".join(_info_lines(info)))
    return EXIT_OK


def _info_lines(info: PhotoInfo) -> list[str]:
    def scored(values: dict[str, float]) -> str:
        return ", ".join(f"{name} {score:.2f}" for name, score in values.items()) or "none"

    lines = [
        f"photo {info.photo_id}: {shown(info.path)}",
        f"  size:       {info.width}x{info.height}, {info.bytes:,} bytes",
        f"  taken:      {info.taken_at}",
        f"  labels:     {scored(info.labels)}",
        f"  categories: {scored(info.categories)}",
    ]
    for s in info.subjects:
        lines.append(f"  subject:    {shown(s.name)} ({s.marked}, confidence {s.confidence:.2f})")
    for d in info.duplicates:
        lines.append(f"  duplicate:  {d.score:.3f}  {d.photo_id}  {shown(d.path)}")
    for c in info.comics:
        lines.append(f"  comic:      {c.comic_id}  {c.created_at[:16]}  {c.style}  {shown(c.path)}")
    return lines
