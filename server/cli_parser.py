"""The ``photocomic`` command's arguments: one sub-command per job, the same flags everywhere."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import date
from typing import Any, get_args

from photocomic.tools.comics.contract import Backend, LayoutName, PanelCount, Quality
from photocomic.tools.contract import Transport

Command = Callable[[argparse.Namespace], int]


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text}") from None


def _store_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help="Milvus URI: a local .db file or http://host:19530")
    parser.add_argument("--data-dir", help="where the store, comics and caches live")


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
    parser.add_argument(
        "--precision", choices=["auto", "fp32", "bf16"], help="embedding precision (auto)"
    )


def _json_flag(parser: argparse.ArgumentParser, what: str = "the result") -> None:
    parser.add_argument("--json", action="store_true", help=f"print {what} as JSON")


def build_parser(commands: dict[str, Command]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="photocomic",
        description="Search your photo library by example and turn photos into comics.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=text, description=text)
        p.set_defaults(func=commands[name])
        return p

    p = command("index", "index photo folders (incremental; joins a run already under way)")
    p.add_argument("folders", nargs="+", metavar="DIR")
    _store_flags(p)
    _model_flags(p)
    p.add_argument("--no-recursive", action="store_true", help="only the folder itself")
    p.add_argument("--hidden", action="store_true", help="include hidden files and folders")
    p.add_argument("--batch-size", type=int, help="photos per forward pass on a GPU")
    p.add_argument("--workers", type=int, help="indexing threads (default: one per CPU core)")
    _json_flag(p, "the summary")

    p = command("search", "find the photos most like one or more images")
    p.add_argument("images", nargs="*", metavar="IMAGE")
    p.add_argument("--id", type=int, action="append", help="an indexed photo's id (repeatable)")
    p.add_argument("--like", type=int, action="append", help="a photo id like what you want")
    p.add_argument("--unlike", type=int, action="append", help="a photo id unlike it")
    p.add_argument("--limit", type=int, default=10)
    _filter_flags(p)
    _store_flags(p)
    _model_flags(p)
    _json_flag(p)

    p = command("find", "find photos by what they show ('dog', 'golf ball') or by a subject")
    p.add_argument("text", metavar="TEXT")
    p.add_argument("--limit", type=int, default=10)
    p.add_argument("--offset", type=int, default=0, help="skip this many (the next page)")
    _filter_flags(p)
    _store_flags(p)
    _json_flag(p)

    p = command("duplicates", "groups of near-identical photos")
    p.add_argument("--threshold", type=float, help="similarity that makes two photos copies")
    p.add_argument("--folder", help="only photos under this folder")
    _store_flags(p)
    _json_flag(p)

    p = command("status", "where the store is, the model, photos, comics and running jobs")
    _store_flags(p)
    _json_flag(p)

    p = command(
        "migrate", "copy the library to another store (a Milvus server) without re-embedding"
    )
    p.add_argument("--to", required=True, metavar="URI", help="http://host:19530, or a .db file")
    p.add_argument("--collection", help="the collection there (default: the same name)")
    p.add_argument("--to-token", dest="to_token", help="the target server's token (user:password)")
    _store_flags(p)
    _json_flag(p, "the summary")

    _subject_parsers(command)
    _comic_parsers(command)
    _engine_parsers(command)
    return parser


def _subject_parsers(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    p = command("subject", "named subjects (a pet, a person, a car): teach, list, show, remove")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="teach NAME from photos (adding again adds examples)")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--photo", action="append", default=[], help="photo id or path that shows it")
    add.add_argument("--not", dest="not_photos", action="append", default=[],
                     help="photo id or path that does not show it")  # fmt: skip
    actions.add_parser("list", help="the subjects and how many photos show each")
    show = actions.add_parser("show", help="a subject's examples, counts and when it was trained")
    show.add_argument("name", metavar="NAME")
    remove = actions.add_parser("remove", help="forget a subject (its photos stay)")
    remove.add_argument("name", metavar="NAME")
    rename = actions.add_parser("rename", help="give a subject another name")
    rename.add_argument("name", metavar="NAME")
    rename.add_argument("new_name", metavar="NEW_NAME")
    for sub in (add, show, remove, rename, actions.choices["list"]):
        _store_flags(sub)
        _json_flag(sub)


def _comic_parsers(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    p = command("comic", "draw a comic from photos (OpenAI image model, or offline storyboard)")
    p.add_argument("--prompt", required=True)
    p.add_argument("--photo", action="append", help="photo id or image path (repeatable)")
    p.add_argument("--subject", help="a remembered subject: its best photos are the references")
    p.add_argument("--style", help="ghibli (default), manga, watercolor, american-comic, ...")
    p.add_argument("--panels", type=int, choices=get_args(PanelCount))
    p.add_argument("--layout", choices=get_args(LayoutName), help="page grid, strip, phone strip")
    p.add_argument("--refine", metavar="COMIC_ID", help="change an earlier comic (any version)")
    p.add_argument("--panel", type=int, help="with --refine: redraw only this panel (1-based)")
    p.add_argument(
        "--region", metavar="X,Y,W,H", help="with --refine: redraw only this box (comic pixels)"
    )
    p.add_argument(
        "--markup", metavar="PNG", help="with --refine: strokes on a transparent PNG over the comic"
    )
    p.add_argument("--variants", type=int, default=1, help="1-4 drawings to choose from")
    p.add_argument("--size", default="auto", help="WIDTHxHEIGHT the model takes, or auto")
    p.add_argument("--quality", default="auto", choices=get_args(Quality))
    p.add_argument(
        "--model", "--image-model", dest="image_model",
        help="image model (default auto: the newest the key can use; PHOTOCOMIC_IMAGE_MODEL)",
    )  # fmt: skip
    p.add_argument("--backend", default="openai", choices=get_args(Backend))
    p.add_argument("--dry-run", action="store_true", help="show what would be sent; send nothing")
    _store_flags(p)
    _json_flag(p, "the comic record")

    p = command("comics", "list the comics made so far")
    _store_flags(p)
    _json_flag(p)


def _engine_parsers(command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    p = command("serve", "run the MCP server (stdio, or streamable HTTP)")
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
    _store_flags(p)
    _model_flags(p)

    p = command("engine", "the process that owns a data folder (started by the others)")
    p.add_argument("--data-dir", help="the data folder it owns")
    p.add_argument("--idle", type=float, help="seconds to stay up after the last door")
    p.add_argument("--stop", action="store_true", help="ask the running engine to leave")
    p.add_argument("--info", action="store_true", help="show the running engine, if any")


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
