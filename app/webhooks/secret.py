"""The callback-signing secret: refused when weak in production, generated on first start in development."""

from __future__ import annotations

import logging
import os
import secrets
import time

from app.settings import Settings

log = logging.getLogger(__name__)

MIN_SECRET_CHARS = 16
_KNOWN_DEFAULTS = frozenset({"change-me", "changeme", "change_me", "secret", "password", "callback-secret"})
SECRET_FILE = "callback_secret"


class WeakSecretError(RuntimeError):
    """A production start with a weak or default callback secret."""


def weakness(secret: str) -> str | None:
    """Why a secret is too weak to sign with (None if it is fine)."""
    if not secret:
        return "it is empty"
    if secret.strip().lower() in _KNOWN_DEFAULTS:
        return "it is a well-known default"
    if len(secret) < MIN_SECRET_CHARS:
        return f"it is shorter than {MIN_SECRET_CHARS} characters"
    if len(set(secret)) < 6:
        return "it repeats too few distinct characters"
    return None


def ensure_callback_secret(settings: Settings) -> None:
    """Make `settings.callback_secret` usable or stop the start-up (called once per process that sends)."""
    reason = weakness(settings.callback_secret)
    if reason is None:
        return
    if settings.env == "production":
        raise WeakSecretError(
            f"AUDIT_CALLBACK_SECRET is not safe to sign callbacks with: {reason}. Set at least "
            f"{MIN_SECRET_CHARS} random characters (e.g. `python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'`), or run with AUDIT_ENV=development."
        )
    if settings.callback_secret:
        log.warning(
            "DEVELOPMENT MODE: AUDIT_CALLBACK_SECRET is weak (%s); callbacks can be forged. "
            "AUDIT_ENV=production refuses to start like this.",
            reason,
        )
        return
    settings.callback_secret = _load_or_create(settings)


def _load_or_create(settings: Settings) -> str:
    path = settings.data_dir / SECRET_FILE
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    try:
        # O_EXCL: a server and a worker starting together agree on the first one written.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):
            stored = path.read_text(encoding="utf-8").strip()
            if weakness(stored) is None:
                log.warning("DEVELOPMENT MODE: signing callbacks with the generated secret in %s", path)
                return stored
            time.sleep(0.1)  # the other process is still writing it
        raise WeakSecretError(
            f"{path} holds no usable secret; delete it or set AUDIT_CALLBACK_SECRET"
        ) from None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value + "\n")
    log.warning(
        "DEVELOPMENT MODE: AUDIT_CALLBACK_SECRET is not set; generated one into %s (mode 0600). "
        "Give it to callback receivers, or set AUDIT_CALLBACK_SECRET; AUDIT_ENV=production requires it.",
        path,
    )
    return value
