"""Comics from photos: planning a request against the model's rules, drawing it (or laying it
out offline), refinement lineage.

Every check that can be made locally (the model, its sizes and quality tiers, the layout, the
prompt, the photos) is made while planning, before anything is sent, so a bad request costs
nothing. The comics are kept by :class:`~.comic_records.ComicShelf`.
"""

from __future__ import annotations

import io
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from photocomic.tools.comics.cast import pictures, sheet_prompt
from photocomic.tools.comics.contract import (
    CastMember,
    ComicRecord,
    ComicRequest,
    DryRunResult,
    InputImage,
    SheetRef,
)
from photocomic.tools.comics.edits import Edit, plan_edit
from photocomic.tools.comics.image_api import ApiAccess, ImageApi, ImageCall, safety_identifier
from photocomic.tools.comics.image_catalog import catalog, choose
from photocomic.tools.comics.image_models import (
    AUTO,
    PRICES_AS_OF,
    ModelRules,
    check_quality,
    choose_size,
    coming_shutdown,
    estimate_cost,
    retirement_notice,
    rules_for,
)
from photocomic.tools.comics.inputs import (
    AllowFn,
    Input,
    dedupe,
)
from photocomic.tools.comics.layouts import check_layout
from photocomic.tools.comics.records import ComicShelf, iter_lineage
from photocomic.tools.comics.story import Story, story_of, story_words
from photocomic.tools.comics.storyboard import render_storyboard, split_captions
from photocomic.tools.comics.styles import (
    DEFAULT_STYLE,
    MAX_PROMPT_CHARS,
    build_prompt,
    normalise_style,
)
from photocomic.tools.config import Settings
from photocomic.tools.contract import PhotoRef
from photocomic.tools.errors import InvalidInput, ModelNotFound, ModelRetired
from photocomic.tools.photos.images import encode_png
from PIL import Image

log = logging.getLogger(__name__)

DEFAULT_PANELS = 4
STORYBOARD_MODEL = "storyboard"
_COMIC_ID = re.compile(r"^c[0-9a-f]{10}$")

PartialFn = Callable[[int, bytes], None]


@dataclass
class _Plan:
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


class ComicStudio:
    """Makes, saves and lists comics. Stateless apart from the files, so any number of
    instances (CLI runs, server restarts) see the same comics."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.shelf = ComicShelf(settings.comics_dir)

    @property
    def comics_dir(self) -> Path:
        return self.settings.comics_dir

    # -- public API ---------------------------------------------------------------------------

    def generate(
        self,
        request: ComicRequest,
        photos: Sequence[PhotoRef],
        access: ApiAccess | None = None,
        allow: AllowFn | None = None,
        on_partial: PartialFn | None = None,
        within: Sequence[Path] | None = None,
        cast: Sequence[CastMember] = (),
        notes: Sequence[str] = (),
    ) -> ComicRecord | DryRunResult:
        """Plan, then (unless a dry run) draw and save a comic.

        ``photos`` are already resolved and allowed by the caller; ``allow`` checks the photos
        a refinement inherits from the earlier comic, which the caller has not seen;
        ``within`` are the folders every photo opened must really lie in (None: any);
        ``cast`` are the subjects (their sheets and photos), sent before ``photos``; ``notes``
        go into the record for the person.
        """
        access = access or ApiAccess.from_env()
        plan = self.plan(request, photos, allow, within, access, cast)
        plan.notes[:0] = notes
        if request.dry_run:
            return _dry_run(plan, self.estimate(plan))
        started = time.monotonic()
        if plan.backend == "storyboard":
            pngs, usage = [self._storyboard(plan)], None
        else:
            pngs, usage = self._draw(plan, access, on_partial)
        records = self._save(plan, pngs, usage)
        log.info(
            "comic %s saved (%s, %s, %d drawing(s), %.1f s)", records[0].comic_id,
            records[0].backend, records[0].model, len(records), time.monotonic() - started,
        )  # fmt: skip
        return records[0]

    def estimate(self, plan: _Plan) -> float | None:
        """What drawing ``plan`` may cost, all variants: the mean of what drawings of the same
        model, size and quality cost before (from their reported usage); None without such
        drawings or a known price, never a guess."""
        if plan.backend != "openai":
            return 0.0
        costs = [
            r.cost_usd for r in self.shelf.list()
            if (r.model, r.size, r.quality) == (plan.model, plan.size, plan.quality)
            and r.cost_usd is not None
        ]  # fmt: skip
        if not costs:
            return None
        return round(sum(costs) / len(costs) * plan.variants, 4)

    def list(self) -> list[ComicRecord]:
        """Every saved comic whose image is present, newest first."""
        return self.shelf.list()

    def get(self, comic_id: str) -> ComicRecord:
        """The record of one comic; NotFound if there is no such comic or its image is gone."""
        return self.shelf.get(comic_id)

    def lineage(self, comic_id: str) -> list[ComicRecord]:
        """The comic, then the one it refines, and so on back to the first."""
        return list(iter_lineage(self.shelf, comic_id))

    # -- planning -----------------------------------------------------------------------------

    def plan(
        self,
        request: ComicRequest,
        photos: Sequence[PhotoRef],
        allow: AllowFn | None = None,
        within: Sequence[Path] | None = None,
        access: ApiAccess | None = None,
        cast: Sequence[CastMember] = (),
    ) -> _Plan:
        user_prompt = _check_prompt(request.prompt)
        refine = (request.refine or "").strip() or None
        parent = self.get(refine) if refine else None
        style = normalise_style(request.style or (parent.style if parent else DEFAULT_STYLE))
        panels = request.panels or (parent.panels if parent else DEFAULT_PANELS)
        layout = check_layout(panels, request.layout or (parent.layout if parent else "grid"))
        notes: list[str] = []
        model, rules = self._model(request, parent, notes, access)
        size, width, height = choose_size(rules, model, request.size, panels, layout)
        quality = check_quality(rules, model, request.quality) if rules else request.quality

        if request.variants > 1 and request.backend != "openai":
            raise InvalidInput("variants need the image model: the storyboard lays out one page")
        chosen, inputs, who = pictures(parent, dedupe(list(photos)), cast, allow, within, notes)
        first = inputs[0].image if parent is not None else None
        edit = plan_edit(request, parent, first, bool(rules and rules.markup))
        told = story_of(parent, self.lineage) if parent else Story(user_prompt)
        if request.sheet_for and parent is None:
            kind = cast[0].kind if cast else None
            prompt = sheet_prompt(request.sheet_for, kind, style, user_prompt, len(chosen))
        else:
            prompt = build_prompt(
                user_prompt=user_prompt, style=style, panels=panels, layout=layout,
                width=width, height=height, photo_count=len(chosen),
                story=story_words(told) if parent else None,
                refining=parent is not None, cast_words=who.words if who else None,
            )  # fmt: skip
        if edit is not None:
            prompt = f"{prompt}\n\n{edit.words}"
        return _Plan(
            user_prompt=user_prompt, prompt=prompt, style=style, panels=panels, layout=layout,
            model=model, rules=rules, size=size, width=width, height=height, quality=quality,
            backend=request.backend, parent=parent, photos=chosen, inputs=inputs,
            input_fidelity=rules.fidelity_to_send if rules else None,
            subject=request.subject, notes=notes, edit=edit, variants=request.variants,
            subjects=[m.name for m in cast] if parent is None else list(parent.subjects),
            sheets=who.sheets if who else [],
            sheet_for=request.sheet_for or (parent.sheet_for if parent else None),
            story=told if parent is None else told.then(user_prompt),
        )  # fmt: skip

    def _model(
        self,
        request: ComicRequest,
        parent: ComicRecord | None,
        notes: list[str],
        access: ApiAccess | None,
    ) -> tuple[str, ModelRules | None]:
        """The image model and its rules (None for the storyboard), chosen against the models
        the key can use; ModelRetired / ModelNotFound before anything is sent."""
        if request.backend == "storyboard":
            return STORYBOARD_MODEL, None
        found = catalog(access, self.settings.cache_dir)
        if found.note:
            notes.append(found.note)
        asked = (request.model or "").strip()
        name = asked or self.settings.image_model
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
                f"the earlier comic was drawn with {parent.model}{gone}; this refinement uses "
                f"{model}"
            )
        if not rules.known:
            notes.append(
                f"{model} is not in photocomic's table of image models: sent with the sizes "
                "and quality tiers every GPT image model takes"
            )
        return model, rules

    # -- backends -----------------------------------------------------------------------------

    def _storyboard(self, plan: _Plan) -> bytes:
        page = render_storyboard(
            [item.image for item in plan.inputs],
            split_captions(plan.user_prompt, plan.panels),
            plan.panels,
            plan.layout,
            (plan.width, plan.height),
            subtitle=f"photocomic · {plan.style} · {plan.panels} panels",
        )
        return encode_png(page)

    def _draw(
        self, plan: _Plan, access: ApiAccess, on_partial: PartialFn | None
    ) -> tuple[list[bytes], dict[str, object] | None]:
        api = ImageApi(access, self.settings.image_timeout, self.settings.image_retries)
        call = ImageCall(
            model=plan.model,
            prompt=plan.prompt,
            images=[item.picture() for item in plan.inputs],
            size=plan.size,
            quality=plan.quality,
            input_fidelity=plan.input_fidelity,
            safety_identifier=safety_identifier(self.settings.data_dir),
            stream=bool(plan.rules and plan.rules.streams and on_partial is not None),
            mask=plan.edit.overlay if plan.edit and plan.edit.field == "mask" else None,
            markup=plan.edit.overlay if plan.edit and plan.edit.field == "markup" else None,
            n=plan.variants,
        )
        answer = api.draw(call, on_partial)
        plan.notes.extend(answer.notes)
        return [answer.png, *answer.more], answer.usage

    # -- files --------------------------------------------------------------------------------

    def _save(
        self, plan: _Plan, pngs: list[bytes], usage: dict[str, object] | None
    ) -> list[ComicRecord]:
        """One record per drawing; several drawings of one request are siblings (one parent)
        that list each other, each charged its share of the request's usage."""
        ids = [self.shelf.new_id() for _ in pngs]
        cost = estimate_cost(plan.model, usage) if plan.backend == "openai" else None
        share = round(cost / len(pngs), 4) if cost is not None else None
        notes = list(plan.notes)
        if len(pngs) > 1:
            notes.append(
                f"one of {len(pngs)} variants drawn in one request; usage is the request's"
            )
        edit = plan.edit
        records = []
        for index, (comic_id, png) in enumerate(zip(ids, pngs, strict=True)):
            with Image.open(io.BytesIO(png)) as picture:
                width, height = picture.size
            record = ComicRecord(
                comic_id=comic_id,
                parent_id=plan.parent.comic_id if plan.parent else None,
                path=str(self.shelf.image_path(comic_id).absolute()),
                prompt=plan.prompt, user_prompt=plan.user_prompt, style=plan.style,
                panels=plan.panels, layout=plan.layout, photos=plan.photos, model=plan.model,
                size=plan.size, quality=plan.quality, backend=plan.backend, usage=usage,
                cost_usd=share, prices_as_of=PRICES_AS_OF if share is not None else None,
                created_at=datetime.now(timezone.utc).isoformat(), width=width, height=height,
                input_fidelity=plan.input_fidelity,
                input_images=[item.source for item in plan.inputs],
                subject=plan.subject, notes=notes,
                edit=edit.kind if edit else None, panel=edit.panel if edit else None,
                edit_box=list(edit.box) if edit else None,
                variant=index + 1 if len(pngs) > 1 else None,
                variants=ids if len(pngs) > 1 else [],
                subjects=plan.subjects, sheets=plan.sheets, sheet_for=plan.sheet_for,
                story=plan.story.story, changes=plan.story.changes,
            )  # fmt: skip
            self.shelf.write(record, png)
            records.append(record)
        return records


# -- helpers ------------------------------------------------------------------------------------


def _dry_run(plan: _Plan, estimate: float | None) -> DryRunResult:
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
        subjects=plan.subjects, sheets=plan.sheets, sheet_for=plan.sheet_for,
    )  # fmt: skip


def _check_prompt(prompt: str) -> str:
    text = (prompt or "").strip()
    if not text:
        raise InvalidInput("the prompt is empty: say what the comic should show or change")
    if len(text) > MAX_PROMPT_CHARS:
        raise InvalidInput(
            f"the prompt is {len(text):,} characters long; the limit is {MAX_PROMPT_CHARS:,}. "
            "Describe the story in a few sentences; nothing was sent."
        )
    return text
