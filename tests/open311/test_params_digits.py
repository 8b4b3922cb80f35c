"""Numbers in Open311 paths and arguments are ASCII digits: "²".isdigit() is true and int("²")
raises — the fuzzer's GET /requests/².json was a 500 before; now it names no case (404)."""

from __future__ import annotations

import pytest

from bot.open311.errors import Problem
from bot.open311.params import case_number, request_ids


@pytest.mark.parametrize("text", ["²", "١٢", "１２", "12²"])
def test_a_number_in_other_digits_names_no_case(text: str) -> None:
    assert text.isdigit()  # what fooled the check before
    assert case_number(text) is None


def test_ascii_digits_still_name_a_case() -> None:
    assert case_number("12") == 12


def test_other_digits_in_service_request_id_are_a_400() -> None:
    with pytest.raises(Problem) as refused:
        request_ids({"service_request_id": "3,²"}, keyed=True)
    assert refused.value.status == 400
    assert request_ids({"service_request_id": "3,4"}, keyed=True) == (3, 4)
