"""What machine a process computes on: the processor, the vector level and threads in force, and
the versions of the numerical libraries whose kernels decide the floats (the cost report's header).
"""

from __future__ import annotations

import platform
import re
import sys
from pathlib import Path

from pipeline import cpu_pins


def processor() -> str:
    """The processor's model name as the kernel reports it (e.g. "AMD EPYC"), else the architecture."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def vector_level() -> str | None:
    """ATen's vector level in force in this process (e.g. "AVX2"), or None if torch is not loaded:
    asking would load it, and a stage that never computes with torch has no level to report."""
    torch = sys.modules.get("torch")
    return torch.backends.cpu.get_cpu_capability() if torch is not None else None


def threads() -> int | None:
    """torch's CPU threads in this process, or None if torch is not loaded (as `vector_level`)."""
    torch = sys.modules.get("torch")
    return torch.get_num_threads() if torch is not None else None


def describe() -> dict[str, str]:
    """The machine as the cost report prints it, in a fixed order. Loads torch, numpy and threadpoolctl."""
    import numpy
    import threadpoolctl
    import torch

    config = torch.__config__.show()
    blas = [
        f"{pool.get('internal_api')} {pool.get('version')} ({pool.get('architecture')}, {pool.get('num_threads')} threads)"
        for pool in threadpoolctl.threadpool_info()
        if pool.get("user_api") == "blas"
    ]
    pins = cpu_pins.in_force()
    return {
        "processor": processor(),
        "vector level in force (ATen)": torch.backends.cpu.get_cpu_capability(),
        "torch threads": str(torch.get_num_threads()),
        "torch": torch.__version__,
        "MKL": _version(config, r"Math Kernel Library Version (\S+)"),
        "oneDNN": _version(config, r"MKL-DNN v(\S+)"),
        "numpy": numpy.__version__,
        "BLAS under numpy and scipy": "; ".join(sorted(set(blas))) or "none loaded",
        "CPU pins": (", ".join(f"{name}={value}" for name, value in pins.items()) + "; denormals flushed to zero")
        if pins else f"off ({cpu_pins.SWITCH}=off)",
    }


def _version(config: str, pattern: str) -> str:
    found = re.search(pattern, config)
    return found.group(1) if found else "not built in"
