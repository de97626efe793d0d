"""Dropout whose masks on the CPU are the same on every x86-64 processor for the same seed.

torch's own CPU dropout draws its mask with `bernoulli_`, which takes MKL's random stream on Intel
processors and torch's Mersenne Twister on all others: the same seed gives other masks, hence other
weights and other results, on an Intel and an AMD machine, whatever the vector level. Here the mask
is `uniform >= p` from torch's generator (`torch.rand`), which is the same stream on every
processor; kept elements are scaled by 1 / (1 - p) as in torch's. The distribution is torch's
(each element dropped with probability p, up to the 2^-24 resolution of a float32 uniform); only
the draws differ from torch's. On a GPU torch's fused dropout is used: GPU runs are outside the
byte-identity promise (README), and it is faster there.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# torch's own, bound once: pipeline.recbole_compat puts `dropout` in its place for RecBole's models.
_TORCH_DROPOUT = F.dropout


def dropout(x: torch.Tensor, p: float, training: bool = True, inplace: bool = False) -> torch.Tensor:
    """`torch.nn.functional.dropout`'s signature and semantics, with the processor-independent mask on the CPU."""
    if not training or p == 0.0 or x.device.type != "cpu":
        return _TORCH_DROPOUT(x, p, training, inplace)
    if p == 1.0:
        return x.mul_(0.0) if inplace else torch.zeros_like(x)
    # In place, one buffer: uniform -> 1.0 where kept, 0.0 where dropped -> the kept elements' scale.
    scale = torch.rand(x.shape, dtype=torch.float32).ge_(p).mul_(1.0 / (1.0 - p)).to(x.dtype)
    return x.mul_(scale) if inplace else x * scale


class Dropout(nn.Dropout):
    """nn.Dropout with `dropout`'s mask (an nn.Dropout still, for code that looks for dropout sites)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training, self.inplace)
