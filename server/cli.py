"""The ``photocomic`` command: index, search, status, comics, and ``serve`` for MCP clients.

Output is for people by default and one JSON document on stdout with ``--json``. Errors are
one line on stderr and a non-zero exit status; no tracebacks for problems a user can fix.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from photocomic.tools.config import Settings
from photocomic.tools.errors import PhotocomicError
from pydantic import BaseModel, ValidationError

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_SOME_FAILED = 3


def _settings(args: argparse.Namespace) -> Settings:
    flags: dict[str, Any] = {}
    for name in ("db", "data_dir", "model", "weights", "batch_size", "workers", "device"):
        value = getattr(args, name, None)
        if value is not None:
            flags[name] = value
    if getattr(args, "root", None):
        flags["roots"] = args.root
    if getattr(args, "hidden", False):
        flags["include_hidden"] = True
    return Settings(**flags)


def _library(args: argparse.Namespace, restrict: bool = False) -> Any:
    from photocomic.tools.service import PhotoLibrary

    return PhotoLibrary(_settings(args), restrict_to_roots=restrict)


def _print_json(value: Any) -> None:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    elif isinstance(value, list):
        value = [v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in value]
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


# -- commands ----------------------------------------------------------------------------------


def cmd_index(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    with _library(args) as library:
        bar: tqdm[Any] | None = None

        def progress(done: int, total: int) -> None:
            nonlocal bar
            if bar is None and total:
                bar = tqdm(total=total, unit="photo", file=sys.stderr, disable=None, leave=False)
            if bar is not None:
                bar.update(done - bar.n)

        try:
            summary = library.indexer().index(
                args.folders, recursive=not args.no_recursive, progress=progress
            )
        finally:
            if bar is not None:
                bar.close()
    if args.json:
        _print_json(summary)
    else:
        print(
            f"{summary.scanned} files: {summary.added} added, {summary.updated} updated, "
            f"{summary.unchanged} unchanged, {summary.removed} removed, "
            f"{len(summary.failed)} failed ({summary.seconds:.1f} s)"
        )
        for failure in summary.failed:
            print(f"  failed: {failure.path}: {failure.error}", file=sys.stderr)
    return EXIT_SOME_FAILED if summary.failed else EXIT_OK


def cmd_search(args: argparse.Namespace) -> int:
    if not args.images and not args.id and not args.like:
        raise PhotocomicError("give at least one query image, --id PHOTO_ID or --like PHOTO_ID")
    for path in args.images:
        if not os.path.isfile(path):
            raise PhotocomicError(f"query image not found: {path}")
    with _library(args) as library:
        results = library.searcher.similar(
            sources=args.images,
            photo_ids=args.id,
            like=args.like,
            unlike=args.unlike,
            limit=args.limit,
            filters=_filters(library, args),
            diversify=args.diversify,
        )
    if args.json:
        _print_json([_result_json(r) for r in results])
        return EXIT_OK
    for result in results:
        _print_result(result)
    return EXIT_OK


def cmd_find(args: argparse.Namespace) -> int:
    with _library(args) as library:
        result = library.searcher.find(
            args.text, args.limit, filters=_filters(library, args), diversify=args.diversify
        )
    if result.note:
        print(f"photocomic: {result.note}", file=sys.stderr)
    if args.json:
        _print_json(_result_json(result))
    else:
        _print_result(result)
    return EXIT_OK


def cmd_duplicates(args: argparse.Namespace) -> int:
    with _library(args) as library:
        folder = str(library.allowed(args.folder, "dir")) if args.folder else None
        report = library.searcher.duplicates(args.threshold, folder=folder)
    if args.json:
        _print_json({"groups": [g.model_dump(mode="json") for g in report.groups]})
        return EXIT_OK
    extra = sum(len(g.photos) - 1 for g in report.groups)
    print(
        f"{len(report.groups)} groups of near-identical photos ({extra} extra copies) among "
        f"{report.checked} photos, threshold {report.threshold}"
    )
    for n, group in enumerate(report.groups, start=1):
        print(f"group {n}:")
        for photo in group.photos:
            print(f"  {photo.score:.3f}  {photo.photo_id:>16}  {photo.path}")
    return EXIT_OK


def _filters(library: Any, args: argparse.Namespace) -> Any:
    return library.search_filters(args.folder, args.after, args.before, args.tag)


def _result_json(result: Any) -> dict[str, Any]:
    return {"query": result.query, "hits": [h.model_dump(mode="json") for h in result.hits]}


def _print_result(result: Any) -> None:
    print(f"{result.query}:")
    if not result.hits:
        print("  (no photos)")
    for hit in result.hits:
        print(f"  #{hit.rank:<3} {hit.score:.3f}  {hit.photo_id:>16}  {hit.path}")


def cmd_status(args: argparse.Namespace) -> int:
    with _library(args) as library:
        status = library.status()
    if args.json:
        _print_json(status)
    else:
        print(f"store:   {status.db} (collection {status.collection})")
        print(f"model:   {status.model or '(nothing indexed yet)'}")
        print(f"photos:  {status.photos}")
        print(f"comics:  {status.comics}")
        print(f"data:    {status.data_dir}")
    return EXIT_OK


def cmd_comic(args: argparse.Namespace) -> int:
    from photocomic.tools.comics import ComicRecord, ComicRequest

    request = ComicRequest(
        prompt=args.prompt,
        style=args.style,
        panels=args.panels,
        refine=args.refine,
        size=args.size,
        quality=args.quality,
        model=args.image_model,
        backend=args.backend,
        dry_run=args.dry_run,
    )
    with _library(args) as library:
        result = library.comic(request, args.photo or [])
    if args.json:
        _print_json(result)
    elif isinstance(result, ComicRecord):
        parent = f" (refines {result.parent_id})" if result.parent_id else ""
        print(f"comic {result.comic_id}{parent}: {result.path}")
    else:
        print("dry run: nothing was sent.")
        print(f"model {result.model}, size {result.size}, quality {result.quality}")
        for image in result.images:
            print(f"  image {image.source} {image.width}x{image.height} {image.format}")
        print("prompt:\n" + result.prompt)
    return EXIT_OK


def cmd_comics(args: argparse.Namespace) -> int:
    from photocomic.tools.comics import ComicStudio

    comics = ComicStudio(_settings(args)).list()
    if args.json:
        _print_json(comics)
        return EXIT_OK
    if not comics:
        print("no comics yet: make one with 'photocomic comic --prompt ... --photo ...'")
    for record in comics:
        parent = f" <- {record.parent_id}" if record.parent_id else ""
        print(f"{record.comic_id}{parent}  {record.created_at}  {record.style}  {record.path}")
    return EXIT_OK


def _scratch_in_data_dir(settings: Settings) -> None:
    """The server writes only inside its data folder, so third-party scratch goes there too.

    Importing timm makes torch create ``torchinductor_<user>`` in the system temp folder, and
    ``tempfile`` probes that folder with a test file; both now land under ``<data>/cache``.
    Only for ``serve``: a process of its own (in-process callers of main() keep their temp).
    """
    import tempfile

    scratch = settings.cache_dir / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    tempfile.tempdir = str(scratch)
    os.environ["TMPDIR"] = str(scratch)
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(settings.cache_dir / "torchinductor"))


def cmd_serve(args: argparse.Namespace) -> int:
    from photocomic.server.mcp_app import serve

    settings = _settings(args)
    _scratch_in_data_dir(settings)
    if args.token:
        settings = settings.model_copy(update={"http_token": args.token})
    serve(settings, transport=args.transport, host=args.host, port=args.port)
    return EXIT_OK


# -- the parser ----------------------------------------------------------------------------------


def _store_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help="Milvus URI: a local .db file or http://host:19530")
    parser.add_argument("--data-dir", help="where the store, comics and caches live")


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text}") from None


def _filter_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--folder", help="only photos under this folder")
    parser.add_argument("--after", type=_day, help="only photos taken on or after YYYY-MM-DD")
    parser.add_argument("--before", type=_day, help="only photos taken on or before YYYY-MM-DD")
    parser.add_argument("--tag", help="only photos tagged so: 'dog', 'beach'")
    parser.add_argument("--diversify", action="store_true", help="no near-identical shots")


def _model_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="timm model name (default tf_efficientnet_lite0)")
    parser.add_argument("--weights", help="local checkpoint file for --model")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="photocomic",
        description="Search your photo library by example and turn photos into comics.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("index", help="index photo folders (incremental)")
    p.add_argument("folders", nargs="+", metavar="DIR")
    _store_flags(p)
    _model_flags(p)
    p.add_argument("--no-recursive", action="store_true", help="only the folder itself")
    p.add_argument("--hidden", action="store_true", help="include hidden files and folders")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--workers", type=int, help="indexing threads (default: one per CPU core)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("search", help="find the photos most like one or more images")
    p.add_argument("images", nargs="*", metavar="IMAGE")
    p.add_argument("--id", type=int, action="append", help="an indexed photo's id (repeatable)")
    p.add_argument("--like", type=int, action="append", help="a photo id like what you want")
    p.add_argument("--unlike", type=int, action="append", help="a photo id unlike it")
    p.add_argument("--limit", type=int, default=10)
    _filter_flags(p)
    _store_flags(p)
    _model_flags(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("find", help="find photos by what they show: 'dog', 'golf ball'")
    p.add_argument("text", metavar="TEXT")
    p.add_argument("--limit", type=int, default=10)
    _filter_flags(p)
    _store_flags(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_find)

    p = sub.add_parser("duplicates", help="groups of near-identical photos")
    p.add_argument(
        "--threshold", type=float, help="similarity that makes two photos copies (default 0.88)"
    )
    p.add_argument("--folder", help="only photos under this folder")
    _store_flags(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_duplicates)

    p = sub.add_parser("status", help="where the store is, the model, how many photos")
    _store_flags(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("comic", help="draw a comic from photos (OpenAI or offline storyboard)")
    p.add_argument("--prompt", required=True)
    p.add_argument("--photo", action="append", help="photo id or image path (repeatable)")
    p.add_argument("--style", help="ghibli (default), manga, watercolor, american-comic, ...")
    p.add_argument("--panels", type=int, choices=[1, 2, 4, 6])
    p.add_argument("--refine", metavar="COMIC_ID", help="change an earlier comic")
    p.add_argument(
        "--size", default="auto", choices=["1024x1024", "1536x1024", "1024x1536", "auto"]
    )
    p.add_argument("--quality", default="auto", choices=["low", "medium", "high", "auto"])
    p.add_argument("--image-model", help="OpenAI image model (default gpt-image-1)")
    p.add_argument("--backend", default="openai", choices=["openai", "storyboard"])
    p.add_argument("--dry-run", action="store_true", help="show what would be sent; send nothing")
    _store_flags(p)
    p.add_argument("--json", action="store_true", help="print the comic record as JSON")
    p.set_defaults(func=cmd_comic)

    p = sub.add_parser("comics", help="list the comics made so far")
    p.add_argument("--data-dir")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_comics)

    p = sub.add_parser("serve", help="run the MCP server (stdio, or streamable HTTP)")
    p.add_argument("--root", action="append", help="a photo folder the server may read")
    p.add_argument("--transport", default="stdio", choices=["stdio", "http"])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--token", help="bearer token HTTP clients must send (or PHOTOCOMIC_HTTP_TOKEN)")
    _store_flags(p)
    _model_flags(p)
    p.set_defaults(func=cmd_serve)
    return parser


def quiet_libraries() -> None:
    """Keep third-party chatter off the user's terminal (and off an MCP stdio stream)."""
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    os.environ.setdefault("TQDM_MININTERVAL", "0.5")
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("pymilvus", "milvus_lite", "timm", "httpx", "grpc", "grpc._server"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def main(argv: Sequence[str] | None = None) -> int:
    quiet_libraries()
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except PhotocomicError as exc:
        print(f"photocomic: {exc}", file=sys.stderr)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        print(f"photocomic: invalid {where or 'setting'}: {first.get('msg')}", file=sys.stderr)
    except KeyboardInterrupt:
        print("photocomic: interrupted; what was indexed so far is kept", file=sys.stderr)
        return 130
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
