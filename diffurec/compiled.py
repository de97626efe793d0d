"""torch.compile of the two hot loops' network calls: the training loss (train.compile) and one
reverse step of the denoiser (eval.compile).

Why: on a GPU a training step of ours costs about the same whatever the batch's size (12-16 ms on
an H100, docs/benchmarks.md "GPU"): the card waits on the host launching ~3,800 operators per
step, not on arithmetic. Inductor fuses the elementwise work into a few kernels and, on CUDA,
records each compiled call as one CUDA graph (its "reduce-overhead" mode), so a step becomes a
handful of launches. On the CPU there is no launch cost to save and compiling takes tens of
seconds, so "auto" compiles on CUDA only.

What is compiled, and what stays eager:
- `DiffuRec.forward` (draws, network and cross-entropy); autograd compiles its backward with it.
  Adam stays eager: on CUDA it is fused already.
- `Approximator.denoise`, called once per reverse step. The draws of lambda and of the reverse
  noise stay eager, because they come from the evaluation's own `torch.Generator`; so does the
  reverse update (a few elementwise launches per step).

The compiled path computes what the eager one does, to float rounding (tests/test_compile.py):
- Random draws: inductor's `fallback_random` makes the compiled graphs call torch's own random
  kernels in eager's order, so a seed gives the same draws compiled or not (inductor's faster
  random numbers would give a different, equally valid, run).
- Shapes: every batch keeps the width of its longest history, as in eager. Padding batches to a
  few bucket widths would change the draws whose shape includes the width (lambda, dropout
  masks), so the run would not be eager's. Instead the graphs are compiled once for symbolic
  batch sizes and widths (`dynamic=True`); torch compiles a size of 1 apart (it specializes on
  it, and on a view's offset of 0: the reverse step at t = 0), so a function has a few graphs.
  The shapes repeat: grouped batching cuts the same widths every epoch and shuffled batching
  nearly always the longest. A CUDA graph is recorded per distinct shape (at most model.max_len
  widths times the few batch sizes): the first time a shape comes it runs unrecorded, the second
  it is recorded, and from then on replayed, so from the third epoch on every step is a replay.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from diffurec.errors import ConfigError

COMPILE_SETTINGS = ("auto", "eager", "compiled")
# Graphs one compiled function may keep before torch falls back to eager for new guards: three
# variants (their networks differ) times a few specializations (sizes of 1, train and eval
# precisions) fit; torch's default of 8 would silently drop the compiled path in a process that
# trains several variants (benchmarks/device_queue.py).
RECOMPILE_LIMIT = 64


def compiles(setting: str, device: torch.device) -> bool:
    """Whether train.compile / eval.compile `setting` means torch.compile on `device`:
    "compiled" everywhere, "eager" nowhere, "auto" on CUDA only."""
    if setting not in COMPILE_SETTINGS:
        raise ConfigError(f"params: unknown compile setting {setting!r}; choose from {list(COMPILE_SETTINGS)}")
    return setting == "compiled" or (setting == "auto" and device.type == "cuda")


def compile_step(step: Callable[..., torch.Tensor], device: torch.device) -> Callable[..., torch.Tensor]:
    """`step` (a module or function whose outputs are used before its next call) compiled by
    inductor for `device`: CUDA graphs on CUDA, C++ kernels on the CPU; see the module docstring."""
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, RECOMPILE_LIMIT)
    cuda = device.type == "cuda"
    graph = torch.compile(step, dynamic=True, options={"fallback_random": True, "triton.cudagraphs": cuda})
    if not cuda:
        return graph

    def replay(*args, **kwargs):
        # Each call starts a new step of the CUDA graphs, whose outputs live in memory the next
        # replay overwrites: the callers consume a step's outputs (loss, x0_hat) before the next.
        torch.compiler.cudagraph_mark_step_begin()
        return graph(*args, **kwargs)

    return replay
