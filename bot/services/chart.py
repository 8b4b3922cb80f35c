"""The digest's chart: the last days' reported and closed cases, with the three rates, as a PNG.

``draw_chart`` draws it in a short-lived process (``bot.services.chart_worker``): matplotlib takes
~60 MB that a process keeps once it has drawn, and ``wolaiban run`` need not carry them all day.
The figures go in as JSON on stdin, the PNG comes back on stdout; a worker that fails or takes too
long costs the chart, not the digest.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

from core.texts import render

log = logging.getLogger(__name__)

# Drawing takes a CPU second, starting Python and matplotlib about as long again; a machine busy
# elsewhere may take several times that.
CHART_SECONDS = 60.0
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The folder holding the ``bot`` package: the worker is found however the process was started.
_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True, slots=True)
class Day:
    """One day's figures."""

    label: str  # "11-28"
    reported: int
    closed: int
    response: float | None
    resolution: float | None
    satisfaction: float | None


async def draw_chart(
    days: Sequence[Day], language: str, *, seconds: float = CHART_SECONDS
) -> bytes | None:
    """The chart as PNG bytes, drawn by a worker process; None (and a log line) if it failed."""
    request = json.dumps({"language": language, "days": [asdict(day) for day in days]})
    try:
        worker = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.services.chart_worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=_ROOT,
        )
    except OSError as error:
        log.warning("digest chart not drawn: the worker did not start (%s)", error)
        return None
    try:
        png, errors = await asyncio.wait_for(worker.communicate(request.encode()), seconds)
    except TimeoutError:
        log.warning("digest chart not drawn: the worker took over %g s", seconds)
        return None
    finally:
        if worker.returncode is None:  # timed out, or the digest was cancelled (a shutdown)
            worker.kill()
            await worker.wait()
    if worker.returncode != 0 or not png.startswith(PNG_SIGNATURE):
        last = errors.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
        log.warning("digest chart not drawn: the worker exited %s: %s", worker.returncode, last[0])
        return None
    return png


@cache
def _cjk_font() -> str | None:
    """A font with Chinese glyphs, when the machine has one."""
    from matplotlib import font_manager

    for font in font_manager.fontManager.ttflist:
        if any(mark in font.name for mark in ("CJK", "Hei", "Song", "WenQuanYi", "Ming")):
            return str(font.name)
    return None


def render_chart(days: Sequence[Day], language: str) -> bytes:
    """The chart as PNG bytes; labels in ``language`` (English where no Chinese font exists).
    Loads matplotlib: called in the worker process (or a test), never in ``wolaiban run``."""
    import matplotlib

    matplotlib.use("Agg")  # headless: no display, no GUI toolkit
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    font = _cjk_font()
    labels = language if language != "zh" or font else "en"
    figure = Figure(figsize=(8, 4), dpi=100)
    axes = figure.add_subplot()
    x = list(range(len(days)))
    width = 0.4
    axes.bar(
        [i - width / 2 for i in x],
        [d.reported for d in days],
        width,
        label=render(labels, "chart.reported"),
        color="#4C78A8",
    )
    axes.bar(
        [i + width / 2 for i in x],
        [d.closed for d in days],
        width,
        label=render(labels, "chart.closed"),
        color="#72B7B2",
    )
    axes.set_xticks(x, [d.label for d in days], rotation=45, fontsize=8)
    axes.set_ylabel(render(labels, "chart.cases"))
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))  # cases come whole
    rates = axes.twinx()
    for key, color in (
        ("response", "#F58518"),
        ("resolution", "#54A24B"),
        ("satisfaction", "#E45756"),
    ):
        values = [getattr(d, key) for d in days]
        rates.plot(
            x,
            [v if v is not None else float("nan") for v in values],
            marker="o",
            color=color,
            label=render(labels, f"chart.{key}"),
        )
    rates.set_ylim(0, 1.05)
    rates.set_ylabel(render(labels, "chart.rate"))
    handles = axes.get_legend_handles_labels()
    more = rates.get_legend_handles_labels()
    legend = axes.legend(
        handles[0] + more[0],
        handles[1] + more[1],
        fontsize=8,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.2),  # below the plot: never over the bars
        ncol=5,
        frameon=False,
    )
    if font and labels == "zh":
        for text in (*legend.get_texts(), axes.yaxis.label, rates.yaxis.label):
            text.set_fontfamily(font)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
