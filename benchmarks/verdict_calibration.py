"""Is the verdict calibrated? Simulates per-user test ranks whose truth is known, at the default
run's size (943 test users of ml-100k), runs the verdict's own decision (diffurec.report.verdict:
the comparison's estimate at its family's level, then `Verdict.status`) on each simulated run, and
counts what it decides:

    python benchmarks/verdict_calibration.py            # a few hundred runs per setting, ~2 minutes
    python benchmarks/verdict_calibration.py --runs 50  # quicker

A simulated run is C1's family on one dataset: V1 and V2 each against DiffuRec, m = 2, NDCG@10 per
user. A user's log rank is a user effect (how hard the user is), plus each model-seed's own effect
(training variance), plus noise per (model, seed, user); a model better by `shift` has its log ranks
lowered by the amount that raises the expected NDCG@10 by `shift` (found by bisection on a large
sample). Under the null (shift 0) the three models are exchangeable, and a status of supported or
contradicted for either comparison is a wrong decision of the family: its rate must stay at or
below alpha. Under a shift, the rate of `supported` is the power. The simulation's own numbers (mean
NDCG@10, the spread of a model's mean over seeds) are printed beside, to compare with the default
run's (reports/table3_performance.md). docs/benchmarks.md ("The verdict's calibration") has the
results.
"""

from __future__ import annotations

import argparse

import numpy as np

from diffurec.config import VerdictConfig
from diffurec.metrics import ndcg
from diffurec.report.verdict import CONTRADICTED, HIGHER, SUPPORTED, Sample, Test, Verdict

USERS = 943
ITEMS = 1682
# The generative model's scales (log ranks): chosen so that a model's mean NDCG@10 is near the
# default run's DiffuRec (about 0.06) and its spread over seeds near the default run's.
USER_MEAN, USER_SD = 4.6, 1.6
SEED_SD = 0.06
NOISE_SD = 1.0
FAMILY = 2
SETTINGS = VerdictConfig()


def simulate_ranks(rng: np.random.Generator, user_effects: np.ndarray, seeds: int, lowered: float) -> np.ndarray:
    """One model's ranks [seeds, users]: log rank = user effect - lowered + seed effect + noise."""
    log_ranks = (user_effects[None, :] - lowered + rng.normal(0.0, SEED_SD, (seeds, 1))
                 + rng.normal(0.0, NOISE_SD, (seeds, user_effects.size)))
    return np.clip(np.rint(np.exp(log_ranks)), 1, ITEMS).astype(np.int64)


def expected_ndcg(lowered: float, users: int = 200_000) -> float:
    """E[NDCG@10] of a model whose log ranks are lowered by `lowered`, from one large fixed sample."""
    rng = np.random.default_rng(12345)
    effects = rng.normal(USER_MEAN, USER_SD, users)
    return float(ndcg(simulate_ranks(rng, effects, 1, lowered), 10).mean())


def lowering_for(shift: float) -> float:
    """The log-rank lowering that raises E[NDCG@10] by `shift` (bisection)."""
    if shift == 0.0:
        return 0.0
    target, low, high = expected_ndcg(0.0) + shift, 0.0, 3.0
    for _ in range(40):
        middle = (low + high) / 2.0
        low, high = (middle, high) if expected_ndcg(middle) < target else (low, middle)
    return (low + high) / 2.0


def simulate_rates(seeds: int, shift: float, runs: int, seed: int) -> dict[str, float]:
    """Over `runs` simulated runs of C1's family: the rate of families with a wrong decision
    (`wrong`: any supported or contradicted under the null, any contradicted under a shift), of
    comparisons `supported`, and the simulation's mean NDCG@10 and its spread over seeds."""
    rng = np.random.default_rng([seed, seeds, runs])
    lowered = lowering_for(shift)
    verdict = Verdict((), {}, SETTINGS)
    wrong = supported = 0
    means, spreads = [], []
    for _ in range(runs):
        effects = rng.normal(USER_MEAN, USER_SD, USERS)
        reference = ndcg(simulate_ranks(rng, effects, seeds, 0.0), 10)
        means.append(reference.mean())
        spreads.append(reference.mean(axis=1).std(ddof=1) if seeds > 1 else 0.0)
        statuses = []
        for _ in range(FAMILY):
            compared = ndcg(simulate_ranks(rng, effects, seeds, lowered), 10)
            sample = Sample(compared - reference)
            test = Test("NDCG@10", HIGHER, sample=sample, smallest=SETTINGS.smallest_effect * float(reference.mean()),
                        estimate=sample.estimate(1.0 - SETTINGS.alpha / FAMILY, SETTINGS))
            statuses.append(verdict.status(test))
        decided = {SUPPORTED, CONTRADICTED} if shift == 0.0 else {CONTRADICTED}
        wrong += any(status in decided for status in statuses)
        supported += sum(status == SUPPORTED for status in statuses)
    return {
        "wrong": wrong / runs,
        "supported": supported / (runs * FAMILY),
        "mean_ndcg": float(np.mean(means)),
        "seed_spread": float(np.mean(spreads)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=300, help="simulated runs per setting")
    parser.add_argument("--seeds", type=int, nargs="+", default=[2, 3, 5])
    parser.add_argument("--shifts", type=float, nargs="+", default=[0.0, 0.0075, 0.015],
                        help="true NDCG@10 gains (0.015: the paper's 1.5 points)")
    args = parser.parse_args()
    print(f"C1's family (m = {FAMILY}), {USERS} users, alpha {SETTINGS.alpha}, {args.runs} simulated runs each")
    print("seeds\tshift (pp)\twrong decisions (families)\tsupported (comparisons)\tmean NDCG@10\tseed spread")
    for seeds in args.seeds:
        for shift in args.shifts:
            rates = simulate_rates(seeds, shift, args.runs, seed=0)
            print(f"{seeds}\t{100 * shift:.2f}\t{rates['wrong']:.3f}\t{rates['supported']:.3f}\t"
                  f"{rates['mean_ndcg']:.4f}\t{rates['seed_spread']:.4f}")


if __name__ == "__main__":
    main()
