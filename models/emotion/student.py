"""The distilled emotion encoder (issue 11 part 3): 4 transformer layers that reproduce the served 8-layer
encoder's pooled features, so the emotion head, the n-gram half, the abuse head and the dissatisfaction model
read it unchanged, at about twice the speed.

Why a separate artefact rather than a new base model: the student keeps the e5 base's embeddings (frozen while
distilling), so only its trained layers are committed (`student.safetensors`, fp16, about 14 MB); the rest comes
from the same materialised base as the full encoder. `student.json` says which teacher layers each student layer
started from, which of its hidden states are pooled, what it was distilled on, and what it was measured at.
Trained by `models/emotion/train_student.py`; served with `AUDIT_EMOTION_ENCODER=distilled`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from models.emotion.head import ARTIFACT_DIR
from models.emotion.setup import SETUP_COMMAND, ModelAssetError

STUDENT_WEIGHTS = "student.safetensors"
STUDENT_CONFIG = "student.json"
_LAYER_PREFIX = "encoder.layer."


@dataclass(frozen=True)
class StudentConfig:
    """What the student is: its depth, the hidden states pooled for the head, the base it was built on."""

    layers: int
    pooled: tuple[int, ...]
    base_model_sha256: str
    teacher_layers: tuple[int, ...]  # the teacher layer each student layer was initialised from


def student_files(artifact_dir: Path = ARTIFACT_DIR) -> tuple[Path, Path]:
    """(weights, config) paths of the student artefact."""
    return artifact_dir / STUDENT_WEIGHTS, artifact_dir / STUDENT_CONFIG


def load_student_config(artifact_dir: Path = ARTIFACT_DIR) -> StudentConfig:
    """The committed student's config; ModelAssetError when missing or unreadable."""
    weights, config_path = student_files(artifact_dir)
    if not weights.is_file() or not config_path.is_file():
        raise ModelAssetError(
            f"distilled emotion encoder missing from {artifact_dir} (committed in git; restore it)"
        )
    try:
        raw = json.loads(config_path.read_text(encoding="utf-8"))
        return StudentConfig(
            layers=int(raw["layers"]),
            pooled=tuple(int(x) for x in raw["pooled"]),
            base_model_sha256=str(raw["base_model_sha256"]),
            teacher_layers=tuple(int(x) for x in raw["teacher_layers"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelAssetError(f"distilled emotion encoder config unreadable: {config_path}: {exc}") from exc


def student_digest(artifact_dir: Path = ARTIFACT_DIR) -> str:
    """First 8 hex digits of the student's weights: part of every prediction's model version."""
    return hashlib.sha256(student_files(artifact_dir)[0].read_bytes()).hexdigest()[:8]


def save_student_artifact(
    student: torch.nn.Module,
    artifact_dir: Path,
    *,
    pooled: tuple[int, ...],
    base_model_sha256: str,
    teacher_layers: list[int],
    extra: dict[str, object],
) -> Path:
    """Write the student's transformer layers (fp16; the embeddings are the base's) and its config."""
    from safetensors.torch import save_file

    state = {
        k: v.detach().to(torch.float16).contiguous()
        for k, v in student.state_dict().items()
        if k.startswith(_LAYER_PREFIX)
    }
    weights, config_path = student_files(artifact_dir)
    artifact_dir.mkdir(parents=True, exist_ok=True)
    save_file(state, str(weights))
    config = {
        "layers": len(teacher_layers),
        "pooled": list(pooled),
        "base_model_sha256": base_model_sha256,
        "teacher_layers": teacher_layers,
        **extra,
    }
    config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return weights


def load_student_encoder(
    model_root: Path, config: StudentConfig, artifact_dir: Path = ARTIFACT_DIR, *, attention: str = "sdpa"
) -> torch.nn.Module:
    """The base's embeddings with the student's layers, fp32, in eval mode."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    from transformers import BertModel

    try:
        encoder: torch.nn.Module = BertModel.from_pretrained(
            str(model_root),
            local_files_only=True,
            add_pooling_layer=False,
            num_hidden_layers=config.layers,
            attn_implementation=attention,
        )
    except (OSError, ValueError) as exc:
        raise ModelAssetError(
            f"cannot load the e5-small base from {model_root} ({exc}); run `{SETUP_COMMAND}`"
        ) from exc
    weights = student_files(artifact_dir)[0]
    try:
        state = load_file(str(weights))
    except (OSError, SafetensorError) as exc:
        raise ModelAssetError(f"distilled emotion encoder unreadable: {weights}: {exc}") from exc
    expected = {k for k in encoder.state_dict() if k.startswith(_LAYER_PREFIX)}
    if set(state) != expected:
        raise ModelAssetError(
            f"distilled emotion encoder {weights} does not fit a {config.layers}-layer encoder "
            f"({len(set(state) ^ expected)} tensors differ)"
        )
    encoder.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
    return encoder.eval()
