"""A photo's pixel signature: the small equalised greyscale thumbnail the duplicate check
compares, made while indexing from the picture already decoded, so finding duplicates later
never opens a photo again.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter, ImageOps

SIGNATURE_SIDE = 96  # long side of the thumbnail: 96x72 for a 4:3 photo, 6.9 KB as bytes


def pixel_signature(image: Image.Image) -> np.ndarray:
    """The equalised greyscale thumbnail as uint8, lightly blurred so that resampling it later
    does not alias (equalising makes brightened and darkened copies look alike)."""
    grey = image.convert("L")
    grey.thumbnail((SIGNATURE_SIDE, SIGNATURE_SIDE), Image.Resampling.BILINEAR)
    grey = ImageOps.equalize(grey).filter(ImageFilter.GaussianBlur(0.8))
    return np.asarray(grey, dtype=np.uint8)
