"""The popularity ranking: every user gets the items ordered by how often they were seen.

A floor that any sequential model must clear; scored with the same ranks and tie rule as
the models (`diffurec.metrics`).
"""

from __future__ import annotations

import numpy as np
import torch

from diffurec.metrics import target_ranks
from diffurec.sequences import Windows


def popularity_scores(sequences: list[np.ndarray], n_items: int) -> torch.Tensor:
    """Interaction counts per item id, float64 [n_items + 1]; column 0 (padding) is -inf.

    `sequences` are the interactions available before the evaluated items (e.g. the training
    sequences when ranking validation items).
    """
    counts = np.bincount(np.concatenate(sequences), minlength=n_items + 1).astype(np.float64)
    counts[0] = -np.inf
    return torch.from_numpy(counts)


def popularity_ranks(
    scores: torch.Tensor, windows: Windows, *, batch_size: int, mask_history: bool = False
) -> np.ndarray:
    """Rank of each window's target under the fixed `scores` [n_items + 1], int64 [S] in
    window order; same tie rule and history masking as the models' ranks."""
    scores = scores.to(windows.device)
    ranks = torch.empty(len(windows), dtype=torch.int64, device=windows.device)
    for batch in windows.batches(batch_size):
        seen = windows.seen_items(batch) if mask_history else None
        ranks[batch.rows] = target_ranks(scores.expand(len(batch.host_rows), -1), batch.targets, seen)
    return ranks.cpu().numpy()
