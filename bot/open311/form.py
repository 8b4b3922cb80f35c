"""A POST requests form read and checked to the letter of GeoReport v2, before anything is
fetched or written: the key's community, a known service, a description of at most 4,000
characters, one full location, coordinates in range, a phone in international form."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from core.clean import clean
from db.directory_cache import DirectorySnapshot
from db.models import Community

from .errors import Problem
from .keys import Key

MAX_DESCRIPTION = 4000  # the spec's limit
MAX_ADDRESS = 1000
MAX_ID = 100
MAX_NAME = 64
MAX_EMAIL = 254
MAX_URL = 2000
PHONE = re.compile(r"^\+[1-9]\d{7,14}$")
_SEPARATORS = re.compile(r"[\s\-().]")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


@dataclass(frozen=True, slots=True)
class Filing:
    """A request ready to be filed."""

    community_id: str
    category_id: str
    description: str
    location: str
    lat: float | None = None
    long: float | None = None
    address_id: str | None = None
    account_id: str | None = None
    device_id: str | None = None
    phone: str | None = None
    name: str = ""
    media_url: str | None = None


def _field(form: Mapping[str, str], name: str, limit: int) -> str:
    """A field, cleaned (optional arguments: empty is the same as absent); too long is a 400."""
    value = clean(form.get(name, "")).strip()
    if len(value) > limit:
        raise Problem(400, "open311.err.too_long", {"field": name, "limit": limit})
    return value


def community_for(
    form: Mapping[str, str], key: Key | None, snapshot: DirectorySnapshot
) -> Community:
    """The community named by ``jurisdiction_id`` (or ``attribute[community]``), else the only
    one the key may use; 404 unknown, 403 not the key's, 400 not said where several exist."""
    given = {
        v
        for v in (
            _field(form, "jurisdiction_id", MAX_ID),
            _field(form, "attribute[community]", MAX_ID),
        )
        if v
    }
    if len(given) > 1:
        raise Problem(400, "open311.err.jurisdiction_conflict")
    if given:
        (wanted,) = given
        community = snapshot.communities.get(wanted)
        if community is None or not community.active:
            raise Problem(404, "open311.err.jurisdiction_unknown", {"id": wanted})
        if key is not None and not key.may_use(community.id):
            raise Problem(403, "open311.err.jurisdiction_forbidden", {"id": wanted})
        return community
    usable = [c for c in snapshot.active_communities() if key is None or key.may_use(c.id)]
    if len(usable) != 1:
        raise Problem(400, "open311.err.jurisdiction_missing")
    return usable[0]


def _coordinates(form: Mapping[str, str]) -> tuple[float, float] | None:
    lat, long = form.get("lat", "").strip(), form.get("long", "").strip()
    if not lat and not long:
        return None
    try:
        found = float(lat), float(long)
    except ValueError:
        raise Problem(400, "open311.err.coordinates") from None
    if not all(math.isfinite(v) for v in found) or abs(found[0]) > 90 or abs(found[1]) > 180:
        raise Problem(400, "open311.err.coordinates")
    return found


def phone_of(text: str) -> str | None:
    """An international phone number (``+`` and 8-15 digits). An 11-digit Chinese mobile number
    gets its ``+86``; other bare digits are read as international (a ``+`` sent unencoded in a
    form arrives as a space). None when nothing was sent; 400 when it is no number."""
    if not text.strip():
        return None
    digits = _SEPARATORS.sub("", text.strip())
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    if re.fullmatch(r"1\d{10}", digits):
        digits = "+86" + digits
    elif digits.isdigit():
        digits = "+" + digits
    if not PHONE.match(digits):
        raise Problem(400, "open311.err.phone")
    return digits


def _full_name(first: str, last: str) -> str:
    """The name as it is written: family name first and no space in Chinese, else "first last"."""
    if _CJK.search(first + last):
        return f"{last}{first}"
    return " ".join(p for p in (first, last) if p)


def read_filing(form: Mapping[str, str], key: Key, snapshot: DirectorySnapshot) -> Filing:
    """The form as a ``Filing``, or the ``Problem`` that refuses it (nothing is written)."""
    code = _field(form, "service_code", MAX_ID)
    if not code:
        raise Problem(400, "open311.err.service_missing")
    category = snapshot.categories.get(code)
    if category is None or not category.active:
        raise Problem(404, "open311.err.service_unknown", {"code": code})
    community = community_for(form, key, snapshot)
    raw = form.get("description", "")
    if len(raw) > MAX_DESCRIPTION:
        raise Problem(
            400, "open311.err.too_long", {"field": "description", "limit": MAX_DESCRIPTION}
        )
    description = clean(raw).strip()
    if not description:
        raise Problem(400, "open311.err.description_missing")
    coordinates = _coordinates(form)
    address = _field(form, "address_string", MAX_ADDRESS)
    address_id = _field(form, "address_id", MAX_ID)
    building = _field(form, "attribute[building]", MAX_ID)
    if building and community.buildings and building not in community.buildings:
        params = {"building": building, "community": community.name_zh}
        raise Problem(400, "open311.err.building", params)
    place = " ".join(p for p in (building, address) if p)
    if not place and coordinates is not None:
        place = f"{coordinates[0]:.6f}, {coordinates[1]:.6f}"
    place = place or address_id
    if not place:
        raise Problem(400, "open311.err.location_missing")
    for name, limit in (("email", MAX_EMAIL), ("first_name", MAX_NAME), ("last_name", MAX_NAME)):
        _field(form, name, limit)
    name = _full_name(_field(form, "first_name", MAX_NAME), _field(form, "last_name", MAX_NAME))
    media = _field(form, "media_url", MAX_URL)
    return Filing(
        community_id=community.id,
        category_id=category.id,
        description=description,
        location=place,
        lat=coordinates[0] if coordinates else None,
        long=coordinates[1] if coordinates else None,
        address_id=address_id or None,
        account_id=_field(form, "account_id", MAX_ID) or None,
        device_id=_field(form, "device_id", MAX_ID) or None,
        phone=phone_of(form.get("phone", "")[:64]),
        name=name[:MAX_NAME],
        media_url=media or None,
    )
