"""The directory as validated data: people, communities, categories, routing, service levels.

``validate_directory`` turns parsed YAML (plain dicts, lists and scalars) into a frozen
``Directory``, or into the list of every problem found, each carrying the path of the field it
concerns. Reading the file and turning paths into line numbers is ``bot.directory_file``'s job.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import time, timedelta
from typing import Annotated, Literal, TypeVar, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    Strict,
    StringConstraints,
    field_validator,
    model_validator,
)

from core.policy import PolicyError, parse_clock, parse_duration, parse_quiet_hours, parse_window

ANY = "*"
BUILTIN_CATEGORY = "other"  # the loader adds it when the file has none, so references are fine
_ID = re.compile(r"[A-Za-z0-9._-]+")
_E164 = re.compile(r"\+\d{8,15}")
# A channel's name (ChannelTraits.name), and a person's address on it as a file may name it: an
# account id of letters, digits and "_-@.", starting with a letter or digit (never a separator,
# a space or a "to everyone" such as "@all").
_CHANNEL = re.compile(r"[a-z][a-z0-9_-]{0,15}")
_ADDRESS = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
_FROZEN = ConfigDict(extra="forbid", frozen=True)
_T = TypeVar("_T")
Path = tuple[str | int, ...]


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def needs_quotes(value: object) -> str:
    # YAML turns unquoted 172, +8613800000001 or yes into numbers and booleans behind one's back
    return " (put it in quotes)" if isinstance(value, int | float | bool) else ""


MAX_ID = 64  # the width of every id column


def _id(value: object) -> str:
    if isinstance(value, str) and _ID.fullmatch(value):
        if len(value) > MAX_ID:
            raise ValueError(f"id {value[:20]!r}… is {len(value)} characters; at most {MAX_ID}")
        return value
    raise ValueError(f"bad id {value!r}: use letters, digits, '.', '_' or '-'{needs_quotes(value)}")


def _ref_or_any(value: object) -> str:
    return ANY if value == ANY else _id(value)


def _phone(value: object) -> str:
    if _is_number(value):
        raise ValueError(f'phone {value} must be quoted text with its +, e.g. "+{value}"')
    # numbers get copied with spaces and dashes; the stored form is bare E.164
    text = re.sub(r"[\s-]", "", value) if isinstance(value, str) else ""
    if _E164.fullmatch(text):
        return text
    raise ValueError(f"bad phone {value!r}: expected E.164, + and 8-15 digits (+8613800000001)")


def _channel(value: object) -> str:
    if isinstance(value, str) and _CHANNEL.fullmatch(value):
        return value
    raise ValueError(f"bad channel name {value!r}: lower-case letters, digits, '_' or '-'")


def _address(value: object) -> str:
    if isinstance(value, str) and _ADDRESS.fullmatch(value):
        return value
    raise ValueError(
        f"bad account {value!r}: at most 64 letters, digits, '_', '-', '@' or '.', starting "
        f"with a letter or digit{needs_quotes(value)}"
    )


def _building(value: object) -> object:
    # building numbers are names, not quantities: unquoted 172 means "172"
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _duration(value: object) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if _is_number(value):
        raise PolicyError(f"bad duration {value}: a number needs a unit, s, m, h or d (e.g. 30m)")
    return parse_duration(cast(str, value))  # it refuses non-text itself, with its own message


def _window(value: object) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if _is_number(value):
        raise PolicyError(f"bad duration {value}: a number needs a unit, s, m, h or d (e.g. 3d)")
    return parse_window(cast(str, value))


def _clock(value: object) -> time:
    if isinstance(value, time):
        return value
    if _is_number(value):  # YAML 1.1 reads unquoted 8:30 as the sexagesimal number 510
        raise PolicyError(f'bad time {value}: write HH:MM in quotes (e.g. "08:30")')
    return parse_clock(cast(str, value))


def _quiet_hours(value: object) -> tuple[time, time] | None:
    if value is None or value is False:  # `quiet_hours: off` reads as false: no quiet hours
        return None
    if isinstance(value, tuple):
        return cast(tuple[time, time], value)
    return parse_quiet_hours(cast(str, value))


def _timezone(value: object) -> str:
    try:
        ZoneInfo(cast(str, value))
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"unknown time zone {value!r} (e.g. Asia/Shanghai)") from None
    return cast(str, value)


def _duration_text(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    unit, size = next(
        (u, n) for u, n in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)) if not seconds % n
    )
    return f"{seconds // size}{unit}"


def _quiet_text(value: tuple[time, time] | None) -> str | None:
    return None if value is None else f"{value[0]:%H:%M}-{value[1]:%H:%M}"


def _present(value: object) -> object:
    # an empty value would silently mean "no deadline": refuse it rather than guess
    if value is None:
        raise ValueError("empty value: give one, or leave the key out to use the default")
    return value


def _or_empty(value: object) -> object:
    return [] if value is None else value  # `staff:` with nothing after it (all commented out)


Id = Annotated[str, PlainValidator(_id)]
Ref = Annotated[str, PlainValidator(_ref_or_any)]
Text = Annotated[str, Strict(), StringConstraints(strip_whitespace=True, min_length=1)]
Phone = Annotated[str, PlainValidator(_phone)]
Channel = Annotated[str, PlainValidator(_channel)]
Address = Annotated[str, PlainValidator(_address)]
Building = Annotated[str, BeforeValidator(_building), Strict(), StringConstraints(min_length=1)]
# JSON dumps give the file's own form back ("48h", "08:30"), so stored overrides re-validate
Duration = Annotated[
    timedelta, PlainValidator(_duration), PlainSerializer(_duration_text, when_used="json")
]
Window = Annotated[  # a duration that may be zero: 0s turns it off
    timedelta, PlainValidator(_window), PlainSerializer(_duration_text, when_used="json")
]
Clock = Annotated[
    time, PlainValidator(_clock), PlainSerializer(lambda t: f"{t:%H:%M}", when_used="json")
]
QuietHours = Annotated[
    tuple[time, time] | None,
    PlainValidator(_quiet_hours),
    PlainSerializer(_quiet_text, when_used="json"),
]
Given = Annotated[_T | None, BeforeValidator(_present)]  # may be left out, may not be null
Listed = Annotated[list[_T], BeforeValidator(_or_empty)]
Role = Literal["resident", "manager", "supervisor", "staff"]
EscalationLevel = Literal["manager", "supervisor", "staff"]
DEFAULT_CHAIN: tuple[EscalationLevel, ...] = ("manager", "supervisor", "staff")


class LocalizedName(BaseModel):
    """A name in Chinese and English; plain text in the file stands for both."""

    model_config = _FROZEN

    zh: Text
    en: Text

    @model_validator(mode="before")
    @classmethod
    def _plain_text(cls, data: object) -> object:
        return {"zh": data, "en": data} if isinstance(data, str) else data

    def text(self, language: str) -> str:
        """The name in ``language`` (``zh`` unless it is ``en``)."""
        return self.en if language == "en" else self.zh


class LevelOverrides(BaseModel):
    """Service-level keys; every one optional, only those written in the file take effect.

    ``model_dump(mode="json", exclude_unset=True)`` gives them back in the file's form.
    """

    model_config = _FROZEN

    ack_within: Given[Duration] = None
    remind_every: Given[Duration] = None
    resolve_within: Given[Duration] = None
    confirm_within: Given[Duration] = None
    escalate_after: Given[Annotated[int, Strict(), Field(ge=1)]] = None
    quiet_hours: QuietHours = None
    digest_at: Given[Clock] = None
    urgent: Given[Annotated[bool, Strict()]] = None
    working_days: Given[Annotated[bool, Strict()]] = None
    follow_window: Given[Window] = None

    def as_overrides(self) -> dict[str, object]:
        """The service-level keys that were set in the file, by name."""
        keys = LevelOverrides.model_fields  # not type(self): categories add id, name, keywords
        return {k: getattr(self, k) for k in keys if k in self.model_fields_set}


class Defaults(LevelOverrides):
    """The file's default service levels; the loader fills the gaps with built-in ones."""


class PersonEntry(BaseModel):
    """One person: resident, manager, supervisor or staff."""

    model_config = _FROZEN

    id: Id
    name: Text
    role: Role
    phone: Phone | None = None
    telegram_id: Annotated[int, Strict(), Field(gt=0)] | None = None
    # Their address on channels a file names by keys of its own (channel name -> account id):
    # bot/directory_file.py reads those keys into it, the loader binds them as identities.
    addresses: dict[Channel, Address] = Field(default_factory=dict)
    language: Literal["zh", "en"] | None = None
    supervisor: Id | None = None
    community: Id | None = None
    building: Building | None = None


class CommunityEntry(BaseModel):
    """One community (社区): its SMS number, its staff and its buildings."""

    model_config = _FROZEN

    id: Id
    name: LocalizedName
    sms_number: Phone | None = None
    staff: Listed[Id] = Field(default_factory=list)
    buildings: Listed[Building] = Field(default_factory=list)


REPLY_ACTIONS = ("resolve", "close", "reject")  # the actions whose note the resident reads
MAX_REPLY = 300  # characters: a reply goes out with its case's message, on SMS too
MAX_REPLIES = 10  # per action: a choice still read at a glance, as buttons on a phone


def _reply_text(value: object) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValueError("empty reply: write the text the resident is to read")
    if not isinstance(value, str):
        raise ValueError(f"expected text, got {value!r}{needs_quotes(value)}")
    text = value.strip()
    if len(text) > MAX_REPLY:
        raise ValueError(f"reply is {len(text)} characters; at most {MAX_REPLY}")
    return text


class Reply(BaseModel):
    """One reply template, in both languages: each resident reads their own."""

    model_config = _FROZEN

    zh: Annotated[str, PlainValidator(_reply_text)]
    en: Annotated[str, PlainValidator(_reply_text)]

    @model_validator(mode="before")
    @classmethod
    def _both_languages(cls, data: object) -> object:
        if isinstance(data, str):  # plain text would leave one language's residents without it
            raise ValueError("write the reply in both languages: {zh: …, en: …}")
        if isinstance(data, dict) and set(data) < {"zh", "en"}:
            missing = "en" if "zh" in data else "zh"
            raise ValueError(f"missing language {missing!r}: write each reply in both zh and en")
        return data

    def text(self, language: str) -> str:
        """The reply in ``language`` (``zh`` unless it is ``en``)."""
        return self.en if language == "en" else self.zh


class Replies(BaseModel):
    """A category's reply templates by action, offered where that action asks for a note."""

    model_config = _FROZEN

    resolve: Listed[Reply] = Field(default_factory=list)
    close: Listed[Reply] = Field(default_factory=list)
    reject: Listed[Reply] = Field(default_factory=list)

    @field_validator(*REPLY_ACTIONS)
    @classmethod
    def _few(cls, replies: list[Reply]) -> list[Reply]:
        if len(replies) > MAX_REPLIES:
            raise ValueError(f"{len(replies)} replies; at most {MAX_REPLIES} per action")
        return replies

    def stored(self) -> dict[str, list[dict[str, str]]]:
        """The actions that have replies, as the category row keeps them."""
        found = {action: getattr(self, action) for action in REPLY_ACTIONS}
        return {a: [r.model_dump() for r in replies] for a, replies in found.items() if replies}


class CategoryEntry(LevelOverrides):
    """One category of report, with its SMS keywords, its own service levels and its replies."""

    id: Id
    name: LocalizedName
    keywords: Listed[Text] = Field(default_factory=list)
    replies: Annotated[Replies, BeforeValidator(lambda v: {} if v is None else v)] = Replies()


class RouteEntry(BaseModel):
    """A routing rule: (community, category) to a manager; ``*`` matches any."""

    model_config = _FROZEN

    community: Ref
    category: Ref
    manager: Id


class Directory(BaseModel):
    """The whole directory file, checked field by field (references: ``validate_directory``)."""

    model_config = _FROZEN

    timezone: Annotated[str, PlainValidator(_timezone)] = "Asia/Shanghai"
    defaults: Annotated[Defaults, BeforeValidator(lambda v: {} if v is None else v)] = Defaults()
    people: Listed[PersonEntry] = Field(default_factory=list)
    communities: Listed[CommunityEntry] = Field(default_factory=list)
    categories: Listed[CategoryEntry] = Field(default_factory=list)
    routing: Listed[RouteEntry] = Field(default_factory=list)
    escalation: list[EscalationLevel] = Field(default_factory=lambda: list(DEFAULT_CHAIN))

    @field_validator("escalation")
    @classmethod
    def _chain(cls, levels: list[EscalationLevel]) -> list[EscalationLevel]:
        if not levels or levels[0] != "manager":
            raise ValueError("the escalation chain must start with manager")
        repeated = [level for level, n in Counter(levels).items() if n > 1]
        if repeated:
            raise ValueError(f"{repeated[0]!r} appears more than once in the escalation chain")
        return levels


@dataclass(frozen=True)
class DirectoryProblem:
    """One thing wrong with a directory, at a path such as ``("people", 3, "supervisor")``."""

    path: Path
    message: str

    @property
    def field(self) -> str:
        """The path as people read it, e.g. ``people[3].supervisor``."""
        text = ""
        for part in self.path:
            text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
        return text or "directory"
