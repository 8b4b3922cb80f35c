"""The directory as validated data: people, communities, categories, routing, service levels.

``validate_directory`` turns parsed YAML (plain dicts, lists and scalars) into a frozen
``Directory``, or into the list of every problem found, each carrying the path of the field it
concerns. Reading the file and turning paths into line numbers is ``bot.directory_file``'s job.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import time, timedelta
from difflib import get_close_matches
from typing import Annotated, Literal, TypeVar, cast, get_args
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
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from core.policy import PolicyError, parse_clock, parse_duration, parse_quiet_hours

ANY = "*"
BUILTIN_CATEGORY = "other"  # the loader adds it when the file has none, so references are fine
_ID = re.compile(r"[A-Za-z0-9._-]+")
_E164 = re.compile(r"\+\d{8,15}")
_FROZEN = ConfigDict(extra="forbid", frozen=True)
_T = TypeVar("_T")
Path = tuple[str | int, ...]


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _needs_quotes(value: object) -> str:
    # YAML turns unquoted 172, +8613800000001 or yes into numbers and booleans behind one's back
    return " (put it in quotes)" if isinstance(value, int | float | bool) else ""


def _id(value: object) -> str:
    if isinstance(value, str) and _ID.fullmatch(value):
        return value
    raise ValueError(
        f"bad id {value!r}: use letters, digits, '.', '_' or '-'{_needs_quotes(value)}"
    )


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


def _building(value: object) -> object:
    # building numbers are names, not quantities: unquoted 172 means "172"
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _duration(value: object) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if _is_number(value):
        raise PolicyError(f"bad duration {value}: a number needs a unit, s, m, h or d (e.g. 30m)")
    return parse_duration(cast(str, value))  # it refuses non-text itself, with its own message


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
Building = Annotated[str, BeforeValidator(_building), Strict(), StringConstraints(min_length=1)]
# JSON dumps give the file's own form back ("48h", "08:30"), so stored overrides re-validate
Duration = Annotated[
    timedelta, PlainValidator(_duration), PlainSerializer(_duration_text, when_used="json")
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


class CategoryEntry(LevelOverrides):
    """One category of report, with its SMS keywords and its own service levels."""

    id: Id
    name: LocalizedName
    keywords: Listed[Text] = Field(default_factory=list)


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


def validate_directory(data: object) -> Directory | list[DirectoryProblem]:
    """Validate parsed YAML: the Directory, or every problem found (fields, then references)."""
    try:
        directory = Directory.model_validate(data)
    except ValidationError as exc:
        # references are checked once every entry is well-formed, so none is reported twice
        return [_from_pydantic(error) for error in exc.errors()]
    return list(_cross_references(directory)) or directory


_KINDS = {  # pydantic error type -> what we say, followed by ", got <value>"
    "string_type": "expected text",
    "int_type": "expected a whole number",
    "int_from_float": "expected a whole number",
    "bool_type": "expected true or false",
    "list_type": "expected a list",
    "model_type": "expected a mapping (key: value)",
    "dict_type": "expected a mapping (key: value)",
}


def _from_pydantic(error: ErrorDetails) -> DirectoryProblem:
    path, kind, value, ctx = tuple(error["loc"]), error["type"], error["input"], error.get("ctx")
    got = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    if kind == "value_error" and ctx and "error" in ctx:
        message = str(ctx["error"])  # our validators' (and PolicyError's) own words
    elif kind == "extra_forbidden":
        message = _unknown_key(path)
    elif kind == "missing":
        message = "required, but missing"
    elif kind == "literal_error" and ctx:
        message = f"expected {ctx['expected']}, got {got}"
    elif kind in _KINDS:
        message = (
            f"{_KINDS[kind]}, got {got}{_needs_quotes(value) if kind == 'string_type' else ''}"
        )
    else:
        message = f"{error['msg'][:1].lower()}{error['msg'][1:]}, got {got}"
    return DirectoryProblem(path, message)


def _unknown_key(path: Path) -> str:
    message = f"unknown key {str(path[-1])!r}"
    model = _model_at(path[:-1])
    if model is None:
        return message
    close = get_close_matches(str(path[-1]), list(model.model_fields), n=1)
    if close:
        return f"{message}; did you mean {close[0]!r}?"
    return f"{message}; allowed: {', '.join(model.model_fields)}"


def _model_at(path: Path) -> type[BaseModel] | None:
    """The model that validates the mapping at ``path``, found from the field annotations."""
    model: type[BaseModel] | None = Directory
    for part in path:
        if isinstance(part, str):  # list indexes add nothing: list[X] already names X
            field = model.model_fields.get(part) if model else None
            model = _model_in(field.annotation) if field else None
    return model


def _model_in(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    found = (_model_in(arg) for arg in get_args(annotation))
    return next((model for model in found if model is not None), None)


def _duplicates(values: Iterable[tuple[Path, object]], what: str) -> Iterator[DirectoryProblem]:
    first: dict[object, Path] = {}
    for path, value in values:
        if value is not None and value in first:
            where = DirectoryProblem(first[value], "").field
            yield DirectoryProblem(path, f"duplicate {what} {value!r}, already used by {where}")
        elif value is not None:
            first[value] = path


_UNIQUE = (  # (section, key) pairs where no two entries may share a value
    ("people", "id"),
    ("communities", "id"),
    ("categories", "id"),
    ("people", "telegram_id"),
    ("people", "phone"),
    ("communities", "sms_number"),
)


def _cross_references(d: Directory) -> Iterator[DirectoryProblem]:
    """Duplicates and references between entries that are each well-formed."""
    people = {p.id: p for p in reversed(d.people)}  # reversed: the first occurrence wins
    communities = {c.id for c in d.communities}
    categories = {c.id for c in d.categories} | {BUILTIN_CATEGORY}

    for section, key in _UNIQUE:
        entries = getattr(d, section)
        yield from _duplicates(
            (((section, i, key), getattr(e, key)) for i, e in enumerate(entries)), key
        )

    def person(path: Path, ref: str, *roles: str) -> Iterator[DirectoryProblem]:
        found = people.get(ref)
        if found is None:
            yield DirectoryProblem(path, f"no person with id {ref!r}")
        elif found.role not in roles:
            wanted = " or ".join(roles)
            yield DirectoryProblem(path, f"{ref!r} has role {found.role}, expected {wanted}")

    def exists(path: Path, ref: str, ids: set[str], what: str) -> Iterator[DirectoryProblem]:
        if ref != ANY and ref not in ids:
            yield DirectoryProblem(path, f"no {what} with id {ref!r}")

    for i, p in enumerate(d.people):
        if p.supervisor == p.id:
            yield DirectoryProblem(("people", i, "supervisor"), "cannot be their own supervisor")
        elif p.supervisor is not None:
            yield from person(("people", i, "supervisor"), p.supervisor, "supervisor")
        if p.community is not None:
            yield from exists(("people", i, "community"), p.community, communities, "community")
    for i, c in enumerate(d.communities):
        for j, staff in enumerate(c.staff):
            yield from person(("communities", i, "staff", j), staff, "staff")
    for i, r in enumerate(d.routing):
        yield from exists(("routing", i, "community"), r.community, communities, "community")
        yield from exists(("routing", i, "category"), r.category, categories, "category")
        yield from person(("routing", i, "manager"), r.manager, "manager", "supervisor")
