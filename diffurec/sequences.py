"""Users' item sequences as integer tensors, and the length-grouped batches cut from them.

Item ids are 1..n_items in order of first appearance (each user's train items, then valid,
then test, users in split order); 0 is padding. Every sample is a *window*: the item at some
position of a user's full sequence (train + valid + test) is the target and up to `max_len`
items before it are the history. Training samples end at each training item after the first,
validation windows at the valid item, test windows at the test item, so one flat tensor of
all sequences serves every stage and no padded copy of a history is ever stored.

Batches are left-padded LongTensors [B, L] (most recent item at position L - 1), cut to the
longest history in the batch, and built on the data's device by one gather. Training batches are
grouped by history length (few padded positions), or drawn by a uniform shuffle as the official
code's DataLoader does (train.batching); either way a batch is only as wide as its longest history.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import torch

from diffurec.errors import DataError
from diffurec.split import SPLIT_COLUMNS


@dataclass(frozen=True)
class SequenceData:
    """One split, integer-coded. `items[i]` is the token of item id i + 1."""

    users: list[str]
    items: list[str]
    train: list[np.ndarray]
    valid: np.ndarray
    test: np.ndarray

    @property
    def n_items(self) -> int:
        return len(self.items)


def encode(split: pd.DataFrame) -> SequenceData:
    """Number the items of a split frame (columns user_id, train, valid, test; one row per user).

    Raises `DataError` on missing columns, no users, or a user with an empty training list.
    """
    missing = [column for column in SPLIT_COLUMNS if column not in split.columns]
    if missing:
        raise DataError(
            f"split frame lacks column(s) {missing}; expected {list(SPLIT_COLUMNS)} (re-run the split stage)"
        )
    if split.empty:
        raise DataError(
            "split frame has no users; check the dataset filters (data.min_user_inter, data.min_item_inter)"
        )
    ids: dict[str, int] = {}
    train: list[np.ndarray] = []
    valid = np.empty(len(split), dtype=np.int64)
    test = np.empty(len(split), dtype=np.int64)
    rows = split.loc[:, list(SPLIT_COLUMNS)].itertuples(index=False)
    for row, (user, history, valid_item, test_item) in enumerate(rows):
        if len(history) == 0:
            raise DataError(
                f"split frame: user {user!r} has no training items; leave-one-out needs >= 3 interactions per user"
            )
        train.append(np.array([ids.setdefault(str(item), len(ids) + 1) for item in history], dtype=np.int64))
        valid[row] = ids.setdefault(str(valid_item), len(ids) + 1)
        test[row] = ids.setdefault(str(test_item), len(ids) + 1)
    users = [str(user) for user in split["user_id"]]
    return SequenceData(users=users, items=list(ids), train=train, valid=valid, test=test)


@dataclass(frozen=True)
class Batch:
    """Windows `rows` (device [B] and host copy) with their histories [B, L] and targets [B]."""

    rows: torch.Tensor
    host_rows: np.ndarray
    histories: torch.Tensor
    targets: torch.Tensor


@dataclass(frozen=True)
class Windows:
    """Histories and targets as windows into one flat item tensor.

    `items` [M]: every user's full sequence back to back; `ends` [S]: the position in `items`
    of each sample's target; `lengths` [S]: how many items before it form the history the model
    sees (1..max_len); `seen` [S]: how many items before it the user has interacted with (the
    whole prior sequence, for masking). The `host_` copies live on the CPU so batches can be
    planned without a device sync.
    """

    items: torch.Tensor
    ends: torch.Tensor
    lengths: torch.Tensor
    seen: torch.Tensor
    host_lengths: np.ndarray
    host_seen: np.ndarray

    def __len__(self) -> int:
        return len(self.host_lengths)

    @property
    def device(self) -> torch.device:
        return self.items.device

    def to(self, device: torch.device | str) -> Windows:
        return Windows(
            self.items.to(device),
            self.ends.to(device),
            self.lengths.to(device),
            self.seen.to(device),
            self.host_lengths,
            self.host_seen,
        )

    def subset(self, rows: np.ndarray) -> Windows:
        """The windows at `rows` (host indices), in that order."""
        index = torch.as_tensor(rows, dtype=torch.int64).to(self.device)
        return Windows(
            self.items,
            self.ends[index],
            self.lengths[index],
            self.seen[index],
            self.host_lengths[rows],
            self.host_seen[rows],
        )

    def targets(self) -> np.ndarray:
        """Every window's target item id [S] (one device-to-host copy)."""
        return self.items[self.ends].cpu().numpy()

    def histories(self, rows: torch.Tensor, width: int) -> torch.Tensor:
        """The model's histories LongTensor[B, width] of `rows` [B], left-padded with 0.

        `width` must be at least the longest history among `rows`; pass the planned maximum.
        """
        return self._before(rows, width, self.lengths[rows])

    def seen_items(self, batch: Batch) -> torch.Tensor:
        """Every item the user had before each target of `batch`, LongTensor[B, W], left-padded."""
        return self._before(batch.rows, int(self.host_seen[batch.host_rows].max()), self.seen[batch.rows])

    def _before(self, rows: torch.Tensor, width: int, lengths: torch.Tensor) -> torch.Tensor:
        offsets = torch.arange(-width, 0, device=self.device)
        positions = self.ends[rows][:, None] + offsets
        real = offsets >= -lengths[:, None]
        return torch.where(real, self.items[positions.clamp_min(0)], 0)

    def n_batches(self, batch_size: int) -> int:
        """How many batches `batches(batch_size)` yields."""
        return -(-len(self) // batch_size)

    def batches(
        self, batch_size: int, rng: np.random.Generator | None = None, batching: str = "grouped"
    ) -> Iterator[Batch]:
        """Cover every window once, in batches of windows with similar history lengths, or in
        uniformly shuffled batches (`batching` "shuffled", which needs `rng`).

        Grouped, with `rng`: windows of equal length are shuffled and so is the order of the
        batches (training); without it, the order is by length then position (evaluation).
        """
        order, cuts = plan_batches(self.host_lengths, batch_size, rng, batching)
        device_order = torch.as_tensor(order).to(self.device)
        for start, stop in zip(cuts[:-1], cuts[1:]):
            rows = device_order[start:stop]
            width = int(self.host_lengths[order[start:stop]].max())
            yield Batch(rows, order[start:stop], self.histories(rows, width), self.items[self.ends[rows]])


def plan_batches(
    lengths: np.ndarray, batch_size: int, rng: np.random.Generator | None, batching: str = "grouped"
) -> tuple[np.ndarray, list[int]]:
    """Order windows into batches; return (order, batch boundaries).

    "grouped": each batch holds similar lengths, its last window the longest. "shuffled": one
    uniform permutation of all windows cut into consecutive batches (the official code's
    DataLoader(shuffle=True)).
    """
    if batching == "shuffled":
        if rng is None:
            raise ValueError("shuffled batches need an rng")
        order = rng.permutation(len(lengths))
        return order, list(range(0, len(order), batch_size)) + [len(order)]
    if batching != "grouped":
        raise ValueError(f"unknown batching {batching!r}; choose 'grouped' or 'shuffled'")
    if rng is None:
        order = np.argsort(lengths, kind="stable")
    else:
        order = np.lexsort((rng.permutation(len(lengths)), lengths))
    starts = np.arange(0, len(order), batch_size)
    if rng is not None:
        starts = rng.permutation(starts)
    batches = [order[start : start + batch_size] for start in starts]
    order = np.concatenate(batches) if batches else order
    cuts = np.cumsum([0] + [len(batch) for batch in batches]).tolist()
    return order, cuts


def _windows(data: SequenceData, user_ends: list[np.ndarray], max_len: int) -> Windows:
    """Windows whose targets sit at `user_ends[u]` (positions within user u's full sequence)."""
    held_out = zip(data.valid, data.test)
    sequences = [np.concatenate([train, [valid, test]]) for train, (valid, test) in zip(data.train, held_out)]
    starts = np.cumsum([0] + [len(sequence) for sequence in sequences[:-1]])
    ends = np.concatenate([start + positions for start, positions in zip(starts, user_ends)]).astype(np.int64)
    seen = np.concatenate(user_ends).astype(np.int64)
    lengths = np.minimum(seen, max_len)
    return Windows(
        items=torch.from_numpy(np.concatenate(sequences).astype(np.int64)),
        ends=torch.from_numpy(ends),
        lengths=torch.from_numpy(lengths),
        seen=torch.from_numpy(seen),
        host_lengths=lengths,
        host_seen=seen,
    )


def training_windows(data: SequenceData, max_len: int) -> Windows:
    """Every prefix of every training sequence (the first item has none) with its next item."""
    return _windows(data, [np.arange(1, len(train)) for train in data.train], max_len)


def evaluation_windows(data: SequenceData, target: Literal["valid", "test"], max_len: int) -> Windows:
    """One window per user, in user order, ending at the valid item (history: the last
    `max_len` training items) or at the test item (history: the last `max_len` of train + [valid])."""
    if target not in ("valid", "test"):
        raise ValueError(f"target must be 'valid' or 'test', got {target!r}")
    shift = 0 if target == "valid" else 1
    return _windows(data, [np.array([len(train) + shift]) for train in data.train], max_len)
