"""How the C allocator treats the picture-sized buffers indexing frees by the thousand.

glibc hands out every buffer above its mmap threshold (128 KB at first, raised as buffers are
freed) as fresh pages from the kernel and unmaps them when freed, so each decoded photo, its
resized copy and its tensors were new pages, zeroed by the kernel and faulted in one by one:
1.7 to 2.3 million page faults and 3-4 s of kernel time per 1,000 photos on 2 cores, varying
from run to run with the allocation history (the swing of the indexing rate). Keeping buffers
below 32 MB on the heap and giving memory back only past 128 MB free ends that: 2,000 page
faults, 0.3 s of kernel time, and 15-20 % more photos a second (bench/RESULTS.md, "Steady").
After an index run :func:`give_back` returns what is free to the system.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)
M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 2**20
TRIM_THRESHOLD = 128 * 2**20
_libc: ctypes.CDLL | None = None


def _glibc() -> ctypes.CDLL | None:
    global _libc
    if _libc is None and sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim"):
                _libc = libc
        except OSError:
            return None
    return _libc


def keep_picture_buffers() -> bool:
    """Set the thresholds for this process (glibc only; elsewhere nothing changes)."""
    libc = _glibc()
    if libc is None:
        return False
    done = libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    done = libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and done
    if not done:
        log.debug("mallopt refused the thresholds")
    return done


def give_back() -> None:
    """Return the heap's free memory to the system (after a run that freed a lot)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
