"""Free text a person types (review notes, customer ids, key names) is masked like transcripts before storage."""

from __future__ import annotations

from functools import cache

from pipelines.pii import PiiMasker


@cache
def _masker() -> PiiMasker:
    # Stateless and thread-safe; built on first use so importing the app stays cheap.
    return PiiMasker()


def mask_free_text(text: str) -> str:
    """`text` with phone, ID, bank-card and e-mail values masked (same masker as transcripts)."""
    return _masker().mask(text).text


def mask_optional(text: str | None) -> str | None:
    """`mask_free_text` for an optional field."""
    return None if text is None else mask_free_text(text)
