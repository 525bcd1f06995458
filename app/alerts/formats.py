"""The message each target kind expects, and its signature.

- webhook: our JSON, signed like the job callback (`X-Audit-Signature: sha256=HMAC(secret, ts + "." + body)`).
- wecom (企业微信 group robot): `{"msgtype": "markdown", "markdown": {"content": …}}`; the key is in the URL.
- dingtalk (钉钉 custom robot): `{"msgtype": "markdown", "markdown": {"title", "text"}}`; with 加签,
  `&timestamp=<ms>&sign=<urlencode(base64(HMAC-SHA256(key=secret, msg=ts + "\\n" + secret)))>` on the URL.
- feishu (飞书 custom bot): `{"msg_type": "text", "content": {"text": …}}`; with 签名校验, `timestamp`
  (seconds) and `sign` = base64(HMAC-SHA256(key=ts + "\\n" + secret, msg="")) in the body.
Robots answer HTTP 200 with an error code in the body; `robot_error` reads it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote_plus

from app.alerts.enums import TargetKind
from app.alerts.targets import AlertTarget
from app.schemas_common import centre_timezone
from app.webhooks.sender import sign

# WeCom caps markdown content at 4096 bytes; the others are larger. Our messages are far shorter.
_MAX_TEXT_CHARS = 1000


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """What to POST where: the URL (with any signature parameters), the body, extra headers."""

    url: str
    body: bytes
    headers: dict[str, str]


def build(
    target: AlertTarget, alert: dict[str, Any], *, now: float, default_secret: str, delivery_id: str
) -> OutboundMessage:
    """The request for `target` carrying `alert` (the API's JSON form of the alert), signed at `now` (epoch s).

    The generic webhook also names the delivery (`X-Audit-Delivery`): a receiver that sees it twice (a retry
    after a lost answer) can drop the copy.
    """
    if target.kind == TargetKind.WEBHOOK:
        body = _json({"event": "alert", "alert": alert})
        ts = str(int(now))
        secret = target.secret or default_secret
        headers = {
            "X-Audit-Event": "alert",
            "X-Audit-Delivery": delivery_id,
            "X-Audit-Timestamp": ts,
            "X-Audit-Signature": f"sha256={sign(body, secret=secret, timestamp=ts)}",
        }
        return OutboundMessage(target.url, body, headers)
    if target.kind == TargetKind.WECOM:
        return OutboundMessage(
            target.url, _json({"msgtype": "markdown", "markdown": {"content": markdown(alert)}}), {}
        )
    if target.kind == TargetKind.DINGTALK:
        body = _json({"msgtype": "markdown", "markdown": {"title": alert["title"], "text": markdown(alert)}})
        url = target.url
        if target.secret:
            ts_ms = str(int(now * 1000))
            sep = "&" if "?" in url else "?"
            url = f"{url}{sep}timestamp={ts_ms}&sign={quote_plus(dingtalk_sign(ts_ms, target.secret))}"
        return OutboundMessage(url, body, {})
    payload: dict[str, Any] = {"msg_type": "text", "content": {"text": plain_text(alert)}}
    if target.secret:
        ts = str(int(now))
        payload = {"timestamp": ts, "sign": feishu_sign(ts, target.secret), **payload}
    return OutboundMessage(target.url, _json(payload), {})


def dingtalk_sign(timestamp_ms: str, secret: str) -> str:
    """DingTalk 加签: base64(HMAC-SHA256(key=secret, msg=timestamp + "\\n" + secret)), before URL-encoding."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def feishu_sign(timestamp_s: str, secret: str) -> str:
    """Feishu 签名校验: base64(HMAC-SHA256(key=timestamp + "\\n" + secret, msg=""))."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def robot_error(kind: TargetKind, answer: bytes) -> str | None:
    """The error a robot reported in a 200 answer (errcode / code not 0), or None when it accepted the message."""
    if kind == TargetKind.WEBHOOK:
        return None
    try:
        doc = json.loads(answer or b"{}")
    except (ValueError, UnicodeDecodeError):
        return "robot answered something other than JSON"
    if not isinstance(doc, dict):
        return "robot answered something other than a JSON object"
    field = "code" if kind == TargetKind.FEISHU else "errcode"
    code = doc.get(field, doc.get("StatusCode", 0) if kind == TargetKind.FEISHU else 0)
    if code in (0, None):
        return None
    message = doc.get("msg") or doc.get("errmsg") or ""
    return f"robot {field} {code}: {str(message)[:200]}"


def _when(alert: dict[str, Any]) -> str:
    at = datetime.fromisoformat(alert["created_at"]).astimezone(centre_timezone())
    return at.strftime("%Y-%m-%d %H:%M:%S")


def markdown(alert: dict[str, Any]) -> str:
    """Markdown for WeCom and DingTalk: title, summary, conversation, time."""
    lines = [f"### {alert['title']}", "", f"> {alert['summary'][:_MAX_TEXT_CHARS]}", ""]
    if alert.get("external_id"):
        lines.append(f"- 会话：{alert['external_id']}")
    lines += [f"- 坐席：{alert['agent_id']}", f"- 规则：{alert['rule']}", f"- 时间：{_when(alert)}"]
    return "\n".join(lines)


def plain_text(alert: dict[str, Any]) -> str:
    """Plain text for Feishu's text message."""
    parts = [
        alert["title"],
        alert["summary"][:_MAX_TEXT_CHARS],
        f"规则：{alert['rule']}",
        f"时间：{_when(alert)}",
    ]
    return "\n".join(parts)


def _json(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
