"""Settings from the environment and command-line flags: one object passed down to every part.

Environment variables use the ``PHOTOCOMIC_`` prefix (``PHOTOCOMIC_DATA_DIR``,
``PHOTOCOMIC_DB``, ``PHOTOCOMIC_ROOTS``...). Flags override them through ``Settings(**flags)``.
The OpenAI key and base URL are left to the ``openai`` SDK (``OPENAI_API_KEY``,
``OPENAI_BASE_URL``) so that the key never passes through our objects.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

import platformdirs
from photocomic.tools.contract import MAX_UPLOAD
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_MODEL = "tf_efficientnet_lite0"
DEFAULT_IMAGE_MODEL = "auto"  # the newest image model the key can use (comics/image_catalog.py)


def version() -> str:
    """photocomic's installed version ("0" when run from a tree that was never installed)."""
    try:
        from importlib.metadata import version as installed

        return installed("photocomic")
    except Exception:
        return "0"


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("photocomic", appauthor=False))


def default_compiled_dir() -> Path:
    return Path(platformdirs.user_cache_dir("photocomic", appauthor=False)) / "compiled"


class Settings(BaseSettings):
    """Everything photocomic can be configured with; see the README's configuration table."""

    model_config = SettingsConfigDict(env_prefix="PHOTOCOMIC_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    compiled_dir: Path = Field(
        default_factory=default_compiled_dir,
        description="where forward passes compiled for this CPU are kept, for every library",
    )
    db: str | None = Field(
        default=None,
        description="Milvus URI: a local file (Milvus Lite) or http(s)://host:19530.",
    )
    milvus_token: SecretStr | None = None
    collection: str = "photos"

    model: str = DEFAULT_MODEL
    weights: Path | None = None
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    forward: Literal["auto", "torchscript", "eager"] = Field(
        default="auto",
        description="the forward pass of a long fp32 run on a CPU: auto = TorchScript or "
        "OpenVINO, whichever this CPU runs faster; torchscript = never OpenVINO; eager = as built",
    )
    batch_size: int = Field(default=32, ge=1, le=512)
    workers: int = Field(default=0, ge=0, le=64, description="decode threads; 0 = automatic")
    include_hidden: bool = False

    roots: Annotated[list[Path], NoDecode] = Field(default_factory=list)

    image_model: str = DEFAULT_IMAGE_MODEL
    image_timeout: float = Field(default=180.0, gt=0)
    image_retries: int = Field(default=3, ge=0, le=10)

    max_upload_bytes: int = Field(default=20 * 1024 * 1024, ge=1024, le=MAX_UPLOAD)
    http_token: SecretStr | None = None

    engine: Literal["auto", "off"] = Field(
        default="auto",
        description="auto: one process per data folder owns the library; off: in-process",
    )
    engine_idle: float = Field(
        default=600.0, ge=1.0, description="seconds the owner stays up after its last door"
    )

    @field_validator("image_model", mode="before")
    @classmethod
    def _auto_when_empty(cls, value: object) -> object:
        """An empty setting (an MCP Bundle's optional field left blank) means the default."""
        return DEFAULT_IMAGE_MODEL if isinstance(value, str) and not value.strip() else value

    @field_validator("roots", mode="before")
    @classmethod
    def _split_roots(cls, value: object) -> object:
        if isinstance(value, str):
            return [part for part in value.split(os.pathsep) if part.strip()]
        return value

    @field_validator("data_dir", "compiled_dir", "weights", mode="after")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @field_validator("roots", mode="after")
    @classmethod
    def _expand_roots(cls, value: list[Path]) -> list[Path]:
        return [p.expanduser() for p in value]

    def payload(self, secrets: bool = True) -> dict[str, object]:
        """The settings as JSON for the library's owner (the Milvus token only if asked)."""
        data = self.model_dump(mode="json", exclude={"http_token", "milvus_token", "roots"})
        if secrets and self.milvus_token is not None:
            data["milvus_token"] = self.milvus_token.get_secret_value()
        return data

    @property
    def db_uri(self) -> str:
        """The Milvus URI in use: the configured one, else a Milvus Lite file in the data folder."""
        if self.db:
            if is_remote_uri(self.db):
                return self.db
            return str(Path(self.db).expanduser().absolute())
        return str(self.data_dir.absolute() / "photos.db")

    @property
    def is_local_db(self) -> bool:
        return not is_remote_uri(self.db_uri)

    @property
    def library_key(self) -> str:
        """The library a job belongs to: one index run or migration per store and collection."""
        return f"{self.db_uri}#{self.collection}"

    @property
    def comics_dir(self) -> Path:
        return self.data_dir / "comics"

    @property
    def books_dir(self) -> Path:
        return self.data_dir / "books"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"


def is_remote_uri(uri: str) -> bool:
    return uri.startswith(("http://", "https://", "tcp://", "unix:"))
