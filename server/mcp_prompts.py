"""What the server tells assistants: its instructions, the prompt that walks through a comic,
and the completions a client shows while the person fills in that prompt's arguments."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from mcp_types import Completion, CompletionArgument, PromptReference
from photocomic.tools.comics.styles import STYLES

MAX_COMPLETIONS = 100  # the protocol's limit per answer

INSTRUCTIONS = """\
photocomic searches the user's own photo library by example or by words and turns chosen
photos into a comic. Typical flow: library_status -> index_folder (once per folder; large
folders continue in the background, poll index_status) -> find_photos("dog") or
search_similar(image=... | photo_id=...) -> look at the numbered contact sheet, refine with
like=[ids]/unlike=[ids] -> generate_comic(prompt, photos=[ids]) (if it answers state
"running", poll comic_status(job_id)) -> generate_comic(prompt="what to change",
refine=<comic_id>). When the person names someone in their photos (a pet, a person), teach it
once with remember_subject(name, photos=[ids]) and correct it with not_photos=[ids]: it is
kept, find_photos(name) lists its photos and generate_comic(prompt, subject=name) draws it
(subjects=[names] for several). Before the first comic of a subject in a style, call
draw_character_sheet(subject, style) once: every later comic of it in that style sends the
sheet first, so it looks the same from comic to comic. Paths must lie inside the folders
library_status lists as roots. Refer to photos by photo_id, never by contact-sheet number
alone. A refinement needs only the change: the comic keeps its story and earlier changes.
For words in the comic (speech, thoughts, captions, sound words) pass script=[{scene, lines}]
with one entry per panel: photocomic letters them exactly, in any language; to translate or fix
them later call letter_comic(comic_id, script), which draws nothing and costs nothing.
make_book(comic_ids, title, format) collects a story's comics into a PDF or a CBZ.
Listings page: call again with offset=<next_offset> while it is not null; list_jobs shows the
runs that have ended. Every tool refuses an argument its input schema does not list."""


def photo_comic(subject: str, story: str = "", style: str = "ghibli") -> str:
    told = f" The story: {story}." if story.strip() else ""
    return f"""\
I want a {style}-style comic starring {subject} from my own photos.{told}

Please work through it with the photocomic tools:
1. Call library_status. If no photos are indexed, or the folder with my photos is not, call
   index_folder on it (long runs continue in the background: poll index_status).
2. Call list_subjects. If {subject} is already remembered, go to step 5.
3. Find candidates: find_photos(text="{subject}") if it is a kind of thing the model knows
   (dog, cat, car, beach...), otherwise ask me for one example photo and call search_similar
   with image=<its path> or photo_id=<id>. Look at the numbered contact sheet and ask me which
   cells (#1, #2, ...) really show {subject}; search_similar(like=[their photo_ids]) finds
   more like them. Always carry photo_ids forward, not cell numbers: the numbers change with
   every search.
4. Call remember_subject(name="{subject}", photos=[the right photo_ids]). Show me its contact
   sheet; for the cells I say are wrong call remember_subject(name="{subject}",
   not_photos=[their photo_ids]). It is kept for next time.
5. If list_subjects shows no character sheet of {subject} in {style}, call
   draw_character_sheet(subject="{subject}", style="{style}") first and show it to me; if I
   want it changed ("floppier ears"), call generate_comic(prompt=<the change>,
   refine=<its comic_id>): the newest version becomes the sheet. Later comics of {subject} in
   {style} follow it, so {subject} looks the same in all of them.
6. Call generate_comic(prompt=<the story in a few sentences>, subject="{subject}",
   style="{style}") (subjects=["{subject}", ...] when others are in the story too, or
   photos=[photo_ids] I chose). If it answers with state "running", call
   comic_status(job_id=...) until the comic is ready. Show me the preview and the comic_id.
7. When I ask for changes ("make it night", "add a hat"), call generate_comic(prompt=<just the
   change>, refine=<the latest comic_id>) so the earlier comic is kept as the reference.
"""


async def complete(
    ref: object, argument: CompletionArgument, subjects: Callable[[], Awaitable[list[str]]]
) -> Completion | None:
    """Values for the ``photo_comic`` prompt's ``subject`` (the subjects this door may see) and
    ``style`` (the comic styles), those starting with what was typed first, then those that
    contain it."""
    if not isinstance(ref, PromptReference) or ref.name != "photo_comic":
        return None
    if argument.name == "style":
        names = list(STYLES)
    elif argument.name == "subject":
        names = await subjects()
    else:
        return None
    typed = argument.value.strip().casefold()
    first = [n for n in names if n.casefold().startswith(typed)]
    then = [n for n in names if typed and typed in n.casefold() and n not in first]
    found = first + then
    return Completion(values=found[:MAX_COMPLETIONS], total=len(found),
                      has_more=len(found) > MAX_COMPLETIONS)  # fmt: skip
