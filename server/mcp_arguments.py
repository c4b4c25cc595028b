"""The arguments MCP tools take, as their input schemas describe them to the model.

No ``from __future__ import annotations``: the SDK reads these types at registration.
"""

from datetime import date
from typing import Annotated

from photocomic.tools.comics.contract import Backend, LayoutName, PanelCount, Region
from pydantic import Field

Folder = Annotated[
    str | None, Field(description="only photos under this folder (inside the allowed roots)")
]
TakenAfter = Annotated[date | None, Field(description="only photos taken on or after, YYYY-MM-DD")]
TakenBefore = Annotated[
    date | None, Field(description="only photos taken on or before, YYYY-MM-DD")
]
Tag = Annotated[
    str | None, Field(description="only photos tagged with this label or category: 'dog'")
]
Diversify = Annotated[bool, Field(description="skip near-identical shots so the hits show variety")]
Limit = Annotated[int, Field(description="how many photos, 1-100")]
Wait = Annotated[float, Field(description="how long to wait before answering (0-50 s)")]

# generate_comic's arguments, as its schema describes them
Prompt = Annotated[str, Field(description="the story, or on a refinement what to change")]
ComicPhotos = Annotated[
    list[int | str] | None,
    Field(description="photo ids from searches (or paths inside the roots), up to 16"),
]
Style = Annotated[
    str | None, Field(description="ghibli (default), manga, watercolor, american-comic, ...")
]
Panels = Annotated[PanelCount | None, Field(description="panel count (default 4)")]
Layout = Annotated[
    LayoutName | None,
    Field(description="grid: a page; strip: 2-4 panels in a row; vertical: for phones"),
]
Refine = Annotated[
    str | None, Field(description="comic_id of an earlier comic to change; it is sent first")
]
Size = Annotated[str, Field(description="auto (fits the layout) or WIDTHxHEIGHT the model takes")]
BackendArg = Annotated[
    Backend, Field(description="openai: the image model; storyboard: an offline layout")
]
SubjectArg = Annotated[
    str | None, Field(description="a remembered subject: its best photos become the references")
]
DryRun = Annotated[bool, Field(description="show the prompt and images that would be sent")]
PanelArg = Annotated[
    int | None, Field(description="with refine: redraw only this panel (1-based), the rest stays")
]
RegionArg = Annotated[
    Region | None,
    Field(description="with refine: redraw only this box {x, y, w, h} in the comic's pixels"),
]
Variants = Annotated[
    int, Field(description="1-4 drawings to choose from; each is saved and can be refined")
]
Markup = Annotated[
    str | None,
    Field(description="with refine: base64 PNG of strokes on a clear layer over the comic"),
]
SubjectsArg = Annotated[
    list[str] | None,
    Field(description="several remembered subjects in one comic: ['Cola', 'Max']"),
]
