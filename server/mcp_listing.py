"""How each MCP tool is made from its operation's request model.

A tool is declared with ``@tool(Request, title, hints)`` over a function that takes the built
request (and the few door-only extras, such as ``wait_seconds``). Its name is the operation's
(``Request.op``) and its arguments are the request's fields, with their types, bounds,
defaults and descriptions, so the input schema cannot drift from what the library accepts.
Fields a door fixes (``fixed``: a contact sheet always, the command line's lists) are not
arguments. The server registers :data:`TOOLS` in the order they were declared.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar, get_type_hints

from mcp.server.mcpserver import Context
from mcp_types import ToolAnnotations
from photocomic.tools.contract import Ask
from pydantic import Field
from pydantic.fields import FieldInfo

F = TypeVar("F", bound=Callable[..., Any])

READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False, idempotent_hint=True)
WRITES_STORE = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)
FORGETS = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
)
MAKES = ToolAnnotations(  # a new file or version of photocomic's own, nothing sent out
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False
)
DRAWS = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
)


@dataclass(frozen=True)
class Listed:
    """How a tool is listed: its callable (arguments from the request), title, hints and the
    page shown beside its answer. An app-only helper is hidden from the model and from
    clients without MCP Apps."""

    fn: Callable[..., Any]
    request: type[Ask[Any]]
    title: str
    hints: ToolAnnotations
    page: str | None = None
    app_only: bool = False
    extras: tuple[str, ...] = field(default_factory=tuple)

    @property
    def name(self) -> str:
        return self.request.op

    def arguments(self) -> set[str]:
        return set(inspect.signature(self.fn).parameters) - {"ctx"}


TOOLS: list[Listed] = []  # in the order clients list them: the order of declaration


def tool(
    request: type[Ask[Any]],
    title: str,
    hints: ToolAnnotations,
    page: str | None = None,
    app_only: bool = False,
    fixed: dict[str, Any] | None = None,
) -> Callable[[F], F]:
    """Declare the MCP tool of ``request``'s operation over ``fn(ctx, request, **extras)``."""

    def add(fn: F) -> F:
        built, extras = _tool_function(fn, request, dict(fixed or {}))
        TOOLS.append(Listed(built, request, title, hints, page, app_only, extras))
        return fn

    return add


def _tool_function(
    fn: Callable[..., Any], kind: type[Ask[Any]], fixed: dict[str, Any]
) -> tuple[Callable[..., Any], tuple[str, ...]]:
    """A function whose signature is the request's fields (less ``fixed``) plus ``fn``'s own
    extras; it builds the request (its validators run) and calls ``fn``."""
    hints = get_type_hints(fn, include_extras=True)
    own = list(inspect.signature(fn).parameters.values())[2:]  # after ctx and the request
    extras = tuple(p.name for p in own)
    parameters = [inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Context)]
    fields = [(n, i) for n, i in kind.model_fields.items() if n not in fixed]
    fields.sort(key=lambda item: not item[1].is_required())  # what must be given first
    parameters += [_parameter(name, info) for name, info in fields]
    for p in own:
        parameters.append(p.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=hints[p.name]))

    async def call(ctx: Context, **arguments: Any) -> Any:
        own_values = {name: arguments.pop(name) for name in extras if name in arguments}
        return await fn(ctx, kind(**arguments, **fixed), **own_values)

    call.__name__ = call.__qualname__ = kind.op
    call.__doc__ = fn.__doc__
    call.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        parameters, return_annotation=hints["return"]
    )
    call.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": hints["return"]}
    return call, extras


def _parameter(name: str, info: FieldInfo) -> inspect.Parameter:
    """A tool argument exactly as the request declares the field."""
    annotation = Annotated[(info.annotation, *info.metadata, Field(description=info.description))]
    default = (
        inspect.Parameter.empty
        if info.is_required()
        else info.get_default(call_default_factory=True)
    )
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
    )
