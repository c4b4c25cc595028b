"""What an index run reports (the fields of ``photocomic index --json``)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class FailedFile(BaseModel):
    path: str
    error: str


class IndexSummary(BaseModel):
    """What one indexing run did: the fields of ``photocomic index --json``."""

    scanned: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: list[FailedFile] = Field(default_factory=list)
    seconds: float = 0.0
