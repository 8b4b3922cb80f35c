"""What every ``wolaiban`` subcommand shares: the settings it runs with (``Env``), what it gives
back (``Result``) and the exit codes: 0 done, 1 not found or refused, 2 usage or configuration."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from bot import app
from bot.config import Settings
from bot.services.unit.context import ServiceContext
from core.texts import render

OK, NOT_FOUND, USAGE = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Result:
    """A command's outcome: exit code, and text or JSON to print."""

    code: int = OK
    text: str = ""
    json: Any = None


@dataclass(frozen=True, slots=True)
class Env:
    """The settings a command runs with."""

    settings: Settings

    @property
    def language(self) -> str:
        """The language of human-readable output."""
        return self.settings.default_language

    def say(self, key: str, **params: Any) -> str:
        """A catalog text in the operator's language."""
        return render(self.language, key, **params)

    @asynccontextmanager
    async def context(self, *, prepare: bool = True) -> AsyncIterator[ServiceContext]:
        """The services' context; the schema is checked (or, on SQLite, upgraded) first."""
        ctx = app.build_context(self.settings)
        try:
            if prepare:
                await app.prepare_database(ctx.db, self.language)
            else:
                await app.reach_database(ctx.db, self.language)
            yield ctx
        finally:
            await ctx.db.dispose()
