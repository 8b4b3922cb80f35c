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
from pathlib import Path
from typing import TYPE_CHECKING

from bot.fonts import SANS_SC, SANS_SC_FAMILY
from core.texts import render

if TYPE_CHECKING:  # matplotlib is loaded by the worker only
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

# Drawing takes a CPU second, starting Python and matplotlib about as long again; a machine busy
# elsewhere may take several times that.
CHART_SECONDS = 60.0
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The folder holding the ``bot`` package: the worker is found however the process was started.
_ROOT = Path(__file__).resolve().parents[3]
# The worker module, run as ``python -m`` (a module of this package; importing it here would loop).
_WORKER = f"{__package__}.chart_worker"


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
            _WORKER,
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


def _fonts() -> list[str]:
    """The families the chart's text is set in: the shipped Chinese subset first (registered
    with matplotlib here, in the worker, not at import), then matplotlib's own for anything the
    subset lacks. Loads matplotlib."""
    from matplotlib import font_manager

    if SANS_SC_FAMILY not in {font.name for font in font_manager.fontManager.ttflist}:
        font_manager.fontManager.addfont(str(SANS_SC))
    return [SANS_SC_FAMILY, "DejaVu Sans"]


def chart_figure(days: Sequence[Day], language: str) -> Figure:
    """The chart as a matplotlib figure, every label in ``language`` (Chinese glyphs from the
    shipped font, whatever the machine has). Loads matplotlib."""
    import matplotlib

    matplotlib.use("Agg")  # headless: no display, no GUI toolkit
    import matplotlib.figure
    from matplotlib.ticker import MaxNLocator

    # Text takes its font from the settings in force when it is made (ticks: when drawn).
    with matplotlib.rc_context({"font.family": _fonts()}):
        figure = matplotlib.figure.Figure(figsize=(8, 4), dpi=100)
        axes = figure.add_subplot()
        x = list(range(len(days)))
        width = 0.4
        axes.bar(
            [i - width / 2 for i in x],
            [d.reported for d in days],
            width,
            label=render(language, "chart.reported"),
            color="#4C78A8",
        )
        axes.bar(
            [i + width / 2 for i in x],
            [d.closed for d in days],
            width,
            label=render(language, "chart.closed"),
            color="#72B7B2",
        )
        axes.set_xticks(x, [d.label for d in days], rotation=45, fontsize=8)
        axes.set_ylabel(render(language, "chart.cases"))
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
                label=render(language, f"chart.{key}"),
            )
        rates.set_ylim(0, 1.05)
        rates.set_ylabel(render(language, "chart.rate"))
        handles = axes.get_legend_handles_labels()
        more = rates.get_legend_handles_labels()
        axes.legend(
            handles[0] + more[0],
            handles[1] + more[1],
            fontsize=8,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.2),  # below the plot: never over the bars
            ncol=5,
            frameon=False,
        )
        figure.tight_layout()
    return figure


def render_chart(days: Sequence[Day], language: str) -> bytes:
    """The chart as PNG bytes, labels in ``language``.
    Loads matplotlib: called in the worker process (or a test), never in ``wolaiban run``."""
    import matplotlib

    figure = chart_figure(days, language)
    buffer = io.BytesIO()
    with matplotlib.rc_context({"font.family": _fonts()}):
        figure.savefig(buffer, format="png")
    return buffer.getvalue()
