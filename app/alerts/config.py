"""The alert rules and targets in force, per database engine (one per app or worker process).

Keyed by engine because the audit hook gets only a session: the app's lifespan registers its own config, a
process without one (a CLI worker) loads it from the environment's settings on first use. A reload builds a
new config and swaps it in one assignment, as the lexicon reload does.
"""

from __future__ import annotations

import logging
import threading
import weakref
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.alerts.rules import AlertRules, load_alert_rules
from app.alerts.targets import AlertTarget, load_targets
from app.settings import Settings, get_settings
from app.webhooks.guard import AllowList
from app.webhooks.service import outbound_allowlist

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AlertConfig:
    """Rules, targets and the settings deliveries are sent under."""

    rules: AlertRules
    targets: tuple[AlertTarget, ...]
    settings: Settings
    allowlist: AllowList

    def target(self, name: str) -> AlertTarget | None:
        """The target of that name, if still configured."""
        return next((t for t in self.targets if t.name == name), None)


_configs: weakref.WeakKeyDictionary[Engine, AlertConfig] = weakref.WeakKeyDictionary()
_fallback: AlertConfig | None = None
_lock = threading.Lock()


def load_config(settings: Settings) -> AlertConfig:
    """Read and validate alerts.yaml and the targets; raises AlertRulesError (a ValueError) naming the problem."""
    rules = load_alert_rules(settings.lexicon_dir)
    allow = outbound_allowlist(settings)
    return AlertConfig(rules, load_targets(settings, rules=rules, allowlist=allow), settings, allow)


def install(engine: Engine, config: AlertConfig) -> None:
    """Put `config` in force for sessions on `engine`."""
    with _lock:
        _configs[engine] = config
    log.info(
        "alert rules %s in force: %d rules, targets %s",
        config.rules.version,
        len(config.rules.rules),
        ", ".join(f"{t.name} ({t.kind.value})" for t in config.targets) or "none",
    )


def for_engine(engine: Engine) -> AlertConfig:
    """The config in force for `engine`; one loaded from the process's settings if none was installed."""
    global _fallback
    with _lock:
        config = _configs.get(engine)
        if config is not None:
            return config
        if _fallback is None:
            _fallback = load_config(get_settings())
        return _fallback


def for_session(session: Session) -> AlertConfig:
    """The config in force for the session's engine."""
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    return for_engine(engine)
