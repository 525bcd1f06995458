"""Rule versions: every applied rules YAML is stored and numbered; one is active, or none (the file).

Applying is validate, store and mark active in one write transaction, then the same one-assignment swap a
lexicon reload does. The file lexicons/rules.yaml is the seed: the first stored version applied through the
API stores the file as version 1 before it, so rolling back to the file is activating version 1.
"""

from __future__ import annotations

import hashlib
import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db import RuleVersion
from app.db.session import write_transaction
from app.rules import repository
from app.rules.exceptions import InvalidRules, RuleVersionConflict, RuleVersionNotFound
from app.runtime import AuditRuntime
from pipelines.rules import RuleSet, RuleSetError
from pipelines.ruleset import parse_rules

SEED_AUTHOR = "lexicons/rules.yaml"


def label(number: int) -> str:
    """What findings record as `rules_version` for stored version `number`."""
    return f"v{number}"


def parse_version(yaml_text: str, *, number: int | None, max_bytes: int) -> RuleSet:
    """Validate a rules YAML as the file is validated; InvalidRules (422) names what is wrong."""
    raw = yaml_text.encode()
    if len(raw) > max_bytes:
        raise InvalidRules(f"rules YAML is {len(raw)} bytes; at most {max_bytes}")
    try:
        return parse_rules(raw, source="rules YAML", version=label(number) if number is not None else None)
    except RuleSetError as exc:
        raise InvalidRules(str(exc)) from exc


def in_force_text(session: Session, *, runtime: AuditRuntime) -> str:
    """The rules YAML in force: the active stored version's, or the file's."""
    row = repository.active(session)
    if row is not None:
        return row.yaml_text
    return (runtime.settings.lexicon_dir / "rules.yaml").read_text(encoding="utf-8")


def create_version(
    session: Session, *, runtime: AuditRuntime, yaml_text: str, note: str | None, created_by: str
) -> RuleVersion:
    """Validate, store as the next version and apply it; on any error nothing changes."""
    max_bytes = runtime.settings.rules_max_yaml_bytes
    parse_version(yaml_text, number=None, max_bytes=max_bytes)  # refused before anything is written
    try:
        with write_transaction(session):
            number = repository.next_number(session)
            if number == 1:
                seed = (runtime.settings.lexicon_dir / "rules.yaml").read_text(encoding="utf-8")
                session.add(
                    _row(1, seed, created_by=SEED_AUTHOR, note="seed: lexicons/rules.yaml", active=False)
                )
                number = 2
            repository.deactivate_all(session)
            row = _row(number, yaml_text, created_by=created_by, note=note, active=True)
            session.add(row)
            session.flush()
    except IntegrityError as exc:  # PostgreSQL: another version got the same number at the same moment
        raise RuleVersionConflict("another rules version was applied at the same moment; try again") from exc
    runtime.apply_rules(parse_version(yaml_text, number=number, max_bytes=max_bytes), version_id=row.id)
    return row


def activate(session: Session, *, runtime: AuditRuntime, version_id: uuid.UUID) -> RuleVersion:
    """Make a stored version the one in force (a rollback is activating an older one)."""
    with write_transaction(session):
        row = session.get(RuleVersion, version_id)
        if row is None:
            raise RuleVersionNotFound(f"rules version {version_id} not found")
        rules = parse_version(row.yaml_text, number=row.version, max_bytes=len(row.yaml_text.encode()) + 1)
        repository.deactivate_all(session)
        row.active = True
        session.flush()
    runtime.apply_rules(rules, version_id=row.id)
    return row


def sync(session: Session, *, runtime: AuditRuntime) -> None:
    """Bring this process's rules to the stored active version (or back to the file), if it changed."""
    active_id = repository.active_id(session)
    if active_id == runtime.rules_version_id:
        return
    row = session.get(RuleVersion, active_id) if active_id is not None else None
    if row is None:
        runtime.apply_rules(None)
        return
    rules = parse_version(row.yaml_text, number=row.version, max_bytes=len(row.yaml_text.encode()) + 1)
    runtime.apply_rules(rules, version_id=row.id)


def _row(number: int, yaml_text: str, *, created_by: str, note: str | None, active: bool) -> RuleVersion:
    return RuleVersion(
        version=number,
        yaml_text=yaml_text,
        sha256=hashlib.sha256(yaml_text.encode()).hexdigest(),
        created_by=created_by,
        note=note,
        active=active,
    )
