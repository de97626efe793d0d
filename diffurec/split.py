"""Leave-one-out split, as in the paper (section 6.2): per user, the last interaction is the
test item, the one before it the validation item, and everything earlier is training.
"""

from __future__ import annotations

import pandas as pd

from diffurec.errors import DataError

# Training needs at least one item before the validation and test items.
MIN_SEQUENCE_LENGTH = 3
# The split table's columns, in order: what `leave_one_out` writes and every reader expects.
SPLIT_COLUMNS = ("user_id", "train", "valid", "test")


def leave_one_out(ordered: pd.DataFrame) -> pd.DataFrame:
    """Split a preprocessed frame (rows ordered by `user`, then chronologically) per user.

    Returns one row per user, in `user` order, with columns `user_id` (str), `train` (list of
    item tokens, oldest first), `valid` and `test` (item tokens). Raises `DataError` if a user
    has fewer than three interactions (such a user has no training item), or if there are none.
    """
    if ordered.empty:
        raise DataError("no interactions to split; rerun the preprocess stage, whose filters keep some")
    groups = ordered.groupby("user", sort=True)
    sequences = groups["item_id"].agg(list)
    lengths = sequences.str.len()
    short = lengths[lengths < MIN_SEQUENCE_LENGTH]
    if len(short):
        example = groups["user_id"].first()[short.index[0]]
        raise DataError(
            f"{len(short)} user(s) have fewer than {MIN_SEQUENCE_LENGTH} interactions "
            f"(e.g. user {example!r} with {short.iloc[0]}), too few for leave-one-out; "
            f"set data.min_user_inter >= {MIN_SEQUENCE_LENGTH}"
        )
    columns = (
        groups["user_id"].first().to_numpy(),
        [sequence[:-2] for sequence in sequences],
        [sequence[-2] for sequence in sequences],
        [sequence[-1] for sequence in sequences],
    )
    return pd.DataFrame(dict(zip(SPLIT_COLUMNS, columns, strict=True)))
