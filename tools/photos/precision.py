"""Which precision embeds photos: fp32, or bf16 where it is fast and changes no search result.

The rule is about what users see, not about how close two vectors are: bf16 is allowed for a
model when, on real photos (Imagenette, measured by ``bench/precision.py`` and recorded in
``data/precision.json``), its precision@10 stays within 0.005 of fp32 and every photo embedded
in bf16 still finds its own fp32 embedding first with a score of at least 0.99. Then a library
may hold both, since searches cannot tell them apart; when the rule fails, or for a model not
measured, a library stays in one precision. bf16 is only tried where it is fast: a CUDA GPU
with bf16, or a CPU with native bf16 instructions (AVX-512 BF16 or AMX); elsewhere it is about
ten times slower than fp32.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

P10_TOLERANCE = 0.005
SELF_SCORE = 0.99


@dataclass(frozen=True)
class Decision:
    precision: str  # "fp32" or "bf16"
    reason: str
    interchangeable: bool  # the rule passed for this model: fp32 and bf16 rows may mix

    def record(self, device: str) -> dict[str, Any]:
        return {
            "precision": self.precision,
            "device": device,
            "reason": self.reason,
            "interchangeable": self.interchangeable,
        }


@cache
def measurements() -> dict[str, dict[str, Any]]:
    """What bench/precision.py measured, per model."""
    text = resources.files("photocomic.tools").joinpath("data", "precision.json").read_text()
    return dict(json.loads(text)["models"])


def rule_passes(figures: dict[str, Any]) -> bool:
    return (
        float(figures["p10_fp32"]) - float(figures["p10_bf16"]) <= P10_TOLERANCE
        and float(figures["self_first"]) >= 1.0
        and float(figures["min_self_score"]) >= SELF_SCORE
    )


def decide(model: str, wanted: str, bf16_is_fast: bool) -> Decision:
    """The precision for ``model``: ``wanted`` when forced, else by the measured rule."""
    figures = measurements().get(model)
    passes = figures is not None and rule_passes(figures)
    if wanted in ("fp32", "bf16"):
        return Decision(wanted, f"asked for {wanted}", passes)
    if figures is None:
        return Decision("fp32", f"{model} has no bf16 measurement; fp32", False)
    shown = (
        f"P@10 {figures['p10_bf16']:.3f} in bf16 against {figures['p10_fp32']:.3f} in fp32, "
        f"{figures['self_first']:.0%} find themselves first, lowest score "
        f"{figures['min_self_score']:.4f}"
    )
    if not passes:
        return Decision("fp32", f"bf16 fails the retrieval rule for {model} ({shown})", False)
    if not bf16_is_fast:
        return Decision("fp32", f"bf16 passes for {model} ({shown}) but is slow here", True)
    return Decision("bf16", f"bf16 passes the retrieval rule for {model} ({shown})", True)


def check_mix(stored: dict[str, Any] | None, decision: Decision, model: str) -> str | None:
    """Why new rows in ``decision``'s precision may not join a library embedded as ``stored``
    (None when they may)."""
    if not stored or stored.get("precision") in (None, decision.precision):
        return None
    if decision.interchangeable:
        return None
    return (
        f"this library was embedded in {stored['precision']}, and for {model} "
        f"{decision.precision} does not keep search results the same; index with "
        f"--precision {stored['precision']} (PHOTOCOMIC_PRECISION), or into another store"
    )
