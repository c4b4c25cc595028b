"""How a subject's direction in embedding space is fit from a few judged photos: a logistic
model blended with the examples' mean, a calibration to probabilities, and the count of the
library's photos that show it. Measured on bench/quality.py (subject_figures)."""

from __future__ import annotations

import numpy as np

C = 1.0
LEARNED_SHARE = 0.3  # of the ranking direction; the rest is the examples' mean (see _direction)
ROCCHIO_NEGATIVE = 0.5  # as in search.combine_examples


def direction(
    features: np.ndarray,
    labels: np.ndarray,
    weights: np.ndarray,
    pos: np.ndarray,
    neg: np.ndarray,
    background: np.ndarray,
) -> np.ndarray:
    """The direction the library is ranked along: the logistic model's, blended with the
    examples' mean moved away from the counter-examples (Rocchio), each in units of its spread
    over the background. Measured (bench/quality.py, subject_figures): the logistic model
    alone lost to the plain mean of three examples (R-precision 0.825 against 0.836); a third
    of it beside the mean gave 0.840, and after feedback 0.786 -> 0.853 on photos not judged."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=C, max_iter=1000).fit(features, labels, sample_weight=weights)
    learned = unit(model.coef_[0].astype(np.float32))
    centre = unit(pos.mean(axis=0))
    if len(neg):
        centre = unit(centre - ROCCHIO_NEGATIVE * unit(neg.mean(axis=0)))
    sample = background if len(background) > 1 else features
    mixed = LEARNED_SHARE * learned / spread(sample, learned)
    mixed += (1 - LEARNED_SHARE) * centre / spread(sample, centre)
    return unit(mixed)


def spread(vectors: np.ndarray, direction: np.ndarray) -> float:
    """How widely ``vectors`` spread along ``direction``: the unit that makes two directions'
    scores comparable before they are added."""
    return max(1e-6, float((vectors @ direction).std())) if len(vectors) > 1 else 1.0


def calibrate(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """(scale, bias) that turn a photo's score along the direction into a probability."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=100.0, max_iter=1000)
    model.fit(scores.reshape(-1, 1), labels, sample_weight=weights)
    return float(model.coef_[0][0]), float(model.intercept_[0])


def high_component(scores: np.ndarray) -> int:
    """Photos in the upper of two Gaussians fitted to the model's scores.

    The probabilities of a model trained on three examples are not calibrated (counting those
    above 0.5 was off by 10x either way); the scores of the subject's photos and of the rest
    form two humps, and the upper hump's size was within 0.9-1.9x of the truth on Imagenette.
    """
    from sklearn.mixture import GaussianMixture

    column = scores.reshape(-1, 1).astype(np.float64)
    mixture = GaussianMixture(2, random_state=0).fit(column)
    upper = int(np.argmax(mixture.means_[:, 0]))
    return int((mixture.predict_proba(column)[:, upper] > 0.5).sum())


def unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return (vector / norm).astype(np.float32) if norm else vector.astype(np.float32)
