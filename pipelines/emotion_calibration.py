"""What an emotion confidence means: the served probabilities rescaled so that 0.8 is right about 80 % of the time.

The model is overconfident on short spoken turns (CPED TV dialogue: labels at ≥ 0.8 were right 59 % of the
time) and about right on longer written text (Weibo: 90 %). A short turn carries less evidence, so the
temperature depends on its length: softmax(log p / T(n)) with T(n) = exp(a + b · (ln n − center)), n the
turn's characters clamped to the range the fit saw. T > 1 softens, and b < 0 softens short turns more.
The top label never changes (every row is divided by one positive T), so labels and macro-F1 are the model's;
only the confidence and the other labels' probabilities move.

Fitted by models/emotion/train_calibration.py; measured by evaluation/eval_calibration.py.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pipelines.types import EmotionPrediction


@dataclass(frozen=True, slots=True)
class LengthTemperature:
    """Temperature scaling whose temperature falls with the length of the text."""

    a: float
    b: float
    center: float = 2.5
    min_chars: int = 2
    max_chars: int = 64

    def __post_init__(self) -> None:
        if not 1 <= self.min_chars <= self.max_chars:
            raise ValueError(f"need 1 <= min_chars <= max_chars, got {self.min_chars}, {self.max_chars}")
        for name in ("a", "b", "center"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be finite")

    @property
    def version(self) -> str:
        """A short digest of the parameters, recorded with the model versions."""
        blob = json.dumps([self.a, self.b, self.center, self.min_chars, self.max_chars]).encode()
        return "cal-" + hashlib.sha256(blob).hexdigest()[:8]

    def temperature(self, text: str) -> float:
        """T for one text (its stripped length, clamped)."""
        n = min(max(len(text.strip()), self.min_chars), self.max_chars)
        return math.exp(self.a + self.b * (math.log(n) - self.center))

    def apply(self, text: str, prediction: EmotionPrediction) -> EmotionPrediction:
        """The same label with its probabilities at this text's temperature."""
        t = self.temperature(text)
        # Work in logs: probabilities as small as 1e-30 stay ordered, and a zero stays zero.
        logs = {k: math.log(p) / t for k, p in prediction.probs.items() if p > 0.0}
        top = max(logs.values())
        weights = {k: math.exp(v - top) for k, v in logs.items()}
        total = sum(weights.values())
        probs = {k: weights.get(k, 0.0) / total for k in prediction.probs}
        return EmotionPrediction(label=prediction.label, confidence=probs[prediction.label], probs=probs)

    def calibrate(
        self, texts: Sequence[str], predictions: Sequence[EmotionPrediction | None]
    ) -> list[EmotionPrediction | None]:
        """`apply` to each prediction with its text, in order; None stays None."""
        return [None if p is None else self.apply(t, p) for t, p in zip(texts, predictions, strict=True)]

    def to_json(self) -> dict[str, float | int]:
        """The parameters as the artefact stores them."""
        return {
            "a": self.a,
            "b": self.b,
            "center": self.center,
            "min_chars": self.min_chars,
            "max_chars": self.max_chars,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> LengthTemperature:
        """Parameters from the artefact's `temperature` object; ValueError when a field is missing or bad."""
        try:
            return cls(
                a=float(data["a"]),  # type: ignore[arg-type]
                b=float(data["b"]),  # type: ignore[arg-type]
                center=float(data["center"]),  # type: ignore[arg-type]
                min_chars=int(data["min_chars"]),  # type: ignore[call-overload]
                max_chars=int(data["max_chars"]),  # type: ignore[call-overload]
            )
        except (KeyError, TypeError) as e:
            raise ValueError(f"bad calibration parameters: {e}") from e


def load_calibration(path: Path) -> LengthTemperature:
    """The calibration stored at `path` (models/emotion/artifact/calibration.json)."""
    meta = json.loads(path.read_text(encoding="utf-8"))
    return LengthTemperature.from_json(meta["temperature"])
