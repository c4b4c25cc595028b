"""Planning a comic: every check that can be made locally (the model, its sizes and quality
tiers, the layout, the prompt, the script, the photos) is made here, before anything is sent,
so a bad request costs nothing. :mod:`studio` draws what a plan holds.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from photocomic.tools.comics.animation import (
    DEFAULT_FRAME_MS,
    DEFAULT_FRAMES,
    Motion,
    check_motion,
    motion_prompt,
)
from photocomic.tools.comics.cast import pictures, sheet_prompt
from photocomic.tools.comics.comic_store import ComicStore
from photocomic.tools.comics.contract import (
    CastMember,
    ComicRecord,
    ComicRequest,
    DryRunResult,
    InputImage,
    SheetRef,
)
from photocomic.tools.comics.edits import Edit, plan_edit
from photocomic.tools.comics.image_api import ApiAccess
from photocomic.tools.comics.image_catalog import catalog, choose
from photocomic.tools.comics.image_models import (
    AUTO,
    ModelRules,
    check_quality,
    choose_size,
    coming_shutdown,
    retirement_notice,
    rules_for,
)
from photocomic.tools.comics.inputs import AllowFn, Input, dedupe
from photocomic.tools.comics.layouts import check_layout
from photocomic.tools.comics.lettering import check_lines, check_script, panel_boxes, scene_words
from photocomic.tools.comics.script_contract import ScriptPanel
from photocomic.tools.comics.story import Story, story_of, story_words
from photocomic.tools.comics.styles import (
    DEFAULT_STYLE,
    MAX_PROMPT_CHARS,
    build_prompt,
    normalise_style,
)
from photocomic.tools.config import Settings
from photocomic.tools.contract import PhotoRef
from photocomic.tools.errors import InvalidInput, ModelNotFound, ModelRetired
from PIL import Image

DEFAULT_PANELS = 4
STORYBOARD_MODEL = "storyboard"


@dataclass
class Plan:
    """A validated request with its pictures decoded and encoded, ready to send or lay out."""

    user_prompt: str
    prompt: str
    style: str
    panels: int
    layout: str
    model: str
    rules: ModelRules | None
    size: str
    width: int
    height: int
    quality: str
    backend: str
    parent: ComicRecord | None
    photos: list[PhotoRef]
    inputs: list[Input]
    input_fidelity: str | None
    subject: str | None
    notes: list[str] = field(default_factory=list)
    edit: Edit | None = None
    variants: int = 1
    subjects: list[str] = field(default_factory=list)
    sheets: list[SheetRef] = field(default_factory=list)
    sheet_for: str | None = None
    story: Story = field(default_factory=lambda: Story(""))
    script: list[ScriptPanel] | None = None
    motion: Motion | None = None

    @property
    def streams(self) -> bool:
        """Whether the drawing streams partial images (never for a GIF)."""
        return bool(self.rules and self.rules.streams and self.motion is None)


def plan_comic(
    settings: Settings,
    comics: ComicStore,
    request: ComicRequest,
    photos: Sequence[PhotoRef],
    allow: AllowFn | None = None,
    within: Sequence[Path] | None = None,
    access: ApiAccess | None = None,
    cast: Sequence[CastMember] = (),
) -> Plan:
    user_prompt = check_prompt(request.prompt)
    refine = (request.refine or "").strip() or None
    parent = comics.get(refine) if refine else None
    animate = animated(request, parent)
    script = None if animate else request.script or (parent.script if parent else None)
    style = normalise_style(request.style or (parent.style if parent else DEFAULT_STYLE))
    panels = request.panels or (parent.panels if parent and not animate else None)
    panels = 1 if animate else panels or (len(request.script) if request.script else DEFAULT_PANELS)
    layout = check_layout(panels, request.layout or (parent.layout if parent else "grid"))
    if script is not None:
        if request.sheet_for:
            raise InvalidInput("a character sheet has no script: it shows the subject alone")
        check_lines(script, panels)
    notes: list[str] = []
    model, rules = choose_model(settings, request, parent, notes, access)
    motion = _motion(request, parent, rules, model) if animate else None
    size, width, height = (
        (motion.size, motion.width, motion.height) if motion
        else choose_size(rules, model, request.size, panels, layout)
    )  # fmt: skip
    if script is not None:
        check_script(script, panel_boxes(request.backend, panels, layout, (width, height)))
    quality = check_quality(rules, model, request.quality) if rules else request.quality

    if request.variants > 1 and request.backend != "openai":
        raise InvalidInput("variants need the image model: the storyboard lays out one page")
    chosen, inputs, who = pictures(parent, dedupe(list(photos)), cast, allow, within, notes)
    first = inputs[0].image if parent is not None else None
    edit = plan_edit(request, parent, first, bool(rules and rules.markup))
    told = story_of(parent, comics.lineage) if parent else Story(user_prompt)
    plan = Plan(
        user_prompt=user_prompt, prompt="", style=style, panels=panels, layout=layout,
        model=model, rules=rules, size=size, width=width, height=height, quality=quality,
        backend=request.backend, parent=parent, photos=chosen, inputs=inputs,
        input_fidelity=rules.fidelity_to_send if rules else None,
        subject=request.subject, notes=notes, edit=edit, variants=request.variants,
        subjects=[m.name for m in cast] if parent is None else list(parent.subjects),
        sheets=who.sheets if who else [],
        sheet_for=request.sheet_for or (parent.sheet_for if parent else None),
        story=told if parent is None else told.then(user_prompt), script=script, motion=motion,
    )  # fmt: skip
    plan.prompt = _prompt(plan, request, told, who.words if who else None, cast)
    return plan


def _prompt(
    plan: Plan, request: ComicRequest, told: Story, cast_words: str | None,
    cast: Sequence[CastMember],
) -> str:  # fmt: skip
    """What the image model is told: a sheet's, an animation's or a comic's words, then a
    script's scenes and an edit's instructions."""
    parent, count = plan.parent, len(plan.photos)
    story = story_words(told) if parent else None
    if request.sheet_for and parent is None:
        kind = cast[0].kind if cast else None
        prompt = sheet_prompt(request.sheet_for, kind, plan.style, plan.user_prompt, count)
    elif plan.motion is not None:
        earlier = None if parent is None else "gif" if parent.format == "gif" else "still"
        prompt = motion_prompt(
            style=plan.style, user_prompt=plan.user_prompt, motion=plan.motion,
            photo_count=count, story=story, earlier=earlier, cast_words=cast_words,
        )  # fmt: skip
    else:
        prompt = build_prompt(
            user_prompt=plan.user_prompt, style=plan.style, panels=plan.panels,
            layout=plan.layout, width=plan.width, height=plan.height, photo_count=count,
            story=story, refining=parent is not None, cast_words=cast_words,
            lettered=plan.script is not None,
        )  # fmt: skip
    if request.script is not None:
        prompt = f"{prompt}\n\n{scene_words(request.script)}"
    if plan.edit is not None:
        prompt = f"{prompt}\n\n{plan.edit.words}"
    return prompt


def animated(request: ComicRequest, parent: ComicRecord | None) -> bool:
    """Whether the comic moves (a refinement keeps its comic's choice unless told), with what
    a GIF cannot have refused before anything is sent."""
    animate = request.animate if request.animate is not None else bool(
        parent and parent.format == "gif"
    )  # fmt: skip
    if not animate:
        if request.frames is not None or request.frame_ms is not None:
            raise InvalidInput("frames and frame_ms shape an animation: add [[animate]]")
        return False
    given = [name for name in ("panel", "region", "markup_png", "script", "sheet_for")
             if getattr(request, name) is not None]  # fmt: skip
    if request.panels not in (None, 1):
        given.append("panels")
    if request.variants > 1:
        given.append("variants")
    if given:
        raise InvalidInput(
            f"an animated comic is one scene that moves, drawn whole as one GIF: {given[0]} "
            "goes with a still comic (no mask, markup, panels, lettering or variants for a GIF)"
        )
    return True


def _motion(
    request: ComicRequest, parent: ComicRecord | None, rules: ModelRules | None, model: str
) -> Motion:
    """The frames, timing and size asked, else a refined animation's own, else the defaults."""
    earlier = parent if parent is not None and parent.format == "gif" else None
    frames = request.frames or (earlier and earlier.frames) or DEFAULT_FRAMES
    frame_ms = request.frame_ms or (earlier and earlier.frame_ms) or DEFAULT_FRAME_MS
    size = earlier.size if earlier and request.size == "auto" else request.size
    return check_motion(rules, model, size, frames, frame_ms)


def choose_model(
    settings: Settings,
    request: ComicRequest,
    parent: ComicRecord | None,
    notes: list[str],
    access: ApiAccess | None,
) -> tuple[str, ModelRules | None]:
    """The image model and its rules (None for the storyboard), chosen against the models
    the key can use; ModelRetired / ModelNotFound before anything is sent."""
    if request.backend == "storyboard":
        return STORYBOARD_MODEL, None
    found = catalog(access, settings.cache_dir)
    if found.note:
        notes.append(found.note)
    asked = (request.model or "").strip()
    name = asked or settings.image_model
    try:
        model = choose(name, found)
        rules = rules_for(model)
    except (ModelRetired, ModelNotFound) as exc:
        if asked or name.lower() == AUTO:
            raise
        raise type(exc)(  # only the setting can change the default: say so plainly
            f"{exc.raw} The model is PHOTOCOMIC_IMAGE_MODEL={name}, photocomic's default "
            "for every comic: change or remove that setting."
        ) from None
    coming = coming_shutdown(model)
    if coming:
        notes.append(coming)
    if parent is not None and parent.backend == "openai" and parent.model != model:
        gone = " (no longer available)" if retirement_notice(parent.model) else ""
        notes.append(
            f"the earlier comic was drawn with {parent.model}{gone}; this refinement uses {model}"
        )
    if not rules.known:
        notes.append(
            f"{model} is not in photocomic's table of image models: sent with the sizes "
            "and quality tiers every GPT image model takes"
        )
    return model, rules


def dry_run(plan: Plan, estimate: float | None) -> DryRunResult:
    edit = plan.edit
    overlay = None
    if edit is not None:
        with Image.open(io.BytesIO(edit.overlay.data)) as picture:
            overlay = InputImage(
                source=edit.field, width=picture.width, height=picture.height, format="PNG",
                bytes=len(edit.overlay.data),
            )  # fmt: skip
    return DryRunResult(
        edit=edit.kind if edit else None, panel=edit.panel if edit else None,
        edit_box=list(edit.box) if edit else None, overlay=overlay, drawings=plan.variants,
        estimated_cost_usd=estimate,
        prompt=plan.prompt,
        images=[
            InputImage(
                source=item.source, width=item.image.width, height=item.image.height,
                format=item.format, bytes=len(item.data),
            )
            for item in plan.inputs
        ],
        model=plan.model, size=plan.size, quality=plan.quality, backend=plan.backend,
        style=plan.style, panels=plan.panels, layout=plan.layout,
        parent_id=plan.parent.comic_id if plan.parent else None, photos=plan.photos,
        input_fidelity=plan.input_fidelity, subject=plan.subject, notes=plan.notes,
        subjects=plan.subjects, sheets=plan.sheets, sheet_for=plan.sheet_for, script=plan.script,
        output_format="gif" if plan.motion else "png",
        frame_count=plan.motion.frames if plan.motion else None,
        frame_duration_ms=plan.motion.frame_ms if plan.motion else None,
        stream=plan.streams,
    )  # fmt: skip


def check_prompt(prompt: str) -> str:
    text = (prompt or "").strip()
    if not text:
        raise InvalidInput("the prompt is empty: say what the comic should show or change")
    if len(text) > MAX_PROMPT_CHARS:
        raise InvalidInput(
            f"the prompt is {len(text):,} characters long; the limit is {MAX_PROMPT_CHARS:,}. "
            "Describe the story in a few sentences; nothing was sent."
        )
    return text
