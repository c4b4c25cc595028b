"""Editing the way people edit: one panel, a box, brushed strokes, several drawings to pick
from, and refinements of any earlier version as branches.

Through the real ``openai`` client to the strict double, which checks a mask or markup as the
API documents (the first image's size, transparent pixels, markup only on GPT Image 2.5 and
later, never both) and records where each one is transparent.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from photocomic.tools.comics.comic_store import as_tree
from photocomic.tools.comics.contract import ComicRecord, ComicRequest, DryRunResult, Region
from photocomic.tools.comics.edits import STROKE_MARGIN
from photocomic.tools.comics.layouts import panel_box
from photocomic.tools.comics.studio import ComicStudio
from photocomic.tools.config import Settings
from photocomic.tools.contract import PhotoRef
from photocomic.tools.errors import InvalidInput
from PIL import Image, ImageDraw

try:
    from .openai_double import OpenAIDouble, pointed_at
except ImportError:
    from openai_double import OpenAIDouble, pointed_at  # type: ignore[no-redef]

KEY = "sk-test-comic-edits-0123456789abcdef"


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenAIDouble]:
    with pointed_at(monkeypatch, KEY) as double:
        yield double


@pytest.fixture
def photos(tmp_path: Path) -> list[PhotoRef]:
    path = tmp_path / "cola.jpg"
    Image.new("RGB", (800, 600), (40, 120, 60)).save(path, "JPEG")
    return [PhotoRef(photo_id=7, path=str(path))]


def draw(refs: list[PhotoRef] | None = None, **fields: object) -> ComicRecord | DryRunResult:
    request = ComicRequest(**fields)  # type: ignore[arg-type]
    return ComicStudio(Settings()).generate(request, refs or [])


def first(photos: list[PhotoRef], **fields: object) -> ComicRecord:
    request = ComicRequest(prompt="Cola chews the mouse.", **fields)  # type: ignore[arg-type]
    record = ComicStudio(Settings()).generate(request, photos)
    assert isinstance(record, ComicRecord)
    return record


def strokes(size: tuple[int, int], box: tuple[int, int, int, int]) -> str:
    """What the viewer's brush sends: red strokes on a clear layer, as base64 PNG."""
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    ImageDraw.Draw(layer).line([box[:2], box[2:]], fill=(230, 30, 30, 255), width=6)
    buf = io.BytesIO()
    layer.save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


@pytest.mark.parametrize(
    ("panels", "layout", "panel", "expected"),
    [(4, "grid", 3, (0, 512, 512, 1024)), (3, "strip", 2, (512, 0, 1024, 512)),
     (2, "vertical", 2, (0, 768, 512, 1536))],
)  # fmt: skip
def test_a_panel_redo_sends_the_comic_first_and_a_mask_open_over_that_panel_only(
    api: OpenAIDouble,
    photos: list[PhotoRef],
    panels: int,
    layout: str,
    panel: int,
    expected: tuple[int, int, int, int],
) -> None:
    earlier = first(photos, panels=panels, layout=layout)
    redo = draw(prompt="In panel 3, make her jump higher.", refine=earlier.comic_id, panel=panel)
    assert isinstance(redo, ComicRecord)
    sent = api.requests[-1]
    assert sent.answered == "ok", sent.refused
    pictures = [i for i in sent.images if i.field.startswith("image")]
    mask = next(i for i in sent.images if i.field == "mask")
    assert pictures[0].format == "PNG" and (pictures[0].width, pictures[0].height) == (
        earlier.width, earlier.height)  # fmt: skip
    assert mask.transparent_box == expected
    assert expected == panel_box(panels, layout, earlier.width or 0, earlier.height or 0, panel)
    assert not any(i.field == "markup" for i in sent.images)
    assert f"only panel {panel}" in (sent.prompt or "")
    assert (redo.edit, redo.panel, redo.edit_box, redo.parent_id) == (
        "panel", panel, list(expected), earlier.comic_id)  # fmt: skip


def test_a_region_becomes_a_mask_over_exactly_that_box(
    api: OpenAIDouble, photos: list[PhotoRef]
) -> None:
    earlier = first(photos)
    box = Region(x=100, y=200, w=300, h=150)
    redo = draw(prompt="Give her a red scarf.", refine=earlier.comic_id, region=box)
    mask = next(i for i in api.requests[-1].images if i.field == "mask")
    assert mask.transparent_box == (100, 200, 400, 350)
    assert isinstance(redo, ComicRecord) and redo.edit_box == [100, 200, 400, 350]


def test_brushed_strokes_go_as_markup_on_25_and_later_and_as_a_mask_before(
    api: OpenAIDouble, photos: list[PhotoRef], monkeypatch: pytest.MonkeyPatch
) -> None:
    earlier = first(photos)  # auto: gpt-image-2.6-sunburst
    marked = strokes((512, 512), (100, 100, 200, 150))  # the viewer's canvas is smaller
    draw(prompt="Make this ear floppy.", refine=earlier.comic_id, markup_png=marked)
    sent = api.requests[-1]
    assert sent.model == "gpt-image-2.6-sunburst" and sent.answered == "ok"
    fields = [i.field for i in sent.images]
    assert "markup" in fields and "mask" not in fields
    markup = next(i for i in sent.images if i.field == "markup")
    assert (markup.width, markup.height) == (1024, 1024)

    monkeypatch.setenv("PHOTOCOMIC_IMAGE_MODEL", "gpt-image-2")
    redo = draw(prompt="Make this ear floppy.", refine=earlier.comic_id, markup_png=marked)
    sent = api.requests[-1]
    fields = [i.field for i in sent.images]
    assert sent.model == "gpt-image-2" and "mask" in fields and "markup" not in fields
    left, top, right, bottom = next(i for i in sent.images if i.field == "mask").transparent_box
    # the line from (200, 200) to (400, 300) in comic pixels, with the brush's reach around it
    assert left <= 200 - STROKE_MARGIN + 2 and right >= 400 + STROKE_MARGIN - 2
    assert top <= 200 and bottom >= 300 and right - left < 300
    assert isinstance(redo, ComicRecord) and redo.edit == "markup"


def test_variants_are_siblings_each_a_record_shown_side_by_side(
    api: OpenAIDouble, photos: list[PhotoRef], isolated_env: Path
) -> None:
    earlier = first(photos)
    chosen = draw(prompt="Now in a cute outfit.", refine=earlier.comic_id, variants=3)
    sent = api.requests[-1]
    assert sent.fields["n"] == "3" and "stream" not in sent.fields
    assert isinstance(chosen, ComicRecord) and len(chosen.variants) == 3
    studio = ComicStudio(Settings())
    siblings = [studio.comics.get(cid) for cid in chosen.variants]
    assert {s.parent_id for s in siblings} == {earlier.comic_id}
    assert [s.variant for s in siblings] == [1, 2, 3]
    pictures = {Path(s.path).read_bytes() for s in siblings}
    assert len(pictures) == 3  # three drawings, not one saved three times
    # any of them, not only the latest, goes on: a branch
    branch = draw(prompt="At Hogwarts.", refine=chosen.variants[1])
    assert isinstance(branch, ComicRecord) and branch.parent_id == chosen.variants[1]
    tree = as_tree(list(reversed(studio.comics.list())))
    depth = {c.comic_id: d for d, c in tree}
    assert depth[earlier.comic_id] == 0 and depth[branch.comic_id] == 2
    assert all(depth[cid] == 1 for cid in chosen.variants)


def test_the_estimate_before_drawing_counts_every_variant(
    api: OpenAIDouble, photos: list[PhotoRef], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHOTOCOMIC_IMAGE_MODEL", "gpt-image-2")  # a model with known prices
    before = draw(photos, prompt="x", dry_run=True)
    assert isinstance(before, DryRunResult) and before.estimated_cost_usd is None  # no history
    earlier = first(photos)
    assert earlier.cost_usd is not None
    plan = draw(prompt="Three tries.", refine=earlier.comic_id, variants=3, dry_run=True,
                size=earlier.size)  # fmt: skip
    assert isinstance(plan, DryRunResult) and plan.drawings == 3
    assert plan.estimated_cost_usd == round(3 * earlier.cost_usd, 4)


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"panel": 2}, "panel edits an earlier comic: give refine=<comic id> too"),
        ({"panel": 5, "refine": "EARLIER"}, "panel 5 of a 4-panel comic"),
        ({"panel": 1, "region": {"x": 0, "y": 0, "w": 9, "h": 9}, "refine": "EARLIER"},
         "one way at a time"),
        ({"region": {"x": 900, "y": 0, "w": 300, "h": 9}, "refine": "EARLIER"},
         "reaches outside the comic"),
        ({"markup_png": base64.b64encode(b"no").decode(), "refine": "EARLIER"}, "not a base64 PNG"),
        ({"markup_png": "CLEAR", "refine": "EARLIER"}, "no strokes"),
        ({"variants": 2, "backend": "storyboard"}, "variants need the image model"),
    ],
)  # fmt: skip
def test_edits_that_cannot_work_are_refused_before_anything_is_sent(
    api: OpenAIDouble, photos: list[PhotoRef], fields: dict[str, object], words: str
) -> None:
    earlier = first(photos)
    before = len(api.requests)
    if fields.get("refine") == "EARLIER":
        fields = {**fields, "refine": earlier.comic_id}
    if fields.get("markup_png") == "CLEAR":
        fields = {**fields, "markup_png": _clear_png()}
    with pytest.raises(InvalidInput, match=words):
        draw(None if fields.get("refine") else photos, prompt="x", **fields)
    assert len(api.requests) == before


def _clear_png() -> str:
    buf = io.BytesIO()
    Image.new("RGBA", (64, 64), (0, 0, 0, 0)).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()
