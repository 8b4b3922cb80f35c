"""``--json`` output is ``json.dumps(…, ensure_ascii=False, indent=2)`` to the byte, however the
command line writes it."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bot.cli import json_text

SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
FLAT = st.dictionaries(st.text(), SCALARS, min_size=1)
ANY_JSON = st.recursive(SCALARS, lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner))


@given(st.lists(FLAT))
def test_a_list_of_flat_objects(value: list[dict[str, Any]]) -> None:
    assert json_text(value) == json.dumps(value, ensure_ascii=False, indent=2)


@given(ANY_JSON)
def test_anything_else(value: Any) -> None:
    assert json_text(value) == json.dumps(value, ensure_ascii=False, indent=2)


def test_strings_that_look_like_the_layout() -> None:
    value = [
        {"a": '",\n    "b": 1', "line\nbreak": "}\n  },\n  {", "数": "天津\u2028", "n": None},
        {"x": float("nan"), "y": -0.0, "z": 1e300, "t": True},
    ]
    assert json_text(value) == json.dumps(value, ensure_ascii=False, indent=2)
