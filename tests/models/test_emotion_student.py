"""The distilled 4-layer emotion encoder (issue 11 part 3) with the real committed weights: it stands in for the
8-layer encoder under the same head, keeps its labels on held-out sentences, names itself in the model version,
and refuses a damaged or missing artefact."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from evaluation.eval_emotion import jddc_neutral_questions
from models.emotion.data import load_empathetic, load_scmed, load_smp
from models.emotion.head import ARTIFACT_DIR
from models.emotion.loader import ensure_emotion_graph, load_emotion_classifier
from models.emotion.setup import DEFAULT_CACHE_DIR, ModelAssetError, materialize
from models.emotion.student import STUDENT_CONFIG, STUDENT_WEIGHTS, load_student_config
from pipelines.emotion import TransformerEmotionClassifier

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model_dir() -> Path:
    return materialize(DEFAULT_CACHE_DIR)


@pytest.fixture(scope="module")
def full(model_dir: Path) -> TransformerEmotionClassifier:
    return load_emotion_classifier(model_dir, verify_checksum=False)


@pytest.fixture(scope="module")
def student(model_dir: Path) -> TransformerEmotionClassifier:
    return load_emotion_classifier(model_dir, verify_checksum=False, distilled=True)


def held_out_rows() -> list[tuple[str, str]]:
    """Sentences neither the head nor the student saw: Weibo test posts, scmed's and empathetic's test parts."""
    rows = load_smp("usual_test_labeled")[:150] + load_scmed("test")[:150] + load_empathetic("test")[:100]
    return [(e.text, e.label) for e in rows]


class TestDistilledEncoder:
    def test_runs_four_layers_and_says_so(
        self, student: TransformerEmotionClassifier, full: TransformerEmotionClassifier
    ) -> None:
        config = load_student_config()
        assert config.layers == 4
        assert student.version.startswith(full.version + "-student4-")
        # The heads read the same feature layout: the abuse head's layer check passes with either.
        assert student.layers == full.layers
        assert student.encoder.width == full.encoder.width

    def test_reproduces_the_full_encoders_features_and_labels(
        self, student: TransformerEmotionClassifier, full: TransformerEmotionClassifier
    ) -> None:
        texts = [t for t, _ in held_out_rows()]
        fs, ff = student.features(texts), full.features(texts)
        cosine = torch.nn.functional.cosine_similarity(fs, ff)
        assert float(cosine.mean()) > 0.9, float(cosine.mean())
        same = sum(
            a.label == b.label
            for a, b in zip(student.predict(texts), full.predict(texts), strict=True)
            if a and b
        )
        # The committed student: 363 / 400 labels as the full encoder's here (mean cosine 0.948).
        assert same >= 0.8 * len(texts), same

    def test_keeps_the_full_encoders_accuracy(
        self, student: TransformerEmotionClassifier, full: TransformerEmotionClassifier
    ) -> None:
        rows = held_out_rows()
        gold = [label for _, label in rows]

        def right(clf: TransformerEmotionClassifier) -> int:
            preds = clf.predict([t for t, _ in rows])
            return sum(1 for g, p in zip(gold, preds, strict=True) if p and p.label == g)

        # Accuracy on the 400 held-out rows within 3 % of the full encoder's: the committed student gets 296
        # right, the full encoder 290 (issue 11's budget, 0.01 macro-F1 per whole set, is measured by
        # evaluation/eval_emotion.py --distilled).
        assert right(student) >= right(full) - 12

    def test_plain_customer_questions_stay_neutral(self, student: TransformerEmotionClassifier) -> None:
        questions = jddc_neutral_questions()
        labels = [p.label if p else None for p in student.predict(questions)]
        assert labels.count("neutral") >= len(questions) - 2, [
            q for q, lab in zip(questions, labels, strict=True) if lab != "neutral"
        ]

    def test_clear_sentences(self, student: TransformerEmotionClassifier) -> None:
        preds = student.predict(["你们这什么破服务，气死我了，我要投诉！", "谢谢你，问题解决了，非常满意"])
        assert [p.label if p else None for p in preds] == ["angry", "happy"]

    def test_graph_is_its_own_file_and_matches_torch(
        self, model_dir: Path, student: TransformerEmotionClassifier
    ) -> None:
        full_graph = ensure_emotion_graph(model_dir, quantize=False)
        path = ensure_emotion_graph(model_dir, quantize=False, distilled=True)
        assert path != full_graph
        assert path.is_file()
        eager = load_emotion_classifier(model_dir, verify_checksum=False, distilled=True, backend="torch")
        texts = ["我的快递到哪了", "等了一个星期还没发货，我真的很着急", "好的"]
        assert torch.allclose(student.predict_proba(texts), eager.predict_proba(texts), atol=1e-4)
        int8 = load_emotion_classifier(model_dir, verify_checksum=False, distilled=True, quantize=True)
        assert int8.version == student.version + "-ort-int8"


class TestArtefactChecks:
    def _copy(self, tmp_path: Path) -> Path:
        artifact = tmp_path / "artifact"
        shutil.copytree(ARTIFACT_DIR, artifact)
        return artifact

    def test_missing_student_is_a_clear_error(self, tmp_path: Path, model_dir: Path) -> None:
        artifact = self._copy(tmp_path)
        (artifact / STUDENT_WEIGHTS).unlink()
        with pytest.raises(ModelAssetError, match="distilled emotion encoder missing"):
            load_emotion_classifier(model_dir, artifact_dir=artifact, verify_checksum=False, distilled=True)
        # The full encoder does not need it.
        assert load_emotion_classifier(model_dir, artifact_dir=artifact, verify_checksum=False).version

    def test_weights_for_another_depth_are_refused(self, tmp_path: Path, model_dir: Path) -> None:
        artifact = self._copy(tmp_path)
        config = (artifact / STUDENT_CONFIG).read_text().replace('"layers": 4', '"layers": 3')
        (artifact / STUDENT_CONFIG).write_text(config)
        with pytest.raises(ModelAssetError, match="does not fit a 3-layer encoder"):
            load_emotion_classifier(
                model_dir, artifact_dir=artifact, verify_checksum=False, distilled=True, backend="torch"
            )

    def test_unreadable_config_is_a_clear_error(self, tmp_path: Path, model_dir: Path) -> None:
        artifact = self._copy(tmp_path)
        (artifact / STUDENT_CONFIG).write_text("{not json")
        with pytest.raises(ModelAssetError, match="config unreadable"):
            load_emotion_classifier(model_dir, artifact_dir=artifact, verify_checksum=False, distilled=True)
