"""The emotion encoder's ONNX Runtime graph: exported, fused and checked on a tiny seeded BERT (fast), rebuilt
when damaged, and the served model's graph giving torch's probabilities on real sentences."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from pydantic import ValidationError
from transformers import BertConfig, BertModel

from app.settings import Settings
from models.emotion.loader import ensure_emotion_graph, load_emotion_classifier
from models.emotion.onnx_encoder import OnnxPooledEncoder, export, load_graph, max_difference, use_int8
from models.emotion.setup import DEFAULT_CACHE_DIR, materialize
from pipelines.emotion import TorchPooledEncoder

LAYERS = (1, 2)


def tiny_reference() -> TorchPooledEncoder:
    """A seeded 2-layer BERT with the e5 vocabulary size, eager attention as the exporter expects."""
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=250037,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        attn_implementation="eager",
    )
    return TorchPooledEncoder(BertModel(cfg, add_pooling_layer=False), LAYERS)


@pytest.fixture(scope="module")
def reference() -> TorchPooledEncoder:
    return tiny_reference()


def ragged_batch() -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.tensor([[0, 40, 50, 60, 2], [0, 70, 2, 1, 1]])
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    return ids, mask


class TestExport:
    def test_graph_gives_the_torch_features(self, tmp_path: Path, reference: TorchPooledEncoder) -> None:
        graph = export(reference, tmp_path / "enc.onnx")
        assert graph.width == 2 * 16
        assert max_difference(graph, reference) < 1e-4
        ids, mask = ragged_batch()
        out = graph(ids, mask)
        assert out.shape == (2, 32)
        assert torch.allclose(out, reference(ids, mask), atol=1e-4)
        # A padded row pools its real tokens only: the same text alone gives the same features.
        alone = graph(ids[1:, :3], mask[1:, :3])
        assert torch.allclose(out[1:], alone, atol=1e-4)

    def test_int8_graph_runs_close_to_fp32(self, tmp_path: Path, reference: TorchPooledEncoder) -> None:
        graph = export(reference, tmp_path / "enc-int8.onnx", quantize=True)
        ids, mask = ragged_batch()
        out = graph(ids, mask)
        ref = reference(ids, mask)
        assert out.shape == ref.shape
        # int8 weights move features a little, not wholesale (cosine per row).
        assert float(torch.nn.functional.cosine_similarity(out, ref).min()) > 0.95

    def test_damaged_graph_is_exported_again(self, tmp_path: Path, reference: TorchPooledEncoder) -> None:
        target = tmp_path / "enc.onnx"
        target.write_bytes(b"not an onnx graph")
        graph = load_graph(target, width=32, reference=lambda: reference)
        assert max_difference(graph, reference) < 1e-4
        assert target.stat().st_size > 1000
        assert not list(tmp_path.glob(".*.tmp*"))  # no half-written leftovers

    def test_present_graph_is_loaded_without_the_reference(
        self, tmp_path: Path, reference: TorchPooledEncoder
    ) -> None:
        export(reference, tmp_path / "enc.onnx")

        def must_not_build() -> TorchPooledEncoder:
            raise AssertionError("the torch encoder was built although the graph exists")

        graph = load_graph(tmp_path / "enc.onnx", width=32, reference=must_not_build)
        assert isinstance(graph, OnnxPooledEncoder)


@pytest.mark.slow
class TestServedGraph:
    TEXTS = (
        "你们这什么破服务，气死我了，我要投诉！",
        "谢谢你，问题解决了，非常满意",
        "我的快递到哪了",
        "等了一个星期还没发货，我真的很着急",
        "好的",
    )

    def test_graph_matches_torch_on_real_sentences(self) -> None:
        root = materialize(DEFAULT_CACHE_DIR)
        onnx = load_emotion_classifier(root, verify_checksum=False)
        eager = load_emotion_classifier(root, verify_checksum=False, backend="torch")
        assert onnx.version == eager.version  # same features, same labels: same model version
        assert torch.allclose(onnx.predict_proba(self.TEXTS), eager.predict_proba(self.TEXTS), atol=1e-4)

    def test_int8_graph_keeps_clear_labels_and_names_itself(self) -> None:
        root = materialize(DEFAULT_CACHE_DIR)
        path = ensure_emotion_graph(root, quantize=True)
        assert path.name.endswith("-int8.onnx")
        int8 = load_emotion_classifier(root, verify_checksum=False, quantize=True)
        assert int8.version.endswith("-ort-int8")
        labels = [p.label if p else None for p in int8.predict(list(self.TEXTS[:2]))]
        assert labels == ["angry", "happy"]


class TestInt8Choice:
    """AUDIT_EMOTION_INT8=auto (the default) serves the int8 graph only where the CPU runs it faster."""

    def test_auto_follows_the_cpu(self, tmp_path: Path) -> None:
        cpus = {
            "vnni": "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni\n",
            "arm": "processor\t: 0\nFeatures\t: fp asimd asimddp\n",
            "avx2": "processor\t: 0\nflags\t\t: fpu sse2 avx2 fma\n",
        }
        for name, text in cpus.items():
            (tmp_path / name).write_text(text)
        assert use_int8("auto", "onnx", cpuinfo=tmp_path / "vnni") is True
        assert use_int8("auto", "onnx", cpuinfo=tmp_path / "arm") is True
        assert use_int8("auto", "onnx", cpuinfo=tmp_path / "avx2") is False
        assert use_int8("auto", "onnx", cpuinfo=tmp_path / "missing") is False
        # torch's own dynamic int8 flips 22 % of labels: never chosen for it.
        assert use_int8("auto", "torch", cpuinfo=tmp_path / "vnni") is False
        assert use_int8(True, "onnx", cpuinfo=tmp_path / "avx2") is True
        assert use_int8(False, "onnx", cpuinfo=tmp_path / "vnni") is False

    def test_setting_accepts_auto_true_false(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for value, parsed in (("auto", "auto"), ("true", True), ("false", False), ("1", True)):
            monkeypatch.setenv("AUDIT_EMOTION_INT8", value)
            assert Settings().emotion_int8 == parsed
        monkeypatch.setenv("AUDIT_EMOTION_INT8", "sometimes")
        with pytest.raises(ValidationError, match="emotion_int8"):
            Settings()
