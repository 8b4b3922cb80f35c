"""The garbage collector for a long-running server: start-up's objects frozen, collections rarer.

Measured (BENCHMARKS.md 1c): with CPython's defaults a full collection walks the ~120,000
objects that importing SQLAlchemy, PTB, pydantic and twilio leaves behind (~30 ms, more once the
app and the directory are loaded) while the event loop and the writer wait; at 200 SMS reports/s
that was the p99 of the answer (128 ms; 66 ms with this). Those objects live as long as the
process, so they are moved out of the collector's sight once the server is up, and the young
generation is made larger, so a busy second's rows are mostly freed by reference counting
before a collection has to look at them.
"""

from __future__ import annotations

import gc

# Objects allocated between two young collections (CPython's default: 700), and how many young
# (then middle) collections make one of the next generation (defaults: 10 and 10).
THRESHOLDS = (20_000, 50, 100)


def settle() -> None:
    """Once the server is listening: collect what start-up left, freeze the rest (never scanned
    again, never freed: it lives as long as the process anyway), and collect less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
