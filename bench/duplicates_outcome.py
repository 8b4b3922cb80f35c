"""What a duplicate drill run left behind, and its table: the ×3 run against the ×1 run."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from bench.drills_common import Retries, Row

# ---- the outcome --------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one run left behind."""

    copies: int
    residents: int
    cases: int
    cases_per_marker: Counter[str]
    events: int
    event_kinds: Counter[str]
    outbox_rows: int
    outbox_sent: int
    receipts: int
    telegram_messages: int
    telegram_edits: int
    api_sms: int
    twiml_answers: int
    same_text_twice: int
    duplicate_examples: list[str]
    answers_differ: int
    repeats: int
    retries: Retries
    errors_logged: int
    error_examples: list[str]
    failures: list[str]
    seconds: float

    @property
    def delivered(self) -> int:
        """Messages delivered: Telegram messages, API-sent SMS, TwiML answers (once per sid)."""
        return self.telegram_messages + self.api_sms + self.twiml_answers


# ---- the table ----------------------------------------------------------------------------------


def rows(tripled: Outcome, once: Outcome) -> list[Row]:
    """Each figure of the ×3 run against the ×1 run: equal, and no duplicate."""

    def same(figure: str, a: int, b: int) -> Row:
        return Row(figure, a, b, "= baseline", a == b)

    doubled = sum(1 for n in tripled.cases_per_marker.values() if n > 1)
    return [
        Row("residents (Telegram + SMS)", tripled.residents, once.residents, "-", None),
        Row("deliveries repeated", tripled.repeats, once.repeats, "-", None),
        same("cases", tripled.cases, once.cases),
        Row("reports with several cases", doubled, 0, "0", doubled == 0),
        same("events", tripled.events, once.events),
        same("outbox rows", tripled.outbox_rows, once.outbox_rows),
        # A newer edit of a card replaces an older one not sent yet (superseded): how many edits
        # that is depends on timing, so what must match is the rows settled either way.
        same("outbox rows sent or superseded", tripled.outbox_sent, once.outbox_sent),
        same("inbound receipts", tripled.receipts, once.receipts),
        same("Telegram messages delivered", tripled.telegram_messages, once.telegram_messages),
        Row(
            "Telegram edits (coalesced: timing)",
            tripled.telegram_edits,
            once.telegram_edits,
            "-",
            None,
        ),
        same("SMS sent by the API", tripled.api_sms, once.api_sms),
        same("SMS answered by TwiML (per sid)", tripled.twiml_answers, once.twiml_answers),
        same("messages delivered, all", tripled.delivered, once.delivered),
        Row(
            "same text twice to one chat/phone",
            tripled.same_text_twice,
            once.same_text_twice,
            "0",
            tripled.same_text_twice == 0,
        ),
        Row(
            "repeated SMS answered differently",
            tripled.answers_differ,
            once.answers_differ,
            "0",
            tripled.answers_differ == 0,
        ),
        Row(
            "webhook not answered 200, posted again (Telegram / SMS)",
            f"{tripled.retries.telegram} / {tripled.retries.sms}",
            f"{once.retries.telegram} / {once.retries.sms}",
            "-",
            None,
        ),
        Row("errors logged by the bot", tripled.errors_logged, once.errors_logged, "-", None),
        Row(
            "residents whose script failed",
            len(tripled.failures),
            len(once.failures),
            "0",
            not tripled.failures and not once.failures,
        ),
        Row("run time (s)", tripled.seconds, once.seconds, "-", None),
    ]


def describe(outcome: Outcome) -> str:
    """The details behind a run's figures."""
    lines = [
        f"x{outcome.copies}: {outcome.cases} cases, events {dict(outcome.event_kinds)}, "
        f"{outcome.seconds:.0f} s"
    ]
    if outcome.duplicate_examples:
        lines.append("  delivered twice: " + "; ".join(outcome.duplicate_examples))
    if outcome.failures:
        lines.append("  failures: " + "; ".join(outcome.failures[:5]))
    if outcome.error_examples:
        lines.append("  errors logged: " + "; ".join(outcome.error_examples))
    return "\n".join(lines)
