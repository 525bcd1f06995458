"""Schema building blocks shared by domains: cursor pages, safe strings, bounded times and numbers."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Generic, TypeVar
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BaseModel, Field

from app.settings import get_settings

T = TypeVar("T")

# Bounds that every backend stores without overflow: PostgreSQL INTEGER, and wall-clock years whose
# conversion to UTC (offsets up to ±24 h) stays inside what Python's datetime can hold.
INT32_MAX = 2**31 - 1
MIN_YEAR = 2000
MAX_YEAR = 2100

DATETIME_RULE = (
    f"ISO 8601, years {MIN_YEAR}–{MAX_YEAR}. A value without a UTC offset (or a bare date) is read in the "
    "centre's time zone, setting `AUDIT_TIMEZONE` (default Asia/Shanghai)."
)


class Page(BaseModel, Generic[T]):  # noqa: UP046 - Python 3.11 has no PEP 695 syntax
    """A page of results with an opaque cursor for the next one and the total matching count."""

    items: list[T]
    next_cursor: str | None
    total: int


@lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


_configured: ZoneInfo | None = None


def configure_timezone(name: str) -> None:
    """Read naive times in `name` from now on (the app's settings; validators have no request context)."""
    global _configured
    _configured = _zone(name)


def centre_timezone() -> ZoneInfo:
    """The centre's time zone (setting `timezone`), in which naive dates and times are read."""
    return _configured or _zone(get_settings().timezone)


def _bounded_datetime(value: datetime) -> datetime:
    # The wall-clock year is checked before any arithmetic: converting 9999-12-31T23:59:59-23:59 to UTC
    # overflows, and the database layer converts every value to UTC.
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"year must be between {MIN_YEAR} and {MAX_YEAR}")
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=centre_timezone())
    return value


def _control_characters(value: str, *, allowed: str) -> list[str]:
    return [
        f"U+{ord(ch):04X}"
        for ch in set(value)
        if ch == "\ufffd" or (ch not in allowed and unicodedata.category(ch) in ("Cc", "Cs"))
    ]


def _no_control_characters(value: str) -> str:
    # NUL is refused by PostgreSQL, lone surrogates cannot be encoded, U+FFFD means the client sent bytes
    # that were not valid UTF-8; other control characters have no place in an identifier.
    if bad := _control_characters(value, allowed=""):
        raise ValueError(f"control or undecodable characters are not allowed ({', '.join(sorted(bad))})")
    return value


def _no_control_characters_but_whitespace(value: str) -> str:
    if bad := _control_characters(value, allowed="\t\n\r"):
        raise ValueError(f"control or undecodable characters are not allowed ({', '.join(sorted(bad))})")
    return value


# A datetime in the supported range; a naive one is read in the centre's time zone.
LocalDatetime = Annotated[datetime, AfterValidator(_bounded_datetime), Field(description=DATETIME_RULE)]
# An identifier or a single-line value: no control characters at all.
SafeStr = Annotated[str, AfterValidator(_no_control_characters)]
# Free text a person types: tab and line breaks allowed, other control characters refused.
SafeText = Annotated[str, AfterValidator(_no_control_characters_but_whitespace)]
# Milliseconds from the start of a conversation, as the database stores them (INTEGER); strict, so that
# `false` or `"12"` is refused rather than stored as 0 or 12.
OffsetMs = Annotated[int, Field(ge=0, le=INT32_MAX, strict=True)]
