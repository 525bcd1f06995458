"""Errors of the outbound-webhook domain."""

from __future__ import annotations

from app.errors import Unprocessable


class UnsafeCallbackUrl(Unprocessable):
    """A callback URL that points at a non-public address, carries credentials or hides its host."""

    code = "unsafe_callback_url"
