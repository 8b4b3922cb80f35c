"""The PTB Application: pointed at the configured Bot API, with our handlers; polls or hooks."""

from __future__ import annotations

from typing import Any

from telegram import BotCommand, Update
from telegram.ext import Application

from bot.config import Settings
from core.texts import LANGUAGES, render

from .handlers import TelegramGateway

COMMANDS = ("report", "mycases", "open", "case", "digest", "web", "cancel", "lang", "help", "start")
TelegramApp = Application[Any, Any, Any, Any, Any, Any]


def build_application(settings: Settings, gateway: TelegramGateway) -> TelegramApp:
    """The Application for these settings; without an updater in webhook mode."""
    assert settings.telegram_bot_token is not None
    root = settings.telegram_api_url.rstrip("/")
    builder = (
        Application.builder()
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(f"{root}/bot")
        .base_file_url(f"{root}/file/bot")
    )
    if settings.telegram_webhook_url:
        builder = builder.updater(None)
    app = builder.build()
    gateway.register(app)
    return app


async def start(app: TelegramApp, settings: Settings) -> None:
    """Initialize, publish the command menu in both languages, then poll or set the webhook."""
    await app.initialize()
    for language in LANGUAGES:
        commands = [BotCommand(name, render(language, f"cmd.{name}")) for name in COMMANDS]
        default = language == settings.default_language
        await app.bot.set_my_commands(commands, language_code=None if default else language)
    if settings.telegram_webhook_url:
        assert settings.telegram_webhook_secret is not None
        await app.bot.set_webhook(
            settings.telegram_webhook_url,
            secret_token=settings.telegram_webhook_secret.get_secret_value(),
            allowed_updates=Update.ALL_TYPES,
        )
    else:
        await app.bot.delete_webhook()
        assert app.updater is not None
        await app.updater.start_polling(allowed_updates=Update.ALL_TYPES, timeout=10)
    await app.start()


async def stop(app: TelegramApp) -> None:
    """Stop polling and the Application."""
    if app.updater is not None and app.updater.running:
        await app.updater.stop()
    if app.running:
        await app.stop()
    await app.shutdown()
