"""MCP answers: structured content plus a short text and, where it helps, one small picture.

Thin on purpose: the library decided what the answer holds; these functions only say it in
the shapes MCP clients show (text a person reads, an image the assistant looks at, a resource
link to the full file).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from mcp_types import CallToolResult, ContentBlock, ImageContent, ResourceLink, TextContent
from photocomic.tools.comics.book_contract import BOOK_MIME, Book
from photocomic.tools.comics.comic_store import as_tree
from photocomic.tools.comics.contract import ComicList, ComicRecord
from photocomic.tools.errors import PhotocomicError
from photocomic.tools.find.contract import (
    DuplicatesAnswer,
    SearchAnswer,
    SubjectAnswer,
    SubjectInfo,
    SubjectList,
)
from photocomic.tools.owner.client import job_error
from photocomic.tools.owner.contract import JobSnapshot
from photocomic.tools.words import plural
from pydantic import BaseModel

from . import mcp_models as out

MAX_FAILED_SHOWN = 50


def result(text: str, structured: BaseModel, extra: Sequence[ContentBlock] = ()) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=text), *extra],
        structured_content=structured.model_dump(mode="json"),
    )


def shown_count(info: SubjectInfo) -> str:
    """The one count of a subject's photos, as every answer says it."""
    floor = "at least " if info.estimate_is_floor else ""
    verb = "shows" if info.estimate == 1 else "show"
    return f"{floor}{plural(info.estimate or 0, 'photo')} in the library {verb} it"


def jpeg_block(data_b64: str) -> ImageContent:
    return ImageContent(type="image", data=data_b64, mime_type="image/jpeg")


def search_answer(answer: SearchAnswer, what: str) -> CallToolResult:
    found = answer.results[0]
    output = out.SearchOutput(**found.model_dump())
    hits = found.hits
    if not hits:
        text = (
            f"No photos found {what} {found.query}. Try fewer filters, another example, or "
            "index more folders (index_folder)."
        )
        if found.note:
            text += f" Note: {found.note}."
        return result(text, output)
    first = hits[0].rank
    output.contact_sheet = (
        f"JPEG contact sheet: cell #N is hits[N-{first}]; refer to photos by their photo_id"
        if first != 1
        else "JPEG contact sheet: cell #N is hits[N-1]; refer to photos by their photo_id"
    )
    count = (
        f"{len(hits)} of {plural(found.total, 'photo')}"
        if found.total and found.total > len(hits)
        else plural(len(hits), "photo")
    )
    lines = [f"{count} {what} {found.query} (contact sheet #1-#{len(hits)}):"]
    for n, h in enumerate(hits, start=1):
        label = f" · {h.labels[0]}" if h.labels else ""
        place = f"#{n}" if first == 1 else f"#{n} (rank {h.rank})"
        lines.append(
            f"{place} id {h.photo_id} · {h.score:.3f} · {h.taken_at[:10]}{label} · {h.path}"
        )
    if found.note:
        lines.append(f"Note: {found.note}.")
    if found.next_offset is not None:
        text = json.dumps(found.subject or found.query, ensure_ascii=False)
        lines.append(f"More: find_photos(text={text}, offset={found.next_offset}).")
    extra = [jpeg_block(answer.sheet_jpeg)] if answer.sheet_jpeg else []
    return result("\n".join(lines), output, extra)


def subject_answer(taught: SubjectAnswer) -> CallToolResult:
    """What remember_subject learnt, with its best photos to check (feedback is one call)."""
    shown = search_answer(taught.photos, "of")
    info = taught.subject
    name = json.dumps(info.name, ensure_ascii=False)
    head = (
        f"Remembered {info.name}: {plural(info.positives, 'example')}, "
        f"{plural(info.negatives, 'counter-example')}; {shown_count(info)}. Check the "
        f"sheet: remember_subject(name={name}, not_photos=[ids]) for wrong ones; "
        f"find_photos(text={name}) pages through all of them; generate_comic(prompt=..., "
        f"subject={name}) draws it."
    )
    if info.notes:
        head += " Notes: " + "; ".join(info.notes)
    output = out.SubjectOutput(**(shown.structured_content or {}), about=info)
    return result(head + "\n" + shown.content[0].text, output, shown.content[1:])  # type: ignore[union-attr]


def subjects_answer(listed: SubjectList) -> CallToolResult:
    if not listed.subjects:
        return result(
            "No subjects yet: teach one with remember_subject(name, photos=[ids]).", listed
        )
    lines = [f"{plural(len(listed.subjects), 'subject')}:"]
    for s in listed.subjects:
        sheets = ", ".join(f"{r.style} sheet {r.comic_id}" for r in s.sheets)
        lines.append(
            f"{s.name}: {plural(s.positives, 'example')}, {shown_count(s)}"
            + (f"; {sheets}" if sheets else "")
        )
    return result("\n".join(lines), listed)


def index_answer(job: JobSnapshot) -> CallToolResult:
    if job.state == "failed":
        raise job_error(job)
    output = out.IndexJob(**job.model_dump(exclude={"preview_jpeg", "record"}))
    if output.summary is not None:  # an answer an assistant can read: the first 50 failures
        output.summary.failed = output.summary.failed[:MAX_FAILED_SHOWN]
    if job.state == "done":
        text = f"Indexed {job.folder}: {job.message}."
        summary = job.summary
        if summary is not None and summary.failed:
            shown = "; ".join(f"{f.path}: {f.error}" for f in summary.failed[:5])
            text += f" Could not index: {shown}"
            if job.failed_count > 5:
                text += f" (and {job.failed_count - 5} more, listed in summary.failed)"
        text += " Search it with find_photos or search_similar."
    elif job.state == "cancelled":
        text = f"Indexing {job.folder} was cancelled; the photos indexed so far are kept."
    else:
        joined = " (it was already under way; this call joined it)" if job.joined else ""
        text = (
            f"Indexing {job.folder} continues in the background{joined} (job {job.job_id}: "
            f"{job.message}). Call index_status(job_id='{job.job_id}') to follow it; searches "
            "already work on what is indexed."
        )
    return result(text, output)


def comic_answer(job: JobSnapshot) -> CallToolResult:
    """The comic of a finished job, or a running job's state (with its latest partial)."""
    if job.state in ("failed", "cancelled"):
        raise job_error(job)
    if job.state != "done" or job.record is None:
        output = out.ComicOutput(state="running", job_id=job.job_id, partial_images=job.done)
        text = (
            f"Still drawing: {job.message} (the image model takes one to two minutes); the "
            f"comic is saved when it is ready. Call comic_status(job_id='{job.job_id}') to "
            "get it."
        )
        extra = [jpeg_block(job.preview_jpeg)] if job.preview_jpeg else []
        if extra:
            text += " The latest partial image is attached."
        return result(text, output, extra)
    record = job.record
    if not isinstance(record, ComicRecord):
        return _dry_run_answer(record)
    return _record_answer(record, job)


def _dry_run_answer(record: object) -> CallToolResult:
    data = record.model_dump() if isinstance(record, BaseModel) else {}
    output = out.ComicOutput(
        dry_run=True, input_images=data.pop("images", []),
        **{k: v for k, v in data.items() if k in out.ComicOutput.model_fields},
    )  # fmt: skip
    if data.get("output_format") == "gif":
        output.format, output.frames = "gif", data.get("frame_count")
        output.frame_ms = data.get("frame_duration_ms")
    moving = (
        f", output_format=gif, frame_count={output.frames}, frame_duration_ms={output.frame_ms}"
        if output.format == "gif" else ""
    )  # fmt: skip
    text = (
        f"Dry run, nothing sent: {plural(len(output.input_images), 'image')} to {output.model} "
        f"({output.size}, quality {output.quality}, {output.layout}{moving}). "
        f"Prompt:\n{output.prompt}"
    )
    return result(text, output)


def _record_answer(record: ComicRecord, job: JobSnapshot) -> CallToolResult:
    uri = comic_uri(record)
    fields = record.model_dump(include=set(out.ComicOutput.model_fields) - {"input_images"})
    output = out.ComicOutput(**fields, uri=uri, job_id=job.job_id, partial_images=job.done)
    refines = f" (refines {record.parent_id})" if record.parent_id else ""
    cost = f", about ${record.cost_usd:.3f}" if record.cost_usd is not None else ""
    changed = _what_changed(record)
    text = (
        f"Comic {record.comic_id}{refines}: {plural(record.panels, 'panel')} ({record.layout}), "
        f"{record.style}, {record.model} at {record.size}{cost}; saved at {record.path}.{changed}"
        f" A preview is attached; the full image is the resource {uri}. To change it: "
        f"generate_comic(prompt='what to change', refine='{record.comic_id}'), or one panel "
        "with panel=N."
    )
    if record.sheet_for and not record.variants:
        name = json.dumps(record.sheet_for, ensure_ascii=False)
        text = (
            f"{record.sheet_for}'s {record.style} character sheet is now {record.comic_id}{refines}"
            f" ({record.model} at {record.size}{cost}); every comic of {record.sheet_for} in "
            f"{record.style} sends it first. A preview is attached; the full image is {uri}. "
            f"generate_comic(prompt=..., subject={name}) draws with it; to change the sheet: "
            f"generate_comic(prompt='what to change', refine='{record.comic_id}')."
        )
    if record.variants:
        listed = ", ".join(f"#{n} {cid}" for n, cid in enumerate(record.variants, 1))
        text = (
            f"{plural(len(record.variants), 'variant')}{refines}, side by side in the attached "
            f"sheet: {listed} ({record.model} at {record.size}{cost} each). Ask which one to go on "
            "from, then generate_comic(prompt='what to change', refine='<its id>'); each is "
            "also the resource comic://<its id>."
        )
    if record.notes:
        text += " Notes: " + "; ".join(record.notes)
    blocks: list[ContentBlock] = []
    if job.preview_jpeg:
        blocks.append(jpeg_block(job.preview_jpeg))
    blocks.append(
        ResourceLink(
            type="resource_link",
            uri=uri,
            name=f"{record.comic_id}.{record.format}",
            mime_type=f"image/{record.format}",
            description="the animation" if record.format == "gif" else "the comic at full size",
        )
    )
    return result(text, output, blocks)


def _what_changed(record: ComicRecord) -> str:
    """The sentences that say what kind of version this is: a part redrawn, new letters, an
    animation, lettered lines."""
    said = (
        f" Only panel {record.panel} was redrawn." if record.panel
        else " Lettered again on the same drawing: nothing was sent, nothing charged."
        if record.edit == "letters"
        else f" Only the marked part ({record.edit}) was redrawn." if record.edit else ""
    )  # fmt: skip
    if record.format == "gif":
        seconds = (record.frames or 0) * (record.frame_ms or 0) / 1000
        said += (
            f" Animated: a GIF of {plural(record.frames or 0, 'frame')}, {record.frame_ms} ms "
            f"each (about {seconds:.1f} s); the attached still shows a few of its frames. "
            "A refinement draws a new GIF from its frames."
        )
    if record.letters:
        said += (
            f" photocomic lettered {plural(len(record.letters), 'line')} on the drawing; "
            f"letter_comic(comic_id='{record.comic_id}', script=...) letters it again "
            "(a translation, a fix) without drawing."
        )
    return said


def comics_answer(listed: ComicList) -> CallToolResult:
    comics = [comic_summary(r) for r in listed.comics]
    output = out.ComicList(comics=comics, total=listed.total, next_offset=listed.next_offset)
    if not comics:
        return result("No comics yet: make one with generate_comic.", output)
    lines = [f"{plural(listed.total, 'comic')}, newest first, refinements under what they refine:"]
    for depth, c in as_tree(comics):
        who = f"{c.sheet_for}'s sheet" if c.sheet_for else ", ".join(c.subjects)
        marks = [c.kind, who, f"variant {c.variant}" if c.variant else ""]
        marks += [f"panel {c.panel}" if c.panel else "", "lettered" if c.lettered else ""]
        marks += [f"animated, {c.frames} frames" if c.format == "gif" else ""]
        extra = "".join(f" · {m}" for m in dict.fromkeys(marks) if m)
        lines.append(
            f"{'  ' * depth}{'└ ' if depth else ''}{c.comic_id} · {c.style}{extra} · "
            f"{c.created_at[:16]} · {first_words(c.story)}"
            + (f" · change: {first_words(c.user_prompt)}" if c.parent_id else "")
        )
    if listed.next_offset is not None:
        lines.append(f"More: list_comics(offset={listed.next_offset}).")
    return result("\n".join(lines), output)


def comic_uri(record: ComicRecord) -> str:
    """The resource with the comic: its PNG, or for an animated one its GIF."""
    return f"comic://{record.comic_id}" + ("/gif" if record.format == "gif" else "")


def first_words(text: str, most: int = 60) -> str:
    """The start of a story or a change, cut at a word."""
    if len(text) <= most:
        return text
    return text[:most].rsplit(" ", 1)[0] + "…"


def comic_summary(record: ComicRecord) -> out.ComicSummary:
    """A comic as a listing shows it: what it is, whose, and the first words of its story."""
    fields = record.model_dump(include=set(out.ComicSummary.model_fields) - {"story", "changes"})
    story = record.story or (record.user_prompt if not record.parent_id else "")
    fields["user_prompt"] = first_words(record.user_prompt, 120)
    return out.ComicSummary(
        **fields, uri=comic_uri(record), story=first_words(story, 120),
        changes=len(record.changes), lettered=bool(record.letters),
    )  # fmt: skip


def duplicates_answer(report: DuplicatesAnswer) -> CallToolResult:
    output = out.DuplicatesOutput(**report.model_dump())
    if report.state == "running":
        text = (
            f"Still comparing the photos for near-identical shots: {report.stage}, about "
            f"{report.progress or 0:.0%} done after {report.seconds or 0:.0f} s. The check goes "
            "on without this call: call find_duplicates again with the same arguments to "
            "follow it and get the groups."
        )
        return result(text, output)
    if not report.groups:
        text = (
            f"No near-duplicates among {plural(report.checked, 'photo')} at threshold "
            f"{report.threshold:g}."
        )
        return result(text, output)
    extra = sum((g.size or len(g.photos)) - 1 for g in report.groups)
    lines = [
        f"{plural(report.total_groups, 'group')} of near-duplicates among "
        f"{plural(report.checked, 'photo')} "
        f"(threshold {report.threshold:g}; {extra} copies besides the first of each group shown):"
    ]
    for n, group in enumerate(report.groups, start=1):
        first, *rest = group.photos
        others = ", ".join(f"{p.photo_id} ({p.score:.3f})" for p in rest)
        if group.size > len(group.photos):
            others += f" and {group.size - len(group.photos)} more"
        lines.append(f"{n}. keep {first.photo_id} {first.path}; copies: {others}")
    if report.next_offset is not None:
        lines.append(f"More: find_duplicates(offset={report.next_offset}).")
    return result("\n".join(lines), output)


def status_answer(status: out.LibraryStatus) -> CallToolResult:
    roots_text = ", ".join(status.roots) or "none (the person who set up this server gives them)"
    text = (
        f"{plural(status.photos, 'photo')} indexed with {status.model or 'no model yet'}; "
        f"{plural(status.comics, 'comic')}. Allowed folders: {roots_text}. Store: {status.db}."
    )
    if status.jobs:
        text += " Under way: " + "; ".join(
            f"{j.job_id} {j.kind} {j.folder or ''}: {j.message}" for j in status.jobs
        )
    if status.finished_jobs:
        text += f" {plural(status.finished_jobs, 'earlier run')}: list_jobs() pages them."
    for check in status.duplicate_checks:
        folder = f", folder={json.dumps(check.folder)}" if check.folder else ""
        text += (
            f" Duplicate check under way ({check.stage}, about {check.progress or 0:.0%} done "
            f"after {check.seconds or 0:.0f} s): find_duplicates(threshold={check.threshold:g}"
            f"{folder}) collects its groups."
        )
    if status.photos == 0:
        text += " Nothing indexed yet: call index_folder on a photo folder first."
    return result(text, status)


def tool_error_text(exc: PhotocomicError) -> str:
    return str(exc)


def book_answer(book: Book) -> CallToolResult:
    """The book's place and a link to it, never its bytes: a book is many megabytes."""
    text = (
        f"Book {book.book_id}, \"{book.title}\": {book.format.upper()}, "
        f"{plural(book.pages, 'page')} (the cover, then {plural(len(book.comics), 'comic')}), "
        f"{book.bytes / 1e6:.1f} MB, saved at {book.path}; the file is the resource {book.uri}."
    )
    link = ResourceLink(
        type="resource_link", uri=book.uri, name=f"{book.title}.{book.format}",
        mime_type=BOOK_MIME[book.format], size=book.bytes, description="the book",
    )  # fmt: skip
    return result(text, book, [link])
