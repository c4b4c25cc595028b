"""Drawing a planned comic (by the image model, or laid out offline), lettering it, and saving
it in the :class:`~.comic_store.ComicStore`; re-lettering a saved one without drawing."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path

from photocomic.tools.comics.animation import gif_facts
from photocomic.tools.comics.comic_store import ComicStore
from photocomic.tools.comics.contract import CastMember, ComicRecord, ComicRequest, DryRunResult
from photocomic.tools.comics.image_api import ApiAccess, ImageApi, ImageCall, safety_identifier
from photocomic.tools.comics.image_models import PRICES_AS_OF, estimate_cost
from photocomic.tools.comics.inputs import AllowFn
from photocomic.tools.comics.lettering import letter, panel_boxes
from photocomic.tools.comics.planning import Plan, dry_run, plan_comic
from photocomic.tools.comics.script_contract import Letter, ScriptPanel
from photocomic.tools.comics.storyboard import render_animation, render_storyboard, split_captions
from photocomic.tools.config import Settings
from photocomic.tools.contract import PhotoRef
from photocomic.tools.errors import BadResponse, DecodeError
from photocomic.tools.photos.images import encode_png
from PIL import Image

log = logging.getLogger(__name__)

PartialFn = Callable[[int, bytes], None]


class ComicStudio:
    """Makes comics. Stateless apart from the files, so any number of instances (CLI runs,
    server restarts) see the same comics."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.comics = ComicStore(settings.comics_dir)

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
        """Plan, then (unless a dry run) draw, letter and save a comic.

        ``photos`` are already resolved and allowed by the caller; ``allow`` checks the photos
        a refinement inherits from the earlier comic, which the caller has not seen;
        ``within`` are the folders every photo opened must really lie in (None: any);
        ``cast`` are the subjects (their sheets and photos), sent before ``photos``; ``notes``
        go into the record for the person.
        """
        access = access or ApiAccess.from_env()
        plan = plan_comic(self.settings, self.comics, request, photos, allow, within, access, cast)
        plan.notes[:0] = notes
        if request.dry_run:
            return dry_run(plan, self.estimate(plan))
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

    def estimate(self, plan: Plan) -> float | None:
        """What drawing ``plan`` may cost, all variants: the mean of what drawings of the same
        model, size and quality cost before (from their reported usage); None without such
        drawings or a known price, never a guess."""
        if plan.backend != "openai":
            return 0.0
        frames = plan.motion.frames if plan.motion else None
        costs = [
            r.cost_usd for r in self.comics.list()
            if (r.model, r.size, r.quality) == (plan.model, plan.size, plan.quality)
            and r.frames == frames  # a GIF costs by its frames: only GIFs of as many count
            and r.cost_usd is not None and r.edit != "letters"
        ]  # fmt: skip
        if not costs:
            return None
        return round(sum(costs) / len(costs) * plan.variants, 4)

    def reletter(self, parent: ComicRecord, script: list[ScriptPanel]) -> ComicRecord:
        """The same drawing with other lines, as a new version of ``parent``: no image model,
        no cost."""
        source = parent.art_path or parent.path
        try:
            drawing = Path(source).read_bytes()
            with Image.open(io.BytesIO(drawing)) as opened:
                art = opened.convert("RGB")
        except OSError as exc:
            raise DecodeError(
                f"cannot read comic {parent.comic_id}'s drawing {source}: {exc}"
            ) from None
        boxes = panel_boxes(parent.backend, parent.panels, parent.layout, art.size)
        lettered, letters = letter(art, script, boxes)
        comic_id = self.comics.new_id()
        record = parent.model_copy(
            update={
                "comic_id": comic_id, "parent_id": parent.comic_id,
                "path": str(self.comics.image_path(comic_id).absolute()),
                "art_path": str(self.comics.art_path(comic_id).absolute()),
                "user_prompt": "lettered again (the drawing is kept)", "script": script,
                "letters": letters, "edit": "letters", "panel": None, "edit_box": None,
                "variant": None, "variants": [], "usage": None, "cost_usd": 0.0,
                "prices_as_of": None, "created_at": _now(),
                "notes": [f"the lines of {parent.comic_id} set again on its drawing: no image "
                          "model call, no cost"],
            }
        )  # fmt: skip
        self.comics.write(record, encode_png(lettered), drawing)  # the drawing's own bytes
        return record

    # -- backends -----------------------------------------------------------------------------

    def _storyboard(self, plan: Plan) -> bytes:
        pictures = [item.image for item in plan.inputs]
        if plan.motion is not None:
            size = (plan.width, plan.height)
            return render_animation(pictures, plan.motion.frames, plan.motion.frame_ms, size)
        captions = (
            [""] * plan.panels if plan.script else split_captions(plan.user_prompt, plan.panels)
        )  # a script's lines are lettered instead
        page = render_storyboard(
            pictures, captions, plan.panels, plan.layout,
            (plan.width, plan.height), subtitle=f"photocomic · {plan.style} · {plan.panels} panels",
        )  # fmt: skip
        return encode_png(page)

    def _draw(
        self, plan: Plan, access: ApiAccess, on_partial: PartialFn | None
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
            stream=plan.streams and on_partial is not None,
            mask=plan.edit.overlay if plan.edit and plan.edit.field == "mask" else None,
            markup=plan.edit.overlay if plan.edit and plan.edit.field == "markup" else None,
            n=plan.variants,
            output_format="gif" if plan.motion else None,
            frame_count=plan.motion.frames if plan.motion else None,
            frame_duration_ms=plan.motion.frame_ms if plan.motion else None,
        )
        answer = api.draw(call, on_partial)
        plan.notes.extend(answer.notes)
        return [answer.png, *answer.more], answer.usage

    # -- files --------------------------------------------------------------------------------

    def _save(
        self, plan: Plan, pngs: list[bytes], usage: dict[str, object] | None
    ) -> list[ComicRecord]:
        """One record per drawing; several drawings of one request are siblings (one parent)
        that list each other, each charged its share of the request's usage. With a script,
        each drawing is kept as the art and lettered."""
        ids = [self.comics.new_id() for _ in pngs]
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
            shown, art, letters = self._lettered(plan, png)
            width, height, frames, frame_ms = _facts(png, plan)
            form = "gif" if plan.motion else "png"
            record = ComicRecord(
                comic_id=comic_id,
                parent_id=plan.parent.comic_id if plan.parent else None,
                path=str(self.comics.image_path(comic_id, form).absolute()),
                format=form, frames=frames, frame_ms=frame_ms,
                prompt=plan.prompt, user_prompt=plan.user_prompt, style=plan.style,
                panels=plan.panels, layout=plan.layout, photos=plan.photos, model=plan.model,
                size=plan.size, quality=plan.quality, backend=plan.backend, usage=usage,
                cost_usd=share, prices_as_of=PRICES_AS_OF if share is not None else None,
                created_at=_now(), width=width, height=height,
                input_fidelity=plan.input_fidelity,
                input_images=[item.source for item in plan.inputs],
                subject=plan.subject, notes=notes,
                edit=edit.kind if edit else None, panel=edit.panel if edit else None,
                edit_box=list(edit.box) if edit else None,
                variant=index + 1 if len(pngs) > 1 else None,
                variants=ids if len(pngs) > 1 else [],
                subjects=plan.subjects, sheets=plan.sheets, sheet_for=plan.sheet_for,
                story=plan.story.story, changes=plan.story.changes, script=plan.script,
                letters=letters,
                art_path=str(self.comics.art_path(comic_id).absolute()) if art else None,
            )  # fmt: skip
            self.comics.write(record, shown, art)
            records.append(record)
        return records

    def _lettered(self, plan: Plan, png: bytes) -> tuple[bytes, bytes | None, list[Letter]]:
        """(what the reader sees, the drawing without letters or None, the letters)."""
        if plan.script is None:
            return png, None, []
        with Image.open(io.BytesIO(png)) as opened:
            art = opened.convert("RGB")
        boxes = panel_boxes(plan.backend, plan.panels, plan.layout, art.size)
        lettered, letters = letter(art, plan.script, boxes)
        return encode_png(lettered), png, letters


def _facts(data: bytes, plan: Plan) -> tuple[int, int, int | None, int | None]:
    """(width, height, frames, ms per frame) of what was drawn; BadResponse when an animation
    came back as something else."""
    if plan.motion is None:
        with Image.open(io.BytesIO(data)) as picture:
            return picture.width, picture.height, None, None
    try:
        width, height, frames, frame_ms = gif_facts(data)
    except (ValueError, OSError) as exc:
        raise BadResponse(f"an animation was asked for and the image API sent {exc}") from None
    return width, height, frames, frame_ms or plan.motion.frame_ms


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()
