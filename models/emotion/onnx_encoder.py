"""The served emotion encoder as an ONNX Runtime graph: exported once from the merged fp32 encoder, then run.

Why: the same eight layers and pooling run about twice as fast in ONNX Runtime (fused kernels, no Python per
layer) as in torch eager on our two cores, with the same features (max |difference| about 1e-6), so labels do
not move; `benchmarks/bench_emotion.py` prints both side by side. Optional int8 weights (per output channel,
dynamic activations) trade a little accuracy for more speed; the benchmark prints that trade too.

The graph is derived data, like the converted e5 checkpoint: it is written next to it
(`var/models/e5-small/emotion-encoder-<digest>[-int8].onnx`, the digest naming the base model, the adapters and the
pooled layers: the only inputs of the graph) by `audit models setup` or by the first load, and
checked against the torch encoder on export; a damaged file is rebuilt.
"""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.emotion.setup import ModelAssetError
from pipelines.emotion import TorchPooledEncoder

log = logging.getLogger(__name__)

OPSET = 17
INPUTS = ("input_ids", "attention_mask")
OUTPUT = "features"
# Export is checked on batches of these shapes (rows, tokens): a traced graph that baked one shape in fails here.
_CHECK_SHAPES = ((1, 3), (3, 17), (5, 64))
# Largest |difference| from torch accepted for the fp32 graph (observed: about 2e-6).
_FP32_TOLERANCE = 1e-3
# CPU flags of an int8 dot-product instruction ORT's quantised MatMul uses (x86 VNNI and AMX, Arm's dot product).
_INT8_DOT_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8", "asimddp"})


def has_int8_dot_product(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU has an int8 dot-product instruction: with one the int8 graph ran 1.57x the fp32 graph at
    batch 32, without one (AVX2 only) no faster (models/emotion/model_card.md). False where it cannot tell."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    flags: set[str] = set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            flags.update(line.partition(":")[2].split())
    return bool(flags & _INT8_DOT_FLAGS)


def use_int8(setting: bool | str, backend: str, *, cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """AUDIT_EMOTION_INT8 resolved: "auto" is the int8 ONNX graph where the CPU runs it faster, else fp32;
    true/false as given (true with the torch backend is torch's dynamic int8, which flips 22 % of labels)."""
    if setting == "auto":
        return backend == "onnx" and has_int8_dot_product(cpuinfo)
    return bool(setting)


class _Pooled(torch.nn.Module):
    """What is exported: encoder + mask-aware pooling, so the graph's one output is what the heads read."""

    def __init__(self, pooled: TorchPooledEncoder) -> None:
        super().__init__()
        self.pooled = pooled
        self.encoder = pooled.module  # registered, so export sees its parameters

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.pooled(input_ids, attention_mask)


def graph_path(
    model_root: Path, *, base_sha256: str, adapters: Path | None, layers: Sequence[int], quantized: bool
) -> Path:
    """Where the graph for this base model, these trained weights (the merged adapters, or the distilled
    student's layers: `adapters` is hashed whichever it is) and pooled layers lives.

    The head and the n-gram half are not in the graph, so artefacts that differ only there share it.
    """
    h = hashlib.sha256(f"{base_sha256}|{tuple(layers)}|opset{OPSET}|".encode())
    if adapters is not None and adapters.is_file():
        h.update(adapters.read_bytes())
    return Path(model_root) / f"emotion-encoder-{h.hexdigest()[:12]}{'-int8' if quantized else ''}.onnx"


def _session(path: Path, threads: int | None) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads is not None:
        opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    # Idle pool threads would otherwise spin for a while after each batch, taking a core from the request
    # handling, jieba and the database work that run between model calls.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


class OnnxPooledEncoder:
    """A `PooledEncoder` backed by an ONNX Runtime session."""

    def __init__(self, path: Path, *, width: int, threads: int | None = 2) -> None:
        self.path = Path(path)
        self.width = width
        self._session = _session(self.path, threads)

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Pooled features for one padded batch."""
        feeds = {INPUTS[0]: input_ids.numpy(), INPUTS[1]: attention_mask.numpy()}
        (features,) = self._session.run([OUTPUT], feeds)
        return torch.from_numpy(np.ascontiguousarray(features))


def _check_batches(pad_id: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(0)
    out = []
    for rows, width in _CHECK_SHAPES:
        ids = torch.randint(5, 200_000, (rows, width), generator=gen)
        mask = torch.ones((rows, width), dtype=torch.long)
        for r in range(1, rows):  # ragged rows, as length-sorted batches have
            mask[r, width - r :] = 0
            ids[r, width - r :] = pad_id
        out.append((ids, mask))
    return out


def max_difference(graph: OnnxPooledEncoder, reference: TorchPooledEncoder, pad_id: int = 1) -> float:
    """Largest |graph - torch| over the check batches (ragged, three shapes)."""
    worst = 0.0
    for ids, mask in _check_batches(pad_id):
        worst = max(worst, float((graph(ids, mask) - reference(ids, mask)).abs().max()))
    return worst


def export(
    reference: TorchPooledEncoder, target: Path, *, quantize: bool = False, threads: int | None = 2
) -> OnnxPooledEncoder:
    """Export `reference` to `target` (atomically; int8 weights with quantize=True) and return it loaded.

    The fp32 graph must match torch within _FP32_TOLERANCE on ragged batches of three shapes, or
    ModelAssetError; the int8 graph is only checked to run (its accuracy is measured by the benchmark).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    raw, fused = tmp.with_suffix(".raw"), tmp.with_suffix(".fused")
    ids, mask = _check_batches(1)[1]
    try:
        with torch.inference_mode(), warnings.catch_warnings():
            # The tracer warns about every Python-level shape test in transformers' masking code; the check
            # below on three shapes is what tells whether the graph stayed dynamic.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _Pooled(reference).eval(),
                (ids, mask),
                str(raw),
                input_names=list(INPUTS),
                output_names=[OUTPUT],
                dynamic_axes={
                    INPUTS[0]: {0: "batch", 1: "tokens"},
                    INPUTS[1]: {0: "batch", 1: "tokens"},
                    OUTPUT: {0: "batch"},
                },
                opset_version=OPSET,
                dynamo=False,  # the TorchScript exporter: no onnxscript dependency, dynamic axes as declared
            )
        _fuse(raw, fused, reference.module)
        diff = max_difference(OnnxPooledEncoder(fused, width=reference.width, threads=threads), reference)
        if diff > _FP32_TOLERANCE:
            raise ModelAssetError(f"exported emotion graph differs from torch by {diff:.2e}")
        if quantize:
            _quantize(fused, tmp)
        else:
            os.replace(fused, tmp)
        os.replace(tmp, target)
    finally:
        for leftover in (tmp, raw, fused):
            leftover.unlink(missing_ok=True)
    log.info("emotion encoder exported to %s", target)
    return OnnxPooledEncoder(target, width=reference.width, threads=threads)


def _fuse(source: Path, target: Path, module: torch.nn.Module) -> None:
    """ORT's offline BERT fusions: one Attention node per layer, SkipLayerNorm, BiasGelu, EmbedLayerNorm.

    They need the graph of eager attention (the SDPA graph is not recognised); they are what makes the graph
    faster than torch beyond ORT's own on-load optimisations, and what int8 quantises as QAttention.
    """
    from onnxruntime.transformers import optimizer

    config = getattr(module, "config", None)
    model = optimizer.optimize_model(
        str(source),
        model_type="bert",
        num_heads=int(getattr(config, "num_attention_heads", 0)),
        hidden_size=int(getattr(config, "hidden_size", 0)),
        opt_level=0,
    )
    model.save_model_to_file(str(target))


def _quantize(source: Path, target: Path) -> None:
    """int8 weights (per output channel, activations quantised per batch) on every matrix product except the
    feed-forward output projections.

    Those read GELU outputs, where e5 has its large outlier dimensions: quantising them too flipped 9 % of the
    labels and cost up to 0.014 macro-F1 (SCMED), over the 0.01 budget; without them 96.5 % of labels agree
    and no evaluation set loses (benchmarks/bench_emotion.py, model card).
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(source), load_external_data=False).graph
    ffn_out = [
        n.name
        for n in graph.node
        if n.op_type == "MatMul" and "/output/dense/" in n.name and "/attention/" not in n.name
    ]
    if not ffn_out:
        raise ModelAssetError("emotion graph: no feed-forward output projections found to keep in fp32")
    # reduce_range keeps u8 x s8 products from saturating on AVX2 without VNNI.
    quantize_dynamic(
        str(source),
        str(target),
        per_channel=True,
        reduce_range=True,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=["MatMul", "Attention"],
        nodes_to_exclude=ffn_out,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def load_graph(
    target: Path,
    *,
    width: int,
    reference: Callable[[], TorchPooledEncoder],
    quantize: bool = False,
    threads: int | None = 2,
) -> OnnxPooledEncoder:
    """The graph at `target`; exported from `reference()` first when missing or unreadable (logged)."""
    if target.is_file():
        try:
            return OnnxPooledEncoder(target, width=width, threads=threads)
        except Exception as exc:  # onnxruntime raises its own exception types for a damaged file
            log.warning("emotion graph %s unreadable (%s); exporting it again", target, exc)
    return export(reference(), target, quantize=quantize, threads=threads)
