"""Driver for the official DiffuRec code, run by tests/test_official_parity.py in a subprocess.

    cd <official>/src && python -B <this file> INPUTS OUTPUTS

It must run with the official `src/` as working directory: that code reads its data relative to
it, and its `model.py` imports `diffurec`, meaning `src/diffurec.py`, which would clash with this
project's package in the test's own interpreter. It only reads `src/` (no bytecode, no logs).

It builds the official `Att_Diffuse_model` with the official defaults, seeded, and runs it in
eval mode on the histories in INPUTS, with every random draw replaced by the draws INPUTS holds
(the official code draws through torch.randn_like, torch.normal and its schedule sampler, which
are patched here), so that another implementation fed the same draws must give the same numbers.
Cases, each the training path (x0_hat, its scores, the loss): "plain" (eval mode; it also runs
one reverse pass), "half_dropout" (every dropout that eval mode hides, except the one on
attention probabilities, becomes x -> 0.5 x, so where each one sits shows) and "small_embedding"
(item table scaled by INPUTS' factor, so the LayerNorm epsilon shows). OUTPUTS (torch.save) holds
the fresh state_dict, each case's state_dict and results, and the official metrics (mean of batch
means) of the plain scores with each target moved to a scripted rank.
"""

from __future__ import annotations

import argparse
import copy
import os
import pickle
import random
import sys
from pathlib import Path

# The official modules, not the project's, must answer `import diffurec`.
sys.path[0] = os.getcwd()

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import diffurec as official_diffurec  # noqa: E402
from model import Att_Diffuse_model, create_model_diffu  # noqa: E402
from trainer import hrs_and_ndcgs_k  # noqa: E402

if Path(official_diffurec.__file__).resolve().parent != Path.cwd().resolve():
    raise SystemExit(f"imported {official_diffurec.__file__}, not the official src/diffurec.py")


def official_args(item_num: int) -> argparse.Namespace:
    """The defaults of the official main.py's parser that the model reads."""
    return argparse.Namespace(
        hidden_size=128,
        num_blocks=4,
        dropout=0.1,
        emb_dropout=0.3,
        max_len=50,
        diffusion_steps=32,
        noise_schedule="trunc_lin",
        lambda_uncertainty=0.001,
        rescale_timesteps=True,
        schedule_sampler_name="lossaware",
        item_num=item_num,
    )


class Script:
    """Hands out pre-made draws in order; any draw of another shape, or one too many, is an error:
    the official code is the reference, so a draw this driver did not plan for is its own bug."""

    def __init__(self, name: str, draws: list[torch.Tensor]):
        self.name = name
        self.draws = list(draws)

    def take(self, shape: tuple[int, ...]) -> torch.Tensor:
        if not self.draws:
            raise RuntimeError(f"official code drew one more {self.name} of shape {shape} than scripted")
        draw = self.draws.pop(0)
        if tuple(draw.shape) != tuple(shape):
            raise RuntimeError(f"official {self.name} draw has shape {tuple(shape)}, scripted {tuple(draw.shape)}")
        return draw.clone()

    def finish(self) -> None:
        if self.draws:
            raise RuntimeError(f"official code left {len(self.draws)} scripted {self.name} draws unused")


class Scripted:
    """Patches the official code's three sources of randomness for one pass."""

    def __init__(self, model: Att_Diffuse_model, gaussians: list[torch.Tensor], lambdas: list[torch.Tensor],
                 steps: torch.Tensor | None, lambda_delta: float):
        self.model = model
        self.gaussians = Script("randn_like", gaussians)
        self.lambdas = Script("normal", lambdas)
        self.steps = steps
        self.lambda_delta = lambda_delta

    def __enter__(self) -> Scripted:
        self.saved = (torch.randn_like, torch.normal)
        gaussians, lambdas, delta = self.gaussians, self.lambdas, self.lambda_delta

        def randn_like(reference: torch.Tensor, **_: object) -> torch.Tensor:
            return gaussians.take(tuple(reference.shape)).to(reference.dtype)

        def normal(mean: torch.Tensor, std: torch.Tensor, **_: object) -> torch.Tensor:
            # Only the lambda ~ N(delta, delta) draw uses torch.normal; check it is that one.
            if not (torch.all(mean == delta) and torch.all(std == delta)):
                raise RuntimeError("official torch.normal called with another mean/std than lambda's")
            return lambdas.take(tuple(mean.shape))

        torch.randn_like, torch.normal = randn_like, normal
        sampler = self.model.diffu.schedule_sampler
        steps = self.steps

        def sample(batch_size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
            if steps is None or batch_size != steps.shape[0]:
                raise RuntimeError(f"unscripted schedule-sampler draw of {batch_size} steps")
            return steps.clone().to(device), torch.ones(batch_size, device=device)

        sampler.sample = sample
        return self

    def __exit__(self, *exc: object) -> None:
        torch.randn_like, torch.normal = self.saved
        del self.model.diffu.schedule_sampler.sample
        if exc[0] is None:
            self.gaussians.finish()
            self.lambdas.finish()


class HalfScale(nn.Module):
    """Stands in for a dropout: a deterministic 0.5 x, so a misplaced dropout site changes outputs."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * x


def halve_dropouts(model: nn.Module) -> list[str]:
    """Replaces every nn.Dropout except those on attention probabilities (the reimplementation
    applies that one inside scaled_dot_product_attention, which eval mode switches off)."""
    replaced = []
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.Dropout) and type(module).__name__ != "MultiHeadedAttention":
                setattr(module, child_name, HalfScale())
                replaced.append(f"{name}.{child_name}" if name else child_name)
    return replaced


@torch.no_grad()
def run_case(model: Att_Diffuse_model, inputs: dict, reverse: bool) -> dict:
    """Eval-mode training path over every user; with `reverse`, one reverse pass over the first
    inputs["reverse_users"] users (32 network passes: the test keeps it small)."""
    history, target = inputs["history"], inputs["target"]
    labels = target[:, None]
    delta = 0.001
    model.eval()
    train = inputs["train"]
    with Scripted(model, [train["noise"]], [train["lambda"]], train["t"], delta):
        _, x0_hat, _, t, _, _ = model(history, labels, train_flag=True)
        loss = model.loss_diffu_ce(x0_hat, labels)
    if not torch.equal(t, train["t"]):
        raise RuntimeError("official training pass did not use the scripted steps")
    results = {"x0_hat": x0_hat, "scores": model.diffu_rep_pre(x0_hat), "loss": loss}
    if reverse:
        chain = inputs["reverse"]
        users = inputs["reverse_users"]
        # The official p_sample draws noise at t = 0 too and multiplies it by 0; zeros stand in.
        noises = [chain["x_T"], *chain["noise"], torch.zeros_like(chain["x_T"])]
        with Scripted(model, noises, list(chain["lambda"]), None, delta):
            _, x0, _, _, _, _ = model(history[:users], labels[:users], train_flag=False)
        results.update(reverse_x0=x0, reverse_scores=model.diffu_rep_pre(x0))
    return results


def official_metrics(scores: torch.Tensor, target: torch.Tensor, batch_size: int, ks: list[int]) -> dict:
    """The official test loop's averaging: hrs_and_ndcgs_k per batch, then the mean of batch means."""
    per_batch: dict[str, list[float]] = {}
    for start in range(0, scores.shape[0], batch_size):
        batch = hrs_and_ndcgs_k(scores[start : start + batch_size], target[start : start + batch_size, None], ks)
        for key, value in batch.items():
            per_batch.setdefault(key, []).append(value)
    return {key: float(np.mean(values)) for key, values in per_batch.items()}


def main() -> None:
    inputs_path, outputs_path = sys.argv[1], sys.argv[2]
    inputs = torch.load(inputs_path)
    with open("../datasets/data/amazon_beauty/dataset.pkl", "rb") as handle:
        item_num = len(pickle.load(handle)["smap"])
    seed = inputs["seed"]
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    model = Att_Diffuse_model(create_model_diffu(official_args(item_num)), official_args(item_num))
    outputs: dict = {"item_num": item_num, "fresh_state": copy.deepcopy(model.state_dict()), "cases": {}}

    outputs["cases"]["plain"] = run_case(model, inputs, reverse=True)
    outputs["cases"]["plain"]["state"] = model.state_dict()

    halved = copy.deepcopy(model)
    outputs["halved_dropouts"] = halve_dropouts(halved)
    outputs["cases"]["half_dropout"] = run_case(halved, inputs, reverse=False)
    outputs["cases"]["half_dropout"]["state"] = halved.state_dict()

    small = copy.deepcopy(model)
    with torch.no_grad():
        small.item_embeddings.weight.mul_(inputs["embedding_scale"])
    outputs["cases"]["small_embedding"] = run_case(small, inputs, reverse=False)
    outputs["cases"]["small_embedding"]["state"] = small.state_dict()

    # Metric scores: the plain training path's scores with the padding row moved to the top for
    # every other user (so whether it is ranked matters), then each target's score moved to just
    # above the row's value of rank r (inputs' "metric_rank"), so ranks spread over 1..k and beyond.
    scores = outputs["cases"]["plain"]["scores"].clone()
    scores[::2, 0] = scores[::2].max(dim=1).values + 1.0
    ordered = scores.sort(dim=1, descending=True).values
    rank = inputs["metric_rank"]
    rows = torch.arange(scores.shape[0])
    above = torch.where(rank > 0, ordered[rows, (rank - 1).clamp(min=0)], ordered[:, 0] + 1.0)
    scores[rows, inputs["target"]] = 0.5 * (above + ordered[rows, rank])
    outputs["metric_scores"] = scores
    outputs["metrics"] = official_metrics(scores, inputs["target"], inputs["metric_batch"], inputs["ks"])
    torch.save(outputs, outputs_path)


if __name__ == "__main__":
    main()
