"""Service settings from environment variables prefixed `AUDIT_` (pydantic-settings)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[1]


class Settings(BaseSettings):
    """Everything configurable; defaults give the embedded set-up (SQLite file, bundled models)."""

    model_config = SettingsConfigDict(env_prefix="AUDIT_", env_file=".env", extra="ignore")

    data_dir: Path = REPO_ROOT / "var"
    database_url: str = ""  # empty: a SQLite file under data_dir
    lexicon_dir: Path = REPO_ROOT / "lexicons"
    model_dir: Path = Field(
        default=Path(""), description="cache of materialised models; default data_dir/models"
    )
    whisper_model_dir: Path | None = (
        None  # default model_dir/whisper-base; a larger complete model can be dropped in
    )
    audio_dir: Path | None = None  # default data_dir/audio

    emotion_enabled: bool = True
    torch_threads: int = 2
    emotion_batch_size: int = 32

    max_utterances: int = 2000
    max_utterance_chars: int = 5000
    max_batch: int = 100

    # Audio jobs
    workers: int = 1  # transcription jobs in parallel; each uses whisper_threads cores
    whisper_threads: int = 2
    whisper_compute_type: str = "int8"
    job_max_attempts: int = 3
    job_poll_seconds: float = 1.0
    job_stale_seconds: float = 600.0  # a running job without heartbeat for this long is considered orphaned
    start_worker: bool = True
    max_audio_bytes: int = 100 * 1024 * 1024
    max_audio_seconds: float = 2 * 3600
    audio_retention_days: int | None = None  # None: keep recordings forever
    callback_secret: str = "change-me"
    callback_timeout_seconds: float = 10.0

    @model_validator(mode="after")
    def _derive_paths(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'audit.db'}"
        if self.model_dir == Path(""):
            self.model_dir = self.data_dir / "models"
        if self.whisper_model_dir is None:
            self.whisper_model_dir = self.model_dir / "whisper-base"
        if self.audio_dir is None:
            self.audio_dir = self.data_dir / "audio"
        return self

    @property
    def is_sqlite(self) -> bool:
        """True for the embedded SQLite default."""
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    """Settings read once per process."""
    return Settings()
