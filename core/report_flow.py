"""The guided report, as a pure state machine: category → community (when not known) → location →
(open cases like it, when there are: follow one, or go on) → description → photos (optional) →
confirm. Any step can be abandoned; a step that wants a choice and gets free text asks again.
Channels render the steps; services keep the state in the database and find the open cases.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

MAX_PHOTOS = 5
MAX_OFFERED = 3  # open cases offered to follow: more is a list nobody reads on a phone


class Step(StrEnum):
    """What the resident is being asked."""

    CATEGORY = "category"
    COMMUNITY = "community"
    LOCATION = "location"
    SUGGEST = "suggest"  # the open cases like it: follow one instead, or report a new problem
    DESCRIPTION = "description"
    PHOTOS = "photos"
    CONFIRM = "confirm"


@dataclass(frozen=True, slots=True)
class Options:
    """What there is to choose from, fixed when the report starts (so button numbers hold)."""

    categories: tuple[str, ...]
    communities: tuple[str, ...]
    buildings: tuple[str, ...] = ()  # of the chosen or known community
    known_community: str | None = None


@dataclass(frozen=True, slots=True)
class Draft:
    """A report in progress."""

    step: Step = Step.CATEGORY
    category: str | None = None
    community: str | None = None
    location: str = ""
    description: str = ""
    photos: tuple[str, ...] = field(default_factory=tuple)
    offered: tuple[int, ...] = field(default_factory=tuple)  # case numbers, at the SUGGEST step


@dataclass(frozen=True, slots=True)
class Choice:
    """A button pressed: the index of the option on the current step."""

    index: int


@dataclass(frozen=True, slots=True)
class Text:
    """Free text typed."""

    text: str


@dataclass(frozen=True, slots=True)
class Photo:
    """A photo sent (its provider file id), with the caption written under it."""

    file_id: str
    caption: str = ""


class Signal(StrEnum):
    """The flow's own buttons."""

    SKIP = "skip"  # no (more) photos
    CONFIRM = "confirm"
    ABANDON = "abandon"
    NEW = "new"  # none of the open cases offered: a new problem


Input = Choice | Text | Photo | Signal


@dataclass(frozen=True, slots=True)
class Outcome:
    """Where an input leaves the report: still going (``draft``), submitted, abandoned, or to
    follow an open case instead (``follow``: its number; the draft stays as it was)."""

    draft: Draft | None
    submitted: bool = False
    reask: bool = False  # the input did not fit the step: the same question again
    follow: int | None = None


def start(options: Options) -> Draft:
    """A new draft; the community is filled in when the resident's is known."""
    return Draft(community=options.known_community)


def placed(before: Draft, after: Outcome) -> bool:
    """True when an input just answered the location: category, community and place are known,
    the moment to look for open cases like it (once per report)."""
    return (
        before.step is Step.LOCATION
        and after.draft is not None
        and after.draft.step is Step.DESCRIPTION
    )


def offer(draft: Draft, numbers: tuple[int, ...]) -> Draft:
    """The draft just past its location, asked first about the open cases ``numbers`` (the
    service found them); none: it goes on to the description as before."""
    if draft.step is not Step.DESCRIPTION or not numbers:
        return draft
    return replace(draft, step=Step.SUGGEST, offered=numbers[:MAX_OFFERED])


def advance(draft: Draft, options: Options, given: Input) -> Outcome:
    """Apply one input to the draft."""
    if given is Signal.ABANDON:
        return Outcome(None)
    match draft.step, given:
        case Step.CATEGORY, Choice(index) if 0 <= index < len(options.categories):
            chosen = replace(draft, category=options.categories[index])
            return Outcome(_after_category(chosen))
        case Step.COMMUNITY, Choice(index) if 0 <= index < len(options.communities):
            return Outcome(replace(draft, community=options.communities[index], step=Step.LOCATION))
        case Step.LOCATION, Choice(index) if 0 <= index < len(options.buildings):
            return Outcome(replace(draft, location=options.buildings[index], step=Step.DESCRIPTION))
        case Step.LOCATION, Text(text) if text.strip():
            return Outcome(replace(draft, location=text.strip(), step=Step.DESCRIPTION))
        case Step.SUGGEST, Choice(index) if 0 <= index < len(draft.offered):
            return Outcome(draft, follow=draft.offered[index])
        case Step.SUGGEST, Signal.NEW:
            return Outcome(replace(draft, offered=(), step=Step.DESCRIPTION))
        case Step.DESCRIPTION, Text(text) if text.strip():
            return Outcome(replace(draft, description=text.strip(), step=Step.PHOTOS))
        case Step.DESCRIPTION, Photo(file_id, caption) if caption.strip():
            # a photo with words under it: those are the description
            photos = (*draft.photos, file_id)[:MAX_PHOTOS]
            return Outcome(
                replace(draft, description=caption.strip(), photos=photos, step=Step.PHOTOS)
            )
        case Step.DESCRIPTION, Photo(file_id):
            # a photo before the words: keep it and still ask for the description
            return Outcome(replace(draft, photos=(*draft.photos, file_id)[:MAX_PHOTOS]))
        case Step.PHOTOS, Photo(file_id):
            photos = (*draft.photos, file_id)[:MAX_PHOTOS]
            step = Step.CONFIRM if len(photos) >= MAX_PHOTOS else Step.PHOTOS
            return Outcome(replace(draft, photos=photos, step=step))
        case Step.PHOTOS, Signal.SKIP:
            return Outcome(replace(draft, step=Step.CONFIRM))
        case Step.CONFIRM, Signal.CONFIRM:
            return Outcome(draft, submitted=True)
    return Outcome(draft, reask=True)


def _after_category(draft: Draft) -> Draft:
    return replace(draft, step=Step.LOCATION if draft.community else Step.COMMUNITY)
