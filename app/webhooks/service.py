"""Submit-time check of outbound URLs (the send-time check is in `sender`)."""

from __future__ import annotations

from app.settings import Settings
from app.webhooks.exceptions import UnsafeCallbackUrl
from app.webhooks.guard import AllowList, UnsafeUrl, check_url


def outbound_allowlist(settings: Settings) -> AllowList:
    """What outbound calls may reach under these settings (allow-listed hosts and networks, plain http or not)."""
    return AllowList.parse(settings.outbound_allowlist, allow_http=bool(settings.allow_http_callbacks))


def validate_callback_url(url: str | None, *, allowlist: AllowList | str) -> None:
    """Refuse (422 `unsafe_callback_url`) a callback URL that may not be called; None passes."""
    if url is None:
        return
    allow = allowlist if isinstance(allowlist, AllowList) else AllowList.parse(allowlist)
    try:
        check_url(url, allow, must_resolve=False)
    except UnsafeUrl as exc:
        raise UnsafeCallbackUrl(f"callback_url refused: {exc}", details={"field": "callback_url"}) from exc
