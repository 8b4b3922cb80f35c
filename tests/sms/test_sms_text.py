"""The catalog's routine messages as SMS: two segments at most, the case number and codes kept."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from core.buttons import Button
from core.sms_text import as_sms
from core.texts import render
from sandbox.twilio import segments

CARD_BUTTONS = [
    [
        {"text": "接单", "data": "ack:{n}"},
        {"text": "办好", "data": "done:{n}"},
        {"text": "不归我管", "data": "decline:{n}"},
    ]
]
RATE_BUTTONS = [[{"text": "满意", "data": f"rate:{{n}}:{code}"} for code in (1, 2, 3)]]
# Whatever people type: Chinese, Latin, emoji (two UTF-16 units each), newlines.
WRITTEN = st.text(
    alphabet=st.sampled_from("垃圾长椅坏了漏水，。!abcXYZ 0123#…😡🪑\n"), min_size=0, max_size=400
)


def _buttons(template: list[list[dict[str, str]]], number: int) -> list[list[Button]]:
    return [
        [Button.from_stored({k: v.format(n=number) for k, v in b.items()}) for b in row]
        for row in template
    ]


def _card(language: str, number: int, description: str, location: str, photos: int = 0) -> str:
    names = {"zh": ("设施损坏", "原香小镇社区"), "en": ("Broken facility", "Yuanxiang Town")}
    category, community = names[language]
    return render(
        language,
        "case.card",
        number=number,
        category=category,
        community=community,
        location=location,
        description=description,
        ack_due="2026-11-25 10:30",
        resolve_due="2026-11-28 10:00",
        photos=render(language, "case.photos", count=photos) if photos else "",
    )


@settings(max_examples=150, deadline=None)
@given(
    language=st.sampled_from(["zh", "en"]),
    number=st.integers(min_value=1, max_value=9_999_999),
    description=WRITTEN,
    location=WRITTEN,
    photos=st.integers(min_value=0, max_value=10),
)
def test_a_case_card_keeps_its_number_and_codes(
    language: str, number: int, description: str, location: str, photos: int
) -> None:
    text = _card(language, number, description, location, photos)
    body = as_sms(text, _buttons(CARD_BUTTONS, number), language)
    ack = render(language, "sms.code.ack", number=number)
    done = render(language, "sms.code.done", number=number)
    codes = render(
        language, "sms.codes", codes=("，" if language == "zh" else ", ").join([ack, done])
    )
    assert segments(body) <= 2
    assert body.endswith(f"\n{codes}")
    kept = body[: -len(codes) - 1]
    assert kept == text or (kept.endswith("…") and text.startswith(kept[:-1]))
    assert kept.startswith(text[: text.index(f"#{number}") + len(f"#{number}")])
    if photos:  # an SMS-only manager learns how many photos there are, whatever is cut
        assert render(language, "case.photos", count=photos) in body


@given(language=st.sampled_from(["zh", "en"]), number=st.integers(1, 9_999_999))
def test_the_rating_request_names_the_case_and_the_three_answers(
    language: str, number: int
) -> None:
    text = render(language, "case.resolved", number=number)
    body = as_sms(text, _buttons(RATE_BUTTONS, number), language)
    assert segments(body) <= 2
    assert f"#{number}" in body
    assert render(language, "sms.code.rate") in body
    assert body.count(render(language, "sms.code.rate")) == 1


def test_the_short_answers_are_never_cut() -> None:
    for language in ("zh", "en"):
        for key in ("sms.help", "sms.opted_out", "sms.opted_in", "sms.no_case", "limits.slow_down"):
            text = render(language, key)
            assert as_sms(text, [], language) == text
            assert segments(text) <= 2
