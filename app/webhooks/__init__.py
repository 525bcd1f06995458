"""Outbound webhooks: signed callbacks to receivers on public (or allow-listed) addresses."""

from app.webhooks.exceptions import UnsafeCallbackUrl
from app.webhooks.guard import AllowList
from app.webhooks.sender import DeliveryOutcome, send_callback, sign
from app.webhooks.service import outbound_allowlist, validate_callback_url

__all__ = [
    "AllowList",
    "DeliveryOutcome",
    "UnsafeCallbackUrl",
    "outbound_allowlist",
    "send_callback",
    "sign",
    "validate_callback_url",
]
