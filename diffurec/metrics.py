"""Full-ranking metrics with one relevant item per user, kept per user for significance tests.

Tie rule: the target loses every tie. Its rank is 1 + (real items scoring above it) + (other
real items scoring exactly as much), so a model that scores every item alike ranks the target
last instead of first. Column 0 (padding) is never counted. A NaN target score ranks last.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def target_ranks(scores: torch.Tensor, targets: torch.Tensor, seen: torch.Tensor | None = None) -> torch.Tensor:
    """Rank (1 = best) of each target among all real items.

    scores [B, n_items + 1] (column 0 = padding), targets LongTensor[B] in 1..n_items, seen
    LongTensor[B, L] (0-padded) or None: items the user interacted with before the target,
    which are removed from the ranking (the target itself stays). Returns LongTensor[B].
    """
    target_scores = scores.gather(1, targets[:, None])
    if seen is not None:
        # Padding (0) lands on column 0, which is never counted.
        scores = scores.scatter(1, seen, float("-inf")).scatter(1, targets[:, None], target_scores)
    real = scores[:, 1:]
    ranks = (real >= target_scores).sum(dim=1)
    return torch.where(target_scores[:, 0].isnan(), real.shape[1], ranks)


def hit_rate(ranks: np.ndarray, k: int) -> np.ndarray:
    """Per-user HR@k: 1.0 if the target is in the top k, else 0.0."""
    return (np.asarray(ranks) <= k).astype(np.float64)


def ndcg(ranks: np.ndarray, k: int) -> np.ndarray:
    """Per-user NDCG@k with a single relevant item: 1 / log2(rank + 1) inside the top k, else 0."""
    ranks = np.asarray(ranks, dtype=np.float64)
    return np.where(ranks <= k, 1.0 / np.log2(ranks + 1.0), 0.0)


def summarize(ranks: np.ndarray, ks: Sequence[int]) -> dict[str, float]:
    """Mean HR@k and NDCG@k over users, keys "HR@5", "NDCG@5", "HR@10", ... in `ks` order."""
    summary: dict[str, float] = {}
    for k in ks:
        summary[f"HR@{k}"] = float(hit_rate(ranks, k).mean())
        summary[f"NDCG@{k}"] = float(ndcg(ranks, k).mean())
    return summary
