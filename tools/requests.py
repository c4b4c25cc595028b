"""What the front doors ask of the library: one pydantic model per request.

Like ``results.py`` it imports nothing but pydantic, so a door (the command line, an MCP
server) can build and send requests without loading the engine.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Backend = Literal["openai", "storyboard"]
Quality = Literal["low", "medium", "high", "xhigh", "max", "auto"]
LayoutName = Literal["grid", "strip", "vertical"]
PanelCount = Literal[1, 2, 3, 4, 6]


class ComicRequest(BaseModel):
    """What to draw. Unset ``style``, ``panels`` and ``layout`` mean: the earlier comic's on a
    refinement, else ghibli, 4 panels, a grid."""

    prompt: str
    photos: list[int | str] = Field(
        default_factory=list, description="photo ids from searches, or photo paths"
    )
    subject: str | None = Field(None, description="a remembered subject whose photos to use")
    style: str | None = None
    panels: PanelCount | None = None
    layout: LayoutName | None = None
    refine: str | None = None
    size: str = Field("auto", description="WIDTHxHEIGHT the model accepts, or auto")
    quality: Quality = "auto"
    model: str | None = Field(None, description="image model; default PHOTOCOMIC_IMAGE_MODEL")
    backend: Backend = "openai"
    dry_run: bool = False
