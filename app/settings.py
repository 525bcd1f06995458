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
    # The emotion encoder runs as an ONNX Runtime graph (fused attention; models/emotion/onnx_encoder.py):
    # same features as torch eager, about twice as fast here. "torch" runs it in torch eager instead.
    emotion_backend: Literal["onnx", "torch"] = "onnx"
    # int8 weights in that graph (feed-forward output projections kept fp32): 96.5 % of labels unchanged, the
    # abuse and dissatisfaction heads as good on its features, 1.57x faster on cores with an int8 dot product
    # (VNNI) and no faster without (benchmarks/bench_emotion.py, model card). "auto": int8 where it is faster;
    # the version every prediction records says which ran (-ort-int8).
    emotion_int8: bool | Literal["auto"] = "auto"
    # "distilled" (the default): the 4-layer student distilled from the 8-layer encoder (models/emotion/student.py);
    # the same heads read its features, at about twice the speed and about 0.01 macro-F1 (the budget's edge) below
    # the full encoder on the evaluation sets (issue 11 part 3, model card). "full" runs the 8 layers.
    emotion_encoder: Literal["full", "distilled"] = "distilled"

    # The centre's time zone: naive dates and times in requests (`until=2026-12-01`) are read in it.
    timezone: str = "Asia/Shanghai"
    # Reports show a rule's precision (confirmed / reviewed) only once this many of its conversations were
    # reviewed: fewer decisions say little (the rules report, app/reports).
    report_precision_min_reviews: int = Field(default=5, ge=1)

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
    # Rule versions and tuning (issue 10; app/rules). Each process checks the active stored rules version at
    # most this often (when an audit runs), so `audit worker`s follow a version applied through the API.
    rules_poll_seconds: float = Field(default=5.0, ge=0)
    # POST /v1/rules/test runs the audit (emotion model included) twice per conversation, inside the request.
    rules_max_yaml_bytes: int = Field(default=256 * 1024, ge=1024)
    rules_test_max_conversations: int = Field(default=100, ge=1)
    rules_test_max_utterances: int = Field(default=3000, ge=1)
    # Console sign-in (app.users): a session ends after this long idle or this long in all, whichever first;
    # an account is locked for `login_lockout_minutes` after `login_max_failures` failures within that window.
    session_idle_minutes: int = Field(default=120, ge=1)
    session_max_hours: int = Field(default=12, ge=1)
    login_max_failures: int = Field(default=5, ge=1)
    login_lockout_minutes: int = Field(default=15, ge=1)
    # Failed sign-ins from one client address within the lock-out window before it waits out the window too.
    login_max_failures_per_address: int = Field(default=30, ge=1)

    # Audio jobs
    workers: int = 1  # transcription jobs in parallel; each uses whisper_threads cores
    whisper_threads: int = 2
    # cpu or cuda; the compute type follows it unless set: int8 on CPU, float16 on a GPU.
    whisper_device: Literal["cpu", "cuda"] = "cpu"
    whisper_compute_type: str = ""
    # Whisper windows decoded together (pipelines/asr_batched.py packs each channel's speech regions into 30 s
    # windows): a call costs about one bare `transcribe` instead of 2-3 (benchmarks/bench_audio_e2e.py). 0
    # decodes every speech region on its own, the path before issue 14.
    asr_batch_size: int = Field(default=8, ge=0)
    job_max_attempts: int = 3
    job_poll_seconds: float = 1.0
    job_stale_seconds: float = 600.0  # a running job without heartbeat for this long is considered orphaned
    start_worker: bool = True
    # --- task queue, jobs and metrics (issue 12) ---
    # Empty: the embedded default (Dramatiq's in-process broker inside `audit serve`). redis://host:6379/N:
    # jobs go to Redis and run in `audit worker` processes on any machine sharing database and audio dir.
    broker_url: str = ""
    # A worker process whose broker heartbeat is older than this is dead: Redis hands its unacknowledged
    # messages to the others. Heartbeats come from the consumer threads, not the task, so this does not
    # have to exceed the longest call (job_time_limit_seconds does); it bounds how fast a crash is noticed.
    broker_heartbeat_timeout_seconds: float = Field(default=60.0, gt=0)
    # How often (per million broker commands) a command also requeues dead workers' messages.
    broker_maintenance_per_million: int = Field(default=10_000, ge=1, le=1_000_000)
    job_time_limit_seconds: float = Field(default=4 * 3600.0, gt=0)  # longer than the longest call
    job_retry_min_backoff_seconds: float = Field(default=15.0, ge=0)
    job_retry_max_backoff_seconds: float = Field(default=300.0, ge=0)
    worker_heartbeat_seconds: float = Field(default=10.0, gt=0)  # workers table, for admins and takeover
    worker_dead_after_seconds: float = Field(default=60.0, gt=0)
    max_audio_bytes: int = 100 * 1024 * 1024
    max_audio_seconds: float = 2 * 3600
    audio_retention_days: int | None = None  # None: keep recordings forever
    # Whole conversations (text, findings, reviews, recording) are deleted this long after they started;
    # None (the default): kept forever. Retention runs in batches of retention_batch_size rows (app.retention).
    conversation_retention_days: int | None = Field(default=None, ge=1)
    retention_batch_size: int = Field(default=500, ge=1, le=10_000)
    # Spoken personal data is silenced in the stored recording, padded by this much either side (issue 15);
    # the unredacted original is kept (admins only, deleted by retention too) only when asked for.
    redaction_pad_ms: int = Field(default=200, ge=0, le=2000)
    # Runs of this many digits or more are silenced even when they do not validate as a number (a misheard
    # phone number is still the real one in the recording); 0 silences only what the text masker masks.
    redaction_min_digit_run: int = Field(default=9, ge=0)
    # Decode again, biased to digits, the speech the transcript has no words for and half-recognised digit runs
    # (pipelines/redact_second_look.py): finds numbers Whisper dropped, at the cost of extra decoding per call.
    redaction_second_look: bool = True
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
    # Alerts (预警, issue 10; app/alerts). Targets: a JSON list in AUDIT_ALERT_TARGETS, else the YAML/JSON file
    # AUDIT_ALERT_TARGETS_FILE (default data_dir/alert_targets.yaml, outside git): URLs and secrets are keys.
    alert_targets: SecretStr = SecretStr("")
    alert_targets_file: Path | None = None
    alert_max_attempts: int = Field(default=8, ge=1, le=50)
    alert_retry_base_seconds: float = Field(default=5.0, gt=0)  # doubles per failed attempt
    alert_retry_max_seconds: float = Field(default=1800.0, gt=0)
    alert_timeout_seconds: float = Field(default=10.0, gt=0)
    alert_poll_seconds: float = Field(default=2.0, gt=0)  # alerts other processes wrote are sent this late
    alert_dispatch_concurrency: int = Field(default=4, ge=1, le=32)
    # GET /v1/alerts/stream: one connection lasts this long (the browser reconnects), at most this many at once
    # (each holds one of max_concurrent_requests while open).
    alert_stream_seconds: float = Field(default=55.0, gt=0)
    alert_max_streams: int = Field(default=4, ge=0)
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
        if not self.whisper_compute_type:
            self.whisper_compute_type = "float16" if self.whisper_device == "cuda" else "int8"
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
