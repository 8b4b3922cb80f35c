"""The digest chart speaks Chinese on any machine: its labels are drawn with the font the bot
ships (a CJK subset), never as empty boxes and never swapped for English where no CJK font is
installed (this machine and every fresh one: ``fc-list :lang=zh`` finds nothing)."""

from __future__ import annotations

import warnings

import pytest

from bot.fonts import SANS_SC
from bot.services.digest.chart import Day, chart_figure, draw_chart, render_chart
from core.texts import render

DAYS = [Day("11-27", 3, 1, None, None, None), Day("11-28", 0, 2, 0.5, 1.0, 0.9)]
LABELS = ("reported", "closed", "response", "resolution", "satisfaction", "cases", "rate")


def _is_cjk(text: str) -> bool:
    return any("\u4e00" <= c <= "\u9fff" for c in text)


def test_every_label_of_a_chinese_chart_is_chinese_and_set_in_the_shipped_font() -> None:
    from fontTools.ttLib import TTFont
    from matplotlib import font_manager
    from matplotlib.text import Text

    with warnings.catch_warnings():
        # "Glyph … missing from font(s)" is how matplotlib says it drew an empty box
        warnings.simplefilter("error")
        figure = chart_figure(DAYS, "zh")
        figure.canvas.draw()
    texts = [t for t in figure.findobj(Text) if isinstance(t, Text) and t.get_text()]
    shown = {t.get_text() for t in texts}
    assert {render("zh", f"chart.{key}") for key in LABELS} <= shown
    chinese = [t for t in texts if _is_cjk(t.get_text())]
    assert len(chinese) == len(LABELS)
    glyphs = TTFont(SANS_SC).getBestCmap()
    for text in chinese:
        assert font_manager.findfont(text.get_fontproperties()) == str(SANS_SC)
        assert all(ord(c) in glyphs for c in text.get_text())


def test_the_chinese_chart_is_not_the_english_one_drawn_again() -> None:
    zh, en = render_chart(DAYS, "zh"), render_chart(DAYS, "en")
    assert zh != en


async def test_the_worker_draws_the_chinese_chart(caplog: pytest.LogCaptureFixture) -> None:
    zh, en = await draw_chart(DAYS, "zh"), await draw_chart(DAYS, "en")
    assert zh is not None
    assert en is not None
    assert zh != en
    assert "not drawn" not in caplog.text


def test_the_font_stays_a_few_megabytes() -> None:
    assert SANS_SC.stat().st_size < 3_000_000
