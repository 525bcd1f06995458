"""Alert targets: where alerts go. From settings or a file outside git, never from the API: URLs and secrets are keys.

AUDIT_ALERT_TARGETS (a JSON list) wins; else AUDIT_ALERT_TARGETS_FILE (YAML or JSON; default
data_dir/alert_targets.yaml) if it exists; else no targets (alerts are still recorded and listed). Each
target: `name`, `kind` (webhook | wecom | dingtalk | feishu), `url`, optional `secret` (the generic webhook
signs with AUDIT_CALLBACK_SECRET when it has none; DingTalk's 加签 and Feishu's 签名校验 secrets), optional
`rules` (ids; default all) and `min_severity`. Errors name the target, never its URL or secret.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from app.alerts.enums import TargetKind
from app.alerts.rules import AlertRules, AlertRulesError
from app.settings import Settings
from app.webhooks.guard import AllowList, UnsafeUrl, check_static
from pipelines.types import Severity

TARGETS_FILE = "alert_targets.yaml"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_FIELDS = frozenset({"name", "kind", "url", "secret", "rules", "min_severity"})


class AlertTargetsError(AlertRulesError):
    """The alert targets are not valid; the message names the target and the field."""


@dataclass(frozen=True, slots=True)
class AlertTarget:
    """One configured receiver. `repr` hides the URL and the secret, so a logged target leaks neither."""

    name: str
    kind: TargetKind
    url: str
    secret: str | None = None
    rules: frozenset[str] = frozenset()  # empty: every rule
    min_severity: Severity = Severity.GENERAL

    def accepts(self, *, rule: str, severity: int) -> bool:
        """True if alerts of this rule and severity go to this target."""
        return (not self.rules or rule in self.rules) and severity >= self.min_severity

    def __repr__(self) -> str:
        return f"AlertTarget(name={self.name!r}, kind={self.kind.value!r})"


def targets_file(settings: Settings) -> Path:
    """The targets file in force (it may not exist)."""
    return settings.alert_targets_file or settings.data_dir / TARGETS_FILE


def load_targets(settings: Settings, *, rules: AlertRules, allowlist: AllowList) -> tuple[AlertTarget, ...]:
    """Read and validate the targets; URLs are checked as callback URLs are (scheme, host, allow-list)."""
    raw_env = settings.alert_targets.get_secret_value().strip()
    if raw_env:
        source = "AUDIT_ALERT_TARGETS"
        try:
            doc: Any = json.loads(raw_env)
        except json.JSONDecodeError as exc:
            raise AlertTargetsError(f"{source}: not valid JSON ({exc.msg} at {exc.pos})") from None
    else:
        path = targets_file(settings)
        if not path.exists():
            return ()
        source = str(path)
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError:
            raise AlertTargetsError(f"{source}: not valid YAML") from None
        if doc is None:
            return ()
    if isinstance(doc, Mapping) and "targets" in doc:
        doc = doc["targets"]
    if not isinstance(doc, list):
        raise AlertTargetsError(f"{source}: expected a list of targets (or a mapping with `targets:`)")
    targets = [_target(item, pos, source, rules, allowlist) for pos, item in enumerate(doc)]
    names = [t.name for t in targets]
    if dupes := sorted({n for n in names if names.count(n) > 1}):
        raise AlertTargetsError(f"{source}: target names must be unique ({', '.join(dupes)})")
    return tuple(targets)


def _target(item: Any, pos: int, source: str, rules: AlertRules, allow: AllowList) -> AlertTarget:
    where = f"{source}: target [{pos}]"
    if not isinstance(item, Mapping):
        raise AlertTargetsError(f"{where}: expected a mapping")
    name = item.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise AlertTargetsError(f"{where}: `name` must be letters, digits, . _ - (at most 100)")
    where = f"{source}: target {name!r}"
    if unknown := set(item) - _FIELDS:
        raise AlertTargetsError(f"{where}: unknown fields {sorted(str(k) for k in unknown)}")
    try:
        kind = TargetKind(str(item.get("kind")))
    except ValueError:
        raise AlertTargetsError(f"{where}: `kind` must be one of {[k.value for k in TargetKind]}") from None
    url = item.get("url")
    if not isinstance(url, str) or not url:
        raise AlertTargetsError(f"{where}: `url` is required")
    try:
        check_static(url, allow)
    except UnsafeUrl as exc:  # the reason, never the URL: robot URLs carry their access keys
        raise AlertTargetsError(f"{where}: `url` refused: {exc}") from None
    secret = item.get("secret")
    if secret is not None and (not isinstance(secret, str) or not secret):
        raise AlertTargetsError(f"{where}: `secret` must be a non-empty string")
    wanted = item.get("rules", [])
    if not isinstance(wanted, list) or not all(isinstance(r, str) for r in wanted):
        raise AlertTargetsError(f"{where}: `rules` must be a list of rule ids")
    if unknown_rules := sorted(set(wanted) - rules.ids()):
        raise AlertTargetsError(f"{where}: `rules` names rules alerts.yaml does not have: {unknown_rules}")
    min_severity = Severity.GENERAL
    if "min_severity" in item:
        try:
            min_severity = Severity.parse(str(item["min_severity"]))
        except ValueError as exc:
            raise AlertTargetsError(f"{where}: `min_severity`: {exc}") from None
    return AlertTarget(
        name=name,
        kind=kind,
        url=url,
        secret=secret,
        rules=frozenset(wanted),
        min_severity=min_severity,
    )
