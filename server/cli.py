"""The ``photocomic`` command: a front door like the MCP servers, for a person at a terminal.

Output is for people by default and one JSON document on stdout with ``--json``. Errors are one
line on stderr and a non-zero exit status; no tracebacks for problems a user can fix. Every
command except ``serve`` and ``engine`` asks the library's owner (``tools/owner/client.py``),
so it works while Claude Desktop and other doors have the same library open.

Each command declares itself (``@command``, its arguments beside its handler) in the module of
its part of the flow; this one builds the parser from them and runs one.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import Sequence

from photocomic.tools.errors import PhotocomicError
from pydantic import ValidationError

from . import cli_comics, cli_library, cli_search, cli_subjects  # noqa: F401  (they declare)
from .cli_common import COMMANDS, flag_of, shown

EXIT_ERROR = 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="photocomic",
        description="Search your photo library by example and turn photos into comics.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for declared in COMMANDS:
        p = sub.add_parser(declared.name, help=declared.help, description=declared.help)
        p.set_defaults(func=declared.run)
        declared.arguments(p)
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
    try:
        return int(args.func(args))
    except PhotocomicError as exc:
        print(f"photocomic: {shown(exc.for_door('cli'))}", file=sys.stderr)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        if exc.title == "Settings":  # a setting from a flag or the environment
            print(f"photocomic: invalid {where or 'setting'}: {first.get('msg')}", file=sys.stderr)
        else:  # a request: say it with the flag that set the field
            flag = flag_of(where.split(".")[0])
            print(f"photocomic: {flag}: {first.get('msg')}", file=sys.stderr)
    except KeyboardInterrupt:
        print("photocomic: interrupted; what was indexed so far is kept", file=sys.stderr)
        return 130
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
