"""Dataset statistics of a leave-one-out split and their Markdown table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from tabulate import tabulate


@dataclass(frozen=True)
class DatasetStatistics:
    users: int
    items: int
    interactions: int

    @property
    def average_length(self) -> float:
        """Mean interactions per user."""
        return self.interactions / self.users

    @property
    def density(self) -> float:
        """Share of the user x item matrix that holds an interaction (repeats counted)."""
        return self.interactions / (self.users * self.items)


def dataset_statistics(split: pd.DataFrame) -> DatasetStatistics:
    """Count users, distinct items and interactions in a `leave_one_out` frame."""
    train_items = split["train"].explode().dropna()
    items = pd.concat([train_items, split["valid"], split["test"]], ignore_index=True)
    return DatasetStatistics(users=len(split), items=items.nunique(), interactions=len(items))


def render_dataset_table(statistics: Sequence[tuple[str, DatasetStatistics]]) -> str:
    """A Markdown table, one row per dataset, in the given order."""
    rows = [
        [
            name,
            f"{stats.users:,}",
            f"{stats.items:,}",
            f"{stats.interactions:,}",
            f"{stats.average_length:.2f}",
            f"{100 * stats.density:.4f}%",
        ]
        for name, stats in statistics
    ]
    headers = ["Dataset", "Users", "Items", "Interactions", "Avg. length", "Density"]
    alignment = ("left",) + ("right",) * (len(headers) - 1)
    return tabulate(rows, headers=headers, tablefmt="pipe", disable_numparse=True, colalign=alignment)
