"""A photo sent with words under it at the description step: the words are the description."""

from __future__ import annotations

from core import report_flow as flow

OPTIONS = flow.Options(("noise",), ("yunwan",))


def test_a_caption_is_the_description_and_the_photo_is_kept() -> None:
    draft = flow.Draft(step=flow.Step.DESCRIPTION, category="noise", community="yunwan")
    outcome = flow.advance(draft, OPTIONS, flow.Photo("f1", caption="  楼道灯坏了  "))
    assert outcome.draft is not None
    assert (outcome.draft.description, outcome.draft.photos) == ("楼道灯坏了", ("f1",))
    assert outcome.draft.step is flow.Step.PHOTOS


def test_a_photo_without_words_still_asks_for_them() -> None:
    draft = flow.Draft(step=flow.Step.DESCRIPTION, category="noise", community="yunwan")
    outcome = flow.advance(draft, OPTIONS, flow.Photo("f1", caption="   "))
    assert outcome.draft is not None
    assert (outcome.draft.step, outcome.draft.photos) == (flow.Step.DESCRIPTION, ("f1",))
