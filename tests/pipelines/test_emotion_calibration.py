"""The confidence calibration: labels never change, short turns are softened more, the artefact loads."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from models.emotion.loader import load_emotion_calibration
from models.emotion.setup import ModelAssetError
from pipelines.emotion_calibration import LengthTemperature
from pipelines.types import EMOTION_LABELS, EmotionPrediction

PROBS = {"neutral": 0.02, "happy": 0.01, "angry": 0.9, "sad": 0.04, "anxious": 0.02, "surprised": 0.01}
ANGRY = EmotionPrediction(label="angry", confidence=0.9, probs=PROBS)


def test_label_stays_and_short_turns_are_softened_more() -> None:
    cal = LengthTemperature(a=0.3, b=-0.16)
    short, long = (
        cal.apply("气死了", ANGRY),
        cal.apply("你们这是什么态度，一个星期了还不退款，太气人了！", ANGRY),
    )
    assert short.label == long.label == "angry"
    assert short.confidence < long.confidence < 0.9
    for p in (short, long):
        assert p.confidence == p.probs["angry"] == max(p.probs.values())
        assert math.isclose(sum(p.probs.values()), 1.0, abs_tol=1e-9)
        assert list(p.probs) == list(PROBS)
    # The order of the other labels is the model's: temperature only rescales.
    assert sorted(PROBS, key=PROBS.__getitem__) == sorted(short.probs, key=short.probs.__getitem__)


def test_length_is_clamped_and_identity_at_t1() -> None:
    cal = LengthTemperature(a=0.3, b=-0.16, min_chars=2, max_chars=64)
    assert cal.temperature("好") == cal.temperature("好的")
    assert cal.temperature("啊" * 64) == cal.temperature("啊" * 500)
    same = LengthTemperature(a=0.0, b=0.0).apply("好的", ANGRY)
    assert all(math.isclose(same.probs[k], v) for k, v in PROBS.items())


def test_zero_probability_and_none_are_kept() -> None:
    pred = EmotionPrediction(label="angry", confidence=0.7, probs={**PROBS, "angry": 0.7, "happy": 0.0})
    out = LengthTemperature(a=0.3, b=-0.16).calibrate(["气死了", "", "好"], [pred, None, pred])
    assert out[1] is None
    assert out[0] is not None
    assert out[0].probs["happy"] == 0.0


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="must be finite"):
        LengthTemperature(a=float("nan"), b=0.0)
    with pytest.raises(ValueError, match="min_chars"):
        LengthTemperature(a=0.0, b=0.0, min_chars=10, max_chars=5)


def test_committed_artefact_softens_spoken_turns(tmp_path: Path) -> None:
    cal = load_emotion_calibration()
    assert (
        cal.temperature("好的") > cal.temperature("这个订单到现在都没有发货，你们到底什么时候给我处理") > 1.0
    )
    assert set(EMOTION_LABELS) == set(PROBS)
    (tmp_path / "calibration.json").write_text(json.dumps({"temperature": {"a": 1}}))
    with pytest.raises(ModelAssetError, match="unreadable"):
        load_emotion_calibration(tmp_path / ".")
    with pytest.raises(ModelAssetError, match="missing"):
        load_emotion_calibration(tmp_path / "absent")
