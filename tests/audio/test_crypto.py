"""Envelope encryption of recordings: format, tamper and truncation detection, rotation, key files, the store."""

from __future__ import annotations

import io
import os
import stat
import uuid
from pathlib import Path

import pytest

from app.audio import crypto
from app.audio.exceptions import AudioKeyMissing, AudioUnreadable
from app.audio.keys import MasterKeyError, add_key, load_ring
from app.audio.store import PLAIN_DIR, AudioStore
from app.errors import PayloadTooLarge
from app.settings import Settings


def _encrypt(data: bytes, ring: crypto.KeyRing, chunk_size: int) -> bytes:
    out = io.BytesIO()
    enc = crypto.Encryptor(out, ring, chunk_size=chunk_size)
    for i in range(0, len(data), 7):  # written in pieces that do not line up with chunks
        enc.write(data[i : i + 7])
    enc.close()
    return out.getvalue()


def _decrypt(blob: bytes, ring: crypto.KeyRing, start: int = 0, end: int | None = None) -> bytes:
    return b"".join(crypto.Decryptor(io.BytesIO(blob), ring).iter_range(start, end))


@pytest.fixture
def ring() -> crypto.KeyRing:
    return crypto.KeyRing((crypto.new_key(),))


class TestFormat:
    @pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 64, 100])
    def test_round_trip_across_chunk_boundaries(self, ring: crypto.KeyRing, size: int) -> None:
        data = os.urandom(size)
        blob = _encrypt(data, ring, chunk_size=16)
        chunks = max(1, -(-size // 16))
        assert len(blob) == crypto.HEADER_BYTES + size + chunks * crypto.TAG_BYTES
        assert blob[:4] == b"QAEA"
        if size >= 16:  # a short plaintext can turn up in random bytes by chance
            assert data not in blob
        dec = crypto.Decryptor(io.BytesIO(blob), ring)
        assert (dec.plain_size, dec.layout.chunks) == (size, chunks)
        assert _decrypt(blob, ring) == data

    def test_ranges(self, ring: crypto.KeyRing) -> None:
        data = os.urandom(100)
        blob = _encrypt(data, ring, chunk_size=16)
        for start, end in [(0, 1), (15, 17), (16, 32), (31, 100), (99, 100), (50, 1000), (5, 5)]:
            assert _decrypt(blob, ring, start, end) == data[start:end]

    def test_each_file_has_its_own_data_key_and_nonces(self, ring: crypto.KeyRing) -> None:
        data = b"\x00" * 64
        a, b = _encrypt(data, ring, 16), _encrypt(data, ring, 16)
        assert a[crypto.HEADER_BYTES :] != b[crypto.HEADER_BYTES :]


class TestTampering:
    @pytest.fixture
    def blob(self, ring: crypto.KeyRing) -> bytes:
        return _encrypt(bytes(range(100)), ring, chunk_size=16)

    def test_flipped_bit_in_any_chunk(self, ring: crypto.KeyRing, blob: bytes) -> None:
        for pos in (crypto.HEADER_BYTES, crypto.HEADER_BYTES + 40, len(blob) - 1):
            bad = bytearray(blob)
            bad[pos] ^= 0x01
            with pytest.raises(crypto.Corrupt, match="does not verify"):
                _decrypt(bytes(bad), ring)

    def test_truncated_at_a_chunk_boundary(self, ring: crypto.KeyRing, blob: bytes) -> None:
        cut = blob[: crypto.HEADER_BYTES + 3 * (16 + crypto.TAG_BYTES)]  # 3 whole chunks of 7
        with pytest.raises(crypto.Corrupt, match="chunk 2"):
            _decrypt(cut, ring)

    def test_truncated_inside_a_chunk_or_header(self, ring: crypto.KeyRing, blob: bytes) -> None:
        with pytest.raises(crypto.Corrupt):
            _decrypt(blob[:-5], ring)
        with pytest.raises(crypto.Corrupt, match="truncated"):
            _decrypt(blob[: crypto.HEADER_BYTES + 3], ring)
        with pytest.raises(crypto.Corrupt, match="no header"):
            _decrypt(blob[:40], ring)

    def test_swapped_chunks(self, ring: crypto.KeyRing, blob: bytes) -> None:
        sealed = 16 + crypto.TAG_BYTES
        h = crypto.HEADER_BYTES
        swapped = blob[:h] + blob[h + sealed : h + 2 * sealed] + blob[h : h + sealed] + blob[h + 2 * sealed :]
        with pytest.raises(crypto.Corrupt, match="chunk 0"):
            _decrypt(swapped, ring)

    def test_plain_wav_is_not_accepted(self, ring: crypto.KeyRing) -> None:
        with pytest.raises(crypto.Corrupt, match="no header"):
            _decrypt(b"RIFF" + b"\x00" * 200, ring)


class TestKeys:
    def test_wrong_key_is_named(self, blob_ring: tuple[bytes, crypto.KeyRing]) -> None:
        blob, ring = blob_ring
        other = crypto.KeyRing((crypto.new_key(),))
        with pytest.raises(crypto.UnknownKey, match=ring.current_id.hex()):
            _decrypt(blob, other)

    def test_rewrap_changes_the_header_only(self, blob_ring: tuple[bytes, crypto.KeyRing]) -> None:
        blob, old = blob_ring
        new_key = crypto.new_key()
        both = crypto.KeyRing((*old.keys, new_key))
        header = crypto.Header.parse(blob).rewrap(both)
        assert header.key_id == crypto.key_id(new_key)
        rewrapped = header.to_bytes() + blob[crypto.HEADER_BYTES :]
        assert len(header.to_bytes()) == crypto.HEADER_BYTES
        assert _decrypt(rewrapped, crypto.KeyRing((new_key,))) == b"call audio" * 10
        with pytest.raises(crypto.UnknownKey):
            _decrypt(rewrapped, old)

    def test_parse_key(self) -> None:
        key = crypto.new_key()
        assert crypto.parse_key(crypto.encode_key(key) + "\n") == key
        with pytest.raises(ValueError, match="32 bytes"):
            crypto.parse_key(crypto.encode_key(key[:16]))
        with pytest.raises(ValueError, match="base64"):
            crypto.parse_key("not base64!")


@pytest.fixture
def blob_ring(ring: crypto.KeyRing) -> tuple[bytes, crypto.KeyRing]:
    return _encrypt(b"call audio" * 10, ring, chunk_size=16), ring


def _settings(tmp_path: Path, **kw: object) -> Settings:
    return Settings(data_dir=tmp_path, database_url="sqlite://", **kw)  # type: ignore[arg-type]


class TestKeyFile:
    def test_development_creates_a_0600_key_file_once(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        settings = _settings(tmp_path)
        with caplog.at_level("WARNING"):
            ring = load_ring(settings)
        path = tmp_path / "master.key"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert "generated a master key" in caplog.text
        assert "BACK IT UP" in caplog.text
        assert load_ring(settings) == ring  # read back, not replaced

    def test_production_never_creates_one(self, tmp_path: Path) -> None:
        with pytest.raises(MasterKeyError, match="no master key"):
            load_ring(_settings(tmp_path, env="production"))
        assert not (tmp_path / "master.key").exists()

    def test_environment_key_ring(self, tmp_path: Path) -> None:
        old, new = crypto.new_key(), crypto.new_key()
        value = f"{crypto.encode_key(old)},{crypto.encode_key(new)}"
        ring = load_ring(_settings(tmp_path, master_key=value, env="production"))
        assert ring.keys == (old, new)
        assert not (tmp_path / "master.key").exists()
        with pytest.raises(MasterKeyError, match="AUDIT_MASTER_KEY is not usable"):
            load_ring(_settings(tmp_path, master_key="short"))

    def test_bad_key_file_line(self, tmp_path: Path) -> None:
        (tmp_path / "master.key").write_text("# keys\nabc\n", encoding="ascii")
        with pytest.raises(MasterKeyError, match="line 2"):
            load_ring(_settings(tmp_path))

    def test_add_key_appends_and_keeps_mode(self, tmp_path: Path) -> None:
        settings = _settings(tmp_path)
        first = load_ring(settings)
        ring = add_key(settings)
        assert ring.keys == (first.current, ring.current)
        assert load_ring(settings) == ring
        assert stat.S_IMODE((tmp_path / "master.key").stat().st_mode) == 0o600


class TestStore:
    def test_save_open_write_delete(self, tmp_path: Path) -> None:
        store = AudioStore(_settings(tmp_path))
        data = os.urandom(3 * 1024 * 1024 + 5)  # four 1 MiB chunks
        cid = uuid.uuid4()
        stored = store.save_upload(io.BytesIO(data), conversation_id=cid, suffix=".wav", limit=10**8)
        assert stored.path == tmp_path / "audio" / f"{cid}.wav"
        assert stored.size == len(data)
        assert store.plain_size(stored.path) == len(data)
        assert data[:1024] not in stored.path.read_bytes()
        assert store.read_plain(stored.path) == data
        with store.open_plain(stored.path) as plain:
            assert plain.read_bytes() == data
            assert plain.parent == tmp_path / PLAIN_DIR
            assert stat.S_IMODE(plain.parent.stat().st_mode) == 0o700
            assert stat.S_IMODE(plain.stat().st_mode) == 0o600
        assert not plain.exists()
        part = store.read_range(stored.path, start=1024 * 1024 - 3, end=2 * 1024 * 1024 + 3)
        assert b"".join(part.chunks) == data[1024 * 1024 - 3 : 2 * 1024 * 1024 + 3]

        store.write(stored.path, b"redacted")
        assert store.read_plain(stored.path) == b"redacted"
        assert [p.name for p in (tmp_path / "audio").iterdir()] == [f"{cid}.wav"]  # no temp file left
        store.delete(stored.path)
        store.delete(stored.path)
        assert not stored.path.exists()

    def test_upload_over_the_limit_leaves_nothing(self, tmp_path: Path) -> None:
        store = AudioStore(_settings(tmp_path))
        with pytest.raises(PayloadTooLarge):
            store.save_upload(io.BytesIO(b"x" * 5000), conversation_id=uuid.uuid4(), suffix="", limit=1000)
        assert list((tmp_path / "audio").iterdir()) == []

    def test_unreadable_files_are_domain_errors(self, tmp_path: Path) -> None:
        store = AudioStore(_settings(tmp_path))
        path = tmp_path / "audio" / "x.wav"
        store.write(path, b"abc" * 100)
        bad = bytearray(path.read_bytes())
        bad[-1] ^= 1
        path.write_bytes(bytes(bad))
        with pytest.raises(AudioUnreadable, match="does not verify"):
            store.read_plain(path)
        with pytest.raises(AudioUnreadable), store.open_plain(path):
            pass
        assert list((tmp_path / PLAIN_DIR).iterdir()) == []  # the partial plaintext was removed
        other = AudioStore(_settings(tmp_path), ring=crypto.KeyRing((crypto.new_key(),)))
        store.write(path, b"abc")
        with pytest.raises(AudioKeyMissing):
            other.read_plain(path)

    def test_rewrap(self, tmp_path: Path) -> None:
        settings = _settings(tmp_path)
        store = AudioStore(settings)
        path = tmp_path / "audio" / "a.wav"
        store.write(path, b"hello" * 1000)
        body = path.read_bytes()[crypto.HEADER_BYTES :]
        rotated = AudioStore(settings, ring=add_key(settings))
        assert rotated.rewrap(path) is True
        assert rotated.rewrap(path) is False
        assert path.read_bytes()[crypto.HEADER_BYTES :] == body  # the audio was not re-encrypted
        only_new = AudioStore(settings, ring=crypto.KeyRing((rotated.ring.current,)))
        assert only_new.read_plain(path) == b"hello" * 1000
