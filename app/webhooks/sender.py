"""Signed outbound calls (job callbacks): guarded, pinned to the checked address, no redirects followed."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import time
from enum import StrEnum

import httpx

from app.webhooks.guard import AllowList, IPAddress, Target, UnsafeUrl, check_url

log = logging.getLogger(__name__)


class DeliveryOutcome(StrEnum):
    """What the caller records: deliberately coarse, so a callback URL cannot be used to probe ports."""

    DELIVERED = "delivered"
    FAILED = "failed"


def sign(body: bytes, *, secret: str, timestamp: str) -> str:
    """HMAC-SHA256 over `timestamp.body`, hex; receivers recompute it with the shared secret."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def send_callback(
    url: str, body: bytes, *, secret: str, timeout: float, allowlist: AllowList | str = ""
) -> DeliveryOutcome:
    """POST the signed body to a public (or allow-listed) address; a failing receiver never fails the caller."""
    allow = allowlist if isinstance(allowlist, AllowList) else AllowList.parse(allowlist)
    try:
        target = check_url(url, allow)
    except UnsafeUrl as exc:
        log.warning("callback refused: %s", exc)
        return DeliveryOutcome.FAILED
    ts = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Audit-Timestamp": ts,
        "X-Audit-Signature": f"sha256={sign(body, secret=secret, timestamp=ts)}",
        "Host": _host_header(target),
    }
    # trust_env=False: an environment proxy would resolve the name again, undoing the check.
    with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
        for address in target.addresses:
            request = client.build_request(
                "POST",
                _pinned_url(target, address),
                content=body,
                headers=headers,
                extensions={"sni_hostname": target.host} if target.parts.scheme == "https" else {},
            )
            try:
                # stream=True and never read: only the status matters, a huge answer costs nothing.
                response = client.send(request, stream=True)
            except httpx.ConnectError:
                continue  # the next address of the same checked host
            except httpx.HTTPError as exc:
                log.warning("callback to %s failed: %s", target.host, type(exc).__name__)
                return DeliveryOutcome.FAILED
            response.close()
            if response.is_success:
                return DeliveryOutcome.DELIVERED
            log.warning("callback to %s answered %s", target.host, response.status_code)
            return DeliveryOutcome.FAILED
    log.warning("callback to %s: no address accepted the connection", target.host)
    return DeliveryOutcome.FAILED


def _host_header(target: Target) -> str:
    host = f"[{target.host}]" if ":" in target.host else target.host
    default = 443 if target.parts.scheme == "https" else 80
    return host if target.port == default else f"{host}:{target.port}"


def _pinned_url(target: Target, address: IPAddress) -> httpx.URL:
    """The URL with its host replaced by the checked address (path and query kept)."""
    host = str(address)
    if isinstance(address, ipaddress.IPv6Address):
        host = f"[{host}]"
    path = target.parts.path or "/"
    query = f"?{target.parts.query}" if target.parts.query else ""
    return httpx.URL(f"{target.parts.scheme}://{host}:{target.port}{path}{query}")
