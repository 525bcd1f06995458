"""The trained part of the emotion model: standardise pooled e5 features, then a small MLP (or linear) head."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

ARTIFACT_DIR = Path(__file__).resolve().parent / "artifact"
# The last commit whose artefact was served before the head was retrained with the spoken-style sets: the
# evaluation's "before" row and the starting point of models.emotion.train_head.
PREVIOUS_SERVED = "b71239d"
ARTIFACT_FILES = (
    "head.safetensors",
    "head.json",
    "lora.safetensors",
    "ngram.safetensors",
    "ngram_vocab.json",
    "ngram.json",
)


@dataclass(frozen=True, slots=True)
class HeadConfig:
    """Everything needed to rebuild the head and feed it the same features it was trained on."""

    layers: tuple[int, ...]  # hidden-state indices pooled and concatenated (0 = embeddings)
    hidden: int  # 0 = linear head
    dropout: float
    max_tokens: int
    labels: tuple[str, ...]
    base_model_sha256: str

    @property
    def encoder_layers(self) -> int:
        """How many transformer layers the encoder must run (the rest are never computed)."""
        return max(self.layers)


class EmotionHead(nn.Module):
    """Standardisation (fitted mean/scale buffers) followed by a 1-hidden-layer MLP or a linear layer."""

    mean: torch.Tensor
    scale: torch.Tensor

    def __init__(self, in_dim: int, n_labels: int, *, hidden: int, dropout: float) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(in_dim))
        self.register_buffer("scale", torch.ones(in_dim))
        if hidden:
            self.net: nn.Module = nn.Sequential(
                nn.Dropout(dropout),
                nn.Linear(in_dim, hidden),
                nn.GELU(),
                nn.Dropout(dropout),
                nn.Linear(hidden, n_labels),
            )
        else:
            self.net = nn.Sequential(nn.Dropout(dropout), nn.Linear(in_dim, n_labels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for pooled features x: (batch, in_dim) -> (batch, n_labels)."""
        logits: torch.Tensor = self.net((x - self.mean) / self.scale)
        return logits


def save_head(head: EmotionHead, config: HeadConfig, directory: Path, *, extra: dict[str, object]) -> None:
    """Write head.safetensors + head.json (config and training metadata) into directory."""
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in sorted(head.state_dict().items())}
    save_file(state, str(directory / "head.safetensors"), metadata={"format": "pt"})
    meta = {"config": asdict(config), **extra}
    (directory / "head.json").write_text(
        json.dumps(meta, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    )


def load_head(directory: Path = ARTIFACT_DIR) -> tuple[EmotionHead, HeadConfig, dict[str, object]]:
    """Rebuild the head from head.safetensors + head.json."""
    from safetensors.torch import load_file

    meta = json.loads((directory / "head.json").read_text())
    raw = meta["config"]
    config = HeadConfig(
        layers=tuple(raw["layers"]),
        hidden=int(raw["hidden"]),
        dropout=float(raw["dropout"]),
        max_tokens=int(raw["max_tokens"]),
        labels=tuple(raw["labels"]),
        base_model_sha256=str(raw["base_model_sha256"]),
    )
    state = load_file(str(directory / "head.safetensors"))
    head = EmotionHead(
        state["mean"].shape[0], len(config.labels), hidden=config.hidden, dropout=config.dropout
    )
    head.load_state_dict(state)
    return head.eval(), config, meta


def committed_artifact(rev: str) -> Path:
    """The emotion artefact as committed at rev, written under var/ (git show: needs the repository history).

    Raises subprocess.CalledProcessError when git cannot show it (a shallow clone, an unknown commit)."""
    import subprocess

    root = ARTIFACT_DIR.parents[2]
    target = root / "var" / "emotion" / f"artifact-{rev}"
    target.mkdir(parents=True, exist_ok=True)
    for name in ARTIFACT_FILES:
        blob = subprocess.run(
            ["git", "show", f"{rev}:models/emotion/artifact/{name}"],
            cwd=root,
            capture_output=True,
            check=True,
        ).stdout
        (target / name).write_bytes(blob)
    return target
