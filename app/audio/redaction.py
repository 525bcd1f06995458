"""Silencing spoken personal data in a stored recording after transcription (issue 15).

The redacted recording is written beside the upload (`<id>.redacted<suffix>`, encrypted by the store) and
becomes the conversation's recording in the transaction that stores the transcript; only then is the upload
deleted, or kept as the admin-only original when `AUDIT_KEEP_UNREDACTED_AUDIO` is on. A retry after a crash
before that commit starts again from the untouched upload.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from app.audio.store import AudioStore
from app.db import Conversation
from app.settings import Settings
from pipelines.asr import Transcriber, Transcript
from pipelines.pii import PiiMasker
from pipelines.redact import Redaction, Samples, load_channels, plan_redactions, redact_file
from pipelines.redact_second_look import second_look

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RedactedRecording:
    """What redaction produced: the spans, and (when any) the redacted file beside the upload."""

    redactions: tuple[Redaction, ...]
    upload: Path
    redacted: Path | None = None
    content_type: str | None = None


def redact_recording(
    settings: Settings,
    *,
    masker: PiiMasker,
    transcript: Transcript,
    audio_path: Path,
    transcriber: Transcriber | None = None,
) -> RedactedRecording:
    """Find the spoken PII of a transcript and write the redacted recording; the upload is left as it is.

    With the `transcriber` that made the transcript, speech it has no words for and half-recognised digit
    runs are decoded again, biased to digits (pipelines.redact_second_look), so a number Whisper dropped is
    silenced too; without it only the transcript's words are used, and a recording with nothing to silence
    is not even decrypted.
    """

    def plan(channels: list[Samples] | None) -> tuple[Redaction, ...]:
        return plan_redactions(
            masker,
            transcript.utterances,
            layout=transcript.layout,
            duration_ms=round(transcript.duration_s * 1000),
            pad_ms=settings.redaction_pad_ms,
            min_digit_run=settings.redaction_min_digit_run,
            audio=channels,
        )

    if transcriber is None and not plan(None):
        return RedactedRecording(redactions=(), upload=audio_path)
    store = AudioStore(settings)
    with store.open_plain(audio_path) as plain:
        channels = load_channels(plain, stereo=transcript.layout != "mono")
        # Word edges trimmed at the pauses Whisper's alignment gives to the word after them.
        redactions = plan(channels)
        if transcriber is not None:
            look = second_look(
                transcriber,
                masker,
                transcript.utterances,
                redactions,
                layout=transcript.layout,
                channels=channels,
                duration_ms=round(transcript.duration_s * 1000),
                pad_ms=settings.redaction_pad_ms,
                min_digit_run=settings.redaction_min_digit_run,
            )
            if look.regions:
                log.info(
                    "second look: %d regions decoded again in %.1f s, %d spans to silence (%d before)",
                    len(look.regions), look.decode_s, len(look.redactions), len(redactions),
                )  # fmt: skip
            redactions = look.redactions
        if not redactions:
            return RedactedRecording(redactions=(), upload=audio_path)
        audio = redact_file(plain, redactions)
    target = audio_path.with_name(f"{audio_path.name.split('.')[0]}.redacted{audio.suffix}")
    store.write(target, audio.data)
    return RedactedRecording(redactions, audio_path, target, audio.content_type)


def apply_redaction(conv: Conversation, *, result: RedactedRecording, settings: Settings) -> None:
    """Record the redactions on the conversation and make the redacted file its recording."""
    conv.audio_redactions = [
        {k: v for k, v in asdict(r).items() if k != "utterance_index"} for r in result.redactions
    ]
    if result.redacted is None:
        return
    conv.audio_path = str(result.redacted)
    conv.audio_content_type = result.content_type
    conv.audio_original_path = str(result.upload) if settings.keep_unredacted_audio else None


def finish_redaction(settings: Settings, *, result: RedactedRecording) -> None:
    """After the commit: delete the unredacted upload unless it is to be kept."""
    if result.redacted is not None and not settings.keep_unredacted_audio:
        AudioStore(settings).delete(result.upload)
        log.info("recording %s: %d spans silenced", result.redacted.name, len(result.redactions))
