"""Books: a story's comics collected into one file to print, send or read on a tablet.

A PDF (fpdf2) has a cover with the title, then one page per comic sized so the comic prints at
300 dpi; a CBZ is the same pages as pictures in a zip with a ``ComicInfo.xml`` (the
ComicRack schema that comic readers read). Books are kept in the data folder's ``books``
folder beside a record of what they hold, so a caller is given only a book whose comics it
may see.
"""

from __future__ import annotations

import base64
import io
import re
import secrets
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING
from xml.etree import ElementTree as ET

from photocomic.tools.comics.book_contract import BOOK_MIME, Book, BookFileRequest, BookRequest
from photocomic.tools.comics.comic_store import atomic_write
from photocomic.tools.comics.contract import ComicRecord
from photocomic.tools.comics.fonts import direction_of, font_for, truetype
from photocomic.tools.comics.lettering import INK, wrap
from photocomic.tools.contract import ImageData
from photocomic.tools.errors import NotFound, PhotocomicError
from PIL import Image, ImageDraw, ImageOps
from pydantic import ValidationError

if TYPE_CHECKING:
    from photocomic.tools.owner.calls import Call

PRINT_DPI = 300
Page = Image.Image | str  # the cover as drawn, or a comic's file
BOOK_ID = re.compile(r"^b[0-9a-f]{10}$")


def make_book(call: Call, request: BookRequest) -> Book:
    comics = [call.comics.get(comic_id) for comic_id in request.comic_ids]
    folder = call.settings.books_dir
    book_id = "b" + secrets.token_hex(5)
    cover = cover_page(request.title, comics[0])
    pages: list[Page] = [cover, *(_page_of(record) for record in comics)]
    ids = [r.comic_id for r in comics]
    if request.format == "pdf":
        data = pdf_of(pages, request.title, request.language)
    else:
        data = cbz_of(pages, request.title, request.language, ids)
    path = folder / f"{book_id}.{request.format}"
    book = Book(
        book_id=book_id, title=request.title, format=request.format, path=str(path),
        uri=f"book://{book_id}.{request.format}", pages=len(pages),
        comics=ids,
        language=request.language, bytes=len(data),
    )  # fmt: skip
    try:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write(path, data)
        atomic_write(folder / f"{book_id}.json", book.model_dump_json(indent=2).encode())
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise PhotocomicError(
            f"could not save the book in {folder}: {exc.strerror or exc}; nothing was kept"
        ) from None
    return book


def book_file(call: Call, request: BookFileRequest) -> ImageData:
    """The book's file, for a caller that sees every comic in it."""
    book_id = request.book_id.strip()
    folder = call.settings.books_dir
    try:
        if not BOOK_ID.match(book_id):
            raise FileNotFoundError
        book = Book.model_validate_json((folder / f"{book_id}.json").read_bytes())
        if book.format != request.format:
            raise FileNotFoundError
        for comic_id in book.comics:
            call.comics.get(comic_id)
        data = (folder / f"{book_id}.{book.format}").read_bytes()
    except (OSError, ValidationError, NotFound):
        raise NotFound(
            f"no book {book_id[:40]!r}: make one with [[make_book]]"
        ) from None
    return ImageData(mime=BOOK_MIME[book.format], data=base64.b64encode(data).decode())


def _page_of(record: ComicRecord) -> Page:
    """A comic's file, read when its page is made (a long book never holds every picture
    decoded at once); an animated comic's first frame, since a printed page does not move."""
    if record.format != "gif":
        return record.path
    with Image.open(record.path) as opened:
        return opened.convert("RGB")


def _png(page: Page) -> tuple[bytes, int, int]:
    """A page as PNG bytes and its size: a comic's own file as it is, the cover encoded."""
    if isinstance(page, str):
        with Image.open(page) as opened:
            size = opened.size
        return Path(page).read_bytes(), *size
    buffer = io.BytesIO()
    page.save(buffer, "PNG")
    return buffer.getvalue(), page.width, page.height


def cover_page(title: str, first: ComicRecord) -> Image.Image:
    """The cover: the title, lettered like the comics, over the first comic."""
    with Image.open(first.path) as opened:
        width, height = opened.size
        art = opened.convert("RGB")
    page = Image.new("RGB", (width, height), (255, 255, 255))
    font = font_for(title)
    size = max(24, height // 12)
    face = truetype(font, size)
    direction = direction_of(title)
    rows = wrap(title, face, int(width * 0.85), direction)[:3]
    draw = ImageDraw.Draw(page)
    extra = {"direction": "rtl"} if direction == "rtl" else {}
    y = height // 14
    for row in rows:
        draw.text((width // 2, y), row, font=face, anchor="ma", fill=INK, **extra)  # type: ignore[arg-type]
        y += round(size * 1.25)
    room = (width - width // 7, height - y - height // 10)
    if room[1] > height // 4:
        picture = ImageOps.contain(art, room, Image.Resampling.LANCZOS)
        page.paste(picture, ((width - picture.width) // 2, y + height // 20))
    return page


def pdf_of(pages: list[Page], title: str, language: str) -> bytes:
    """Each page sized so its picture prints at PRINT_DPI."""
    from fpdf import FPDF

    pdf = FPDF(unit="pt")
    pdf.set_title(title)
    pdf.set_lang(language)
    pdf.set_creator("photocomic")
    pdf.set_auto_page_break(False)
    for page in pages:
        if isinstance(page, str):
            with Image.open(page) as opened:
                width, height = opened.size
        else:
            width, height = page.size
        points = (width * 72 / PRINT_DPI, height * 72 / PRINT_DPI)
        pdf.add_page(format=points)
        pdf.image(page, x=0, y=0, w=points[0], h=points[1])
    return bytes(pdf.output())


def cbz_of(pages: list[Page], title: str, language: str, comics: list[str]) -> bytes:
    """The pages as PNGs in reading order, and ComicInfo.xml describing them."""
    info = ET.Element("ComicInfo")
    ET.SubElement(info, "Title").text = title
    ET.SubElement(info, "Notes").text = "made by photocomic from comics " + ", ".join(comics)
    ET.SubElement(info, "PageCount").text = str(len(pages))
    ET.SubElement(info, "LanguageISO").text = language
    listed = ET.SubElement(info, "Pages")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index, page in enumerate(pages):
            data, width, height = _png(page)
            name = f"{index:03d}.png"
            archive.writestr(zipfile.ZipInfo(name, (2026, 1, 1, 0, 0, 0)), data)
            ET.SubElement(listed, "Page", {
                "Image": str(index), "Type": "FrontCover" if index == 0 else "Story",
                "ImageWidth": str(width), "ImageHeight": str(height), "ImageSize": str(len(data)),
            })  # fmt: skip
        xml = ET.tostring(info, encoding="utf-8", xml_declaration=True)
        archive.writestr("ComicInfo.xml", xml)
    return buffer.getvalue()

