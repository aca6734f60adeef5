"""Peak resident memory of this process, measured from a chosen moment (Linux).

Benchmarks and memory tests run their work in a fresh subprocess, call
:func:`reset_peak` once the imports are done, and read :func:`peak_mb` at the end.
``ru_maxrss`` alone would mislead: Linux keeps it across fork+exec, so a child
would report its parent's peak; ``VmHWM`` can be reset through
``/proc/self/clear_refs``. Elsewhere both fall back to ``ru_maxrss``.
"""

from __future__ import annotations

import resource

__all__ = ["status_mb", "reset_peak", "peak_mb", "can_reset_peak"]


def status_mb(field: str) -> float | None:
    """Return a memory line of ``/proc/self/status`` (``VmRSS``, ``VmHWM``...) in MB, or None."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def can_reset_peak() -> bool:
    """Return True where the peak can be reset (Linux ``clear_refs``)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def reset_peak() -> float:
    """Start a new peak window; return the current resident size in MB (the baseline)."""
    if can_reset_peak():
        current = status_mb("VmRSS")
        if current is not None:
            return current
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_mb() -> float:
    """Return the peak resident size in MB since the last :func:`reset_peak`."""
    hwm = status_mb("VmHWM")
    return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
