"""Errors a user can act on. Each message says what went wrong, with which file, and what to do.

What to do depends on who asked: an assistant calls MCP tools with arguments, a person at the
terminal types commands and flags. A message names a remedy as ``[[name]]`` (with values:
``[[name|a|b]]``); each door renders it in its own words (:func:`for_door`), from the one
table :data:`REMEDIES`. An environment variable is named only where nothing else can help,
and then plainly.
"""

from __future__ import annotations

import re
from typing import Literal

Audience = Literal["mcp", "cli", "any"]  # who reads a message

# remedy -> (words for an MCP caller, words for the command line)
REMEDIES: dict[str, tuple[str, str]] = {
    "list_comics": ("list_comics lists them", "`photocomic comics` lists them"),
    "list_jobs": ("list_jobs lists them", "`photocomic jobs` lists them"),
    "auto_model": (
        "model='auto' (the newest model the key can use)",
        "--model auto (the newest model the key can use)",
    ),
    "pick_model": ("the model argument", "--model"),
    "storyboard": (
        "backend='storyboard' for an offline layout preview that needs no key",
        "--backend storyboard for an offline layout preview that needs no key",
    ),
    "roots": (
        "this server was started without photo folders: the person who set it up gives them "
        "in the client's configuration of photocomic (its root folders, or PHOTOCOMIC_ROOTS)",
        "give photo folders with --root DIR (repeatable) or PHOTOCOMIC_ROOTS",
    ),
    "migrate_again": (
        "run the move again: it resumes",
        "run `photocomic migrate` again: it resumes",
    ),
    "teach_subject": (
        "remember_subject(name=..., photos=[ids])",
        "`photocomic subject add NAME --photo ID`",
    ),
    "duplicate_checks": (
        "library_status() lists those asked within this server's folders, each with the "
        "find_duplicates call that collects it",
        "`photocomic status` lists those asked from the command line, each with the command "
        "that collects it",
    ),
    "index_first": ("index_folder(path=...) first", "`photocomic index FOLDER` first"),
    "animate": ("animate=true", "--animate"),
    "still_comic": ("generate_comic without animate", "`photocomic comic` without --animate"),
    "draw_sheet": (  # [[draw_sheet|Cola|ghibli]]
        "draw_character_sheet(subject={0!r}, style={1!r})",
        "`photocomic subject sheet {0!r} --style {1}`",
    ),
}
_REMEDY = re.compile(r"\[\[(\w+)((?:\|[^|\]]*)*)\]\]")


def for_door(text: str, door: Audience) -> str:
    """``text`` with each ``[[remedy]]`` in the words of ``door`` ("any": both, for logs)."""

    def words(match: re.Match[str]) -> str:
        mcp, cli = REMEDIES.get(match[1], (match[1], match[1]))
        values = match[2].split("|")[1:]
        mcp, cli = mcp.format(*values), cli.format(*values)
        if door == "any":
            return mcp if mcp == cli else f"{mcp} (command line: {cli})"
        return mcp if door == "mcp" else cli

    return _REMEDY.sub(words, text)


class PhotocomicError(Exception):
    """Base class: the message is shown to people as it is, without a traceback.

    ``raw`` keeps its remedies unrendered (that is what travels from the engine to a door);
    ``str()`` names both doors' words, for logs."""

    @property
    def raw(self) -> str:
        return str(self.args[0]) if self.args else ""

    def __str__(self) -> str:
        return for_door(self.raw, "any")

    def for_door(self, door: Audience) -> str:
        return for_door(self.raw, door)


class ConfigError(PhotocomicError):
    """A setting is missing or wrong (no roots, a bad model name, a bad URI)."""


class PathRefused(PhotocomicError):
    """A path lies outside the allowed roots, or is malformed."""


class NotFound(PhotocomicError):
    """An unknown photo id, comic id, folder or file."""


class StoreBusy(PhotocomicError):
    """Another process holds the Milvus Lite file."""


class StoreUnavailable(PhotocomicError):
    """A Milvus server cannot be reached, refused the token, or failed a call."""


class ModelMismatch(PhotocomicError):
    """The collection was built with another embedding model."""


class DecodeError(PhotocomicError):
    """A file could not be read as an image; the message is the reason."""


class InvalidInput(PhotocomicError):
    """An argument is out of range or malformed."""


class GenerationError(PhotocomicError):
    """The image model did not produce a comic; the message says why and what to try."""


class ModelRetired(GenerationError):
    """The image model was shut down; the message names the replacement."""


class ModelNotFound(GenerationError):
    """The image API does not know the model (HTTP 404)."""


class ApiKeyMissing(GenerationError):
    """OPENAI_API_KEY is not set, so the image API cannot be called (the storyboard can)."""


class AuthFailed(GenerationError):
    """The image API refused the key (HTTP 401)."""


class AccessDenied(GenerationError):
    """The key may not use this model, often because the organisation is unverified (403)."""


class ContentRefused(GenerationError):
    """The prompt or a reference image was refused by the provider's moderation (400)."""


class RateLimited(GenerationError):
    """Still rate limited (429) after the SDK's retries, or out of quota."""


class ServiceUnavailable(GenerationError):
    """Server errors (5xx) after the retries, or the API could not be reached at all."""


class GenerationTimeout(GenerationError):
    """No answer within PHOTOCOMIC_IMAGE_TIMEOUT seconds."""


class BadResponse(GenerationError):
    """The API answered, but not with a usable image."""


class Cancelled(Exception):
    """Raised inside a run when its cancel event is set; the work done so far stays."""


def unknown_photo(photo_id: int, more: int = 0) -> NotFound:
    """A photo id that does not exist, or that the caller may not see: the same words, so an
    answer never tells the two apart (ids are a hash of the path: a guess could be tested)."""
    also = f" (and {more} more)" if more else ""
    return NotFound(f"unknown photo id {photo_id}{also}: use an id from a search result")


def unknown_comic(comic_id: str) -> NotFound:
    return NotFound(f"no comic {comic_id.strip()[:40]!r} ([[list_comics]])")


def unknown_job(job_id: str) -> NotFound:
    return NotFound(
        f"no job {job_id.strip()[:40]!r} ([[list_jobs]]; finished comics: [[list_comics]])"
    )
