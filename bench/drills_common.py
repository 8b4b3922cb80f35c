"""What the pacing benchmark and the crash and duplicate drills share: the result table, the
emulators as the drills use them, retried deliveries (as Telegram and Twilio retry) and counting
what each chat or phone received more than once (the rest of their set-up is ``sandbox.harness``).

The figures are wall-clock measurements on a machine that may be busy with other work: they are
noisy, and each script measures its baseline in the same run so the two are comparable.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from sandbox.harness import until
from sandbox.telegram import Sent, TelegramEmulator
from sandbox.twilio import Reply, TwilioEmulator

# ---- the result table ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Row:
    """One line of a result table; ``passed`` None for a figure shown for information only."""

    figure: str
    value: float | str
    baseline: float | str | None
    target: str
    passed: bool | None
    digits: int = 1

    def ratio(self) -> str:
        """value / baseline, when both are numbers and the baseline is not zero."""
        if isinstance(self.value, str) or self.baseline is None or isinstance(self.baseline, str):
            return "-"
        if self.baseline == 0:
            return "-"
        return f"{self.value / self.baseline:.2f}"

    def cells(self) -> list[str]:
        """The row as printed."""
        verdict = "-" if self.passed is None else ("PASS" if self.passed else "FAIL")
        baseline = "-" if self.baseline is None else _number(self.baseline, self.digits)
        return [
            self.figure,
            _number(self.value, self.digits),
            baseline,
            self.ratio(),
            self.target,
            verdict,
        ]


def _number(value: float | str, digits: int) -> str:
    if isinstance(value, str):
        return value
    if float(value).is_integer() and digits <= 1:
        return str(int(value))
    return f"{value:.{digits}f}"


def table(title: str, rows: Iterable[Row]) -> str:
    """The rows as an aligned text table under ``title``."""
    head = ["figure", "value", "baseline", "ratio", "target", "pass/fail"]
    body = [row.cells() for row in rows]
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    lines = [title, "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in body]
    return "\n".join(line.rstrip() for line in lines)


def all_passed(rows: Iterable[Row]) -> bool:
    """False when any row with a target missed it."""
    return all(row.passed is not False for row in rows)


def machine_note() -> str:
    """One line on how busy the machine was: wall-clock figures move with it."""
    one, five, _ = os.getloadavg()
    cores = os.cpu_count() or 1
    return (
        f"machine: {cores} cores, load average {one:.2f} (1 min) / {five:.2f} (5 min); "
        "wall-clock figures are noisy when the machine is busy"
    )


class ErrorLog(logging.Handler):
    """Counts the records logged at ERROR or above while installed, keeping a few summaries."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0
        self.summaries: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        error = record.exc_info[1] if record.exc_info else None
        detail = f" ({type(error).__name__}: {str(error)[:80]})" if error is not None else ""
        self.summaries[f"{record.name}: {record.getMessage()[:80]}{detail}"] += 1

    def __enter__(self) -> ErrorLog:
        logging.getLogger().addHandler(self)
        return self

    def __exit__(self, *_: object) -> None:
        logging.getLogger().removeHandler(self)


class _NoDisconnects(logging.Filter):
    """Drops uvicorn's report of a client that went away mid-request (a killed process)."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return type(error).__name__ != "ClientDisconnect"


def quiet_disconnects() -> None:
    """The emulators' server stops logging tracebacks for requests whose client was killed."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _NoDisconnects) for f in logger.filters):
        logger.addFilter(_NoDisconnects())


# ---- waiting for the bot's answer ----------------------------------------------------------------


async def first_message(
    telegram: TelegramEmulator,
    chat: int,
    wanted: Callable[[Sent], bool],
    *,
    seen: int,
    seconds: float,
) -> Sent:
    """The first message to ``chat`` after the ``seen`` it had that ``wanted`` accepts."""

    def found() -> Sent | None:
        return next((m for m in telegram.inbox(chat)[seen:] if wanted(m)), None)

    try:
        await until(lambda: found() is not None, seconds, step=0.1)
    except TimeoutError:
        said = f"chat {chat}: the awaited message did not come within {seconds:.0f} s"
        raise TimeoutError(said) from None
    message = found()
    assert message is not None
    return message


async def question(
    telegram: TelegramEmulator, chat: int, step: str, *, seen: int, seconds: float
) -> Sent:
    """The guided report's question for ``step`` (each has its "abandon" button ``r:<step>:x``)."""
    wanted = f"r:{step}:x"
    return await first_message(
        telegram, chat, lambda m: wanted in m.button_data(), seen=seen, seconds=seconds
    )


# ---- Telegram and Twilio, retrying as they do ---------------------------------------------------


class Undelivered(Exception):
    """The webhook post of ``update_id`` failed (no connection, or an answer other than 2xx)."""

    def __init__(self, update_id: int, reason: str) -> None:
        super().__init__(f"update {update_id}: {reason}")
        self.update_id = update_id


class WebhookTelegram(TelegramEmulator):
    """The Telegram emulator, saying which update a failed webhook post carried, so that it can
    be delivered again (``replay``) the way Telegram retries a webhook that did not answer."""

    async def _deliver(self, update: dict[str, Any]) -> None:
        try:
            await super()._deliver(update)
        except (httpx.HTTPError, RuntimeError) as error:
            reason = f"{type(error).__name__}: {error}"
            raise Undelivered(int(update["update_id"]), reason) from error


@dataclass
class Retries:
    """How many deliveries had to be repeated before the bot took them."""

    telegram: int = 0
    sms: int = 0


async def until_taken(
    telegram: WebhookTelegram,
    send: Callable[[], Awaitable[int]],
    *,
    seconds: float = 90.0,
    retries: Retries | None = None,
) -> int:
    """Run ``send`` (a ``user_says`` or ``user_presses``); while the webhook fails, deliver the
    same update again, as Telegram does. Returns the update id."""
    try:
        return await send()
    except Undelivered as failed:
        update_id = failed.update_id
    deadline = time.monotonic() + seconds
    while True:
        if retries is not None:
            retries.telegram += 1
        await asyncio.sleep(0.25)
        try:
            await telegram.replay(update_id)
            return update_id
        except Undelivered:
            if time.monotonic() >= deadline:
                raise


async def text_until_taken(
    twilio: TwilioEmulator,
    phone: str,
    to: str,
    body: str,
    *,
    url: str,
    sid: str,
    seconds: float = 90.0,
    retries: Retries | None = None,
) -> Reply:
    """A phone texts; while the webhook fails, Twilio posts the same MessageSid again."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            reply = await twilio.text(phone, to, body, url=url, sid=sid)
            if reply.status_code == 200:
                return reply
            problem = f"answered {reply.status_code}"
        except httpx.HTTPError as error:
            problem = f"{type(error).__name__}: {error}"
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{sid} from {phone} never taken: {problem}")
        if retries is not None:
            retries.sms += 1
        await asyncio.sleep(0.25)


# ---- what was received more than once -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Received:
    """Every message the bot delivered, by chat (Telegram) and by phone (SMS)."""

    telegram: dict[int, list[str]]
    sms: dict[str, list[str]]

    @property
    def total(self) -> int:
        """Messages delivered on both channels."""
        return sum(map(len, self.telegram.values())) + sum(map(len, self.sms.values()))

    def duplicates(self) -> list[tuple[str, str, int]]:
        """(where, text, extra copies) for each text one chat or phone got more than once."""
        found: list[tuple[str, str, int]] = []
        for where, texts in [
            *((f"telegram:{chat}", texts) for chat, texts in self.telegram.items()),
            *((f"sms:{phone}", texts) for phone, texts in self.sms.items()),
        ]:
            found += [(where, text, n - 1) for text, n in Counter(texts).items() if n > 1]
        return found

    def duplicate_count(self) -> int:
        """Extra copies delivered, summed over every chat and phone."""
        return sum(extra for _, _, extra in self.duplicates())


def received(telegram: TelegramEmulator, twilio: TwilioEmulator) -> Received:
    """What each chat and each phone received from the bot: each Telegram message as it was
    first sent (before any edit), every SMS (API sends and TwiML replies)."""
    chats = {
        chat: [m.history[0][1] if m.history else m.text for m in telegram.inbox(chat)]
        for chat in list(telegram.chats)
    }
    phones = {phone: [m.body for m in twilio.inbox(phone)] for phone in list(twilio.phones)}
    return Received(
        telegram={chat: texts for chat, texts in chats.items() if texts},
        sms={phone: texts for phone, texts in phones.items() if texts},
    )
