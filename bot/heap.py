"""The garbage collector for a long-running server: start-up's objects frozen, collections rarer;
and what start-up freed handed back to the system.

Measured (BENCHMARKS.md 1c): with CPython's defaults a full collection walks the ~120,000
objects that importing SQLAlchemy, PTB, pydantic and twilio leaves behind (~30 ms, more once the
app and the directory are loaded) while the event loop and the writer wait; at 200 SMS reports/s
that was the p99 of the answer (128 ms; 66 ms with this). Those objects live as long as the
process, so they are moved out of the collector's sight once the server is up, and the young
generation is made larger, so a busy second's rows are mostly freed by reference counting
before a collection has to look at them.

glibc's malloc keeps what a process freed for its next allocations: after a directory's load
(hundreds of MB for a city's file) the resident memory would stay at its peak for the life of
the server. ``trim`` returns the free pages (``malloc_trim``); elsewhere it only collects.
"""

from __future__ import annotations

import ctypes
import gc
from collections.abc import Callable
from functools import cache

# Objects allocated between two young collections (CPython's default: 700), and how many young
# (then middle) collections make one of the next generation (defaults: 10 and 10).
THRESHOLDS = (20_000, 50, 100)


def settle() -> None:
    """Once the server is listening: collect what start-up left, give its free memory back,
    freeze the rest (never scanned again, never freed: it lives as long as the process anyway),
    and collect less often."""
    trim()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)


def trim() -> None:
    """Collect, and hand the memory malloc holds free back to the system (glibc only)."""
    gc.collect()
    release = _malloc_trim()
    if release is not None:
        release(0)


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None (musl, macOS, Windows)."""
    try:
        found: Callable[[int], int] | None = getattr(ctypes.CDLL(None), "malloc_trim", None)
    except (OSError, TypeError):  # no C library to open by the process's own name
        return None
    return found
