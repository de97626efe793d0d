"""The case study's user groups (paper section 6.5) and metrics measured inside each group.

Head vs long-tail: items are ordered by their number of training interactions (the split's
train lists; the valid and test items are held out), most frequent first, and the first
`round(head_fraction * n_items)` of them are head items, the rest long-tail. Items with equal
counts keep id order (first appearance in the split), so the head holds exactly that many items
whatever the ties. A user falls in the group of their test target.

Sequence length: a user's number of interactions after filtering, train + valid + test (the
model sees at most `max_len` of them; grouping by the full length keeps the groups identical
across model configurations). Boundaries are the `percentiles` of the users' lengths (NumPy's
linear interpolation); a user's group is the number of boundaries strictly below their length,
so a length equal to a boundary belongs to the lower group. Repeated boundaries (many users
of one length) leave the groups between them empty rather than splitting equal lengths apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from diffurec.metrics import summarize

HEAD = "head"
LONG_TAIL = "long-tail"


@dataclass(frozen=True)
class Grouping:
    """Users assigned to named groups: user u belongs to `labels[groups[u]]`."""

    name: str
    labels: tuple[str, ...]
    groups: np.ndarray

    def sizes(self) -> list[int]:
        return np.bincount(self.groups, minlength=len(self.labels)).tolist()


def head_items(counts: np.ndarray, head_fraction: float) -> np.ndarray:
    """Which item ids are head items: bool [n_items + 1] (index 0, padding, is never head).

    `counts` [n_items + 1]: training interactions per item id; index 0 is ignored.
    """
    if not 0.0 < head_fraction < 1.0:
        raise ValueError(f"head_fraction must be in (0, 1), got {head_fraction}")
    real = np.asarray(counts, dtype=np.float64)[1:]
    n_head = int(np.floor(head_fraction * len(real) + 0.5))
    # Stable sort of -count: among equal counts the smaller id (earlier first appearance) wins.
    order = np.argsort(-real, kind="stable")
    head = np.zeros(len(real) + 1, dtype=bool)
    head[order[:n_head] + 1] = True
    return head


def popularity_grouping(targets: np.ndarray, head: np.ndarray) -> Grouping:
    """Users by whether their target item (ids [U]) is a head item (`head` from `head_items`)."""
    return Grouping("target popularity", (HEAD, LONG_TAIL), np.where(head[targets], 0, 1).astype(np.int64))


def length_boundaries(lengths: np.ndarray, percentiles: Sequence[float]) -> np.ndarray:
    """The `percentiles` (0-100, increasing) of the users' sequence lengths, float64 [P]."""
    return np.percentile(np.asarray(lengths, dtype=np.float64), percentiles)


def length_grouping(lengths: np.ndarray, boundaries: np.ndarray) -> Grouping:
    """Users by sequence length into len(boundaries) + 1 groups, shortest first.

    Group g holds lengths in (boundaries[g - 1], boundaries[g]]; the first has no lower bound,
    the last no upper bound.
    """
    groups = np.searchsorted(boundaries, np.asarray(lengths), side="left").astype(np.int64)
    return Grouping("sequence length", length_labels(boundaries), groups)


def length_labels(boundaries: np.ndarray) -> tuple[str, ...]:
    """"G1 (len ≤ b1)", "G2 (b1 < len ≤ b2)", ..., "Gn (len > b_last)"."""
    cuts = [_number(b) for b in boundaries]
    labels = [f"G1 (len ≤ {cuts[0]})"]
    labels.extend(f"G{i + 2} ({low} < len ≤ {high})" for i, (low, high) in enumerate(zip(cuts[:-1], cuts[1:])))
    labels.append(f"G{len(cuts) + 1} (len > {cuts[-1]})")
    return tuple(labels)


def _number(value: float) -> str:
    """Whole lengths without decimals, interpolated ones to one decimal."""
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def group_metrics(ranks: np.ndarray, grouping: Grouping, ks: Sequence[int]) -> pd.DataFrame:
    """HR@k and NDCG@k inside each group: one row per label (in order), columns users, HR@k...,
    NDCG@k... as `summarize` names them.

    `ranks` int [U] (one run) or [R, U] (R runs over the same users, e.g. seeds): a group's value
    is the mean over its users of every run, i.e. the mean of the runs' group values. An empty
    group has users 0 and NaN metrics.
    """
    ranks = np.atleast_2d(np.asarray(ranks))
    if ranks.shape[1] != len(grouping.groups):
        raise ValueError(f"ranks cover {ranks.shape[1]} users, the grouping {len(grouping.groups)}")
    names = list(summarize(np.ones(1), ks))
    rows = []
    for group in range(len(grouping.labels)):
        members = ranks[:, grouping.groups == group]
        values = summarize(members.ravel(), ks) if members.size else dict.fromkeys(names, np.nan)
        rows.append({"users": members.shape[1], **values})
    return pd.DataFrame(rows, index=pd.Index(grouping.labels, name=grouping.name))
