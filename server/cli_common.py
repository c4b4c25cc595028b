"""What the command line's commands share: how a command declares itself (its arguments
beside its handler), the flags every command takes, waiting for a job, printing JSON, reading
photo ids and paths from the command line."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from photocomic.tools.config import Settings
from photocomic.tools.owner.client import Door
from photocomic.tools.owner.contract import CancelJob, JobSnapshot, JobStatus
from pydantic import BaseModel

EXIT_OK = 0
EXIT_SOME_FAILED = 3  # an index run where some files could not be read
POLL = 1.0  # seconds each progress poll may wait for news from the engine

Handler = Callable[[argparse.Namespace], int]
Arguments = Callable[[argparse.ArgumentParser], None]


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    run: Handler
    arguments: Arguments


COMMANDS: list[Command] = []  # ``photocomic --help`` lists them in the order declared


def command(name: str, help: str, arguments: Arguments) -> Callable[[Handler], Handler]:
    """Declare a sub-command: its name, its one-line help and its arguments."""

    def add(run: Handler) -> Handler:
        COMMANDS.append(Command(name, help, run, arguments))
        return run

    return add


FLAGS: dict[str, str] = {}  # a request field's name -> the flag that sets it, for errors


def option(
    parser: argparse.ArgumentParser, flag: str, kind: type[BaseModel], name: str, **extra: Any
) -> None:
    """A flag (or positional) for one field of ``kind``'s request, as the request declares
    it: its type, allowed values, default and help. ``extra`` adds what only a terminal
    needs (repeatable flags, a metavar)."""
    info = kind.model_fields[name]
    plain = _plain(info.annotation)
    settings: dict[str, Any] = {"help": info.description}
    if flag.startswith("-"):
        settings["dest"] = name
        FLAGS.setdefault(name, flag)
    if plain is bool:
        default = bool(info.get_default())
        settings["action"] = argparse.BooleanOptionalAction if default else "store_true"
    elif get_origin(plain) is Literal:
        choices = get_args(plain)
        settings.update(choices=choices, type=type(choices[0]))
    elif plain in (int, float):
        settings["type"] = plain
    if not info.is_required():
        settings["default"] = info.get_default(call_default_factory=True)
    elif flag.startswith("-"):
        settings["required"] = True
    settings.update(extra)
    parser.add_argument(flag, **settings)


def _plain(annotation: Any) -> Any:
    """``int`` for ``Annotated[int, ...] | None`` and the like."""
    while True:
        args = [a for a in get_args(annotation) if a is not type(None)]
        origin = get_origin(annotation)
        if origin is Annotated or (origin in (Union, UnionType) and len(args) == 1):
            annotation = args[0]
        else:
            return annotation


def flag_of(where: str) -> str:
    """How the command line names a request field in an error: its flag."""
    return FLAGS.get(where, f"--{where.replace('_', '-')}") if where else "the arguments"


# C0 and C1 controls (escape sequences, CR, LF, BEL) and the bidi controls that reorder a line
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def shown(text: object) -> str:
    """Text from files (names, messages that quote them) as a terminal may print it: every
    control character as an escape (``\\x1b``, ``\\n``, ``\\u202e``), as ``ls`` does, so a
    planted name cannot move the cursor, retitle the window or reverse a line. JSON output is
    not passed through this: it stays exact."""
    return _CONTROLS.sub(lambda m: m[0].encode("unicode_escape").decode("ascii"), str(text))


def day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text}") from None


def store_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help="Milvus URI: a local .db file or http://host:19530")
    parser.add_argument("--data-dir", help="where the store, comics and caches live")


def filter_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--folder", help="only photos under this folder")
    parser.add_argument("--after", type=day, help="only photos taken on or after YYYY-MM-DD")
    parser.add_argument("--before", type=day, help="only photos taken on or before YYYY-MM-DD")
    parser.add_argument("--tag", help="only photos tagged so: 'dog', 'beach'")


def model_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="timm model name (default tf_efficientnet_lite0)")
    parser.add_argument("--weights", help="local checkpoint file for --model")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"])
    parser.add_argument(
        "--precision", choices=["auto", "fp32", "bf16"], help="embedding precision (auto)"
    )


def json_flag(parser: argparse.ArgumentParser, what: str = "the result") -> None:
    parser.add_argument("--json", action="store_true", help=f"print {what} as JSON")


def flags_of(args: argparse.Namespace) -> dict[str, Any]:
    """The settings the command-line flags give (None and absent flags left to the env)."""
    flags: dict[str, Any] = {}
    for name in ("db", "data_dir", "model", "weights", "batch_size", "workers", "device"):
        value = getattr(args, name, None)
        if value is not None:
            flags[name] = value
    if getattr(args, "precision", None):
        flags["precision"] = args.precision
    if getattr(args, "root", None):
        flags["roots"] = args.root
    if getattr(args, "hidden", False):
        flags["include_hidden"] = True
    if getattr(args, "idle", None):
        flags["engine_idle"] = args.idle
    return flags


def settings_of(args: argparse.Namespace) -> Settings:
    return Settings(**flags_of(args))


def door_of(args: argparse.Namespace) -> Door:
    door = Door(settings_of(args), kind="cli")
    if sys.stderr.isatty():  # a person waits: say what for (scripts stay quiet)
        door.on_start = lambda what: print(f"note: {what}...", file=sys.stderr, flush=True)
    return door


def print_json(value: Any) -> None:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def photo_items(items: list[str]) -> list[int | str]:
    """Photo ids stay numbers; paths become absolute (the engine runs elsewhere)."""
    return [int(i) if i.strip().isdigit() else os.path.abspath(i) for i in items]


def follow(door: Door, job: JobSnapshot, show: Any = None) -> JobSnapshot:
    """Wait for a job, passing every change to ``show``; Ctrl-C cancels a job we started."""
    try:
        while job.state in ("queued", "running"):
            if show is not None:
                show(job)
            request = JobStatus(job_id=job.job_id, wait=POLL, since=job.changes)
            job = door.call(request)
    except KeyboardInterrupt:
        if not job.joined:
            door.call(CancelJob(job_id=job.job_id))
        raise
    return job
