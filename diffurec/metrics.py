"""Full-ranking metrics with one relevant item per user, kept per user for significance tests.

Tie rule: the target loses every tie. Its rank is 1 + (real items scoring above it) + (other
real items scoring exactly as much), so a model that scores every item alike ranks the target
last instead of first. Column 0 (padding) is not counted, unless `padding` asks for the official
code's ranking, in which the padding row competes like an item. A NaN target score ranks last.

Averages over users: the plain mean, or the official code's mean of per-batch means.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from diffurec.errors import ConfigError


def target_ranks(
    scores: torch.Tensor, targets: torch.Tensor, seen: torch.Tensor | None = None, *, padding: bool = False
) -> torch.Tensor:
    """Rank (1 = best) of each target among all real items, or among all rows with `padding`.

    scores [B, n_items + 1] (column 0 = padding), targets LongTensor[B] in 1..n_items, seen
    LongTensor[B, L] (0-padded) or None: items the user interacted with before the target,
    which are removed from the ranking (the target itself stays; padding goes with them).
    Returns LongTensor[B].
    """
    target_scores = scores.gather(1, targets[:, None])
    if seen is not None:
        scores = scores.scatter(1, seen, float("-inf")).scatter(1, targets[:, None], target_scores)
        scores[:, 0] = float("-inf")
    ranked = scores if padding else scores[:, 1:]
    ranks = (ranked >= target_scores).sum(dim=1)
    return torch.where(target_scores[:, 0].isnan(), ranked.shape[1], ranks)


def hit_rate(ranks: np.ndarray, k: int) -> np.ndarray:
    """Per-user HR@k: 1.0 if the target is in the top k, else 0.0."""
    return (np.asarray(ranks) <= k).astype(np.float64)


def ndcg(ranks: np.ndarray, k: int) -> np.ndarray:
    """Per-user NDCG@k with a single relevant item: 1 / log2(rank + 1) inside the top k, else 0."""
    ranks = np.asarray(ranks, dtype=np.float64)
    return np.where(ranks <= k, 1.0 / np.log2(ranks + 1.0), 0.0)


def batch_mean(values: np.ndarray, batch_size: int) -> float:
    """The official code's average: the mean of the means of consecutive batches of
    `batch_size` values (the last batch may be shorter and weighs as much as a full one)."""
    values = np.asarray(values, dtype=np.float64)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    starts = np.arange(0, len(values), batch_size)
    return float(np.mean(np.add.reduceat(values, starts) / np.diff(np.append(starts, len(values)))))


def summarize(ranks: np.ndarray, ks: Sequence[int], batch_size: int | None = None) -> dict[str, float]:
    """HR@k and NDCG@k over users, keys "HR@5", "NDCG@5", "HR@10", ... in `ks` order: the mean
    over users, or with `batch_size` the mean of per-batch means over users in the given order."""
    def average(values: np.ndarray) -> float:
        return float(values.mean()) if batch_size is None else batch_mean(values, batch_size)

    summary: dict[str, float] = {}
    for k in ks:
        summary[f"HR@{k}"] = average(hit_rate(ranks, k))
        summary[f"NDCG@{k}"] = average(ndcg(ranks, k))
    return summary


def check_cutoffs(ks: Sequence[int], n_items: int, dataset: str) -> None:
    """Refuse cut-offs beyond the number of items: every user's target is within the top k there,
    so HR@k is 1 whatever the model, and the number would only look like a result."""
    beyond = [k for k in ks if k > n_items]
    if beyond:
        raise ConfigError(
            f"params: eval.ks lists {beyond[0]}, but {dataset} has only {n_items} items after filtering, so "
            f"HR@{beyond[0]} would be 1 for any model; lower eval.ks to at most {n_items} (it is {list(ks)})"
        )
