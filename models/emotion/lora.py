"""Low-rank adapters on the top e5 layers: trained by train_lora, merged into the weights at load time."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

# Linear layers of a BertLayer that get an adapter (attention projections and the feed-forward pair).
TARGETS = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
)


class LoRALinear(nn.Module):
    """y = base(x) + (alpha/r) * x A^T B^T, with the base weight frozen and B starting at zero."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float) -> None:
        super().__init__()
        self.base = base
        self.scale = alpha / rank
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Base projection plus the low-rank update."""
        out: torch.Tensor = self.base(x) + (x @ self.lora_a.T @ self.lora_b.T) * self.scale
        return out


def _get(module: nn.Module, dotted: str) -> nn.Module:
    for part in dotted.split("."):
        module = getattr(module, part)
    return module


def _set(module: nn.Module, dotted: str, value: nn.Module) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        module = getattr(module, part)
    setattr(module, last, value)


def add_adapters(encoder: nn.Module, layers: range, *, rank: int, alpha: float) -> list[nn.Parameter]:
    """Wrap the TARGETS of encoder.encoder.layer[i] for i in layers; return the new trainable parameters."""
    params: list[nn.Parameter] = []
    for i in layers:
        for target in TARGETS:
            name = f"encoder.layer.{i}.{target}"
            base = _get(encoder, name)
            assert isinstance(base, nn.Linear)
            wrapped = LoRALinear(base, rank, alpha)
            _set(encoder, name, wrapped)
            params += [wrapped.lora_a, wrapped.lora_b]
    return params


def adapter_state(encoder: nn.Module) -> dict[str, torch.Tensor]:
    """The adapters as a flat dict: '<linear name>.lora_a' / '.lora_b', plus '<name>.scale' as a 0-d tensor."""
    out: dict[str, torch.Tensor] = {}
    for name, module in encoder.named_modules():
        if isinstance(module, LoRALinear):
            out[f"{name}.lora_a"] = module.lora_a.detach().clone().contiguous()
            out[f"{name}.lora_b"] = module.lora_b.detach().clone().contiguous()
            out[f"{name}.scale"] = torch.tensor(module.scale)
    return out


def merge_adapters(encoder: nn.Module, path: Path) -> int:
    """Add B·A·scale from an adapter file into the plain nn.Linear weights; return how many were merged."""
    from safetensors.torch import load_file

    state = load_file(str(path))
    names = sorted({k.rsplit(".", 1)[0] for k in state})
    with torch.no_grad():
        for name in names:
            linear = _get(encoder, name)
            if not isinstance(linear, nn.Linear):
                raise ValueError(f"adapter target {name} is not a Linear layer")
            delta = state[f"{name}.lora_b"] @ state[f"{name}.lora_a"] * float(state[f"{name}.scale"])
            linear.weight += delta
    return len(names)
