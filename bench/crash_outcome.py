"""What a crash drill run found, compared with what was sent, and its table against the baseline."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.drills_common import Received, Retries, Row
from core.sms_text import as_sms
from db.models import OutboxMessage

# ---- the outcome --------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one drill run found."""

    reports: int
    kills: int
    submitted: int
    cases_once: int
    missing: list[str]
    doubled: list[str]
    outbox_rows: int
    outbox_sent: int
    not_sent: dict[str, int]
    lost: int
    lost_examples: list[str]
    duplicates: int
    duplicate_examples: list[str]
    same_text_twice: int
    retries: Retries
    unexpected_exits: list[int]
    failures: list[str]
    drain_seconds: float
    seconds: float
    log: Path
    log_errors: int

    @property
    def passed(self) -> bool:
        """Every target met."""
        return (
            self.cases_once == self.reports
            and self.outbox_sent == self.outbox_rows
            and self.lost == 0
            and self.duplicates <= self.kills
            and not self.unexpected_exits
        )


def _expected_text(row: OutboxMessage) -> str:
    """What the chat or phone shows for a row (an API-sent SMS carries its buttons as text)."""
    if row.channel == "sms" and not (row.provider_message_id or "").startswith("twiml:"):
        return as_sms(row.text, row.button_rows(), row.language)
    return row.text


def compare(rows: list[OutboxMessage], got: Received) -> tuple[int, list[str], int, list[str]]:
    """Sent rows never received (lost), and messages received more often than sent (extra)."""
    expected: Counter[tuple[str, str]] = Counter()
    for row in rows:
        if row.status == "sent" and row.edit_of is None:
            expected[(f"{row.channel}:{row.address}", _expected_text(row))] += 1
    seen: Counter[tuple[str, str]] = Counter()
    for chat, texts in got.telegram.items():
        seen.update((f"telegram:{chat}", text) for text in texts)
    for phone, texts in got.sms.items():
        seen.update((f"sms:{phone}", text) for text in texts)
    lost = expected - seen
    extra = seen - expected
    lost_examples = [f"{where}: {text[:60]!r} x{n}" for (where, text), n in lost.items()]
    extra_examples = [f"{where}: {text[:60]!r} +{n}" for (where, text), n in extra.items()]
    return sum(lost.values()), lost_examples[:5], sum(extra.values()), extra_examples[:5]


def describe(outcome: Outcome) -> str:
    """The details behind a run's figures (what was missing, lost or duplicated)."""
    lines = [
        f"run with {outcome.kills} kills: {outcome.submitted}/{outcome.reports} reports "
        f"submitted, {outcome.seconds:.0f} s, drained in {outcome.drain_seconds:.1f} s, "
        f"{outcome.log_errors} tracebacks in {outcome.log}"
    ]
    for label, items in (
        ("no case", outcome.missing),
        ("more than one case", outcome.doubled),
        ("not sent", [f"{k}: {v}" for k, v in outcome.not_sent.items()]),
        ("lost", outcome.lost_examples),
        ("delivered more than once", outcome.duplicate_examples),
        ("driver failures", outcome.failures[:5]),
        ("unexpected exits", [str(c) for c in outcome.unexpected_exits]),
    ):
        if items:
            lines.append(f"  {label}: " + "; ".join(items[:5]))
    return "\n".join(lines)


def rows(drilled: Outcome, baseline: Outcome) -> list[Row]:
    """The table: the drill against the same run without kills."""
    n = drilled.reports
    return [
        Row("reports (half Telegram, half SMS)", n, baseline.reports, "-", None),
        Row("SIGKILL + restart", drilled.kills, baseline.kills, "-", None),
        Row("reports submitted", drilled.submitted, baseline.submitted, f"{n}", None),
        Row(
            "reports with exactly one case",
            drilled.cases_once,
            baseline.cases_once,
            f"{n} of {n}",
            drilled.cases_once == n,
        ),
        Row(
            "reports with no case / several",
            f"{len(drilled.missing)} / {len(drilled.doubled)}",
            f"{len(baseline.missing)} / {len(baseline.doubled)}",
            "0 / 0",
            None,
        ),
        Row(
            "outbox rows sent (%)",
            100 * drilled.outbox_sent / max(drilled.outbox_rows, 1),
            100 * baseline.outbox_sent / max(baseline.outbox_rows, 1),
            "100",
            drilled.outbox_sent == drilled.outbox_rows,
        ),
        Row("outbox rows", drilled.outbox_rows, baseline.outbox_rows, "-", None),
        Row("sent but never received (lost)", drilled.lost, baseline.lost, "0", drilled.lost == 0),
        Row(
            "delivered more than once",
            drilled.duplicates,
            baseline.duplicates,
            f"<= {drilled.kills} (kills)",
            drilled.duplicates <= drilled.kills,
        ),
        Row(
            "same text twice to one chat/phone",
            drilled.same_text_twice,
            baseline.same_text_twice,
            "-",
            None,
        ),
        Row(
            "deliveries repeated (Telegram / SMS)",
            f"{drilled.retries.telegram} / {drilled.retries.sms}",
            f"{baseline.retries.telegram} / {baseline.retries.sms}",
            "-",
            None,
        ),
        Row(
            "process ended by itself",
            len(drilled.unexpected_exits),
            len(baseline.unexpected_exits),
            "0",
            not drilled.unexpected_exits,
        ),
        Row("tracebacks in the bot's log", drilled.log_errors, baseline.log_errors, "-", None),
        Row(
            "drain after the last report (s)",
            drilled.drain_seconds,
            baseline.drain_seconds,
            "-",
            None,
        ),
        Row("run time (s)", drilled.seconds, baseline.seconds, "-", None),
    ]
