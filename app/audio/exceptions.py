"""Errors of the audio domain."""

from __future__ import annotations

from app.errors import AppError


class AudioUnreadable(AppError):
    """A stored recording that cannot be decrypted: never served, never transcribed."""

    status_code = 500
    code = "audio_corrupt"


class AudioKeyMissing(AudioUnreadable):
    """The recording's data key is wrapped by a master key the key ring does not hold."""

    code = "audio_key_missing"


class RangeNotSatisfiable(AppError):
    """A Range header that lies wholly outside the recording."""

    status_code = 416
    code = "range_not_satisfiable"
