"""The lexical (character n-gram) half of the emotion model: storage without pickle, and how it is served."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from models.emotion.data import LABEL_INDEX, load_smp
from models.emotion.head import ARTIFACT_DIR
from models.emotion.loader import head_version, load_emotion_classifier
from models.emotion.ngram import NGRAM_FILES, NgramConfig, load_ngram, save_ngram
from models.emotion.setup import DEFAULT_CACHE_DIR, ModelAssetError, materialize
from pipelines.types import EMOTION_LABELS


def test_stored_scorer_reproduces_the_fitted_model(tmp_path: Path) -> None:
    rows = load_smp("usual_eval_labeled")[:400]
    texts = [r.text for r in rows]
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), min_df=2, sublinear_tf=True)
    features = vectorizer.fit_transform(texts)
    model = LogisticRegression(C=3.0, max_iter=2000).fit(features, [LABEL_INDEX[r.label] for r in rows])
    save_ngram(
        tmp_path,
        vocabulary=vectorizer.get_feature_names_out().tolist(),
        idf=vectorizer.idf_,
        coef=model.coef_,
        intercept=model.intercept_,
        config=NgramConfig(ngram_range=(1, 3), weight=0.3, max_chars=512, labels=EMOTION_LABELS),
        extra={"note": "test"},
    )
    scorer = load_ngram(tmp_path)
    assert scorer is not None
    assert scorer.config.weight == 0.3
    unseen = [r.text for r in load_smp("usual_test_labeled")[:50]] + ["", "😡😡", "ABC 退款"]
    expected = np.exp(model.predict_log_proba(vectorizer.transform(unseen)))
    got = np.exp(scorer.log_proba(unseen).numpy())
    assert np.abs(expected - got).max() < 1e-3
    assert scorer.log_proba([]).shape == (0, len(EMOTION_LABELS))


def test_missing_files_mean_no_lexical_half(tmp_path: Path) -> None:
    assert load_ngram(tmp_path) is None


@pytest.fixture(scope="module")
def model_dir() -> Path:
    return materialize(DEFAULT_CACHE_DIR)


class TestServed:
    def test_served_model_combines_both_halves(self, model_dir: Path) -> None:
        clf = load_emotion_classifier(model_dir, verify_checksum=False)
        meta = json.loads((ARTIFACT_DIR / "ngram.json").read_text())
        assert clf.lexical is not None
        assert clf.lexical_weight == meta["config"]["weight"] > 0
        encoder, lexical = clf.component_log_proba(["气死我了，你们这什么破服务"])
        assert lexical is not None
        # Both halves call a plain complaint angry; the combination must too.
        assert EMOTION_LABELS[int(encoder.argmax())] == "angry"
        assert EMOTION_LABELS[int(lexical.argmax())] == "angry"
        pred = clf.predict(["气死我了，你们这什么破服务"])[0]
        assert pred is not None
        assert pred.label == "angry"

    def test_encoder_only_artifact_still_loads_with_its_own_version(
        self, model_dir: Path, tmp_path: Path
    ) -> None:
        for name in ("head.safetensors", "head.json", "lora.safetensors"):
            shutil.copy(ARTIFACT_DIR / name, tmp_path / name)
        clf = load_emotion_classifier(model_dir, artifact_dir=tmp_path, verify_checksum=False)
        assert clf.lexical is None
        assert clf.version == head_version(tmp_path)
        assert clf.version != head_version(ARTIFACT_DIR)
        assert all((ARTIFACT_DIR / name).is_file() for name in NGRAM_FILES)


class TestBrokenArtefact:
    @pytest.fixture
    def artifact(self, tmp_path: Path) -> Path:
        for name in ("head.safetensors", "head.json", "lora.safetensors", *NGRAM_FILES):
            shutil.copy(ARTIFACT_DIR / name, tmp_path / name)
        return tmp_path

    def test_half_an_ngram_artefact_refuses_to_load(self, model_dir: Path, artifact: Path) -> None:
        (artifact / "ngram_vocab.json").unlink()
        with pytest.raises(ModelAssetError, match="ngram_vocab.json"):
            load_emotion_classifier(model_dir, artifact_dir=artifact, verify_checksum=False)

    @pytest.mark.parametrize("name", NGRAM_FILES)
    def test_corrupt_file_names_what_to_do(self, model_dir: Path, artifact: Path, name: str) -> None:
        (artifact / name).write_text("not what it should be")
        with pytest.raises(ModelAssetError, match="restore it"):
            load_emotion_classifier(model_dir, artifact_dir=artifact, verify_checksum=False)
