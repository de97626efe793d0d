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

Two kinds of computation no environment variable reaches. MKL's vector math (VML), which ATen
calls for the elementwise functions in `MKL_VECTOR_MATH`, computes other bits under each MKL
branch, and what it computes on another maker's processor is not shown to follow MKL_CBWR: no
stage computes any of them per step (constants are taken once in Python's `math`, RecBole's are
rerouted in `pipeline.recbole_compat`; tests/test_vector_math.py checks every model's step).
Denormal floats: arithmetic on them is IEEE's on every x86-64 processor but slow, and DiffuRec's
training drifts into them (docs/benchmarks.md, "Denormals"); `flush_denormals` flushes them to
zero (FTZ and DAZ), which is the same on every x86-64 processor too. The flag is per thread: set
before torch starts its thread pool, every worker inherits it.

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


# ATen's elementwise functions that call MKL's vector math on the CPU: those whose result changes
# with MKL_CBWR on an Intel Xeon (benchmarks/vector_math_probe.py; float32 or float64, 16 to 65536
# elements; docs/benchmarks.md). `x ** 0.5` is ATen's sqrt. Functions not listed (sigmoid, silu,
# GELU, softmax, log_softmax, logaddexp, expm1, log1p, xlogy, rsqrt, ...) are ATen's own kernels.
MKL_VECTOR_MATH = frozenset({
    "acos", "asin", "atan", "cos", "erf", "erfc", "erfinv", "exp", "log", "log10", "log2", "sin", "sqrt", "tan", "tanh",
})


def enabled(environ: MutableMapping[str, str] = os.environ) -> bool:
    """Whether the pins are asked for (anything but DIFFUREC_CPU_PINS=off)."""
    return environ.get(SWITCH, "on").strip().lower() != "off"


def apply(environ: MutableMapping[str, str] = os.environ) -> bool:
    """Set every pin in `environ`, overriding what the caller's shell set, unless switched off
    (`flush_denormals` is the pin no variable sets).
    Returns whether the pins are in force. In a process that has already loaded torch or numpy
    (a test session) they reach only what loads later and the child processes."""
    if not enabled(environ):
        return False
    environ.update(PINS)
    return True


def flush_denormals() -> None:
    """Flush denormal floats to zero in this thread, and so in every thread torch starts after it
    (a thread inherits its creator's floating-point mode). Loads torch: call it after `apply`."""
    import torch

    if not torch.set_flush_denormal(True):
        raise RuntimeError("this processor cannot flush denormals (no SSE3): the CPU pins need x86-64 with SSE3")


def in_force(environ: MutableMapping[str, str] = os.environ) -> dict[str, str]:
    """The pins this process runs under, as its environment holds them ({} when switched off)."""
    if not enabled(environ):
        return {}
    return {name: environ.get(name, "") for name in PINS}
