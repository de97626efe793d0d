"""Thin Typer commands, one per DVC stage: paths, params and I/O around the `diffurec` package.

Importing this package pins the CPU libraries (`pipeline.cpu_pins`) before any of them loads:
`python -m pipeline STAGE` runs this first, so that every stage computes the same floats on every
x86-64 machine (docs/benchmarks.md says on which machines that was checked).
"""

import time

# The stage's wall clock starts here, before its imports (the cost report counts them too).
STARTED = time.perf_counter()

from pipeline import cpu_pins  # after the clock, before anything imports torch

if cpu_pins.apply():
    cpu_pins.flush_denormals()
