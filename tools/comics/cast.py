"""What a comic sends and who is in it: the earlier comic, or each subject's character sheet
and photos, then other photos, and the words that tell the image model which picture shows
whom.

A character sheet (a model sheet, as animation studios draw one before a film) goes before the
subject's photos, so that separate comics draw the same Cola: the sheet fixes how she looks in
the style; two or three photos keep her real colours and markings.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from photocomic.tools.comics.contract import CastMember, ComicRecord, SheetRef
from photocomic.tools.comics.image_models import MAX_INPUT_IMAGES
from photocomic.tools.comics.inputs import AllowFn, Input, encode_comic, encode_photo, inherited
from photocomic.tools.comics.styles import IDENTITY_GUIDANCE, STYLES
from photocomic.tools.contract import PhotoRef
from photocomic.tools.errors import InvalidInput, NotFound
from photocomic.tools.find.contract import Filters
from photocomic.tools.find.subject_model import SHOWS
from photocomic.tools.find.subjects import subject_sees
from photocomic.tools.store.rows import PhotoRow
from photocomic.tools.store.subject_store import Subject
from photocomic.tools.words import plural

if TYPE_CHECKING:
    from photocomic.tools.owner.calls import Call

SHEET_PHOTOS = 3  # photos of a subject sent after its sheet
PHOTOS_WITHOUT_SHEET = 4  # photos of a subject that has no sheet in the comic's style
SHEET_WISH = "a character sheet"  # the request's prompt when the person wished for nothing


@dataclass
class Cast:
    """The cast's pictures in the order they are sent, the photos among them, the sheets, and
    the sentence that says who is who."""

    inputs: list[Input] = field(default_factory=list)
    photos: list[PhotoRef] = field(default_factory=list)
    sheets: list[SheetRef] = field(default_factory=list)
    words: str = ""


def cast_inputs(
    cast: Sequence[CastMember], others: Sequence[PhotoRef], within: Sequence[Path] | None
) -> Cast:
    """Each subject's sheet, then its photos; then ``others`` (photos of no subject)."""
    found = Cast()
    said = []
    for member in cast:
        first = len(found.inputs) + 1
        if member.sheet is not None:
            found.inputs.append(encode_comic(member.sheet))
            found.sheets.append(
                SheetRef(subject=member.name, style=member.sheet.style,
                         comic_id=member.sheet.comic_id)
            )  # fmt: skip
        for ref in member.photos:
            found.inputs.append(encode_photo(ref, within))
            found.photos.append(ref)
        said.append(_who(member, first, len(found.inputs)))
    if others:
        first = len(found.inputs) + 1
        for ref in others:
            found.inputs.append(encode_photo(ref, within))
            found.photos.append(ref)
        last = len(found.inputs)
        other = "is another reference photo" if first == last else "are other reference photos"
        said.append(f"{_images(first, last).capitalize()} {other}.")
    found.words = "Who is who in the input images: " + " ".join(said) + " " + IDENTITY_GUIDANCE
    return found


def _who(member: CastMember, first: int, last: int) -> str:
    """'The dog in images 1-3 is Cola: image 1 is Cola's character sheet ...'."""
    name = member.name
    line = f"The {member.kind or 'character'} in {_images(first, last)} is {name}"
    if member.sheet is None:
        return f"{line}: {_photos(first, last)} of the real {name}."
    said = (
        f"{line}: image {first} is {name}'s character sheet, drawn in this style; draw {name} "
        "exactly as the sheet shows, from every angle"
    )
    if last > first:
        said += f"; {_images(first + 1, last)} {_photos(first + 1, last)} of the real {name}"
    return said + "."


def _photos(first: int, last: int) -> str:
    return "is a photo" if first == last else "are photos"


def _images(first: int, last: int) -> str:
    return f"image {first}" if first == last else f"images {first}-{last}"


def sheet_prompt(name: str, kind: str | None, style: str, wishes: str, photos: int) -> str:
    """The prompt of a character sheet: views, expressions, a plain background, the photos."""
    what = f"{name}, the {kind}" if kind else name
    parts = [
        f"Create a character model sheet of {what}, as an animation studio draws one before a "
        f"film, in this art style: {STYLES[style]}",
        f"Show {name} alone on a plain, light background: full-body front, side and three-"
        "quarter views in a row at the same scale, and below them two or three head close-ups "
        "with different expressions (happy, curious, sleepy). Label each view in small, clean "
        "lettering. No scenery, no panel borders, no other characters.",
        f"The {photos} input image{'s are photos' if photos != 1 else ' is a photo'} of the "
        f"real {name}. " + IDENTITY_GUIDANCE,
    ]
    if wishes.strip() and wishes.strip() != SHEET_WISH:
        parts.append(f"Also: {wishes.strip()}")
    return "\n\n".join(parts)


def fitted(
    explicit: list[PhotoRef], cast: Sequence[CastMember], room: int, notes: list[str]
) -> tuple[list[PhotoRef], list[CastMember]]:
    """The photos that fit beside what photocomic adds itself (a character sheet, the earlier
    comic): the lowest-ranked photo of the longest list goes first, and a note says which."""
    lists = [list(explicit), *(list(m.photos) for m in cast)]
    sheets = sum(m.sheet is not None for m in cast)
    dropped: list[PhotoRef] = []
    while sum(map(len, lists)) + sheets > room:
        longest = max(lists, key=len)
        dropped.append(longest.pop())
    if dropped:
        added = [*(["the earlier comic"] if room < MAX_INPUT_IMAGES else []),
                 *([plural(sheets, "character sheet")] if sheets > 1 else []),
                 *(["the character sheet"] if sheets == 1 else [])]  # fmt: skip
        go = "goes" if len(added) == 1 and sheets <= 1 else "go"
        ids = ", ".join(str(r.photo_id) if r.photo_id is not None else r.path for r in dropped)
        kept = sum(map(len, lists))
        notes.append(
            f"sent {kept} of the {kept + len(dropped)} photos: {' and '.join(added)} also {go} "
            f"to the image model, which takes {MAX_INPUT_IMAGES} pictures, so the lowest-ranked "
            f"stayed behind ({ids})"
        )
    members = [m.model_copy(update={"photos": p}) for m, p in zip(cast, lists[1:], strict=True)]
    return lists[0], members


def pictures(
    parent: ComicRecord | None,
    explicit: list[PhotoRef],
    cast: Sequence[CastMember],
    allow: AllowFn | None,
    within: Sequence[Path] | None,
    notes: list[str],
) -> tuple[list[PhotoRef], list[Input], Cast | None]:
    """What a comic sends, in order: the earlier comic, or each subject's sheet and photos,
    then the other photos (a refinement without photos: the earlier comic's)."""
    if parent is None and not explicit and not cast:
        raise InvalidInput(
            "a comic needs at least one reference photo (a photo id or path), a "
            "subject, or refine=<comic id> to change an earlier comic"
        )
    given = len(explicit) + sum(len(m.photos) for m in cast)
    if given > MAX_INPUT_IMAGES:
        raise InvalidInput(
            f"too many photos: {given} given, the image model takes at most "
            f"{MAX_INPUT_IMAGES} pictures; choose the best {MAX_INPUT_IMAGES}"
        )
    room = MAX_INPUT_IMAGES - (1 if parent else 0)
    explicit, cast = fitted(explicit, cast, room, notes)
    if cast and parent is None:
        who = cast_inputs(cast, explicit, within)
        return who.photos, who.inputs, who
    inputs = [encode_comic(parent)] if parent is not None else []
    if explicit:
        return explicit, inputs + [encode_photo(ref, within) for ref in explicit], None
    return inherited(parent, room, allow, inputs, notes, within), inputs, None


# -- the subjects of a comic ---------------------------------------------------------------------


def cast_of(
    call: Call, names: Sequence[str], style: str, room: int
) -> tuple[list[CastMember], list[str]]:
    """The named subjects (each one the caller may see) with their character sheets in
    ``style`` and their best photos, within ``room`` pictures; and notes for the answer."""
    library, sees = call.library, subject_sees(call)
    subjects = [library.subjects.get(name, sees) for name in names]
    expr = call.filters(Filters()).expression()
    notes: list[str] = []
    sheets = [sheet_of(call, s, style, notes) for s in subjects]
    per = (room - sum(sheet is not None for sheet in sheets)) // max(1, len(subjects))
    if per < 1:
        raise InvalidInput(
            f"{plural(len(subjects), 'subject')} do not fit in the {room} pictures the image model "
            "takes (each sends its character sheet and at least one photo): draw fewer at once"
        )
    cast = []
    for subject, sheet in zip(subjects, sheets, strict=True):
        most = min(SHEET_PHOTOS if sheet is not None else PHOTOS_WITHOUT_SHEET, per)
        rows = library.subjects.references(subject, expr, most=most)
        if not rows:
            raise NotFound(f"no photo of {subject.name} lies inside the allowed folders")
        photos = [row.ref() for row in rows]
        cast.append(CastMember(name=subject.name, kind=kind_of(call, subject), sheet=sheet,
                               photos=photos))  # fmt: skip
    return cast, notes


def cast_in_photos(
    call: Call, refs: Sequence[PhotoRef], style: str
) -> tuple[list[CastMember], list[PhotoRef]]:
    """Photos a caller chose that show a subject with a sheet in ``style``: that subject
    (its sheet first, then those photos), and the photos of no such subject."""
    library = call.library
    sees = subject_sees(call)
    drawn = library.subjects.all(lambda s: style in s.sheets() and sees(s))
    ids = [r.photo_id for r in refs if r.photo_id is not None]
    if not drawn or not ids:  # the common case: nothing more to read
        return [], list(refs)
    rows = {row.photo_id: row for row in library.store.get(ids, with_vectors=True)}
    cast: list[CastMember] = []
    left = list(refs)
    for subject in drawn:
        shows = [r for r in left if _shows(subject, r, rows)]
        sheet = sheet_of(call, subject, style, []) if shows else None
        if sheet is not None:
            cast.append(CastMember(name=subject.name, kind=kind_of(call, subject), sheet=sheet,
                                   photos=shows))  # fmt: skip
            left = [r for r in left if r not in shows]
    return cast, left


def _shows(subject: Subject, ref: PhotoRef, rows: dict[int, PhotoRow]) -> bool:
    if ref.photo_id is None:
        return False
    if ref.photo_id in subject.positives:
        return True
    row = rows.get(ref.photo_id)
    if row is None or row.vector is None:
        return False
    return float(subject.probability(row.vector[None, :], [row.tags()])[0]) >= SHOWS


def sheet_of(call: Call, subject: Subject, style: str, notes: list[str]) -> ComicRecord | None:
    """The subject's character sheet in ``style``, if it has one the caller may see; else a
    note that says how to draw one."""
    comic_id = subject.sheets().get(style)
    if comic_id is not None:
        with contextlib.suppress(NotFound):
            return call.comics.get(comic_id)
        notes.append(f"{subject.name}'s character sheet in {style} ({comic_id}) is gone")
    notes.append(
        f"{subject.name} has no character sheet in {style} yet: "
        f"[[draw_sheet|{subject.name}|{style}]] keeps {subject.name} the same in every comic"
    )
    return None


def keep_sheet(call: Call, record: ComicRecord) -> None:
    """A drawn character sheet (or a refinement of one) becomes its subject's sheet in its
    style; the subject may have been forgotten meanwhile (then nothing is kept)."""
    if not record.sheet_for:
        return
    library = call.library
    subject = library.subjects.find(record.sheet_for, subject_sees(call))
    if subject is not None:
        with library.writing:
            library.subjects.set_sheet(subject, record.style, record.comic_id)


def kind_of(call: Call, subject: Subject) -> str | None:
    """What the subject is ('dog'): the category its examples share most."""
    rows = call.library.store.get_some(subject.positives[:12]).values()
    firsts = Counter(row.categories[0] for row in rows if row.categories)
    return firsts.most_common(1)[0][0] if firsts else None
