"""The MCP front door: the server object, its tools, resources and prompt, and ``serve``.

Every tool is a module-level function in ``mcp_tools`` over the typed state in ``mcp_door``;
this module registers them, turns errors into tool errors that say what to do, and runs the
transport. Nothing here opens a store or loads a model: the library's owner does.
"""

from __future__ import annotations

import base64
import inspect
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
from mcp.server.apps import Apps, client_supports_apps
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import (
    ResourceError,
    ResourceNotFoundError,
    ToolError,
    UnexpectedToolError,
)
from mcp_types import ListToolsResult
from photocomic.tools.comics.book_contract import BOOK_MIME, BookFileRequest
from photocomic.tools.comics.contract import ComicFileRequest
from photocomic.tools.config import Settings, version
from photocomic.tools.errors import NotFound, PhotocomicError
from photocomic.tools.find.contract import ListSubjects, PhotoRequest
from photocomic.tools.logs import scrub, setup_logging
from pydantic import ConfigDict, ValidationError

from . import mcp_comic_tools, mcp_tools  # noqa: F401  (their tools declare themselves)
from .mcp_apps import PAGES, page_html
from .mcp_door import McpDoor, door_of
from .mcp_listing import TOOLS
from .mcp_prompts import INSTRUCTIONS, complete, photo_comic

log = logging.getLogger("photocomic.server")


class PhotocomicMCP(MCPServer):
    """MCPServer whose tool errors read as instructions, never as tracebacks, and whose
    app-only helpers are listed only to clients that render MCP Apps.

    Why here and not in every tool: the SDK wraps whatever a tool raises; catching it once at
    this seam covers argument validation, our own errors and crashes alike.
    """

    async def _handle_list_tools(self, ctx: Any, params: Any) -> ListToolsResult:
        listed = await super()._handle_list_tools(ctx, params)
        if client_supports_apps(ctx):
            return listed
        kept = [t for t in listed.tools if not _app_only(t)]
        return listed.model_copy(update={"tools": kept})

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context | None = None
    ) -> Any:
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(cause, PhotocomicError):
                raise ToolError(scrub(cause.for_door("mcp"))) from None
            if isinstance(cause, ValidationError):
                raise ToolError(describe_invalid(name, cause, _arguments_of(name))) from None
            if isinstance(exc, UnexpectedToolError):
                kind = type(cause).__name__ if cause is not None else "error"
                raise UnexpectedToolError(
                    f"{name} failed with an internal error ({kind}); the details are in the "
                    "server's log (stderr). The server is still running: try again, or report "
                    "the problem if it keeps happening."
                ) from cause
            raise ToolError(scrub(str(exc))) from None


def describe_invalid(tool: str, error: ValidationError, allowed: Sequence[str] = ()) -> str:
    """A pydantic error as one line per bad argument, without echoing large values back; an
    unknown argument is named with the ones the tool has."""
    parts, unknown = [], []
    for item in error.errors():
        where = ".".join(str(p) for p in item.get("loc", ())) or "arguments"
        if item.get("type") == "extra_forbidden":
            unknown.append(where[:60])
        elif len(parts) < 5:
            parts.append(f"{where}: {_said(item)}")
    if unknown:
        parts.insert(0, f"{tool} has no argument {', '.join(unknown[:5])}")
        if allowed:
            parts[0] += f" (its arguments: {', '.join(allowed)})"
    return (
        f"invalid arguments for {tool}: " + "; ".join(parts)
        + ". Fix them and call again; the tool's input schema lists the allowed values."
    )  # fmt: skip


def _said(item: Any) -> str:
    """One validation error's words; a value too long is measured, never echoed."""
    message = str(item.get("msg", "invalid"))[:300]
    value, limit = item.get("input"), (item.get("ctx") or {}).get("max_length")
    if item.get("type") in ("string_too_long", "too_long") and limit is not None:
        what = "characters" if isinstance(value, str) else "items"
        return f"{len(value):,} {what} given, at most {int(limit):,} allowed"
    return message


def refuse_unknown_arguments(mcp: MCPServer) -> None:
    """Every tool refuses an argument it does not know (``additionalProperties: false``)
    instead of dropping it: a misspelt ``limitt`` or an unsupported ``model`` must not be
    answered as if it were not there.

    The SDK builds each tool's argument model from its signature with extra arguments
    ignored; this is the one place that makes them refused, for every tool at once.
    """
    for registered in mcp._tool_manager.list_tools():
        loose = registered.fn_metadata.arg_model
        strict = type(
            loose.__name__, (loose,),
            {"model_config": ConfigDict(extra="forbid", arbitrary_types_allowed=True),
             "__module__": loose.__module__},
        )  # fmt: skip
        registered.fn_metadata.arg_model = strict
        registered.parameters = strict.model_json_schema(by_alias=True)


def _arguments_of(name: str) -> list[str]:
    listed = next((t for t in TOOLS if t.name == name), None)
    return sorted(listed.arguments()) if listed else []


def _app_only(tool: Any) -> bool:
    ui = (tool.meta or {}).get("ui") or {}
    return ui.get("visibility") == ["app"]


def description(fn: Callable[..., Any]) -> str:
    """A docstring as clients should show it: no source indentation, one paragraph."""
    return " ".join(inspect.cleandoc(fn.__doc__ or "").split())


# -- resources ---------------------------------------------------------------------------------


async def _image(
    ctx: Context, request: PhotoRequest | ComicFileRequest | BookFileRequest
) -> bytes:
    try:
        data = await door_of(ctx).call(request)
    except NotFound as exc:
        raise ResourceNotFoundError(str(exc)) from None
    except PhotocomicError as exc:
        raise ResourceError(scrub(exc.for_door("mcp"))) from None
    return base64.b64decode(data.data)


async def photo_thumbnail(photo_id: str, ctx: Context) -> bytes:
    text = photo_id.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 20):
        raise ResourceNotFoundError(f"photo ids are numbers, not {photo_id[:40]!r}")
    return await _image(ctx, PhotoRequest(photo_id=int(text)))


async def comic_image(comic_id: str, ctx: Context) -> bytes:
    return await _image(ctx, ComicFileRequest(comic_id=comic_id))


async def comic_animation(comic_id: str, ctx: Context) -> bytes:
    return await _image(ctx, ComicFileRequest(comic_id=comic_id, animation=True))


async def book_pdf(book_id: str, ctx: Context) -> bytes:
    return await _image(ctx, BookFileRequest(book_id=book_id[:100], format="pdf"))


async def book_cbz(book_id: str, ctx: Context) -> bytes:
    return await _image(ctx, BookFileRequest(book_id=book_id[:100], format="cbz"))


def build_server(settings: Settings, kind: str = "mcp-stdio") -> PhotocomicMCP:
    """The MCP server for ``settings``; the engine is started in the background after launch."""
    setup_logging()

    opened: list[McpDoor] = []  # the door the lifespan opened, for handlers without a context

    @asynccontextmanager
    async def lifespan(_: MCPServer) -> AsyncIterator[McpDoor]:
        door = McpDoor.for_settings(settings, kind)
        opened[:] = [door]
        async with anyio.create_task_group() as group:
            group.start_soon(door.keep_alive)
            try:
                yield door
            finally:
                door.close()
                group.cancel_scope.cancel()

    apps = _apps()
    mcp = PhotocomicMCP(
        "photocomic",
        title="photocomic: your photos, searched and drawn as comics",
        instructions=INSTRUCTIONS,
        version=version(),
        lifespan=lifespan,
        log_level="WARNING",
        extensions=[apps],
    )
    for tool in TOOLS:
        if tool.page is None:
            mcp.add_tool(
                tool.fn, name=tool.name, title=tool.title, description=description(tool.fn),
                annotations=tool.hints,
            )  # fmt: skip
    refuse_unknown_arguments(mcp)
    _resources(mcp)
    mcp.prompt(
        name="photo_comic", title="Make a comic from my photos",
        description="Walks through finding the right photos, choosing them and drawing a comic",
    )(photo_comic)  # fmt: skip

    async def subject_names() -> list[str]:
        if not opened:
            return []
        listed = await opened[0].call(ListSubjects())
        return [subject.name for subject in listed.subjects]

    mcp.completion()(lambda ref, argument, _context: complete(ref, argument, subject_names))
    return mcp


def _resources(mcp: MCPServer) -> None:
    """The files a client reads by URI: thumbnails, comics (still and animated) and books."""
    mcp.resource(
        "photo://{photo_id}/thumbnail", name="photo_thumbnail", title="Photo thumbnail",
        description="A JPEG thumbnail (384 px) of an indexed photo inside the allowed roots",
        mime_type="image/jpeg",
    )(photo_thumbnail)  # fmt: skip
    mcp.resource(
        "comic://{comic_id}", name="comic_image", title="Comic",
        description="A comic made by generate_comic, full-size PNG", mime_type="image/png",
    )(comic_image)  # fmt: skip
    mcp.resource(
        "comic://{comic_id}/gif", name="comic_animation", title="Animated comic",
        description="An animated comic made by generate_comic(animate=true), the GIF",
        mime_type="image/gif",
    )(comic_animation)  # fmt: skip
    for ending, read in (("pdf", book_pdf), ("cbz", book_cbz)):
        mcp.resource(
            f"book://{{book_id}}.{ending}", name=f"book_{ending}", title=f"Book ({ending})",
            description=f"A book made by make_book, as {ending.upper()}",
            mime_type=BOOK_MIME[ending],
        )(read)  # fmt: skip


def _apps() -> Apps:
    """The MCP Apps extension: its pages, and the tools whose answers a page shows."""
    apps = Apps()
    for uri, (_, title) in PAGES.items():
        apps.add_html_resource(
            uri, page_html(uri), name=title.lower().replace(" ", "_"), title=title,
            description=f"photocomic's {title.lower()} (an MCP App page)",
        )  # fmt: skip
    for tool in TOOLS:
        if tool.page is not None:
            apps.tool(
                resource_uri=tool.page, name=tool.name, title=tool.title,
                description=description(tool.fn),
                annotations=tool.hints, **({"visibility": ["app"]} if tool.app_only else {}),
            )(tool.fn)  # fmt: skip
    return apps


def serve(
    settings: Settings,
    transport: str = "stdio",
    host: str = "127.0.0.1",
    port: int = 8765,
    token_file: str | None = None,
    no_auth: bool = False,
) -> None:
    """Run the server until the client disconnects (stdio) or it is interrupted (http).

    Ends the process when done: a client allows about two seconds between closing stdin and
    killing the server.
    """
    try:
        if transport == "stdio":
            anyio.run(build_server(settings).run_stdio_async)
        elif transport == "http":
            from .http_transport import choose_token, http_app, run_http

            token, how = choose_token(settings.http_token, token_file, settings.data_dir, no_auth)
            server = build_server(settings, kind="mcp-http")
            run_http(http_app(server, host, settings.max_upload_bytes), host, port, token, how)
        else:
            raise PhotocomicError(f"unknown transport {transport!r}: use stdio or http")
    except KeyboardInterrupt:
        print("photocomic: server stopped", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
