"""What every operation is made of, and the pieces all steps share.

An operation is declared once, by its request model: the class names the operation (the MCP
tool's name where there is one), its answer model (``Ask[Answer]``), and its fields are its
arguments (types, bounds, defaults, descriptions), from which the MCP tools' input schemas and
the command line's flags are built. A door sends ``type(request).op``; the engine finds the
class and its handler in one table (``tools/owner/dispatch.py``), validates the body with it
and calls the handler with the caller's scope.

Like every ``contract`` module this imports nothing but pydantic, so a door (the command line,
an MCP server) can build requests and read answers without loading the engine.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, Strict

A = TypeVar("A", bound=BaseModel)

Transport = Literal["stdio", "http"]

# The bounds every door states and pydantic enforces, declared once (tools/policy.py reads them).
MAX_LIMIT = 100  # hits per answer: a contact sheet of 100 cells is already a lot to look at
MAX_OFFSET = 10_000  # how deep a caller may page into a ranking
MAX_WAIT = 50.0  # seconds a call may wait: clients give up on a call after about a minute
MAX_PHOTOS = 100  # photo ids in one request
MAX_NAME = 100  # a subject's name, a tag, a style, an id
MAX_TEXT = 500  # words to search for
MAX_PROMPT = 4_000  # a story or a change to a comic
MAX_PATH = 4_096  # a path, as Linux allows it
MAX_UPLOAD = 64 << 20  # bytes an uploaded picture may have at most (a setting may lower it)
MAX_UPLOAD_TEXT = MAX_UPLOAD * 4 // 3 + 1_024  # its base64, with room for a data: prefix

Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME)]
PathText = Annotated[str, Field(min_length=1, max_length=MAX_PATH)]
PromptText = Annotated[str, Field(max_length=MAX_PROMPT)]
IdOrPath = Annotated[int, Strict()] | PathText  # "0" * 5000 is a path to judge, not id 0
Offset = Annotated[
    int, Field(ge=0, le=MAX_OFFSET, description="skip this many: the next page (next_offset)")
]
NextOffset = Annotated[int | None, Field(description="offset= for the next page; None: the last")]
WaitSeconds = Annotated[
    float,
    Field(ge=0, le=MAX_WAIT, description=f"how long to wait before answering (0-{MAX_WAIT:g} s)"),
]


T = TypeVar("T")


def page_of(items: Sequence[T], offset: int, limit: int | None) -> tuple[list[T], int | None]:
    """One page of a listing and the ``next_offset`` that gets the next (None: the last page;
    ``limit`` None: everything from ``offset``)."""
    end = len(items) if limit is None else offset + limit
    return list(items[offset:end]), end if end < len(items) else None


def limit_field(default: int, what: str = "photos", most: int = MAX_LIMIT) -> Any:
    """A ``limit`` argument: how many to answer with, 1 to ``most``."""
    return Field(default, ge=1, le=most, description=f"how many {what}, 1-{most}")


def path_from_raw(raw: str) -> str:
    """A path from the base64 of its bytes (how names that are not UTF-8 travel as text)."""
    return os.fsdecode(base64.b64decode(raw))


class Ask(BaseModel, Generic[A]):
    """A request to the library's owner; subclasses set ``op``.

    ``sent_once``: the operation draws and bills, so a door never sends it a second time
    (a dropped connection cannot tell an engine that never read it from one drawing it).
    Unknown fields are refused: an argument a caller misspelt must not be silently dropped.
    """

    model_config = ConfigDict(extra="forbid")

    op: ClassVar[str] = ""
    answer: ClassVar[type[BaseModel]]
    sent_once: ClassVar[bool] = False

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if "op" not in cls.__dict__:
            return  # a parametrised base (Ask[Answer]) or a shared base of requests
        for base in cls.__mro__:
            meta = getattr(base, "__pydantic_generic_metadata__", None)
            if meta and meta.get("origin") is Ask and meta.get("args"):
                cls.answer = meta["args"][0]
                break
        else:
            raise TypeError(f"{cls.__name__} names no answer: derive it from Ask[Answer]")


class Empty(BaseModel):
    pass


class ImageData(BaseModel):
    mime: str
    data: str = Field(description="base64")


class PhotoRef(BaseModel):
    """A reference photo of a comic, already resolved and allowed by the caller."""

    photo_id: int | None = None
    path: str = Field(description="the file's path (as text when its name is not UTF-8)")
    raw_path: str | None = Field(
        None, description="base64 of the file name's bytes, only when they are not UTF-8"
    )

    def local_path(self) -> str:
        """The path to open: exactly the file's own bytes, UTF-8 or not."""
        return path_from_raw(self.raw_path) if self.raw_path else self.path
