"""The only code that reads or writes recording files: everything on disk is encrypted (app.audio.crypto).

Decoders (Whisper, av) need a plaintext file: `open_plain` decrypts into a private 0700 directory under
data_dir and deletes the copy when the block ends. Serving streams verified plaintext chunk by chunk.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from app.audio import crypto
from app.audio.exceptions import AudioKeyMissing, AudioUnreadable
from app.audio.keys import load_ring
from app.errors import PayloadTooLarge
from app.settings import Settings

log = logging.getLogger(__name__)
_READ = 1 << 20
PLAIN_DIR = "tmp-audio"


@dataclass(frozen=True, slots=True)
class StoredAudio:
    """A recording written to the store: where, its plaintext size and SHA-256."""

    path: Path
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class PlainRange:
    """Verified plaintext bytes [start, end) of a recording, streamed chunk by chunk, and its full size."""

    total: int
    start: int
    end: int
    chunks: Iterator[bytes]


@contextlib.contextmanager
def _unreadable(path: Path) -> Iterator[None]:
    """Crypto failures as the domain's errors (logged: a damaged or tampered file is an operator matter)."""
    try:
        yield
    except crypto.UnknownKey as exc:
        log.error("recording %s: %s", path.name, exc)
        raise AudioKeyMissing(f"the recording cannot be decrypted: {exc}") from exc
    except crypto.Corrupt as exc:
        log.error("recording %s does not verify: %s", path.name, exc)
        raise AudioUnreadable(f"the stored recording does not verify and is not served: {exc}") from exc


class AudioStore:
    """Encrypted recording files under settings.audio_dir."""

    def __init__(self, settings: Settings, *, ring: crypto.KeyRing | None = None) -> None:
        assert settings.audio_dir is not None
        self.settings = settings
        self.audio_dir = settings.audio_dir
        self._ring = ring

    @property
    def ring(self) -> crypto.KeyRing:
        """The master key ring, read on first use (deleting a file needs none)."""
        if self._ring is None:
            self._ring = load_ring(self.settings)
        return self._ring

    def path_for(self, conversation_id: uuid.UUID, suffix: str) -> Path:
        """Where a conversation's recording is stored."""
        return self.audio_dir / f"{conversation_id}{suffix}"

    def save_upload(
        self, stream: BinaryIO, *, conversation_id: uuid.UUID, suffix: str, limit: int
    ) -> StoredAudio:
        """Encrypt an upload to disk, refusing it (PayloadTooLarge, nothing kept) once it passes `limit` bytes."""
        self.audio_dir.mkdir(parents=True, exist_ok=True)
        target = self.path_for(conversation_id, suffix)
        digest = hashlib.sha256()
        size = 0
        try:
            with target.open("wb") as out:
                enc = crypto.Encryptor(out, self.ring)
                while chunk := stream.read(_READ):
                    size += len(chunk)
                    if size > limit:
                        raise PayloadTooLarge(f"recording is larger than {limit} bytes")
                    digest.update(chunk)
                    enc.write(chunk)
                enc.close()
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        return StoredAudio(target, size, digest.hexdigest())

    def _plain_dir(self) -> Path:
        tmp = self.settings.data_dir / PLAIN_DIR
        tmp.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(tmp, 0o700)  # mkdir's mode is masked by the umask, and the directory may predate us
        return tmp

    @contextlib.contextmanager
    def open_plain(self, path: Path) -> Iterator[Path]:
        """A decrypted copy of the recording (mode 0600, private directory), deleted when the block ends."""
        fd, name = tempfile.mkstemp(dir=self._plain_dir(), suffix=path.suffix)
        plain = Path(name)
        try:
            with os.fdopen(fd, "wb") as out, path.open("rb") as fh, _unreadable(path):
                for piece in crypto.Decryptor(fh, self.ring).iter_range():
                    out.write(piece)
            yield plain
        finally:
            plain.unlink(missing_ok=True)

    def read_plain(self, path: Path) -> bytes:
        """The whole decrypted recording (verified)."""
        with path.open("rb") as fh, _unreadable(path):
            return b"".join(crypto.Decryptor(fh, self.ring).iter_range())

    def write(self, path: Path, data: bytes) -> None:
        """Replace (or create) the recording at `path` with `data`, encrypted under a new data key, atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                enc = crypto.Encryptor(out, self.ring)
                enc.write(data)
                enc.close()
                out.flush()
                os.fsync(out.fileno())
            os.replace(name, path)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise

    def delete(self, path: Path) -> None:
        """Remove a recording (missing is fine)."""
        path.unlink(missing_ok=True)

    def read_range(self, path: Path, *, start: int = 0, end: int | None = None) -> PlainRange:
        """Plaintext [start, end) for serving; the first and last chunks verify before anything is returned.

        A chunk in between that fails later ends the stream with an error (the client sees a cut response),
        never with unverified bytes.
        """
        fh = path.open("rb")
        try:
            with _unreadable(path):
                dec = crypto.Decryptor(fh, self.ring)
                stop = dec.plain_size if end is None else min(end, dec.plain_size)
                dec.verify_ends(start)
        except BaseException:
            fh.close()
            raise

        def chunks() -> Iterator[bytes]:
            try:
                with _unreadable(path):
                    yield from dec.iter_range(start, stop)
            finally:
                fh.close()

        return PlainRange(dec.plain_size, start, stop, chunks())

    def plain_size(self, path: Path) -> int:
        """Plaintext size of a stored recording (from its header and length; nothing decrypted)."""
        with path.open("rb") as fh, _unreadable(path):
            header = crypto.Header.parse(fh.read(crypto.HEADER_BYTES))
            return crypto.Layout.of(header, os.fstat(fh.fileno()).st_size).plain_size

    def check_key(self, path: Path) -> None:
        """Unwrap the data key of one recording: the key ring in force can read what is stored."""
        with path.open("rb") as fh:
            crypto.Header.parse(fh.read(crypto.HEADER_BYTES)).unwrap(self.ring)

    def rewrap(self, path: Path) -> bool:
        """Re-wrap the recording's data key under the current master key (header only); False if it was."""
        with path.open("r+b") as fh:
            header = crypto.Header.parse(fh.read(crypto.HEADER_BYTES))
            if header.key_id == self.ring.current_id:
                return False
            new = header.rewrap(self.ring)
            # The header has a fixed size: rewritten in place, one small write, then synced.
            fh.seek(0)
            fh.write(new.to_bytes())
            fh.flush()
            os.fsync(fh.fileno())
        return True

    def remove_stale_plain(self, *, older_than_s: float) -> int:
        """Delete decrypted copies a killed process left behind (older than `older_than_s`); how many."""
        tmp = self.settings.data_dir / PLAIN_DIR
        if not tmp.is_dir():
            return 0
        cutoff = time.time() - older_than_s
        removed = 0
        for path in tmp.iterdir():
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
        return removed

    def encrypt_in_place(self, path: Path) -> bool:
        """Encrypt a recording stored before encryption (no header); False if it already is encrypted."""
        with path.open("rb") as fh:
            if fh.read(len(crypto.MAGIC)) == crypto.MAGIC:
                return False
        self.write(path, path.read_bytes())
        return True

    def files(self) -> Iterator[Path]:
        """Every stored recording file."""
        if self.audio_dir.is_dir():
            yield from (
                p for p in sorted(self.audio_dir.iterdir()) if p.is_file() and not p.name.startswith(".")
            )
