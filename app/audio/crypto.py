"""Envelope encryption of recordings: AES-256-GCM under a data key per file, wrapped by a master key.

File layout (all integers big-endian):

    magic "QAEA" | version 1 | key id (8) | wrap nonce (12) | wrapped data key (48) | nonce prefix (8)
    | chunk size (4) | chunk 0 | chunk 1 | ... | final chunk

Each chunk is `chunk size` bytes of plaintext (the last one 0..chunk size) sealed with AES-GCM under the file's
data key: nonce = nonce prefix + chunk index (4 bytes), associated data = magic, version, nonce prefix, chunk
index (8 bytes) and a final flag. So a chunk cannot be moved, dropped or appended, and a file cut at a chunk
boundary fails (its last chunk was not sealed as final). Only the header depends on the master key: rotation
re-wraps the data key in the header and leaves the audio untouched.

Master keys form a key ring (oldest first, the last one current); a key's id is a fingerprint of the key, so
the header names the key that wraps its data key without storing anything secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"QAEA"
VERSION = 1
KEY_BYTES = 32
KEY_ID_BYTES = 8
TAG_BYTES = 16
DEFAULT_CHUNK = 1 << 20
_HEADER = struct.Struct(">4sB8s12s48s8sI")
HEADER_BYTES = _HEADER.size  # 85
MAX_CHUNK = 64 << 20


class CryptoError(Exception):
    """A recording could not be decrypted."""


class UnknownKey(CryptoError):
    """The header names a master key the key ring does not hold (a wrong or missing key)."""


class Corrupt(CryptoError):
    """Not an encrypted recording, or its contents do not verify (tampered, truncated, damaged)."""


def key_id(key: bytes) -> bytes:
    """The public fingerprint of a master key, as written in headers."""
    return hashlib.sha256(b"audit-master-key-id\0" + key).digest()[:KEY_ID_BYTES]


def parse_key(text: str) -> bytes:
    """A master key from its base64 form (32 bytes after decoding)."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("a master key must be base64") from exc
    if len(key) != KEY_BYTES:
        raise ValueError(
            f"a master key must be {KEY_BYTES} bytes (base64 of 32 random bytes), got {len(key)}"
        )
    return key


def new_key() -> bytes:
    """A fresh random master key."""
    return AESGCM.generate_key(bit_length=256)


def encode_key(key: bytes) -> str:
    """The base64 form of a key (one line of a key file)."""
    return base64.b64encode(key).decode("ascii")


@dataclass(frozen=True)
class KeyRing:
    """Master keys by id; `current` wraps new data keys, older ones still unwrap old files."""

    keys: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("a key ring needs at least one key")

    @property
    def current(self) -> bytes:
        """The key new files (and re-wrapped ones) use."""
        return self.keys[-1]

    @property
    def current_id(self) -> bytes:
        """Id of the current key."""
        return key_id(self.current)

    def get(self, kid: bytes) -> bytes:
        """The key with this id, or UnknownKey."""
        for key in self.keys:
            if key_id(key) == kid:
                return key
        raise UnknownKey(
            f"the recording's data key is wrapped by master key {kid.hex()}, which is not in the key ring "
            f"(ring holds {', '.join(key_id(k).hex() for k in self.keys)})"
        )


@dataclass(frozen=True)
class Header:
    """The fixed-size header of an encrypted recording."""

    key_id: bytes
    wrap_nonce: bytes
    wrapped_key: bytes
    nonce_prefix: bytes
    chunk_size: int

    def to_bytes(self) -> bytes:
        """Serialised, HEADER_BYTES long."""
        return _HEADER.pack(
            MAGIC, VERSION, self.key_id, self.wrap_nonce, self.wrapped_key, self.nonce_prefix, self.chunk_size
        )

    @classmethod
    def parse(cls, raw: bytes) -> Header:
        """From the first HEADER_BYTES of a file; Corrupt when it is not one of ours."""
        if len(raw) < HEADER_BYTES or raw[:4] != MAGIC:
            raise Corrupt("not an encrypted recording (no header)")
        _, version, kid, wrap_nonce, wrapped, prefix, chunk = _HEADER.unpack(raw[:HEADER_BYTES])
        if version != VERSION:
            raise Corrupt(f"unknown encryption format version {version}")
        if not 0 < chunk <= MAX_CHUNK:
            raise Corrupt("invalid chunk size in the header")
        return cls(kid, wrap_nonce, wrapped, prefix, chunk)

    def unwrap(self, ring: KeyRing) -> bytes:
        """The file's data key; UnknownKey if the ring lacks the master key, Corrupt if the wrap fails."""
        master = ring.get(self.key_id)
        try:
            return AESGCM(master).decrypt(self.wrap_nonce, self.wrapped_key, _wrap_aad(self.key_id))
        except InvalidTag as exc:
            raise Corrupt("the wrapped data key does not verify (wrong key or damaged header)") from exc

    def rewrap(self, ring: KeyRing) -> Header:
        """The same header with its data key wrapped by the ring's current key."""
        return _wrap(self.unwrap(ring), ring, nonce_prefix=self.nonce_prefix, chunk_size=self.chunk_size)

    def aad(self, index: int, *, final: bool) -> bytes:
        """Associated data of chunk `index`."""
        return MAGIC + bytes([VERSION]) + self.nonce_prefix + struct.pack(">QB", index, int(final))

    def nonce(self, index: int) -> bytes:
        """Nonce of chunk `index`."""
        return self.nonce_prefix + struct.pack(">I", index)


def _wrap_aad(kid: bytes) -> bytes:
    return MAGIC + bytes([VERSION]) + b"dek" + kid


def _wrap(data_key: bytes, ring: KeyRing, *, nonce_prefix: bytes, chunk_size: int) -> Header:
    kid = ring.current_id
    wrap_nonce = os.urandom(12)
    wrapped = AESGCM(ring.current).encrypt(wrap_nonce, data_key, _wrap_aad(kid))
    return Header(kid, wrap_nonce, wrapped, nonce_prefix, chunk_size)


class Encryptor:
    """Writes an encrypted file to `out` from plaintext given in pieces; `close()` seals the final chunk."""

    def __init__(self, out: BinaryIO, ring: KeyRing, *, chunk_size: int = DEFAULT_CHUNK) -> None:
        data_key = AESGCM.generate_key(bit_length=256)
        self.header = _wrap(data_key, ring, nonce_prefix=os.urandom(8), chunk_size=chunk_size)
        self._aes = AESGCM(data_key)
        self._out = out
        self._buf = bytearray()
        self._index = 0
        out.write(self.header.to_bytes())

    def write(self, data: bytes) -> None:
        """Add plaintext; whole chunks are sealed once more data follows them (the last is sealed final)."""
        self._buf += data
        size = self.header.chunk_size
        while len(self._buf) > size:
            self._seal(bytes(self._buf[:size]), final=False)
            del self._buf[:size]

    def close(self) -> None:
        """Seal what is left as the final chunk (empty for an empty recording)."""
        self._seal(bytes(self._buf), final=True)
        self._buf.clear()

    def _seal(self, chunk: bytes, *, final: bool) -> None:
        h = self.header
        self._out.write(self._aes.encrypt(h.nonce(self._index), chunk, h.aad(self._index, final=final)))
        self._index += 1


@dataclass(frozen=True)
class Layout:
    """Where the chunks of an encrypted file lie, from its size."""

    header: Header
    chunks: int
    plain_size: int

    @classmethod
    def of(cls, header: Header, file_size: int) -> Layout:
        """Chunk count and plaintext size; Corrupt when the size cannot be a whole file."""
        body = file_size - HEADER_BYTES
        sealed = header.chunk_size + TAG_BYTES
        full, rest = divmod(body, sealed)
        if body < TAG_BYTES or 0 < rest < TAG_BYTES:
            raise Corrupt("the recording is truncated")
        chunks = full + (1 if rest else 0)
        return cls(header, chunks, full * header.chunk_size + (rest - TAG_BYTES if rest else 0))

    def offset(self, index: int) -> int:
        """File offset of chunk `index`."""
        return HEADER_BYTES + index * (self.header.chunk_size + TAG_BYTES)


class Decryptor:
    """Random access to the plaintext of one open encrypted file; every chunk is verified before use."""

    def __init__(self, fh: BinaryIO, ring: KeyRing) -> None:
        self._fh = fh
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(0)
        self.layout = Layout.of(Header.parse(fh.read(HEADER_BYTES)), size)
        self._aes = AESGCM(self.layout.header.unwrap(ring))

    @property
    def plain_size(self) -> int:
        """Bytes of plaintext."""
        return self.layout.plain_size

    def chunk(self, index: int) -> bytes:
        """Plaintext of chunk `index`, verified; Corrupt if it does not."""
        layout, h = self.layout, self.layout.header
        self._fh.seek(layout.offset(index))
        sealed = self._fh.read(h.chunk_size + TAG_BYTES)
        final = index == layout.chunks - 1
        try:
            return self._aes.decrypt(h.nonce(index), sealed, h.aad(index, final=final))
        except InvalidTag as exc:
            raise Corrupt(f"chunk {index} of the recording does not verify (tampered or damaged)") from exc

    def verify_ends(self, start: int = 0) -> None:
        """Check the chunk holding `start` and the final chunk, so a served stream fails before it starts."""
        self.chunk(min(start // self.layout.header.chunk_size, self.layout.chunks - 1))
        self.chunk(self.layout.chunks - 1)

    def iter_range(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Plaintext bytes [start, end) (end None: to the end), chunk by chunk."""
        end = self.plain_size if end is None else min(end, self.plain_size)
        size = self.layout.header.chunk_size
        pos = start
        while pos < end:
            index = pos // size
            data = self.chunk(index)
            lo = pos - index * size
            hi = min(len(data), end - index * size)
            yield data[lo:hi]
            pos = index * size + hi
