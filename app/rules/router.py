"""Rule endpoints: the dry-run of a candidate change, and the stored rule versions (apply, roll back)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from app.auth.dependencies import Caller
from app.deps import DbSession, Runtime
from app.errors import error_responses
from app.rules import repository, tuning, versions
from app.rules.schemas import (
    RuleTestRequest,
    RuleTestResult,
    RuleVersionCreate,
    RuleVersionList,
    RuleVersionRead,
)

router = APIRouter(tags=["rules"])


@router.post(
    "/v1/rules/test", response_model=RuleTestResult, responses=error_responses(400, 401, 403, 413, 422)
)
def dry_run_rules(
    payload: RuleTestRequest, session: DbSession, runtime: Runtime, _key: Caller
) -> RuleTestResult:
    """Dry-run a candidate rules YAML, rule patch or lexicon change on transcripts or a stored period.

    Reports, per rule and sensitive-word category, the findings gained and lost and the conversations newly
    flagged or unflagged, with examples. Nothing is stored. At most `AUDIT_RULES_TEST_MAX_CONVERSATIONS`
    conversations and `AUDIT_RULES_TEST_MAX_UTTERANCES` utterances per test (413 over).
    """
    return tuning.dry_run(session, runtime=runtime, request=payload)


@router.get("/v1/admin/rules/versions", response_model=RuleVersionList, responses=error_responses(401, 403))
def list_rule_versions(session: DbSession, runtime: Runtime, _key: Caller) -> RuleVersionList:
    """Stored rules versions, newest first, and the one in force (none: lexicons/rules.yaml)."""
    rows = repository.list_versions(session)
    active = next((r.version for r in rows if r.active), None)
    return RuleVersionList(
        active_version=active,
        rules_version=runtime.pipeline.stages.rules.version,
        items=[RuleVersionRead.model_validate(r) for r in rows],
    )


@router.post(
    "/v1/admin/rules/versions",
    response_model=RuleVersionRead,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 401, 403, 409, 422),
)
def create_rule_version(
    payload: RuleVersionCreate, session: DbSession, runtime: Runtime, key: Caller
) -> RuleVersionRead:
    """Validate a rules YAML, store it as the next version and put it in force at once (atomic swap).

    A YAML that does not validate is 422 `invalid_rules` and changes nothing. The first version applied
    stores lexicons/rules.yaml as version 1 before it, so rolling back to the file is activating version 1.
    Other processes (workers) follow within `AUDIT_RULES_POLL_SECONDS`.
    """
    row = versions.create_version(
        session, runtime=runtime, yaml_text=payload.yaml, note=payload.note, created_by=key.name
    )
    return RuleVersionRead.model_validate(row)


@router.post(
    "/v1/admin/rules/versions/{version_id}/activate",
    response_model=RuleVersionRead,
    responses=error_responses(401, 403, 404, 422),
)
def activate_rule_version(
    version_id: uuid.UUID, session: DbSession, runtime: Runtime, _key: Caller
) -> RuleVersionRead:
    """Put a stored version in force again (a rollback is activating an older one)."""
    return RuleVersionRead.model_validate(versions.activate(session, runtime=runtime, version_id=version_id))
