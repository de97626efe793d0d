"""From raw implicit interactions to the project's ordered, integer-coded interaction table.

Input frame: columns `user_id` (str), `item_id` (str), `timestamp` (float), one row per
interaction, in file order. Output of `preprocess`: the same columns plus `user` (1..U) and
`item` (1..I), where 0 is left free for padding.

The id rule, which downstream code relies on:
- users are numbered 1..U in order of first appearance in the filtered frame;
- rows are ordered by user number, and within a user by timestamp with a stable sort, so
  interactions that share a timestamp keep their file order (Amazon timestamps are per day:
  an unstable sort would change which item is the test item);
- items are numbered 1..I in order of first appearance in that ordered frame.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# What the interaction files give (RecBole's field names), and what `preprocess` returns.
INTERACTION_COLUMNS = ("user_id", "item_id", "timestamp")
PREPROCESSED_COLUMNS = (*INTERACTION_COLUMNS, "user", "item")


def k_core(interactions: pd.DataFrame, min_user: int, min_item: int) -> pd.DataFrame:
    """Drop users with fewer than `min_user` and items with fewer than `min_item` interactions,
    repeating until nothing changes (removing an item can push a user below the threshold).

    Every row counts, repeated user-item pairs included. The result is the largest subset of
    rows meeting both thresholds, so it does not depend on the removal order. Row order is kept.
    """
    current = interactions
    while True:
        user_counts = current.groupby("user_id", sort=False)["user_id"].transform("size")
        item_counts = current.groupby("item_id", sort=False)["item_id"].transform("size")
        keep = (user_counts >= min_user) & (item_counts >= min_item)
        if keep.all():
            return current.reset_index(drop=True)
        current = current[keep.to_numpy()]


def order_chronologically(interactions: pd.DataFrame) -> pd.DataFrame:
    """Number users by first appearance and order rows by user, then stably by timestamp."""
    user = pd.factorize(interactions["user_id"])[0] + 1
    # np.lexsort is stable: rows with the same user and timestamp keep their input order.
    order = np.lexsort((interactions["timestamp"].to_numpy(), user))
    ordered = interactions.iloc[order].reset_index(drop=True)
    return ordered.assign(user=user[order].astype(np.int64))


def number_items(ordered: pd.DataFrame) -> pd.DataFrame:
    """Number items 1..I by first appearance in the (already ordered) frame."""
    item = pd.factorize(ordered["item_id"])[0] + 1
    return ordered.assign(item=item.astype(np.int64))


def preprocess(interactions: pd.DataFrame, min_user: int, min_item: int) -> pd.DataFrame:
    """k-core filter, chronological order and contiguous ids (see the module docstring)."""
    filtered = k_core(interactions.loc[:, list(INTERACTION_COLUMNS)], min_user, min_item)
    return number_items(order_chronologically(filtered))
