"""Audio-at-rest use cases outside requests: the start-up key check and master key rotation."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from app.audio import crypto
from app.audio.keys import MasterKeyError, add_key, load_ring
from app.audio.store import AudioStore
from app.db import Conversation
from app.settings import Settings

log = logging.getLogger(__name__)
_SAMPLES = 5


def verify_master_key(factory: sessionmaker[Session], settings: Settings) -> crypto.KeyRing:
    """Load the key ring (created in development on first start) and prove it opens a stored recording.

    Raises MasterKeyError, which stops the start-up, when no key is configured or the recordings on disk
    were encrypted under a master key the ring does not hold.
    """
    ring = load_ring(settings)
    store = AudioStore(settings, ring=ring)
    # Plaintext copies a killed transcription left behind; recent ones may belong to a running process.
    if removed := store.remove_stale_plain(older_than_s=max(settings.job_stale_seconds, 3600.0)):
        log.warning("removed %d stale decrypted recording copies", removed)
    try:
        with factory() as session:
            paths = session.scalars(
                select(Conversation.audio_path)
                .where(Conversation.audio_path.is_not(None), Conversation.audio_deleted_at.is_(None))
                .order_by(Conversation.created_at.desc())
                .limit(_SAMPLES)
            ).all()
    except DBAPIError as exc:
        # The service starts without its database (it answers 503 until the database is back); the key is
        # then checked against the recordings on the first read instead, which never serves garbage either.
        log.warning(
            "database unreachable at start-up (%s): master key not checked against recordings",
            type(exc).__name__,
        )
        return ring
    for raw in paths:
        path = Path(raw or "")
        if not path.is_file():
            continue
        try:
            store.check_key(path)
        except crypto.UnknownKey as exc:
            raise MasterKeyError(
                f"the master key in force cannot decrypt the stored recordings ({path.name}): {exc}. "
                "Restore the key file from its backup (AUDIT_MASTER_KEY_FILE, default data_dir/master.key) "
                "or set AUDIT_MASTER_KEY to the key(s) the recordings were stored with."
            ) from exc
        except crypto.Corrupt as exc:
            # A file stored before encryption has no header: the service's start-up encrypts it next
            # (`encrypt_existing`); `audit audio encrypt-existing` does the same for a worker-only machine.
            log.warning("recording %s: %s (stored before encryption?)", path.name, exc)
            continue
        return ring
    return ring


@dataclass(frozen=True, slots=True)
class Rotation:
    """What a rotation did."""

    key_id: str
    rewrapped: int
    current: int
    failed: int


def rewrap_all(settings: Settings, *, ring: crypto.KeyRing | None = None) -> Rotation:
    """Re-wrap every stored recording's data key under the current master key; the audio is not re-encrypted."""
    store = AudioStore(settings, ring=ring)
    counts = {"rewrapped": 0, "current": 0, "failed": 0}
    for path in store.files():
        try:
            counts["rewrapped" if store.rewrap(path) else "current"] += 1
        except (crypto.CryptoError, OSError) as exc:
            log.error("recording %s not re-wrapped: %s", path.name, exc)
            counts["failed"] += 1
    return Rotation(key_id=store.ring.current_id.hex(), **counts)


def rotate_master_key(settings: Settings) -> Rotation:
    """Add a new master key to the key file and re-wrap every recording under it (old keys stay in the ring)."""
    return rewrap_all(settings, ring=add_key(settings))


def encrypt_existing(settings: Settings) -> Rotation:
    """Encrypt recordings stored before encryption (files without a header) under the current master key."""
    store = AudioStore(settings)
    counts = {"rewrapped": 0, "current": 0, "failed": 0}
    for path in store.files():
        try:
            counts["rewrapped" if store.encrypt_in_place(path) else "current"] += 1
        except OSError as exc:
            log.error("recording %s not encrypted: %s", path.name, exc)
            counts["failed"] += 1
    return Rotation(key_id=store.ring.current_id.hex(), **counts)
