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
- `ranks`: the validation ranks those weights give after the reverse process;
- for each RecBole baseline named (`--baseline`, default SASRec-CE and BERT4Rec, the two whose rank
  tables differed between makers in issue 30), the same after as many of RecBole's training steps,
  in the session the baselines stage runs it in (dropout, GELU, BPR loss and Adam patched), and
  the test ranks (every user's).

On one machine, another maker's processor can be emulated: `qemu-x86_64 -cpu EPYC-Rome
.venv/bin/python benchmarks/cpu_parity.py SPLIT --steps 2 --users 32` (Debian's `qemu-user`)
runs the same code on an emulated AMD EPYC, whose CPUID makes MKL take its AMD path, at about a
thousandth of the speed: `--steps` and `--users` shorten the probe for it. docs/benchmarks.md
("An emulated processor of the other maker") says how its output was checked against a real AMD
machine's, and benchmarks/emulated_instructions.py (with `--maps`) when the emulator's bits are the
hardware's.

It imports `pipeline` first, as every stage does, so the pins are in force (DIFFUREC_CPU_PINS=off
to compare unpinned). docs/benchmarks.md ("The CPU pins") lists what each machine printed.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import tempfile
from pathlib import Path

import pipeline  # noqa: F401  (pins the CPU libraries before torch loads, as in a stage)
import numpy as np
import torch

from common import load_config, load_data
from diffurec.dropout import dropout
from diffurec.inference import rank_targets
from diffurec.sequences import evaluation_windows, training_windows
from diffurec.train import build_model
from pipeline.files.data_tables import read_split
from pipeline.machine import describe
from pipeline.recbole_compat import recbole_session
from pipeline.recbole_runner import prepare, recbole_settings, test_ranks, write_split_inter

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


def train_and_rank(split: Path, params: Path, overrides: list[str], variant: str, steps: int = STEPS,
                   users: int = 0) -> tuple[str, str]:
    """Weights after `steps` training steps of `variant` (seed 0), and the validation ranks they give
    (the first `users` users', all with 0)."""
    config = load_config(params, overrides, "cpu")
    data = load_data(split)
    model = build_model(data.n_items, config.model, variant, 0)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.train.lr, weight_decay=config.train.weight_decay,
                                 fused=True)
    samples = training_windows(data, config.model.max_len)
    model.train()
    for step, batch in enumerate(samples.batches(config.train.batch_size, np.random.default_rng([0, 1]), "grouped")):
        if step == steps:
            break
        loss = model(batch.histories, batch.targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    weights = digest(*model.state_dict().values())
    valid = evaluation_windows(data, "valid", config.model.max_len)
    if users:
        valid = valid.subset(np.arange(min(users, len(valid))))
    ranks = rank_targets(model, valid, batch_size=config.eval.batch_size, seed=0, progress=False)
    return weights, digest(ranks)


def recbole_train_and_rank(split: Path, params: Path, overrides: list[str], name: str,
                           steps: int = STEPS) -> tuple[str, str]:
    """Weights after `steps` of RecBole's training steps of baseline `name` (seed 0, as the
    baselines stage sets it up), and every user's test rank they give."""
    from recbole.utils import get_model, get_trainer

    config = load_config(params, overrides, "cpu")
    run = config.recbole.models[name]
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        write_split_inter(read_split(split), folder / "data")
        settings = recbole_settings(run, config.model.max_len, 0, folder / "data", folder / "checkpoints")
        with recbole_session(folder / "recbole.log", name):
            prepared = prepare(run, settings)
            model = get_model(prepared.config["model"])(prepared.config, prepared.train._dataset)
            trainer = get_trainer(prepared.config["MODEL_TYPE"], prepared.config["model"])(prepared.config, model)
            model.train()
            for step, batch in enumerate(prepared.train):
                if step == steps:
                    break
                loss = model.calculate_loss(batch)
                trainer.optimizer.zero_grad()
                loss.backward()
                trainer.optimizer.step()
            weights = digest(*model.state_dict().values())
            ranks = test_ranks(model, prepared)
    return weights, digest(ranks["rank"].to_numpy())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("split", type=Path, help="a split table, e.g. data/split/ml-100k.parquet")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--variant", action="append", help="variants to train (default: baseline, v1, control)")
    parser.add_argument("--baseline", action="append",
                        help="RecBole baselines to train (default: SASRec-CE, BERT4Rec; 'none' for none)")
    parser.add_argument("-S", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a param, as `dvc exp run -S`")
    parser.add_argument("--steps", type=int, default=STEPS, help=f"training steps per model (default {STEPS})")
    parser.add_argument("--users", type=int, default=0,
                        help="rank only the first N validation users (default 0: all); with --steps, a short "
                             "probe for an emulated processor")
    parser.add_argument("--maps", type=Path,
                        help="at the end, copy this process's memory map here: with an emulator's log of "
                             "the instructions it ran, benchmarks/emulated_instructions.py names their libraries")
    args = parser.parse_args()
    for name, value in describe().items():
        print(f"{name}: {value}")
    ours, theirs = masks()
    print(f"dropout {ours}  bernoulli {theirs}")
    for variant in args.variant or ["baseline", "v1", "control"]:
        weights, ranks = train_and_rank(args.split, args.params, args.overrides, variant, args.steps, args.users)
        print(f"{variant}: training {weights}  ranks {ranks}")
    for name in args.baseline or ["SASRec-CE", "BERT4Rec"]:
        if name != "none":
            weights, ranks = recbole_train_and_rank(args.split, args.params, args.overrides, name, args.steps)
            print(f"{name}: training {weights}  ranks {ranks}")
    if args.maps:
        shutil.copyfile("/proc/self/maps", args.maps)


if __name__ == "__main__":
    main()
