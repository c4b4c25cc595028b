"""What the CPU at hand offers, read without loading PyTorch (an engine that only re-scans or
searches by id never loads it)."""

from __future__ import annotations

import functools
import os
import platform


@functools.cache
def _cpuinfo() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as handle:
            return handle.read()
    except OSError:
        return None


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity, e.g. a container's share)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 2


def cpu_has_native_bf16() -> bool:
    """bf16 autocast pays only on CPUs with bf16 instructions; elsewhere it is far slower."""
    flags = _cpuinfo() or ""
    return "avx512_bf16" in flags or "amx_bf16" in flags


def cpu_identity() -> str:
    """The CPU's model and instruction sets (what decides which forward pass is faster)."""
    info = _cpuinfo()
    if info is None:
        return f"{platform.machine()}|{platform.processor()}"
    wanted = ("model name", "flags", "Features", "CPU part")
    lines = info.splitlines()
    return "|".join(sorted({ln.split(":", 1)[1].strip() for ln in lines if ln.startswith(wanted)}))


def gpu_may_be_present() -> bool:
    """A GPU PyTorch might use (an NVIDIA or AMD driver's device, or a Mac's Metal): then only
    PyTorch itself can say which device runs the model."""
    if platform.system() == "Darwin":
        return True
    return any(os.path.exists(p) for p in ("/dev/nvidiactl", "/dev/nvidia0", "/dev/kfd"))
