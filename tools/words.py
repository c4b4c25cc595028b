"""How photocomic says things, shared by every door: counts in the singular for one."""

from __future__ import annotations


def plural(count: int, noun: str, many: str | None = None) -> str:
    """'1 photo', '2 photos', '1 panel redo': the noun as the count needs it."""
    if count == 1:
        return f"1 {noun}"
    return f"{count:,} {many or noun + 's'}"
