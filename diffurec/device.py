"""Which device to run on, and the precision of the network there."""

from __future__ import annotations

import contextlib

import torch

from diffurec.errors import ConfigError

PRECISIONS = ("auto", "fp32", "bf16")


def resolve_device(name: str) -> torch.device:
    """"auto" -> CUDA when available, else CPU; "cpu" / "cuda[:N]" as given."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"params: device {name!r} asked for CUDA, but torch sees no GPU; set it to 'auto' or 'cpu'")
    return device


def device_name(device: torch.device) -> str:
    """What a measured time was measured on: the GPU's name, or the CPU and torch's thread count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({torch.get_num_threads()} threads)"


def uses_bf16(device_type: str, precision: str) -> bool:
    """Whether `precision` means bf16 autocast on a device of this type ("cuda", "cpu")."""
    if precision not in PRECISIONS:
        raise ConfigError(f"params: unknown precision {precision!r}; choose from {list(PRECISIONS)}")
    return precision == "bf16" or (precision == "auto" and device_type == "cuda")


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """precision "bf16": bf16 autocast on any device (tensor cores on CUDA, no loss scaling
    needed); "fp32": full float32; "auto": bf16 on CUDA, float32 on the CPU (where bf16 is slow
    on most processors). Scores and the loss's softmax stay float32 either way."""
    if uses_bf16(device.type, precision):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
