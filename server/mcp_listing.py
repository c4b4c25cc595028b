"""How each MCP tool is listed: its title, hints and the app page beside its answer. A tool
lists itself with ``@listed``; the server registers :data:`TOOLS` in the order they were
declared."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from mcp_types import ToolAnnotations

F = TypeVar("F", bound=Callable[..., Any])

READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False, idempotent_hint=True)
WRITES_STORE = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)
FORGETS = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
)
DRAWS = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
)


@dataclass(frozen=True)
class Listed:
    """How a tool is listed: its title, its hints and the page shown beside its answer. An
    app-only helper is hidden from the model and from clients without MCP Apps."""

    fn: Callable[..., Any]
    title: str
    hints: ToolAnnotations
    page: str | None = None
    app_only: bool = False


TOOLS: list[Listed] = []  # in the order clients list them: the order of this file


def listed(
    title: str, hints: ToolAnnotations, page: str | None = None, app_only: bool = False
) -> Callable[[F], F]:
    def add(fn: F) -> F:
        TOOLS.append(Listed(fn, title, hints, page, app_only))
        return fn

    return add
