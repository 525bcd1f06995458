"""Held-out spoken turns posted through the API, for the tests of what a stored emotion confidence means."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from fastapi.testclient import TestClient

from models.emotion.data import is_calibration_row, load_cped
from pipelines.types import EmotionPrediction
from tests.factories.conversations import transcript, utterance


@dataclass(frozen=True)
class PostedTurns:
    """CPED turns as the service stored them, next to the model's uncalibrated predictions for the same texts."""

    gold: list[str]
    stored: list[dict[str, Any]]  # the stored utterances, in order
    raw: list[EmotionPrediction | None]

    @property
    def right(self) -> np.ndarray:
        """Whether each stored label is the gold one."""
        return np.array([u["emotion"] for u in self.stored]) == np.array(self.gold)

    @property
    def confidence(self) -> np.ndarray:
        """The stored (calibrated) confidences."""
        return np.array([u["emotion_confidence"] for u in self.stored])

    @property
    def raw_confidence(self) -> np.ndarray:
        """The model's own confidences."""
        return np.array([p.confidence if p else 0.0 for p in self.raw])


def post_held_out_cped(
    client: TestClient, auth: dict[str, dict[str, str]], sample: int, *, per_conversation: int = 60
) -> PostedTurns:
    """The first `sample` CPED held-out turns of the half the calibration was never fitted on, posted as
    customer turns of conversations of `per_conversation` turns."""
    rows = [e for i, e in enumerate(load_cped(test=True)) if not is_calibration_row(i, e.text)][:sample]
    stored: list[dict[str, Any]] = []
    for n in range(0, len(rows), per_conversation):
        turns = [utterance("customer", e.text) for e in rows[n : n + per_conversation]]
        resp = client.post("/v1/conversations", json=transcript(f"cal-{n}", turns), headers=auth["ingest"])
        assert resp.status_code == 201, resp.text
        stored.extend(resp.json()["utterances"])
    # The model's own probabilities for the same turns, as the service computed them before calibration.
    raw = client.app.state.runtime.emotion.predict([e.text for e in rows])  # type: ignore[attr-defined]
    return PostedTurns([e.label for e in rows], stored, raw)
