"""The example directory for end-to-end tests: the same people and places, without quiet hours,
since the tests run on the real clock at any hour (at 23:00 in Beijing routine SMS would wait)."""

from __future__ import annotations

from typing import Any

import yaml

from core.directory import Directory
from core.directory_checks import validate_directory
from tests.conftest import EXAMPLE


def example_any_hour() -> Directory:
    """``examples/changyang.yaml`` with ``quiet_hours: off``."""
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["defaults"] = {**data.get("defaults", {}), "quiet_hours": None}
    directory = validate_directory(data)
    assert not isinstance(directory, list), directory
    return directory
