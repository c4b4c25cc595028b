"""The forward pass compiled for long runs: OpenVINO or TorchScript, whichever this CPU runs
faster, gives the eager model's embeddings and labels; the verdict and the converted model are
kept in the folder of compiled models, so the next run builds only the winner."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from conftest import scene
from photocomic.tools.photos import compiled_forward
from photocomic.tools.photos.embedder import Embedder
from photocomic.tools.photos.kept_models import kept_name


@pytest.fixture(scope="module")
def pictures() -> list[np.ndarray]:
    probe = Embedder()
    return [probe.prepare(scene(seed)) for seed in range(8)]


def _compiled(folder: Path, openvino: bool) -> Embedder:
    embedder = Embedder(compiled_dir=folder, forward="auto" if openvino else "torchscript")
    embedder.speed_up()
    return embedder


@pytest.mark.parametrize("openvino", [True, False], ids=["openvino allowed", "torchscript only"])
def test_the_compiled_pass_gives_the_eager_embeddings_and_labels(
    tmp_path: Path, pictures: list[np.ndarray], openvino: bool
) -> None:
    eager = Embedder().embed(pictures)
    compiled = _compiled(tmp_path, openvino)
    assert compiled.forward_name in ({"openvino", "torchscript"} if openvino else {"torchscript"})
    fast = compiled.embed(pictures)
    assert float((eager.vectors * fast.vectors).sum(axis=1).min()) > 0.99999
    assert eager.class_probs is not None and fast.class_probs is not None
    top = np.argsort(-eager.class_probs, axis=1)[:, :5]
    assert (np.argsort(-fast.class_probs, axis=1)[:, :5] == top).all()
    # the indexer's workers call it from several threads at once
    with ThreadPoolExecutor(2) as pool:
        halves = list(pool.map(compiled.embed, [pictures[:4], pictures[4:]] * 3))
    together = np.concatenate([h.vectors for h in halves[:2]])
    assert np.allclose(together, fast.vectors, atol=1e-5)


def test_the_verdict_is_kept_and_the_next_run_builds_only_the_winner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pictures: list[np.ndarray]
) -> None:
    first = _compiled(tmp_path, openvino=True)
    verdicts = list(tmp_path.glob("*.json"))
    assert len(verdicts) == 1, "one verdict for one model, weights and library versions"
    winner = json.loads(verdicts[0].read_text())["faster"]
    assert winner == first.forward_name
    if winner == "openvino":
        assert verdicts[0].with_suffix(".xml").is_file()

    def must_not_run(*_: object) -> None:
        raise AssertionError("the loser was built again")

    loser = "torchscript" if winner == "openvino" else "OpenVinoRunner"
    monkeypatch.setattr(compiled_forward, loser, must_not_run)
    again = _compiled(tmp_path, openvino=True)
    assert again.forward_name == winner
    assert np.allclose(again.embed(pictures).vectors, first.embed(pictures).vectors, atol=1e-5)


def test_a_broken_kept_model_is_measured_again(tmp_path: Path, pictures: list[np.ndarray]) -> None:
    first = _compiled(tmp_path, openvino=True)
    if first.forward_name != "openvino":
        pytest.skip("TorchScript is faster on this CPU: no converted model is read back")
    verdict = next(tmp_path.glob("*.json"))
    verdict.with_suffix(".xml").write_text("not a model")
    again = _compiled(tmp_path, openvino=True)
    assert again.forward_name in {"openvino", "torchscript"}
    assert verdict.with_suffix(".xml").read_text(errors="replace") != "not a model"
    assert float((again.embed(pictures).vectors * first.embed(pictures).vectors).sum(1).min()) > (
        0.99999
    )


def test_converting_with_openvino_sends_and_writes_nothing_outside_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OpenVINO's converter counts its uses in ~/intel and sends them to Google Analytics
    unless told not to (it holds back only in CI): photocomic keeps its telemetry out."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("CI", raising=False)
    if not compiled_forward.openvino_usable():
        pytest.skip("OpenVINO is not installed here")
    data = tmp_path / "data"
    compiled_forward.converted_openvino(
        Embedder().model.eval(), compiled_forward.example_input(224), data / "model.xml"
    )
    assert (data / "model.xml").is_file()
    assert list(home.rglob("*")) == [], "nothing written in the home folder"
    import sys

    assert sys.modules["openvino_telemetry"] is None


def test_each_model_has_its_own_kept_files_whatever_its_name(tmp_path: Path) -> None:
    """timm names carry dots ("resnet50.a1_in1k"): the kept files must still be one set per
    model, with the suffixes the verdict and the converted model are written under."""
    names = [
        kept_name(tmp_path, model, "-")
        for model in ("resnet50.a1_in1k", "resnet50.tv_in1k", "tf_efficientnet_lite0")
    ]
    xml = {name.with_suffix(".xml") for name in names}
    assert len(xml) == 3
    assert all(path.parent == tmp_path and path.stem == name.name
               for path, name in zip(sorted(xml), sorted(names), strict=True))  # fmt: skip


def test_the_forward_setting_keeps_the_eager_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PHOTOCOMIC_FORWARD=eager: a long run compiles nothing and keeps nothing."""
    from photocomic.tools.config import Settings

    monkeypatch.setenv("PHOTOCOMIC_FORWARD", "eager")
    monkeypatch.setenv("PHOTOCOMIC_COMPILED_DIR", str(tmp_path / "compiled"))
    embedder = Embedder.from_settings(Settings())
    embedder.speed_up()
    assert embedder.forward_name == "eager" and not (tmp_path / "compiled").exists()
