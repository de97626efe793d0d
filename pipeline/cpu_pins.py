"""Pins every CPU library a stage uses to one vector level and one thread count, so that an AVX2 and
an AVX-512 machine compute the same floats, bit for bit.

PyTorch (ATen's own kernels, MKL, oneDNN), numpy and OpenBLAS each pick their kernels at run time
from the processor's vector level, and the kernels of different levels sum in different orders.
Each library reads its pin from the environment once, when it loads, so `apply` must run before
the first `import torch` or `import numpy` of the process: `pipeline/__init__.py` calls it, which
`python -m pipeline STAGE` imports first.

The common level is AVX2 with FMA, which every x86-64 machine this project runs on has. MKL is
the exception: it honours a pinned AVX2 branch on Intel processors only and silently runs its own
choice elsewhere, so the one branch its documentation promises alike on Intel and non-Intel
processors, COMPATIBLE (SSE2), is the pin (its cost: docs/benchmarks.md, "What the pins cost").

The thread count is part of the pin: MKL's reproducibility holds for a fixed count only, and
ATen splits large reductions by thread. GPU runs are outside the pin (cuBLAS and cuDNN are not
pinned). `DIFFUREC_CPU_PINS=off` leaves every library to its own choice; the cost report then
says so.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

SWITCH = "DIFFUREC_CPU_PINS"
# Threads of every pinned library: the 2 cores of the development and CI machines.
THREADS = "2"
PINS = {
    "ATEN_CPU_CAPABILITY": "avx2",  # ATen's vectorised kernels (softmax, LayerNorm, reductions, ...)
    "MKL_CBWR": "COMPATIBLE",  # MKL's matrix products (torch's CPU BLAS)
    "ONEDNN_MAX_CPU_ISA": "AVX2",  # oneDNN's kernels
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",  # numpy's AVX-512 loops
    "OPENBLAS_CORETYPE": "Haswell",  # OpenBLAS under numpy, scipy and scikit-learn (t-SNE)
    "OMP_NUM_THREADS": THREADS,
    "MKL_NUM_THREADS": THREADS,
    "OPENBLAS_NUM_THREADS": THREADS,
}


def enabled(environ: MutableMapping[str, str] = os.environ) -> bool:
    """Whether the pins are asked for (anything but DIFFUREC_CPU_PINS=off)."""
    return environ.get(SWITCH, "on").strip().lower() != "off"


def apply(environ: MutableMapping[str, str] = os.environ) -> bool:
    """Set every pin in `environ`, overriding what the caller's shell set, unless switched off.
    Returns whether the pins are in force. In a process that has already loaded torch or numpy
    (a test session) they reach only what loads later and the child processes."""
    if not enabled(environ):
        return False
    environ.update(PINS)
    return True


def in_force(environ: MutableMapping[str, str] = os.environ) -> dict[str, str]:
    """The pins this process runs under, as its environment holds them ({} when switched off)."""
    if not enabled(environ):
        return {}
    return {name: environ.get(name, "") for name in PINS}
