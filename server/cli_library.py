"""``photocomic index``, ``status`` and ``migrate`` (the library as a whole) and the two
commands that run a process: ``serve`` (an MCP server) and ``engine`` (the library's owner)."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path
from typing import Any, get_args

from photocomic.tools.config import Settings
from photocomic.tools.contract import Transport
from photocomic.tools.errors import PhotocomicError
from photocomic.tools.folders import make_private
from photocomic.tools.owner.client import job_error
from photocomic.tools.owner.contract import (
    IndexRequest,
    JobSnapshot,
    ListJobs,
    MigrateRequest,
    MigrationSummary,
    StatusRequest,
)
from photocomic.tools.photos.contract import IndexSummary
from photocomic.tools.words import plural

from .cli_common import (
    EXIT_OK,
    EXIT_SOME_FAILED,
    command,
    door_of,
    follow,
    json_flag,
    model_flags,
    option,
    print_json,
    settings_of,
    shown,
    store_flags,
)


def _index_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("folders", nargs="+", metavar="DIR")
    store_flags(p)
    model_flags(p)
    p.add_argument("--no-recursive", action="store_true", help="only the folder itself")
    p.add_argument("--hidden", action="store_true", help="include hidden files and folders")
    p.add_argument("--batch-size", type=int, help="photos per forward pass on a GPU")
    p.add_argument("--workers", type=int, help="indexing threads (default: one per CPU core)")
    json_flag(p, "the summary")


@command(
    "index", "index photo folders (incremental; joins a run already under way)", _index_arguments
)
def cmd_index(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    door = door_of(args)
    total = IndexSummary()
    for folder in args.folders:
        bar: Any = None

        def show(job: JobSnapshot) -> None:
            nonlocal bar
            if bar is None and not job.total and sys.stderr.isatty():  # what it waits for
                print(f"\r{job.message[:70]:<70}", end="", file=sys.stderr, flush=True)
            if bar is None and job.total:
                bar = tqdm(
                    total=job.total, unit="photo", file=sys.stderr, disable=None, leave=False
                )
            if bar is not None and job.total and job.total != bar.total:
                bar.reset(total=job.total)  # the run was resumed by a new engine
            if bar is not None:
                bar.update(job.done - bar.n)

        request = IndexRequest(path=os.path.abspath(folder), recursive=not args.no_recursive)
        job = door.call(request)
        if job.joined:
            print(f"note: joining the run already indexing {job.folder}", file=sys.stderr)
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
            print(f"  failed: {shown(failure.path)}: {shown(failure.error)}", file=sys.stderr)
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


def _status_arguments(p: argparse.ArgumentParser) -> None:
    store_flags(p)
    json_flag(p)


@command(
    "status", "where the store is, the model, photos, comics and running jobs", _status_arguments
)
def cmd_status(args: argparse.Namespace) -> int:
    status = door_of(args).call(StatusRequest())
    if args.json:
        print_json(status)
        return EXIT_OK
    print(f"store:   {status.db} (collection {status.collection})")
    print(f"model:   {status.model or '(nothing indexed yet)'}")
    print(f"photos:  {status.photos}")
    print(f"comics:  {status.comics}")
    print(f"data:    {status.data_dir}")
    loaded = (
        f", model loaded ({status.forward_pass})"
        if status.forward_pass
        else (", model loaded" if status.model_loaded else "")
    )
    print(f"engine:  pid {status.engine_pid}{loaded}")
    for job in status.jobs:
        print(f"running: {job.job_id} {job.kind} {shown(job.folder or '')}: {shown(job.message)}")
    if status.finished_jobs:
        print(f"earlier: {plural(status.finished_jobs, 'run')} ended (photocomic jobs lists them)")
    for check in status.duplicate_checks:
        folder = f" --folder {shlex.quote(check.folder)}" if check.folder else ""
        print(
            f"checking: duplicates, {shown(check.stage or '')}, about {check.progress or 0:.0%} "
            f"after {check.seconds or 0:.0f} s (photocomic duplicates --threshold "
            f"{check.threshold:g}{folder} waits for its groups)"
        )
    return EXIT_OK


def _jobs_arguments(p: argparse.ArgumentParser) -> None:
    option(p, "--limit", ListJobs, "limit")
    option(p, "--offset", ListJobs, "offset")
    store_flags(p)
    json_flag(p)


@command("jobs", "the library's runs (indexing, drawing, moving), newest first", _jobs_arguments)
def cmd_jobs(args: argparse.Namespace) -> int:
    listed = door_of(args).call(ListJobs(limit=args.limit, offset=args.offset))
    if args.json:
        print_json(listed)
        return EXIT_OK
    for job in listed.jobs:
        when = job.started_at[:16]
        print(f"{job.job_id}  {job.kind:<7} {job.state:<9} {when}  {shown(job.message)}")
    if listed.next_offset is not None:
        print(f"(more: photocomic jobs --offset {listed.next_offset})")
    return EXIT_OK


def _migrate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--to", required=True, metavar="URI", help="http://host:19530, or a .db file")
    p.add_argument("--collection", help="the collection there (default: the same name)")
    p.add_argument("--to-token", dest="to_token", help="the target server's token (user:password)")
    store_flags(p)
    json_flag(p, "the summary")


@command(
    "migrate", "copy the library to another store (a Milvus server) without re-embedding",
    _migrate_arguments,
)  # fmt: skip
def cmd_migrate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    door = door_of(args)
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
        f"{plural(moved.photos, 'photo')} and {plural(moved.subjects, 'subject')} now in "
        f"{moved.target} "
        f"(collection {moved.collection}){again}, {moved.seconds:.1f} s; nothing was embedded "
        f"again. Use it with --db {moved.target} or PHOTOCOMIC_DB={moved.target}."
    )
    return EXIT_OK


def _serve_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--root", action="extend", nargs="+", metavar="DIR",
        help="photo folders the server may read (several after one --root, or --root again)",
    )  # fmt: skip
    p.add_argument("--transport", default="stdio", choices=get_args(Transport))
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument(
        "--token", help="bearer token HTTP clients must send (visible in the process list: "
        "prefer PHOTOCOMIC_HTTP_TOKEN or --token-file); default: one made and kept in the "
        "data folder's http_token",
    )  # fmt: skip
    p.add_argument("--token-file", help="read the bearer token from this file")
    p.add_argument(
        "--no-auth", action="store_true",
        help="serve HTTP without a token: every local user could use your library and key",
    )  # fmt: skip
    store_flags(p)
    model_flags(p)


@command("serve", "run the MCP server (stdio, or streamable HTTP)", _serve_arguments)
def cmd_serve(args: argparse.Namespace) -> int:
    from .mcp_app import serve

    settings = settings_of(args)
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


def _engine_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="the data folder it owns")
    p.add_argument("--idle", type=float, help="seconds to stay up after the last door")
    p.add_argument("--stop", action="store_true", help="ask the running engine to leave")
    p.add_argument("--info", action="store_true", help="show the running engine, if any")


@command("engine", "the process that owns a data folder (started by the others)", _engine_arguments)
def cmd_engine(args: argparse.Namespace) -> int:
    settings = settings_of(args)
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

    make_private(Path(settings.data_dir))  # judged before anything is made in it
    scratch = settings.cache_dir / "tmp"
    scratch.mkdir(parents=True, exist_ok=True, mode=0o700)
    tempfile.tempdir = str(scratch)
    os.environ["TMPDIR"] = str(scratch)
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(settings.cache_dir / "torchinductor"))
