"""Job states, defined once and imported by the ORM, the API schemas and the lifecycle."""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    """queued -> transcribing -> auditing -> done | failed (a retry goes back to queued)."""

    QUEUED = "queued"
    TRANSCRIBING = "transcribing"
    AUDITING = "auditing"
    DONE = "done"
    FAILED = "failed"


RUNNING = frozenset({JobStatus.TRANSCRIBING, JobStatus.AUDITING})
TERMINAL = frozenset({JobStatus.DONE, JobStatus.FAILED})
