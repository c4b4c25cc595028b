"""Errors a user can act on. Each message says what went wrong, with which file, and what to do."""

from __future__ import annotations


class PhotocomicError(Exception):
    """Base class: the message is shown to people as it is, without a traceback."""


class ConfigError(PhotocomicError):
    """A setting is missing or wrong (no roots, a bad model name, a bad URI)."""


class PathRefused(PhotocomicError):
    """A path lies outside the allowed roots, or is malformed."""


class NotFound(PhotocomicError):
    """An unknown photo id, comic id, folder or file."""


class StoreBusy(PhotocomicError):
    """Another process holds the Milvus Lite file."""


class ModelMismatch(PhotocomicError):
    """The collection was built with another embedding model."""


class DecodeError(PhotocomicError):
    """A file could not be read as an image; the message is the reason."""


class InvalidInput(PhotocomicError):
    """An argument is out of range or malformed."""
