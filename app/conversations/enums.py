"""Conversation states, defined once and imported by the ORM, the API schemas and the services."""

from __future__ import annotations

from enum import StrEnum


class ConversationStatus(StrEnum):
    """Where a conversation is: transcripts start `received`, recordings `pending_transcription`."""

    RECEIVED = "received"
    PENDING_TRANSCRIPTION = "pending_transcription"
    ANALYSED = "analysed"
    FAILED = "failed"
