"""What every embedder shares, without PyTorch: the model's facts (input size, crop, mean and
std), preparing a photo for it, and turning its raw outputs into unit vectors and class
probabilities. The PyTorch model (``embedder``) and the kept OpenVINO model (``openvino_model``)
differ only in how they run the pixels.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from photocomic.tools.photos.precision import Decision
from PIL import Image

IMAGENET_CLASSES = 1000
# uint8 pictures (N x H x W x 3) in, raw features and logits (or None) out
PixelForward = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray | None]]


@dataclass(frozen=True)
class Embeddings:
    """L2-normalised vectors, plus ImageNet class probabilities when the model has that head."""

    vectors: np.ndarray
    class_probs: np.ndarray | None


@dataclass(frozen=True)
class ModelFacts:
    """What preparing pictures for a model and reading its outputs needs, kept as JSON beside
    a compiled model so that loading it needs neither timm nor PyTorch."""

    input_size: int
    crop_pct: float
    bicubic: bool
    mean: tuple[float, float, float]  # of 0..1 pixel values, as timm gives them
    std: tuple[float, float, float]
    dim: int
    has_imagenet_head: bool
    weights_source: str

    @property
    def decode_side(self) -> int:
        """The short side a photo must keep when decoded, so the crop loses no detail."""
        return round(self.input_size / self.crop_pct)

    def prepare(self, img: Image.Image) -> np.ndarray:
        """The centre crop of the photo resized so its short side is ``decode_side``, as
        uint8 HxWx3. Only the cropped part is resampled (Pillow's ``box``), which costs 40 %
        less than resizing the whole photo and cropping, for the same pixels."""
        side, size = self.decode_side, self.input_size
        width, height = img.size
        scale = side / min(width, height)
        new_width, new_height = max(side, round(width * scale)), max(side, round(height * scale))
        left, top = (new_width - size) // 2, (new_height - size) // 2
        x, y = width / new_width, height / new_height
        box = (left * x, top * y, (left + size) * x, (top + size) * y)
        resample = Image.Resampling.BICUBIC if self.bicubic else Image.Resampling.BILINEAR
        cropped = img.resize((size, size), resample, box=box, reducing_gap=3.0)
        return np.asarray(cropped, dtype=np.uint8)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ModelFacts:
        return cls(**{**raw, "mean": tuple(raw["mean"]), "std": tuple(raw["std"])})


class PhotoEmbedder:
    """One loaded model. ``prepare`` and ``embed`` may run in several threads at once."""

    name: str
    facts: ModelFacts
    decision: Decision
    forward_name: str  # eager, torchscript or openvino
    device_type = "cpu"

    @property
    def dim(self) -> int:
        return self.facts.dim

    @property
    def has_imagenet_head(self) -> bool:
        return self.facts.has_imagenet_head

    @property
    def input_size(self) -> int:
        return self.facts.input_size

    @property
    def weights_source(self) -> str:
        return self.facts.weights_source

    @property
    def precision(self) -> str:
        return self.decision.precision

    @property
    def decode_side(self) -> int:
        return self.facts.decode_side

    def prepare(self, img: Image.Image) -> np.ndarray:
        return self.facts.prepare(img)

    def precision_record(self) -> dict[str, object]:
        """The precision decision, recorded with a collection so it is never mixed."""
        return self.decision.record(self.device_type)

    @property
    def embeds_in_workers(self) -> bool:
        """On a CPU each indexing worker runs its own small forward passes, one thread each.

        Measured on 2 cores (EfficientNet-Lite0, photos-1k): decode threads feeding batches
        of 32 to one 2-thread forward pass: 22 photos/s; two workers that each decode and
        embed 4 photos at a time with one thread: 73 photos/s (no OpenMP hand-offs, and
        small batches stay in the cache). A GPU wants big batches from one thread instead.
        """
        return self.device_type == "cpu"

    @contextmanager
    def worker_threads(self) -> Iterator[Callable[[], None] | None]:
        """An initializer for indexing worker threads, if the model needs one."""
        yield None

    def speed_up(self) -> None:
        """Compile the forward pass for a long run, where the model can be (see Embedder)."""

    def _pixel_forward(self) -> PixelForward:
        raise NotImplementedError

    def embed(self, batch: Sequence[np.ndarray]) -> Embeddings:
        """Embed prepared pictures in one forward pass (thread-safe, concurrent calls run
        in parallel)."""
        features, logits = self._pixel_forward()(np.stack(batch))
        return finish(features, logits if self.has_imagenet_head else None)

    def embed_images(self, images: Sequence[Image.Image]) -> Embeddings:
        return self.embed([self.prepare(img) for img in images])


def finish(features: np.ndarray, logits: np.ndarray | None) -> Embeddings:
    """Unit vectors (float32) and softmax probabilities from a model's raw outputs."""
    features = features.astype(np.float32, copy=False)
    norms = np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    probs = None
    if logits is not None:
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs = (shifted / shifted.sum(axis=1, keepdims=True)).astype(np.float32, copy=False)
    return Embeddings(features / norms, probs)
