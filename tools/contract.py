"""What every operation is made of, and the pieces all steps share.

An operation is declared once, by its request model: the class names the operation (the MCP
tool's name where there is one), its answer model (``Ask[Answer]``) and the handler the engine
calls (``"package.module:function"``, imported when first asked for). Nothing else lists
operations: a door sends ``type(request).op``, the engine finds the class in
:data:`OPERATIONS`, validates the body with it and calls the handler with the caller's scope.

Like every ``contract`` module this imports nothing but pydantic, so a door (the command line,
an MCP server) can build requests and read answers without loading the engine.
"""

from __future__ import annotations

import base64
import os
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, Field

A = TypeVar("A", bound=BaseModel)

Transport = Literal["stdio", "http"]


def path_from_raw(raw: str) -> str:
    """A path from the base64 of its bytes (how names that are not UTF-8 travel as text)."""
    return os.fsdecode(base64.b64decode(raw))


class Ask(BaseModel, Generic[A]):
    """A request to the library's owner; subclasses set ``op`` and ``handler``."""

    op: ClassVar[str] = ""
    handler: ClassVar[str] = ""
    answer: ClassVar[type[BaseModel]]

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
        known = OPERATIONS.setdefault(cls.op, cls)
        if known is not cls:
            raise TypeError(f"operation {cls.op!r} is declared twice: {known} and {cls}")


OPERATIONS: dict[str, type[Ask[Any]]] = {}  # every operation by name, filled as declared


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
