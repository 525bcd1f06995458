"""Signed outbound calls (job callbacks, alert deliveries): guarded, pinned to the checked address, no redirects followed."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

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


@dataclass(frozen=True, slots=True)
class PostResult:
    """One guarded POST: the status code (None when no answer), an error (None on a 2xx), its duration.

    `body` is at most the `read_limit` first bytes of the answer (robot webhooks answer 200 with an error code).
    """

    status_code: int | None
    error: str | None
    duration_ms: float
    body: bytes = b""

    @property
    def ok(self) -> bool:
        """True on a 2xx answer."""
        return self.error is None


def post_guarded(
    url: str,
    body: bytes,
    *,
    headers: Mapping[str, str],
    timeout: float,
    allowlist: AllowList,
    read_limit: int = 0,
) -> PostResult:
    """POST to a public (or allow-listed) address, checked now and pinned to the checked address; no redirects.

    Shared by job callbacks and alert deliveries. Never raises for the receiver's sake: every failure is a
    result. Errors name the kind of failure, never the URL (robot URLs carry their keys).
    """
    started = time.perf_counter()

    def result(status: int | None, error: str | None, answer: bytes = b"") -> PostResult:
        return PostResult(status, error, round((time.perf_counter() - started) * 1000, 1), answer)

    try:
        target = check_url(url, allowlist)
    except UnsafeUrl as exc:
        return result(None, f"refused: {exc}")
    sent_headers = {"Content-Type": "application/json", **headers, "Host": _host_header(target)}
    # trust_env=False: an environment proxy would resolve the name again, undoing the check.
    with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
        for address in target.addresses:
            request = client.build_request(
                "POST",
                _pinned_url(target, address),
                content=body,
                headers=sent_headers,
                extensions={"sni_hostname": target.host} if target.parts.scheme == "https" else {},
            )
            try:
                # stream=True: only as much of the answer as asked for is read, a huge answer costs nothing.
                response = client.send(request, stream=True)
            except httpx.ConnectError:
                continue  # the next address of the same checked host
            except httpx.HTTPError as exc:
                return result(None, type(exc).__name__)
            answer = b""
            try:
                if read_limit > 0:
                    for chunk in response.iter_bytes():
                        answer += chunk
                        if len(answer) >= read_limit:
                            break
            except httpx.HTTPError as exc:
                return result(response.status_code, type(exc).__name__)
            finally:
                response.close()
            error = None if response.is_success else f"HTTP {response.status_code}"
            return result(response.status_code, error, answer[:read_limit])
    return result(None, "no address accepted the connection")


def send_callback(
    url: str, body: bytes, *, secret: str, timeout: float, allowlist: AllowList | str = ""
) -> DeliveryOutcome:
    """POST the signed body to a public (or allow-listed) address; a failing receiver never fails the caller."""
    allow = allowlist if isinstance(allowlist, AllowList) else AllowList.parse(allowlist)
    ts = str(int(time.time()))
    headers = {
        "X-Audit-Timestamp": ts,
        "X-Audit-Signature": f"sha256={sign(body, secret=secret, timestamp=ts)}",
    }
    outcome = post_guarded(url, body, headers=headers, timeout=timeout, allowlist=allow)
    if outcome.ok:
        return DeliveryOutcome.DELIVERED
    log.warning("callback to %s failed: %s", urlsplit(url).hostname, outcome.error)
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
