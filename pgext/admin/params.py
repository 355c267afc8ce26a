"""Parsing of query parameters: every refusal is a :class:`BadRequest`
that says what was expected, raised before any SQL runs."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timezone

from pgext.admin.errors import BadRequest

MAX_PARAM_LENGTH = 200

BBox = tuple[float, float, float, float]


def text(params: Mapping[str, str], name: str, default: str | None = None) -> str:
    value = params.get(name)
    if value is None or value == "":
        if default is None:
            raise BadRequest(f"query parameter {name!r} is required")
        return default
    if len(value) > MAX_PARAM_LENGTH:
        raise BadRequest(f"query parameter {name!r} is too long")
    return value


def integer(
    params: Mapping[str, str], name: str, default: int, low: int, high: int
) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {raw[:40]!r}") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}, got {value}")
    return value


def bbox(raw: str | None) -> BBox:
    """``"west,south,east,north"`` in degrees (EPSG:4326)."""
    if not raw:
        raise BadRequest("query parameter 'bbox' (west,south,east,north) is required")
    if len(raw) > MAX_PARAM_LENGTH:
        raise BadRequest("bbox is too long")
    parts = raw.split(",")
    if len(parts) != 4:
        raise BadRequest(
            f"bbox must be four numbers west,south,east,north; got {len(parts)} parts"
        )
    try:
        numbers = [float(part) for part in parts]
    except ValueError:
        raise BadRequest(f"bbox values must be numbers: {raw[:80]!r}") from None
    if not all(math.isfinite(n) for n in numbers):
        raise BadRequest("bbox values must be finite numbers")
    west, south, east, north = numbers
    if west > east or south > north:
        raise BadRequest("bbox must have west <= east and south <= north")
    # A map wrapped around the world asks for more than 360 degrees: that is
    # an oversized request, not a place.
    if west < -180 or east > 180 or south < -90 or north > 90:
        raise BadRequest(
            "bbox is outside the world (-180..180 longitude, -90..90 latitude); "
            f"got {west},{south},{east},{north}"
        )
    return west, south, east, north


def timestamp(params: Mapping[str, str], name: str) -> datetime | None:
    """An ISO 8601 time (naive values are UTC) or epoch seconds."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if len(raw) > 64:
        raise BadRequest(f"{name} is too long")
    try:
        value = datetime.fromtimestamp(float(raw), tz=timezone.utc)
    except (ValueError, OverflowError, OSError):
        try:
            value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise BadRequest(
                f"{name} must be an ISO 8601 time or epoch seconds, got {raw!r}"
            ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value


def mount_prefix(scope: Mapping[str, object], base: str) -> str:
    """What the app around the widgets is mounted under ("" at the root):
    Starlette's ``root_path`` inside the widgets ends with their own path
    ``base``, and whatever stands before it is the outer mounts'.  Links
    built on it stay absolute under any mount path."""
    root = str(scope.get("root_path") or "")
    return root[: -len(base)] if base and root.endswith(base) else ""
