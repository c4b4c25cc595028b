"""The ``photocomic`` command: a front door like the MCP servers, for a person at a terminal.

Output is for people by default and one JSON document on stdout with ``--json``. Errors are one
line on stderr and a non-zero exit status; no tracebacks for problems a user can fix. Every
command except ``serve`` and ``engine`` asks the library's owner (see ``engine_client``), so it
works while Claude Desktop and other doors have the same library open.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from photocomic.tools.comics.contract import ComicsRequest
from photocomic.tools.comics.records import as_tree
from photocomic.tools.config import Settings
from photocomic.tools.errors import PhotocomicError
from photocomic.tools.find.contract import (
    DuplicatesRequest,
    FindRequest,
    SearchResult,
    SimilarRequest,
)
from photocomic.tools.owner.client import Door, job_error
from photocomic.tools.owner.contract import (
    IndexRequest,
    JobSnapshot,
    MigrateRequest,
    MigrationSummary,
    StatusRequest,
)
from photocomic.tools.photos.contract import IndexSummary
from pydantic import ValidationError

from .cli_common import follow, print_json
from .cli_parser import build_parser, flags_of

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_SOME_FAILED = 3


def _settings(args: argparse.Namespace) -> Settings:
    return Settings(**flags_of(args))


def _door(args: argparse.Namespace) -> Door:
    return Door(_settings(args), kind="cli")


# -- commands ----------------------------------------------------------------------------------


def cmd_index(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    door = _door(args)
    total = IndexSummary()
    for folder in args.folders:
        bar: Any = None

        def show(job: JobSnapshot) -> None:
            nonlocal bar
            if bar is None and job.total:
                bar = tqdm(
                    total=job.total, unit="photo", file=sys.stderr, disable=None, leave=False
                )
            if bar is not None and job.total and job.total != bar.total:
                bar.reset(total=job.total)  # the run was resumed by a new engine
            if bar is not None:
                bar.update(job.done - bar.n)

        request = IndexRequest(folders=[os.path.abspath(folder)], recursive=not args.no_recursive)
        job = door.call(request)
        if job.joined:
            print(f"photocomic: joining the run already indexing {job.folder}", file=sys.stderr)
        try:
            job = follow(door, job, show)
        finally:
            if bar is not None:
                bar.close()
        _add_up(total, job)
    if args.json:
        print_json(total)
    else:
        print(
            f"{total.scanned} files: {total.added} added, {total.updated} updated, "
            f"{total.unchanged} unchanged, {total.removed} removed, "
            f"{len(total.failed)} failed ({total.seconds:.1f} s)"
        )
        for failure in total.failed:
            print(f"  failed: {failure.path}: {failure.error}", file=sys.stderr)
    return EXIT_SOME_FAILED if total.failed else EXIT_OK


def _add_up(total: IndexSummary, job: JobSnapshot) -> None:
    if job.state == "failed":
        raise PhotocomicError(job.error or "indexing failed")
    if job.state == "cancelled":
        raise PhotocomicError(f"indexing {job.folder} was cancelled; what was indexed is kept")
    summary = job.summary or IndexSummary()
    for name in ("scanned", "added", "updated", "unchanged", "removed"):
        setattr(total, name, getattr(total, name) + getattr(summary, name))
    total.seconds = round(total.seconds + summary.seconds, 3)  # the runs' own time, model load too
    total.failed.extend(summary.failed)


def _filters(args: argparse.Namespace) -> dict[str, Any]:
    folder = os.path.abspath(args.folder) if args.folder else None
    return {"folder": folder, "taken_after": args.after, "taken_before": args.before,
            "tag": args.tag}  # fmt: skip


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
    answer = _door(args).call(request)
    if args.json:
        print_json([_result_json(r) for r in answer.results])
        return EXIT_OK
    for result in answer.results:
        _print_result(result)
    return EXIT_OK


def cmd_find(args: argparse.Namespace) -> int:
    request = FindRequest(
        text=args.text, limit=args.limit, offset=args.offset, diversify=args.diversify,
        **_filters(args),
    )  # fmt: skip
    result = _door(args).call(request).results[0]
    if result.note:
        print(f"photocomic: {result.note}", file=sys.stderr)
    if args.json:
        print_json(_result_json(result))
    else:
        _print_result(result)
    return EXIT_OK


def cmd_duplicates(args: argparse.Namespace) -> int:
    folder = os.path.abspath(args.folder) if args.folder else None
    request = DuplicatesRequest(threshold=args.threshold, folder=folder, limit=10_000)
    report = _door(args).call(request)
    if args.json:
        print_json({"groups": [g.model_dump(mode="json") for g in report.groups]})
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


def _result_json(result: SearchResult) -> dict[str, Any]:
    return {"query": result.query, "hits": [h.model_dump(mode="json") for h in result.hits]}


def _print_result(result: SearchResult) -> None:
    print(f"{result.query}:")
    if not result.hits:
        print("  (no photos)")
    for hit in result.hits:
        print(f"  #{hit.rank:<3} {hit.score:.3f}  {hit.photo_id:>16}  {hit.path}")


def cmd_status(args: argparse.Namespace) -> int:
    status = _door(args).call(StatusRequest())
    if args.json:
        print_json(status)
        return EXIT_OK
    print(f"store:   {status.db} (collection {status.collection})")
    print(f"model:   {status.model or '(nothing indexed yet)'}")
    print(f"photos:  {status.photos}")
    print(f"comics:  {status.comics}")
    print(f"data:    {status.data_dir}")
    print(f"engine:  pid {status.engine_pid}" + (", model loaded" if status.model_loaded else ""))
    for job in status.jobs:
        if job.state in ("queued", "running"):
            print(f"running: {job.job_id} {job.kind} {job.folder or ''}: {job.message}")
    return EXIT_OK


def cmd_comic(args: argparse.Namespace) -> int:
    from .cli_comics import run_comic

    return run_comic(args, _door(args))


def cmd_subject(args: argparse.Namespace) -> int:
    from .cli_subjects import run_subject

    return run_subject(args, _door(args))


def cmd_comics(args: argparse.Namespace) -> int:
    listed = _door(args).call(ComicsRequest(limit=100))
    if args.json:
        print_json([c.model_dump(mode="json") for c in listed.comics])
        return EXIT_OK
    if not listed.comics:
        print("no comics yet: make one with 'photocomic comic --prompt ... --photo ...'")
    for depth, record in as_tree(listed.comics):  # refinements under what they refine
        branch = "  " * depth + ("└ " if depth else "")
        what = f"  panel {record.panel}" if record.panel else ""
        what += f"  variant {record.variant}" if record.variant else ""
        print(f"{branch}{record.comic_id}  {record.created_at[:16]}  {record.style}{what}  "
              f"{record.path}")  # fmt: skip
    return EXIT_OK


def cmd_migrate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    door = _door(args)
    request = MigrateRequest(to=args.to, collection=args.collection, token=args.to_token)
    bar: Any = None

    def show(job: JobSnapshot) -> None:
        nonlocal bar
        if bar is None and job.total:
            bar = tqdm(total=job.total, unit="photo", file=sys.stderr, disable=None, leave=False)
        if bar is not None:
            bar.update(job.done - bar.n)

    try:
        job = follow(door, door.call(request), show)
    finally:
        if bar is not None:
            bar.close()
    if job.state != "done" or not isinstance(job.record, MigrationSummary):
        raise job_error(job)
    moved = job.record
    if args.json:
        print_json(moved)
        return EXIT_OK
    again = " (resumed)" if moved.resumed else ""
    print(
        f"{moved.photos:,} photos and {moved.subjects} subjects now in {moved.target} "
        f"(collection {moved.collection}){again}, {moved.seconds:.1f} s; nothing was embedded "
        f"again. Use it with --db {moved.target} or PHOTOCOMIC_DB={moved.target}."
    )
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    from .mcp_app import serve

    settings = _settings(args)
    if args.token:
        print(
            "photocomic: note: --token is visible to every local user in the process list; "
            "prefer PHOTOCOMIC_HTTP_TOKEN or --token-file",
            file=sys.stderr,
        )
        settings = settings.model_copy(update={"http_token": args.token})
    serve(
        settings, transport=args.transport, host=args.host, port=args.port,
        token_file=args.token_file, no_auth=args.no_auth,
    )  # fmt: skip
    return EXIT_OK


def cmd_engine(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.stop or args.info:
        from photocomic.tools.owner.admin import engine_info, stop_engine

        return stop_engine(settings) if args.stop else engine_info(settings)
    from photocomic.tools.owner.serve import run_engine

    _scratch_in_data_dir(settings)
    return run_engine(Path(settings.data_dir), settings.engine_idle)


def _scratch_in_data_dir(settings: Settings) -> None:
    """The engine writes only inside its data folder, so third-party scratch goes there too.

    Importing timm makes torch create ``torchinductor_<user>`` in the system temp folder, and
    ``tempfile`` probes that folder with a test file; both now land under ``<data>/cache``.
    """
    import tempfile

    scratch = settings.cache_dir / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    tempfile.tempdir = str(scratch)
    os.environ["TMPDIR"] = str(scratch)
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(settings.cache_dir / "torchinductor"))


COMMANDS = {
    "index": cmd_index, "search": cmd_search, "find": cmd_find, "duplicates": cmd_duplicates,
    "status": cmd_status, "comic": cmd_comic, "comics": cmd_comics, "serve": cmd_serve,
    "engine": cmd_engine, "migrate": cmd_migrate, "subject": cmd_subject,
}  # fmt: skip


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
    args = build_parser(COMMANDS).parse_args(argv)
    try:
        return int(args.func(args))
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
