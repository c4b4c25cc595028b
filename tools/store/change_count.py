"""A count of the writes to one part of a store, for readers that keep what they computed."""

from __future__ import annotations

import threading


class ChangeCount:
    """Steps once per write (the writes of rows once before and once after), under a lock so
    that writers on two threads never lose a step. A reader that sees one value before and
    after its work knows no write ended meanwhile; a write still under way steps it when it
    ends, so what the reader kept under that value is never matched again."""

    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    def step(self) -> None:
        with self._lock:
            self.value += 1
