"""Which of torch's CPU elementwise functions go through MKL's vector math (VML)? VML's result
changes with MKL's branch (MKL_CBWR), ATen's own kernels' does not; so each function is computed
on the same inputs in one child process per branch, everything else pinned as in a stage, and a
function whose output hash differs between branches is VML's:

    python benchmarks/vector_math_probe.py

Prints one line per function and dtype: `VML` with the sizes at which the branches differed, or
`ATen`. A function that agrees at every size may still call VML (whose branches can agree on
these inputs); pipeline/cpu_pins.py's MKL_VECTOR_MATH lists the ones measured as VML's.
docs/benchmarks.md ("The CPU pins") records what an Intel machine printed.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

BRANCHES = ("COMPATIBLE", "AVX2", "AUTO")
SIZES = (16, 256, 65536)
FUNCTIONS = (
    "abs acos asin atan cos cosh erf erfc erfinv exp exp2 expm1 log log10 log1p log2 reciprocal rsqrt "
    "sigmoid sin sinh sqrt tan tanh trunc"
).split()
# Functions of more than one argument, or under another name, as expressions of x.
EXPRESSIONS = {
    "pow 0.5": "x ** 0.5",
    "pow 2": "x ** 2",
    "silu": "torch.nn.functional.silu(x)",
    "gelu": "torch.nn.functional.gelu(x)",
    "softmax": "torch.softmax(x.view(-1, 16), 1)",
    "log_softmax": "torch.log_softmax(x.view(-1, 16), 1)",
    "logaddexp": "torch.logaddexp(x, x.flip(0))",
    "xlogy": "torch.special.xlogy(1.0, x)",
}


def child() -> None:
    """Hashes of every function's output under this process's MKL branch, as JSON."""
    import torch

    hashes = {}
    inputs = torch.Generator().manual_seed(0)
    for dtype in (torch.float32, torch.float64):
        for size in SIZES:
            # In (0.01, 0.99): inside every function's domain (acos, erfinv, log, ...).
            x = torch.rand(size, generator=inputs, dtype=dtype) * 0.98 + 0.01
            for name in FUNCTIONS:
                hashes[f"{name} {dtype} {size}"] = _digest(getattr(torch, name)(x))
            for name, expression in EXPRESSIONS.items():
                hashes[f"{name} {dtype} {size}"] = _digest(eval(expression, {"torch": torch, "x": x}))
    print(json.dumps(hashes))


def _digest(tensor) -> str:
    return hashlib.md5(tensor.contiguous().numpy().tobytes()).hexdigest()


def main() -> None:
    import pipeline.cpu_pins as cpu_pins

    runs = {}
    for branch in BRANCHES:
        environment = {**os.environ, **cpu_pins.PINS, "MKL_CBWR": branch}
        done = subprocess.run([sys.executable, __file__, "--child"], env=environment, capture_output=True, text=True,
                              check=True)
        runs[branch] = json.loads(done.stdout)
    differing: dict[str, list[str]] = {}
    for key in runs[BRANCHES[0]]:
        function, dtype, size = key.rsplit(" ", 2)
        entry = differing.setdefault(f"{function} ({dtype.removeprefix('torch.')})", [])
        if len({runs[branch][key] for branch in BRANCHES}) > 1:
            entry.append(size)
    for name, sizes in differing.items():
        print(f"{name}\t{'VML (differs at ' + ', '.join(sizes) + ')' if sizes else 'ATen'}")


if __name__ == "__main__":
    child() if sys.argv[1:] == ["--child"] else main()
