"""The pixel check's crops, resampled with numpy, against PyTorch's ``grid_sample`` (bilinear,
border padding), which resampled them before: the same numbers, so the same scores."""

from __future__ import annotations

import numpy as np
import pytest
from photocomic.tools.find.pixel_match import _SIDE, _crops, _Resampling, _sample


def _grid_sample(images: list[np.ndarray], boxes: np.ndarray) -> np.ndarray:
    """Each box (x, y, width, height) of each picture sampled at _SIDE x _SIDE pixel centres
    by ``grid_sample``, as zero-mean unit rows."""
    import torch
    from torch.nn.functional import grid_sample

    height, width = images[0].shape
    steps = (np.arange(_SIDE, dtype=np.float32) + 0.5) / _SIDE
    xs = np.clip(boxes[:, 0:1] + steps * boxes[:, 2:3] - 0.5, 0, width - 1)
    ys = np.clip(boxes[:, 1:2] + steps * boxes[:, 3:4] - 0.5, 0, height - 1)
    grid = np.empty((len(boxes), _SIDE, _SIDE, 2), dtype=np.float32)
    grid[..., 0] = ((2 * xs + 1) / width - 1)[:, None, :]
    grid[..., 1] = ((2 * ys + 1) / height - 1)[:, :, None]
    batch = torch.from_numpy(np.stack(images).astype(np.float32))[:, None]
    flat = torch.from_numpy(grid).reshape(1, -1, _SIDE, 2).expand(len(images), -1, -1, -1)
    sampled = grid_sample(batch, flat, mode="bilinear", padding_mode="border", align_corners=False)
    rows = sampled.reshape(len(images), len(boxes), -1).numpy()
    rows -= rows.mean(axis=2, keepdims=True)
    return rows / np.linalg.norm(rows, axis=2, keepdims=True)


@pytest.mark.parametrize("shape", [(72, 96), (96, 72), (96, 96), (54, 96), (96, 43)])
@pytest.mark.parametrize("aspect", [None, 4 / 3, 3 / 4, 1.0, 16 / 9, 0.37])
def test_crops_are_resampled_as_grid_sample_did(
    shape: tuple[int, int], aspect: float | None
) -> None:
    height, width = shape
    rng = np.random.default_rng(height * 1000 + width)
    images = [rng.integers(0, 256, shape).astype(np.uint8) for _ in range(5)]
    boxes = (
        [(width, height, np.zeros(1), np.zeros(1))] if aspect is None
        else _crops(height, width, aspect)
    )  # fmt: skip
    flat = np.asarray(
        [(left, top, w, h) for w, h, lefts, tops in boxes for top in tops for left in lefts],
        dtype=np.float32,
    )
    ours = np.stack(_sample(images, _Resampling(shape, boxes)))
    assert ours.shape == (5, len(flat), _SIDE * _SIDE)
    assert np.abs(ours - _grid_sample(images, flat)).max() < 1e-5
