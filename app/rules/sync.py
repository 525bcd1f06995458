"""How every process follows the active stored rules version: at start-up, and then by polling.

`audit serve` applies a new version in its own process at once (app.rules.versions). Other processes (more
`audit serve` workers, `audit worker`s) learn of it when they next audit after `AUDIT_RULES_POLL_SECONDS`:
the runtime runs this check, one indexed query of the active version's id, before handing out its pipeline.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session, sessionmaker

from app.rules import versions
from app.runtime import AuditRuntime

log = logging.getLogger(__name__)


def follow_stored_rules(runtime: AuditRuntime, factory: sessionmaker[Session]) -> None:
    """Load the active stored version now (if any) and keep checking for a new one while the process runs."""

    def check() -> None:
        with factory() as session:
            versions.sync(session, runtime=runtime)

    try:
        check()
    except Exception:  # no rule_versions table yet (`audit db upgrade` pending) or the database is away
        log.exception("could not load the active rules version; lexicons/rules.yaml stays in force")
    runtime.watch(check, every_seconds=runtime.settings.rules_poll_seconds)
