"""Which device to run on, and the mixed precision used there."""

from __future__ import annotations

import contextlib

import torch

from diffurec.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """"auto" -> CUDA when available, else CPU; "cpu" / "cuda[:N]" as given."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"params: device {name!r} asked for CUDA, but torch sees no GPU; set it to 'auto' or 'cpu'")
    return device


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA (tensor cores, no loss scaling needed); full fp32 on CPU, so CPU
    runs stay bit-for-bit repeatable."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
