"""How a button press is answered, as the person sees it: in webhook mode inside the webhook's own
response (Telegram runs it; no ``answerCallbackQuery`` call of the bot's), by a Bot API call when
polling — the plain answer and the refusal's alert alike."""

from __future__ import annotations

from tests.e2e.conftest import MANAGER, RESIDENT, Running

PRESSES = 5  # the guided report's three, a refused one, the manager's acknowledgement


async def _presses_answered(run: Running) -> None:
    """A whole guided report, a refused press and the manager's acknowledgement: each answered
    after its work is committed, the refused one with its alert."""
    number = await run.report(RESIDENT, "快递堆在路中间")
    card = await run.next_message(MANAGER, 0)
    alert = await run.alert(MANAGER, card, "hack:1")
    assert alert["text"] == "该按钮已失效。"
    assert alert["show_alert"] is True
    update_id = await run.telegram.user_presses(MANAGER, card, f"ack:{number}")
    await run.until(lambda: run.telegram.answer_to(update_id) is not None)
    answered = run.telegram.answer_to(update_id)
    assert answered is not None
    assert set(answered) == {"callback_query_id"}  # a plain answer: no text, no alert
    assert (await run.case(number)).status == "acknowledged"


async def test_in_webhook_mode_every_press_is_answered_in_the_webhook_s_response(
    hooked: Running,
) -> None:
    await _presses_answered(hooked)
    assert hooked.telegram.calls["answercallbackquery"] == 0  # not one round trip for it
    assert [r["method"] for r in hooked.telegram.replies] == ["answerCallbackQuery"] * PRESSES


async def test_in_polling_mode_every_press_is_answered_by_a_call(running: Running) -> None:
    await _presses_answered(running)
    assert running.telegram.calls["answercallbackquery"] == PRESSES
    assert running.telegram.replies == []
