"""``python -m bot.services.chart_worker``: draw one digest chart and exit.

Reads ``{"language": "zh", "days": [{"label": "11-28", "reported": 3, …}, …]}`` on stdin and
writes the PNG on stdout; anything wrong goes to stderr with a non-zero exit (see ``draw_chart``).
"""

from __future__ import annotations

import json
import sys

from bot.services.digest.chart import Day, render_chart


def main() -> int:
    """Read the request, draw, write the PNG."""
    request = json.load(sys.stdin)
    days = [Day(**day) for day in request["days"]]
    sys.stdout.buffer.write(render_chart(days, request["language"]))
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
