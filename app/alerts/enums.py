"""Statuses and kinds of the alerts domain, defined once for ORM, schemas and services."""

from __future__ import annotations

from enum import StrEnum


class AlertScope(StrEnum):
    """What an alert is about: one conversation, or one agent's day."""

    CONVERSATION = "conversation"
    AGENT_DAY = "agent_day"


class DeliveryStatus(StrEnum):
    """A delivery to one target: waiting (first try or a retry), delivered, or given up."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class TargetKind(StrEnum):
    """The message format a target speaks."""

    WEBHOOK = "webhook"  # generic JSON, HMAC-SHA256 signed like the job callback
    WECOM = "wecom"  # 企业微信 group robot (msgtype markdown)
    DINGTALK = "dingtalk"  # 钉钉 custom robot (markdown, optional 加签)
    FEISHU = "feishu"  # 飞书 custom bot (msg_type text, optional 签名校验)
