"""Service settings from environment variables prefixed `AUDIT_` (pydantic-settings)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
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
    abuse_enabled: bool = True  # the learned abuse head; needs emotion (it reads the same encoder pass)
    torch_threads: int = 2
    emotion_batch_size: int = 32

    # The centre's time zone: naive dates and times in requests (`until=2026-12-01`) are read in it.
    timezone: str = "Asia/Shanghai"

    max_utterances: int = 2000
    max_utterance_chars: int = 5000
    max_batch: int = 100
    # How long a SQLite writer queues for the one write lock before its request fails (503).
    sqlite_busy_timeout_seconds: float = 60.0
    # Requests worked on at once (fewer than the 40 threads that run them and the 50 PostgreSQL connections),
    # and how many of those may write; the others wait their turn (app.http.admission).
    max_concurrent_requests: int = 32
    max_concurrent_writes: int = 16
    # Request bodies, enforced on Content-Length and on the streamed bytes before the app parses them. JSON:
    # a batch of 100 long calls (~150 KB each, Chinese as UTF-8) is ~15 MB; the per-item limits above would
    # allow gigabytes, which a parsed JSON body holds 5-10x over in memory. Multipart (the recording upload):
    # max_audio_bytes plus this much for the form's other fields.
    max_json_bytes: int = 16 * 1024 * 1024
    max_form_overhead_bytes: int = 1024 * 1024
    # How long the pre-read key check trusts a key it found active (the route's own check always runs).
    auth_cache_seconds: float = 5.0

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
    # Spoken personal data is silenced in the stored recording, padded by this much either side (issue 15);
    # the unredacted original is kept (admins only, deleted by retention too) only when asked for.
    redaction_pad_ms: int = Field(default=200, ge=0, le=2000)
    # Runs of this many digits or more are silenced even when they do not validate as a number (a misheard
    # phone number is still the real one in the recording); 0 silences only what the text masker masks.
    redaction_min_digit_run: int = Field(default=9, ge=0)
    keep_unredacted_audio: bool = False
    # Recordings are encrypted at rest (app/audio). Master keys: AUDIT_MASTER_KEY (base64 of 32 bytes; several
    # comma-separated, oldest first, the last one current) or else the key file (one base64 key a line, the
    # last current; default data_dir/master.key, created with mode 0600 on first start in development only).
    master_key: SecretStr = SecretStr("")
    master_key_file: Path | None = None
    # Signs job callbacks. Empty or weak: refused in production; in development a random one is generated
    # into data_dir/callback_secret (0600) on first start (app.webhooks.secret).
    callback_secret: str = ""
    callback_timeout_seconds: float = 10.0
    # Hosts and networks outbound calls may reach although they are not public, comma-separated:
    # "hooks.internal,10.1.0.0/16,127.0.0.1". Empty: public addresses only.
    outbound_allowlist: str = ""
    # Plain http:// callback URLs: None follows env (allowed in development, refused in production: a callback
    # carries conversation ids and scores and must not travel in clear text).
    allow_http_callbacks: bool | None = None
    # development: embedded defaults work (weak secrets replaced by a generated one, with a warning);
    # production: a weak or default secret is a start-up error.
    env: Literal["development", "production"] = "development"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as Asia/Shanghai)") from exc
        return value

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
        if self.master_key_file is None:
            self.master_key_file = self.data_dir / "master.key"
        if self.allow_http_callbacks is None:
            self.allow_http_callbacks = self.env == "development"
        return self

    @property
    def is_sqlite(self) -> bool:
        """True for the embedded SQLite default."""
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    """Settings read once per process."""
    return Settings()
