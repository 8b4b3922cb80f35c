"""The backup drill, scaled down (``python -m bench.backup`` is the full size): ``wolaiban run`` (a
real process, SQLite) takes SMS and Telegram reports at a steady rate while ``wolaiban db backup``
(a real process) runs three times; each backup restored into a fresh database holds every report
answered before that backup began, once, passes ``integrity_check``, and ``run`` starts on it.

The intake's answer times during a backup and in the window before are printed (``-s``), never
asserted: a test's timing moves with the machine."""

from __future__ import annotations

from pathlib import Path

from bench import backup
from bench.common import percentile


async def test_backups_made_under_load_restore_every_answered_report(tmp_path: Path) -> None:
    # 16 s of load: each backup begins when the one before ends, and on a loaded CI machine two
    # backups took 11.7 s — an 8 s window had ended before the third began (nothing to show).
    outcome = await backup.drill(
        folder=tmp_path, cases=2000, rate=20.0, baseline_seconds=3.0, drill_seconds=16.0
    )
    details = backup.describe(outcome)
    base, during = [a.seconds for a in outcome.baseline], outcome.during()
    print(details)
    for p in (50, 99):
        shown = f"{percentile(during, p) * 1000:.1f} ms" if during else "-"
        print(f"answer p{p}: {shown} during a backup, {percentile(base, p) * 1000:.1f} ms before")

    assert outcome.errors == 0, details
    assert outcome.live_missing == 0, details
    assert len(outcome.backups) == 3
    for made in outcome.backups:
        assert (made.code, made.restore_code) == (0, 0), details
        assert backup.printed_counts(made.said) == backup.printed_counts(made.restored) != "", (
            details
        )
        assert made.integrity == "ok", details
        assert made.present_once == made.answered_before, details
        assert made.doubled == 0, details
        assert (made.healthz, made.readyz_database) == (200, "ok"), details
    # Each backup began later than the one before, with more reports answered by then: the
    # checks above were about reports taken while ``run`` kept writing.
    before = [made.answered_before for made in outcome.backups]
    assert 0 < before[0] < before[1] < before[2], details
    assert outcome.passed
