"""Kinds of logged reads."""

from __future__ import annotations

from enum import StrEnum


class AccessKind(StrEnum):
    """What was read."""

    CONVERSATION = "conversation"  # GET /v1/conversations/{id}: the full (masked) conversation
    AUDIO = "audio"  # GET /v1/conversations/{id}/audio: the recording served to a listener
    AUDIO_ORIGINAL = "audio_original"  # the unredacted original, where it is kept
