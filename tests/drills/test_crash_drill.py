"""The crash drill, scaled down: reports by Telegram and SMS while ``wolaiban run`` is SIGKILLed and
restarted; no report is lost or doubled, every message is sent, few are sent twice."""

from __future__ import annotations

from pathlib import Path

from bench import crash


async def test_reports_survive_sigkills(tmp_path: Path) -> None:
    outcome = await crash.drill(
        reports=20, kills=3, window=12.0, seed=11, folder=tmp_path, quiet=True
    )
    details = crash.describe(outcome)
    assert outcome.kills == 3
    assert outcome.unexpected_exits == [], details
    assert (outcome.missing, outcome.doubled) == ([], []), details
    assert outcome.cases_once == 20, details
    assert outcome.not_sent == {}, details
    assert outcome.outbox_sent == outcome.outbox_rows > 0, details
    assert outcome.lost == 0, details
    # Delivery is at-least-once: a kill repeats the messages in flight at that moment, and the
    # dispatcher sends to several chats at once, so one kill may repeat a few. The full drill
    # (200 reports, 20 kills) stayed within one per kill; a scaled run has seen two per kill.
    assert outcome.duplicates <= 3 * outcome.kills, details
