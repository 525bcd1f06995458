"""Build the emotion classifier from the materialised e5-small base and the committed head artefact."""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path
from typing import Literal

import torch

from models.emotion.head import ARTIFACT_DIR, load_head
from models.emotion.lora import merge_adapters
from models.emotion.ngram import NGRAM_FILES, load_ngram
from models.emotion.setup import SETUP_COMMAND, ModelAssetError, check_materialized
from pipelines.emotion import PooledEncoder, TorchPooledEncoder, TransformerEmotionClassifier
from pipelines.emotion_calibration import LengthTemperature, load_calibration
from pipelines.types import EMOTION_LABELS


def quantize_encoder(encoder: torch.nn.Module) -> torch.nn.Module:
    """Dynamic int8 quantisation of every nn.Linear (weights int8, activations quantised per batch)."""
    with warnings.catch_warnings():
        # torch 2.13 flags the quantised-tensor API as deprecated (moving to torchao); it still works here.
        warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*", category=UserWarning)
        quantized: torch.nn.Module = torch.ao.quantization.quantize_dynamic(  # type: ignore[no-untyped-call]
            encoder, {torch.nn.Linear}, dtype=torch.qint8
        )
    return quantized


def load_emotion_classifier(
    model_root: Path,
    *,
    artifact_dir: Path = ARTIFACT_DIR,
    num_threads: int | None = 2,
    quantize: bool = False,
    batch_size: int = 32,
    verify_checksum: bool = True,
    run_layers: int | None = None,
    backend: Literal["onnx", "torch"] = "onnx",
    distilled: bool = False,
) -> TransformerEmotionClassifier:
    """Load tokenizer, the first k e5 layers (fp32; int8 with quantize=True), the trained head and, when the
    artefact has one, the n-gram half with its combination weight (models/emotion/ngram.py).

    quantize=True with the torch backend is torch's dynamic int8, which changes about 22 % of the served labels
    (0.04 macro-F1, benchmarks/bench_emotion.py); with the onnx backend it is ORT's per-channel int8 on the fused
    graph, the served configuration (the benchmark prints both).

    model_root is the directory `models.emotion.setup.materialize` returned (default var/models/e5-small).
    Raises ModelAssetError naming `.venv/bin/audit models setup` when it is missing or corrupt.
    num_threads is applied with torch.set_num_threads (process-wide); None leaves torch's setting alone.
    run_layers runs more encoder layers than the head reads (labels unchanged): only the benchmark's
    cost baseline uses it; by default the encoder stops at the deepest layer the head pools.
    backend "onnx" (the default, served) runs the same merged encoder as an ONNX Runtime graph exported next to
    the base model on first use (models/emotion/onnx_encoder.py), about twice as fast with the same features;
    with quantize=True that graph has int8 weights. "torch" runs it in torch eager (training, the baseline).
    distilled=True runs the committed 4-layer student (models/emotion/student.py) instead of the 8 layers: the
    same head, n-gram half and pooled-feature layout, about twice as fast; its version says `-student4-<digest>`.
    """
    import opencc
    import transformers
    from safetensors import SafetensorError
    from tokenizers import Tokenizer
    from transformers import BertModel

    model_root = Path(model_root)
    check_materialized(model_root, full_hash=verify_checksum)
    if not (artifact_dir / "head.safetensors").is_file():
        raise ModelAssetError(
            f"emotion head missing from {artifact_dir} (it is committed in git; restore it)"
        )
    head, config, _ = load_head(artifact_dir)
    if config.base_model_sha256 != _marker_sha(model_root):
        raise ModelAssetError(f"emotion head was trained on another base model; run `{SETUP_COMMAND}`")
    if tuple(config.labels) != EMOTION_LABELS:
        raise ModelAssetError(f"emotion head labels {config.labels} differ from {EMOTION_LABELS}")
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    # The skipped upper layers are reported as 'unused' otherwise, and a progress bar would go to stderr.
    transformers.logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    transformers.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    adapters = artifact_dir / "lora.safetensors"

    def torch_encoder(attention: str = "sdpa") -> torch.nn.Module:
        try:
            encoder: torch.nn.Module = BertModel.from_pretrained(
                str(model_root),
                local_files_only=True,
                add_pooling_layer=False,
                num_hidden_layers=max(run_layers or 0, config.encoder_layers),
                attn_implementation=attention,
            )
        except (OSError, ValueError) as exc:
            raise ModelAssetError(
                f"cannot load the e5-small base from {model_root} ({exc}); run `{SETUP_COMMAND}`"
            ) from exc
        encoder.eval()
        if adapters.is_file():
            merge_adapters(
                encoder, adapters
            )  # merged before quantising: serving cost is that of the plain model
        return encoder

    version = head_version(artifact_dir)
    # Which hidden states of the network run feed the head: the head's own layers, or the student's that
    # were distilled to reproduce them.
    pooled_layers, weights, build = config.layers, adapters, torch_encoder
    if distilled:
        from models.emotion.student import (
            load_student_config,
            load_student_encoder,
            student_digest,
            student_files,
        )

        student = load_student_config(artifact_dir)
        if student.base_model_sha256 != config.base_model_sha256:
            raise ModelAssetError(
                "the distilled emotion encoder was built on another base model than the head"
            )
        pooled_layers, weights = student.pooled, student_files(artifact_dir)[0]
        version = f"{version}-student{student.layers}-{student_digest(artifact_dir)}"

        def student_encoder(attention: str = "sdpa") -> torch.nn.Module:
            return load_student_encoder(model_root, student, artifact_dir, attention=attention)

        build = student_encoder

    pooled: PooledEncoder
    if backend == "onnx" and run_layers is None:
        from models.emotion.onnx_encoder import graph_path, load_graph

        target = graph_path(
            model_root,
            base_sha256=config.base_model_sha256,
            adapters=weights,
            layers=pooled_layers,
            quantized=quantize,
        )
        width = len(config.layers) * int(json.loads((model_root / "config.json").read_text())["hidden_size"])
        # The torch encoder is built only when the graph must be (re-)exported: loading it costs seconds
        # and its weights would double the memory.
        pooled = load_graph(
            target,
            width=width,
            # Eager attention: the graph ORT's attention fusion recognises (models/emotion/onnx_encoder.py).
            reference=lambda: TorchPooledEncoder(build("eager"), pooled_layers),
            quantize=quantize,
            threads=num_threads,
        )
        if quantize:  # not torch's dynamic int8: other kernels, other labels
            version = f"{version}-ort-int8"
    else:
        encoder = build()
        pooled = TorchPooledEncoder(quantize_encoder(encoder) if quantize else encoder, pooled_layers)
        if quantize:
            version = f"{version}-int8"
    try:
        lexical = load_ngram(artifact_dir)
    except (OSError, ValueError, KeyError, SafetensorError) as exc:  # JSONDecodeError is a ValueError
        raise ModelAssetError(
            f"emotion n-gram artefact in {artifact_dir} is unreadable ({exc}); it is committed in git, restore it"
        ) from exc
    if lexical is not None and tuple(lexical.config.labels) != EMOTION_LABELS:
        raise ModelAssetError(f"emotion n-gram labels {lexical.config.labels} differ from {EMOTION_LABELS}")
    return TransformerEmotionClassifier(
        tokenizer=Tokenizer.from_file(str(model_root / "tokenizer.json")),
        encoder=pooled,
        head=head,
        layers=config.layers,
        version=version,
        max_tokens=config.max_tokens,
        batch_size=batch_size,
        preprocess=opencc.OpenCC("t2s").convert,
        lexical=lexical,
        lexical_weight=lexical.config.weight if lexical is not None else 0.0,
    )


def _marker_sha(model_root: Path) -> str:
    return str(json.loads((model_root / "materialized.json").read_text())["model_sha256"])


def load_emotion_calibration(artifact_dir: Path = ARTIFACT_DIR) -> LengthTemperature:
    """The committed confidence calibration (models/emotion/train_calibration.py); ModelAssetError when the file
    is missing or unreadable."""
    path = artifact_dir / "calibration.json"
    try:
        return load_calibration(path)
    except FileNotFoundError as exc:
        raise ModelAssetError(f"emotion calibration missing: {path} (restore it from git)") from exc
    except (ValueError, KeyError, TypeError) as exc:  # json.JSONDecodeError is a ValueError
        raise ModelAssetError(f"emotion calibration unreadable: {path}: {exc}") from exc


def head_version(artifact_dir: Path = ARTIFACT_DIR, *, quantized: bool = False) -> str:
    """Version recorded with every prediction: e5s-emotion-<sha256(head[+adapters][+n-gram])[:12]>[-int8]."""
    h = hashlib.sha256()
    for name in ("head.safetensors", "lora.safetensors", *NGRAM_FILES):
        if (artifact_dir / name).is_file():
            h.update((artifact_dir / name).read_bytes())
    digest = h.hexdigest()[:12]
    return f"e5s-emotion-{digest}" + ("-int8" if quantized else "")


def ensure_emotion_graph(
    model_root: Path, *, quantize: bool, artifact_dir: Path = ARTIFACT_DIR, distilled: bool = False
) -> Path:
    """Export the served encoder's ONNX graph now if missing (`audit models setup`); returns its path."""
    clf = load_emotion_classifier(
        model_root,
        artifact_dir=artifact_dir,
        quantize=quantize,
        verify_checksum=False,
        backend="onnx",
        distilled=distilled,
    )
    path = getattr(clf.encoder, "path", None)
    if not isinstance(path, Path):
        raise ModelAssetError("the ONNX backend did not load a graph file")
    return path
