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
