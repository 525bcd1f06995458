"""The master key ring: from AUDIT_MASTER_KEY or the key file; created on first start in development only."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from app.audio.crypto import KeyRing, encode_key, key_id, new_key, parse_key
from app.settings import Settings

log = logging.getLogger(__name__)

_FILE_HEAD = (
    "# Master keys of the recordings stored by the conversation-audit service, one base64 key a line,\n"
    "# oldest first; the last line is the current key. Without this file the recordings cannot be read:\n"
    "# back it up (apart from the recordings), keep it mode 0600. `audit audio rotate-key` appends a key.\n"
)


class MasterKeyError(RuntimeError):
    """No usable master key: the service must not start (the message says what to do)."""


def key_file(settings: Settings) -> Path:
    """Where the key ring file lives."""
    assert settings.master_key_file is not None
    return settings.master_key_file


def load_ring(settings: Settings, *, create: bool = True) -> KeyRing:
    """The key ring in force; in development a missing key file is created (0600) and the log says so."""
    env_value = settings.master_key.get_secret_value()
    if env_value.strip():
        try:
            return KeyRing(tuple(parse_key(part) for part in env_value.split(",") if part.strip()))
        except ValueError as exc:
            raise MasterKeyError(f"AUDIT_MASTER_KEY is not usable: {exc}") from exc
    path = key_file(settings)
    if path.exists():
        return read_key_file(path)
    if not create or settings.env == "production":
        raise MasterKeyError(
            f"no master key: {path} does not exist and AUDIT_MASTER_KEY is not set. Recordings are encrypted "
            "with it; restore the key file from its backup, or (first start only) create one with "
            "`audit audio rotate-key`."
        )
    return _create(path)


def read_key_file(path: Path) -> KeyRing:
    """Parse a key file; MasterKeyError with the line at fault."""
    keys: list[bytes] = []
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise MasterKeyError(f"cannot read the master key file {path}: {exc}") from exc
    for n, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            keys.append(parse_key(line))
        except ValueError as exc:
            raise MasterKeyError(f"{path} line {n}: {exc}") from exc
    if not keys:
        raise MasterKeyError(f"{path} holds no master key")
    return KeyRing(tuple(keys))


def _create(path: Path) -> KeyRing:
    path.parent.mkdir(parents=True, exist_ok=True)
    key = new_key()
    try:
        # O_EXCL: a server and a worker starting together agree on the first key written.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):
            try:
                return read_key_file(path)
            except MasterKeyError:
                time.sleep(0.1)  # the other process is still writing it
        return read_key_file(path)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(_FILE_HEAD + encode_key(key) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    log.warning(
        "generated a master key for encrypting recordings into %s (mode 0600, key id %s). BACK IT UP: "
        "without it no stored recording can be played. AUDIT_ENV=production never creates one.",
        path,
        key_id(key).hex(),
    )
    return KeyRing((key,))


def add_key(settings: Settings) -> KeyRing:
    """Append a new current key to the key file (creating the file if there is none); the new ring."""
    if settings.master_key.get_secret_value().strip():
        raise MasterKeyError(
            "AUDIT_MASTER_KEY is set: add the new key at its end yourself (comma-separated), then run "
            "`audit audio rewrap`"
        )
    path = key_file(settings)
    if not path.exists():
        return _create(path)
    ring = read_key_file(path)
    key = new_key()
    tmp = path.with_name(path.name + ".new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(path.read_text(encoding="ascii").rstrip("\n") + "\n" + encode_key(key) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return KeyRing((*ring.keys, key))
