"""The ``wolaiban`` command line: ``main`` parses and prints, ``commands`` call the services."""

from bot.cli.main import main

__all__ = ["main"]
