"""Algorithm 3 (section 6.5): the seed ensemble, which averages the predicted distributions of
several reverse processes.

Algorithm 3 as printed is garbled: a loop over "random seeds" around one model, whose x_T is the
last history item diffused to step T and whose x_0 is a single f_theta(x_T, T) call. The text
around it proposes "averaging the predictions generated from different random seeds, akin to
ensemble methods", after runs over several seeds. We read the seeds as those runs ("runs", the
default): each member is one seed's trained model with its full reverse process (Algorithm 2),
from x_T ~ N(0, I) as in Algorithm 2 (with alpha_bar_T ~ 1e-6 the diffused item is that noise in
all but name). The printed loop, one model run once per random seed, is the other reading
("inference", eval.ensemble). `ensemble_members` says which models and seeds take part;
`diffurec.inference.rank_targets` averages their softmax distributions and ranks.
"""

from __future__ import annotations

from collections.abc import Sequence

READINGS = ("runs", "inference")


def ensemble_members(seeds: Sequence[int], reading: str) -> list[tuple[int, int]]:
    """Algorithm 3's members as (seed of the trained run, seed of its reverse process), one per
    seed in `seeds`: each seed's own run ("runs"), or the first seed's run every time ("inference")."""
    if reading not in READINGS:
        raise ValueError(f"unknown reading {reading!r} of Algorithm 3; choose from {list(READINGS)}")
    if not seeds:
        raise ValueError("Algorithm 3 needs at least one seed")
    # Algorithm 3, lines 1-2: one member per seed, its reverse process drawn from that seed.
    if reading == "runs":
        return [(seed, seed) for seed in seeds]
    return [(seeds[0], seed) for seed in seeds]
