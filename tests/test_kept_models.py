"""An engine whose CPU chose OpenVINO loads the kept converted model, without PyTorch or timm,
and embeds exactly as the PyTorch model does; anything less than a complete kept model falls
back to PyTorch instead of failing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import scene
from photocomic.tools.config import DEFAULT_MODEL, Settings
from photocomic.tools.errors import ConfigError
from photocomic.tools.photos.embedder import Embedder
from photocomic.tools.photos.embedding import PhotoEmbedder
from photocomic.tools.photos.kept_models import kept_name, weights_source
from photocomic.tools.photos.loading import load_embedder
from PIL import Image

LOAD_AND_EMBED = """
import sys, numpy as np
from photocomic.tools.config import Settings
from photocomic.tools.photos.loading import load_embedder
embedder = load_embedder(Settings())
np.save(sys.argv[2], embedder.embed(list(np.load(sys.argv[1]))).vectors)
print(type(embedder).__name__, embedder.forward_name,
      sorted(m for m in ("torch", "timm") if m in sys.modules))
"""


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Embedder]:
    folder = tmp_path_factory.mktemp("compiled")
    embedder = Embedder(compiled_dir=folder)
    embedder.speed_up()
    if embedder.forward_name != "openvino":
        pytest.skip("this CPU runs TorchScript faster: nothing is loaded without PyTorch")
    return folder, embedder


def test_the_kept_openvino_model_embeds_like_pytorch_without_loading_it(
    tmp_path: Path, compiled: tuple[Path, Embedder], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, embedder = compiled
    pictures = np.stack([embedder.prepare(scene(seed)) for seed in range(6)])
    np.save(tmp_path / "pictures.npy", pictures)
    monkeypatch.setenv("PHOTOCOMIC_COMPILED_DIR", str(folder))
    monkeypatch.setenv("PHOTOCOMIC_DATA_DIR", str(tmp_path / "data"))
    done = subprocess.run(
        [sys.executable, "-c", LOAD_AND_EMBED, str(tmp_path / "pictures.npy"),
         str(tmp_path / "vectors.npy")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert done.stdout.split() == ["OpenVinoEmbedder", "openvino", "[]"]
    eager = Embedder().embed(list(pictures)).vectors
    kept = np.load(tmp_path / "vectors.npy")
    assert float((eager * kept).sum(axis=1).min()) > 0.99999


def _kept(folder: Path) -> Path:
    return kept_name(folder, DEFAULT_MODEL, weights_source(DEFAULT_MODEL, None))


@pytest.mark.parametrize(
    ("damage", "settings"),
    [
        ("verdict without the model's facts", {}),
        ("converted model unreadable", {}),
        ("none", {"forward": "eager"}),
        ("none", {"device": "cuda"}),
        ("none", {"precision": "bf16"}),
    ],
)
def test_anything_but_a_complete_kept_model_loads_pytorch(
    tmp_path: Path,
    compiled: tuple[Path, Embedder],
    monkeypatch: pytest.MonkeyPatch,
    damage: str,
    settings: dict[str, str],
) -> None:
    source, _ = compiled
    folder = tmp_path / "compiled"
    folder.mkdir()
    for part in source.iterdir():
        (folder / part.name).write_bytes(part.read_bytes())
    kept = _kept(folder)
    if damage == "verdict without the model's facts":
        kept.with_suffix(".json").write_text(json.dumps({"faster": "openvino"}))
    elif damage == "converted model unreadable":
        kept.with_suffix(".xml").write_text("not a model")
    chosen: list[str] = []
    pytorch = classmethod(lambda cls, s: chosen.append("torch"))
    monkeypatch.setattr(Embedder, "from_settings", pytorch)
    load_embedder(Settings(compiled_dir=folder, data_dir=tmp_path / "data", **settings))
    assert chosen == ["torch"]


def test_a_complete_kept_model_is_what_load_embedder_gives(
    tmp_path: Path, compiled: tuple[Path, Embedder]
) -> None:
    folder, _ = compiled
    found = load_embedder(Settings(compiled_dir=folder, data_dir=tmp_path / "data"))
    assert isinstance(found, PhotoEmbedder) and not isinstance(found, Embedder)
    assert (found.dim, found.input_size, found.has_imagenet_head) == (1280, 224, True)


FIRST_LOAD = """
import sys
from photocomic.tools.config import Settings
from photocomic.tools.photos.loading import load_embedder
embedder = load_embedder(Settings(), verdict_apart=True)
print(type(embedder).__name__, embedder.forward_name,
      sorted(m for m in ("torch", "timm") if m in sys.modules))
"""


def test_an_engine_with_no_verdict_yet_has_it_made_apart_and_never_holds_pytorch(
    tmp_path: Path, compiled: tuple[Path, Embedder], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first load on a CPU where OpenVINO wins (the ``compiled`` fixture measured it)
    compares the forward passes in a child process: the verdict and the converted model are
    kept, and the process that asked loads OpenVINO alone (about 0.9 GB less for an engine)."""
    folder = tmp_path / "first"
    monkeypatch.setenv("PHOTOCOMIC_COMPILED_DIR", str(folder))
    done = subprocess.run(
        [sys.executable, "-c", FIRST_LOAD], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["OpenVinoEmbedder", "openvino", "[]"]
    assert _kept(folder).with_suffix(".json").is_file()


def test_a_model_the_child_cannot_build_gives_the_same_error_as_before(tmp_path: Path) -> None:
    """A comparison that fails in the child falls back to loading here, whose error names
    the file and what to do, as a load without a child does."""
    missing = tmp_path / "nowhere.pth"
    settings = Settings(compiled_dir=tmp_path / "c", data_dir=tmp_path / "d", weights=missing)
    with pytest.raises(ConfigError, match="weights file not found"):
        load_embedder(settings, verdict_apart=True)
    assert not list((tmp_path / "c").glob("*.json"))


def test_only_the_crop_is_resampled_with_the_same_pixels(lite0: Embedder) -> None:
    """Preparing resamples the centre crop alone; the pixels are those of resizing the whole
    photo and cropping it."""
    for size in ((640, 480), (480, 640), (300, 300), (4000, 3000)):
        img = scene(7, size)
        side, crop = lite0.decode_side, lite0.input_size
        scale = side / min(size)
        whole = (max(side, round(size[0] * scale)), max(side, round(size[1] * scale)))
        resized = img.resize(whole, Image.Resampling.BICUBIC, reducing_gap=3.0)
        left, top = (whole[0] - crop) // 2, (whole[1] - crop) // 2
        expected = np.asarray(resized.crop((left, top, left + crop, top + crop)), dtype=float)
        got = lite0.prepare(img)
        assert got.shape == (crop, crop, 3) and got.dtype == np.uint8
        assert np.abs(got - expected).mean() < 0.5, size
