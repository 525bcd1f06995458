"""Schema building blocks shared by domains: cursor pages."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel

T = TypeVar("T")


class Page(BaseModel, Generic[T]):  # noqa: UP046 - Python 3.11 has no PEP 695 syntax
    """A page of results with an opaque cursor for the next one and the total matching count."""

    items: list[T]
    next_cursor: str | None
    total: int
