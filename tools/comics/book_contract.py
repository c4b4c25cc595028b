"""The books made of comics: the request and what it answers. Pydantic only (see
``tools/contract.py``)."""

from __future__ import annotations

from typing import Annotated, Literal

from photocomic.tools.comics.contract import ComicId
from photocomic.tools.contract import MAX_NAME, Ask, ImageData
from pydantic import BaseModel, Field

BookFormat = Literal["pdf", "cbz"]
BOOK_MIME = {"pdf": "application/pdf", "cbz": "application/vnd.comicbook+zip"}
MAX_BOOK = 200  # comics in one book
BookId = Annotated[str, Field(min_length=1, max_length=MAX_NAME)]


class Book(BaseModel):
    """A book made of comics: a PDF to print or send, or a CBZ for comic readers."""

    book_id: str
    title: str
    format: BookFormat
    path: str = Field(description="the file in the data folder")
    uri: str = Field(description="the MCP resource with the file: book://<book_id>.<format>")
    pages: int = Field(description="pages in all: the cover, then one per comic")
    comics: list[str] = Field(description="the comic ids, in the book's order")
    language: str
    bytes: int


class BookRequest(Ask[Book]):
    """The comics in order as a book: a PDF (a cover with the title, then one page per comic
    at print resolution) or a CBZ with a ComicInfo.xml."""

    op = "make_book"

    comic_ids: Annotated[list[ComicId], Field(min_length=1, max_length=MAX_BOOK)] = Field(
        description="comic_ids in reading order (list_comics)"
    )
    title: Annotated[str, Field(min_length=1, max_length=200)] = Field(
        description="the book's title, on its cover"
    )
    format: BookFormat = Field("pdf", description="pdf: to print or send; cbz: comic readers")
    language: Annotated[str, Field(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")] = Field(
        "en", description="the language of its lines, as a code: en, de, zh-Hans"
    )


class BookFileRequest(Ask[ImageData]):
    """A book's file (the MCP resource book://ID), base64 with its type."""

    op = "book_file"

    book_id: BookId
    format: BookFormat
