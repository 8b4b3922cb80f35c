"""The two formats GeoReport v2 speaks: XML (schemaless, no namespace, UTF-8 with its
declaration) and JSON, the XML's mapping by the Spark convention (a list's wrapper element
becomes a JSON array of its items)."""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.responses import Response

FORMATS = ("json", "xml")
MEDIA_TYPES = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
# The element each item of a list is wrapped in (``<services><service>…``).
ITEMS = {
    "services": "service",
    "service_requests": "request",
    "service_request_updates": "request_update",  # FixMyStreet's servicerequestupdates
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
}
# XML 1.0 has no place for most control characters: they are dropped, never sent broken.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

Document = Mapping[str, Any] | Sequence[Mapping[str, Any]]


def render(fmt: str, root: str, document: Document, *, status: int = 200) -> Response:
    """``document`` (an object, or a list of objects wrapped in ``root``) in format ``fmt``."""
    if fmt == "xml":
        body = '<?xml version="1.0" encoding="utf-8"?>\n' + to_xml(root, document)
    else:
        body = json.dumps(document, ensure_ascii=False, default=_json_value)
    return Response(body.encode("utf-8"), status_code=status, media_type=MEDIA_TYPES[fmt])


def to_xml(root: str, document: Document) -> str:
    """The XML of ``document`` under element ``root``."""
    element = ET.Element(root)
    _fill(element, root, document)
    return ET.tostring(element, encoding="unicode")


def _fill(element: ET.Element, tag: str, value: Any) -> None:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _fill(ET.SubElement(element, key), key, inner)
    elif isinstance(value, (list, tuple)):
        item = ITEMS.get(tag, "item")
        for inner in value:
            _fill(ET.SubElement(element, item), item, inner)
    elif value is not None:
        element.text = _NOT_XML.sub("", _text(value))


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    return str(value)


def _json_value(value: Any) -> Any:
    return str(value)
