"""Memory planning: refuse a run before it allocates more than the machine has."""

from __future__ import annotations

from ..errors import InputError

#: Fraction of MemAvailable a run may plan to allocate.
MEMORY_FRACTION = 0.8

__all__ = ["MEMORY_FRACTION", "mem_available_bytes", "check_memory"]


def mem_available_bytes() -> int | None:
    """MemAvailable from /proc/meminfo in bytes (None when the file does not exist)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _gb(n: float) -> str:
    return f"{n / 1e9:.3g} GB"


def check_memory(need_bytes: float, what: str) -> None:
    """Raise InputError (before allocating) if ``need_bytes`` exceeds MEMORY_FRACTION of MemAvailable."""
    avail = mem_available_bytes()
    if avail is None:
        return
    if need_bytes > MEMORY_FRACTION * avail:
        raise InputError(f"{what} needs about {_gb(need_bytes)} of memory but only {_gb(avail)} is available "
                         f"(MemAvailable); use a smaller problem (N, r) or fewer output rows (--t-end, --dt-out)")


