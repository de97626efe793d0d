"""Does this machine compute what another one does, under the pipeline's CPU pins? One line of
hashes to compare between machines (an AVX2 and an AVX-512 one, an Intel and an AMD one):

    python benchmarks/cpu_parity.py data/split/ml-100k.parquet

- `dropout`: a mask of `diffurec.dropout` (torch's uniform stream), the same on every processor;
- `bernoulli`: torch's own dropout mask (`bernoulli_`), which comes from MKL's random stream on
  Intel processors and from torch's elsewhere: expected to differ between makers, and the reason
  the pipeline does not use it;
- `training`: the weights of each model after a few training steps on SPLIT (default params,
  dropout on), which go through every kernel a run uses: matrix products (MKL), ATen's vectorised
  kernels, the random draws, Adam;
- `ranks`: the validation ranks those weights give after the reverse process.

It imports `pipeline` first, as every stage does, so the pins are in force (DIFFUREC_CPU_PINS=off
to compare unpinned). docs/benchmarks.md ("The CPU pins") lists what each machine printed.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import pipeline  # noqa: F401  (pins the CPU libraries before torch loads, as in a stage)
import numpy as np
import torch

from common import load_config, load_data
from diffurec.dropout import dropout
from diffurec.inference import rank_targets
from diffurec.sequences import evaluation_windows, training_windows
from diffurec.train import build_model
from pipeline.machine import describe

STEPS = 20


def digest(*arrays: torch.Tensor | np.ndarray) -> str:
    h = hashlib.md5()
    for array in arrays:
        h.update(np.ascontiguousarray(array.detach().numpy() if isinstance(array, torch.Tensor) else array).tobytes())
    return h.hexdigest()[:12]


def masks() -> tuple[str, str]:
    torch.manual_seed(0)
    ours = dropout(torch.ones(4096), 0.1)
    torch.manual_seed(0)
    theirs = torch.ones(4096).bernoulli_(0.9)
    return digest(ours), digest(theirs)


def train_and_rank(split: Path, params: Path, overrides: list[str], variant: str) -> tuple[str, str]:
    """Weights after STEPS training steps of `variant` (seed 0), and the validation ranks they give."""
    config = load_config(params, overrides, "cpu")
    data = load_data(split)
    model = build_model(data.n_items, config.model, variant, 0)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.train.lr, weight_decay=config.train.weight_decay,
                                 fused=True)
    samples = training_windows(data, config.model.max_len)
    model.train()
    for step, batch in enumerate(samples.batches(config.train.batch_size, np.random.default_rng([0, 1]), "grouped")):
        if step == STEPS:
            break
        loss = model(batch.histories, batch.targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    weights = digest(*model.state_dict().values())
    valid = evaluation_windows(data, "valid", config.model.max_len)
    ranks = rank_targets(model, valid, batch_size=config.eval.batch_size, seed=0, progress=False)
    return weights, digest(ranks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("split", type=Path, help="a split table, e.g. data/split/ml-100k.parquet")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--variant", action="append", help="variants to train (default: baseline, v1, control)")
    parser.add_argument("-S", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a param, as `dvc exp run -S`")
    args = parser.parse_args()
    for name, value in describe().items():
        print(f"{name}: {value}")
    ours, theirs = masks()
    print(f"dropout {ours}  bernoulli {theirs}")
    for variant in args.variant or ["baseline", "v1", "control"]:
        weights, ranks = train_and_rank(args.split, args.params, args.overrides, variant)
        print(f"{variant}: training {weights}  ranks {ranks}")


if __name__ == "__main__":
    main()
